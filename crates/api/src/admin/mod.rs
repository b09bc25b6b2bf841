//! The administrator: the password (from `AIUT_ADMIN_PASSWORD` only, stored as an argon2id hash),
//! the admin session (the `aiut_admin` cookie, apart from the anonymous one), the [`AdminSession`]
//! extractor every admin route takes, and the audit log's writer. The rows are `store::admin`'s.

pub(crate) mod lockout;
pub(crate) mod password;

use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, Method};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::routes::FrontDoor;
use crate::session::{came_over_tls, cookie_values};
use crate::startup::Peer;
use crate::state::AppState;

pub use password::AdminPassword;

/// The account `AIUT_ADMIN_PASSWORD` is the password of, and the one a login names by default.
pub(crate) const ADMIN_ACCOUNT: &str = "admin";

/// The header an admin write must carry, equal to its session's CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// Sets the `admin` account's password at start when `AIUT_ADMIN_PASSWORD` is given and the stored
/// hash does not already verify it (so a restart with the same password keeps the sessions).
pub(crate) async fn ensure_account(
    pool: &sqlx::PgPool,
    password: Option<&AdminPassword>,
) -> anyhow::Result<()> {
    let Some(password) = password else {
        if !store::admin::any_account(pool).await? {
            tracing::warn!(
                "no admin account: the admin routes answer 503 until the api starts with \
                 AIUT_ADMIN_PASSWORD set"
            );
        }
        return Ok(());
    };
    if let Some(account) = store::admin::account(pool, ADMIN_ACCOUNT).await?
        && password::verify(password.clone(), account.password_hash).await
    {
        return Ok(());
    }
    let hash = password::hash(password.clone()).await?;
    store::admin::set_password(pool, ADMIN_ACCOUNT, &hash).await?;
    tracing::info!(
        account = ADMIN_ACCOUNT,
        "admin password set from AIUT_ADMIN_PASSWORD"
    );
    Ok(())
}

/// A session token or CSRF token: 32 random bytes in lower-case hex.
pub(crate) fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| anyhow::anyhow!("no randomness: {error}"))?;
    Ok(hex::encode(bytes))
}

/// What the table knows a session by: the token's SHA-256, never the token.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Only the exact shape [`random_token`] makes; anything else is no cookie.
fn is_token(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// Compares without stopping at the first difference, so the time taken tells nothing of the
/// expected token.
pub(crate) fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// The cookie's name for this request: `__Host-` prefixed over TLS, decided as for the anonymous
/// session's cookie.
pub(crate) fn cookie_name(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    let plain = &state.settings.admin.cookie_name;
    if came_over_tls(headers) {
        (format!("__Host-{plain}"), true)
    } else {
        (plain.clone(), false)
    }
}

/// The `Set-Cookie` value of a session, or (with `token` `None`) the one that clears it.
pub(crate) fn set_cookie(
    state: &AppState,
    headers: &HeaderMap,
    token: Option<(&str, u64)>,
) -> Option<HeaderValue> {
    let (name, secure) = cookie_name(state, headers);
    let (value, max_age) = token.unwrap_or(("", 0));
    let cookie = format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).ok()
}

/// The client as the api knows it: the front door's `x-aiut-client` (the address its trusted
/// proxies resolve), else the connection's peer.
pub(crate) fn client_address(headers: &HeaderMap, extensions: &Extensions) -> Option<String> {
    FrontDoor::of(headers).client.or_else(|| {
        extensions
            .get::<ConnectInfo<Peer>>()
            .map(|ConnectInfo(Peer(peer))| peer.ip().to_string())
    })
}

/// The admin's session, for every admin route but the login. Refuses with 401 a request without a
/// live admin session (the anonymous session's cookie is not one), with 503 while no admin
/// account exists, and with 403 a write (any method but GET, HEAD and OPTIONS) whose
/// `X-CSRF-Token` is not the session's.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub account: String,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When the session ends unless used again.
    pub idle_expires_at: DateTime<Utc>,
    pub client_address: Option<String>,
    /// The token's hash, to end the session.
    pub(crate) token_hash: Vec<u8>,
}

impl AdminSession {
    fn idle(state: &AppState) -> Duration {
        Duration::from_secs(state.settings.admin.idle_timeout_secs)
    }

    /// Writes this admin's `action` on `target` to the audit log, with where they came from.
    pub(crate) async fn audit(
        &self,
        state: &AppState,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) {
        audit(
            state,
            store::admin::NewAuditEntry {
                account: Some(&self.account),
                action,
                target: Some(target),
                detail,
                client_address: self.client_address.as_deref(),
            },
        )
        .await;
    }
}

/// When a session last used at `last_seen_at` ends unless used again: after the idle timeout, or at
/// its absolute expiry if that comes first.
pub(crate) fn idle_expires_at(
    last_seen_at: DateTime<Utc>,
    idle: Duration,
    expires_at: DateTime<Utc>,
) -> DateTime<Utc> {
    chrono::Duration::from_std(idle)
        .ok()
        .and_then(|idle| last_seen_at.checked_add_signed(idle))
        .map_or(expires_at, |idle_end| idle_end.min(expires_at))
}

pub(crate) fn login_required() -> ApiError {
    ApiError::Unauthorized {
        code: ErrorCode::AdminLoginRequired,
        message: "this route needs an admin session: log in with POST /api/admin/login".into(),
    }
}

pub(crate) fn not_configured() -> ApiError {
    ApiError::Unavailable {
        code: ErrorCode::AdminNotConfigured,
        message: "no admin account is set up: start the api with the environment variable \
                  AIUT_ADMIN_PASSWORD set to the admin password"
            .into(),
        retry_after_secs: 60,
    }
}

/// 401, or 503 when there is no account anyone could log in to.
async fn refusal(state: &AppState) -> ApiError {
    match store::admin::any_account(&state.pool).await {
        Ok(true) => login_required(),
        Ok(false) => not_configured(),
        Err(error) => error.into(),
    }
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (name, _) = cookie_name(state, &parts.headers);
        let Some(token) = cookie_values(&parts.headers, &name).find(|value| is_token(value)) else {
            return Err(refusal(state).await);
        };
        let token_hash = token_hash(token);
        let idle = AdminSession::idle(state);
        let Some(session) = store::admin::touch_session(&state.pool, &token_hash, idle).await?
        else {
            return Err(refusal(state).await);
        };
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            if !constant_time_eq(presented, session.csrf_token.as_bytes()) {
                return Err(ApiError::Forbidden {
                    code: ErrorCode::CsrfTokenInvalid,
                    message: "an admin write needs the header X-CSRF-Token with the session's \
                              CSRF token (from the login or GET /api/admin/session)"
                        .into(),
                });
            }
        }
        let idle_expires_at = idle_expires_at(session.last_seen_at, idle, session.expires_at);
        Ok(AdminSession {
            account: session.account,
            csrf_token: session.csrf_token,
            created_at: session.created_at,
            expires_at: session.expires_at,
            idle_expires_at,
            client_address: client_address(&parts.headers, &parts.extensions),
            token_hash,
        })
    }
}

/// Writes an audit entry. The action it records has happened: a failure to write is logged, and
/// the answer stands.
pub(crate) async fn audit(state: &AppState, entry: store::admin::NewAuditEntry<'_>) {
    if let Err(error) = store::admin::audit(&state.pool, &entry).await {
        tracing::error!(
            error = format!("{error:#}"),
            action = entry.action,
            "cannot write the audit log"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_one_shape_and_are_stored_hashed() {
        let token = random_token().expect("randomness");
        assert!(is_token(&token));
        assert_ne!(random_token().expect("randomness"), token);
        assert!(!is_token(&token.to_uppercase()));
        assert!(!is_token("short"));
        let hash = token_hash(&token);
        assert_eq!(hash.len(), 32);
        assert_ne!(hex::encode(&hash), token);
    }

    #[test]
    fn a_session_ends_at_its_idle_timeout_or_its_expiry_whichever_comes_first() {
        let seen = DateTime::<Utc>::from_timestamp(1_000_000, 0).expect("a time");
        let expires = seen + chrono::Duration::seconds(600);
        let at = |seconds| seen + chrono::Duration::seconds(seconds);
        assert_eq!(
            idle_expires_at(seen, Duration::from_secs(60), expires),
            at(60)
        );
        assert_eq!(
            idle_expires_at(seen, Duration::from_secs(900), expires),
            at(600)
        );
        assert_eq!(idle_expires_at(seen, Duration::MAX, expires), at(600));
    }

    #[test]
    fn comparison_needs_equal_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
