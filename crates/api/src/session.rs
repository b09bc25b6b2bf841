//! Anonymous sessions: a random id in the `aiut_session` cookie, recorded in Redis with a sliding
//! TTL, so any replica recognises any user. Tasks belong to the session that created them.
//!
//! Redis may lose the record (a restart, a flush, an eviction under `volatile-lru`), but the task
//! table keeps the owner of every task: a cookie Redis does not know whose session owns a task
//! created or updated within the TTL is recognised and recorded again, so its user keeps their
//! tasks. The TTL still holds, measured on the tasks: a session whose last task went quiet longer
//! ago than the TTL is not brought back. That check costs one indexed query, and only on a Redis
//! miss; a stream of random cookies costs one each, which the request rate limits bound and which
//! finds no row, so it is accepted rather than guarded against.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use redis::AsyncCommands;

use store::tasks;

use crate::error::ApiError;
use crate::state::AppState;

/// A session id: 32 random bytes in lower-case hex. Knowing it is owning the session, so it is never
/// logged or shown; [`SessionId::label`] is the shareable stand-in.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    const HEX_LEN: usize = 64;

    pub fn generate() -> anyhow::Result<SessionId> {
        let mut bytes = [0u8; Self::HEX_LEN / 2];
        getrandom::fill(&mut bytes)
            .map_err(|error| anyhow::anyhow!("no randomness for a session id: {error}"))?;
        Ok(SessionId(hex::encode(bytes)))
    }

    /// Accepts only the exact shape we hand out; anything else is treated as no cookie.
    pub fn parse(value: &str) -> Option<SessionId> {
        let well_formed = value.len() == Self::HEX_LEN
            && value
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
        well_formed.then(|| SessionId(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short, non-secret name for the session, fit for logs and shared listings.
    pub fn label(&self) -> String {
        label_of(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.label())
    }
}

/// The caller's session, put in the request's extensions by [`session_layer`].
#[derive(Clone, Debug)]
pub struct Session {
    pub id: SessionId,
    /// Made for this request: the caller presented no session this service knows.
    pub minted: bool,
}

/// Put in a response's extensions by a handler that found the caller's request already served
/// under another session: the retry of a create whose first attempt, sent without a known
/// cookie, made a session of its own and a task in it (see `tasks::submit`). The answer then
/// carries that session's cookie, so the caller owns what it asked for.
#[derive(Clone, Debug)]
pub struct AdoptSession(pub SessionId);

/// 32 bits of a 64-bit FNV-1a hash: enough to tell sessions apart in a log, far too little to
/// recover the id.
fn label_of(id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("s-{:08x}", hash >> 32)
}

/// Resolves the caller's session (or makes one) before the handler runs, and sets the cookie on the
/// way out. While Redis is unreachable a well-formed cookie is trusted as it is (it cannot be
/// checked, and refusing every user would be worse), and new sessions are handed out unrecorded.
/// A cookie Redis has forgotten is kept when its tasks vouch for it ([`restore`]).
pub async fn session_layer(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let plain_name = state.settings.session.cookie_name.as_str();
    let secure = came_over_tls(request.headers());
    // Over TLS the cookie is `__Host-` prefixed: browsers then accept it only when Secure, for
    // Path=/ and with no Domain, so no sibling site or plain-HTTP page can plant or shadow it. A
    // plain cookie from before is still read, once, and replaced.
    let host_name = format!("__Host-{plain_name}");
    let cookie_name = if secure {
        host_name.as_str()
    } else {
        plain_name
    };
    // A stale or foreign value beside ours (two paths, two subdomains) must not cost the session.
    let presented = cookie_values(request.headers(), cookie_name)
        .chain(cookie_values(request.headers(), plain_name).filter(|_| secure))
        .find_map(SessionId::parse);
    let known = match presented {
        // Unreachable: trust the cookie. Unknown to Redis: recorded again when its tasks say it
        // was in use within the TTL, else a new session starts.
        Some(id) => match refresh(&state, &id).await {
            Ok(false) => restore(&state, id).await,
            Ok(true) | Err(()) => Some(id),
        },
        None => None,
    };
    let minted = known.is_none();
    let mut id = match known {
        Some(id) => id,
        None => match mint(&state).await {
            Ok(id) => id,
            Err(response) => return response,
        },
    };
    request.extensions_mut().insert(Session {
        id: id.clone(),
        minted,
    });
    let mut response = next.run(request).await;
    if let Some(AdoptSession(adopted)) = response.extensions_mut().remove::<AdoptSession>() {
        // Its record may have been lost with the attempt that made it.
        if !matches!(refresh(&state, &adopted).await, Ok(true)) {
            record(&state, &adopted, "session_restore").await;
        }
        id = adopted;
    }
    // Sent on every answer, so the browser's expiry slides with the record's TTL in Redis.
    let cookie = format!(
        "{cookie_name}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        id.as_str(),
        state.settings.session.ttl_secs,
        if secure { "; Secure" } else { "" }
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn session_key(state: &AppState, id: &SessionId) -> String {
    store::keys::session(state.redis.prefix(), id.as_str())
}

/// Extends a known session's life. `Ok(false)`: Redis does not know it (expired, or lost).
#[tracing::instrument(name = "redis.refresh_session", skip_all)]
async fn refresh(state: &AppState, id: &SessionId) -> Result<bool, ()> {
    let mut connection = state.redis.connection();
    let ttl = i64::try_from(state.settings.session.ttl_secs).unwrap_or(i64::MAX);
    // The session's forge token, when it gave one, lives exactly as long as the session.
    let git_token = store::keys::session_git_token(state.redis.prefix(), id.as_str());
    let refreshed: redis::RedisResult<(bool, bool)> = redis::pipe()
        .expire(session_key(state, id), ttl)
        .expire(git_token, ttl)
        .query_async(&mut connection)
        .await;
    match refreshed {
        Ok((known, _)) => Ok(known),
        Err(error) => {
            state.metrics.redis_error("session_refresh");
            tracing::warn!(error = %error, "cannot check the session in Redis; trusting the cookie");
            Err(())
        }
    }
}

/// A session Redis does not know, kept when it owns a task created or updated within the TTL
/// (Redis lost its record) and recorded again; `None` when it does not (it expired, or never
/// existed). When the table cannot be read either, the cookie is trusted, as when Redis is down.
#[tracing::instrument(name = "session.restore", skip_all)]
async fn restore(state: &AppState, id: SessionId) -> Option<SessionId> {
    let ttl = std::time::Duration::from_secs(state.settings.session.ttl_secs);
    match tasks::owner_active_within(&state.pool, id.as_str(), ttl).await {
        Ok(false) => None,
        Ok(true) => {
            record(state, &id, "session_restore").await;
            state.metrics.session_restored();
            tracing::info!(session = %id.label(), "session recorded again from its tasks");
            Some(id)
        }
        Err(error) => {
            tracing::warn!(error = %error, "cannot look for the session's tasks; trusting the cookie");
            Some(id)
        }
    }
}

#[tracing::instrument(name = "redis.create_session", skip_all)]
async fn mint(state: &AppState) -> Result<SessionId, Response> {
    let id = SessionId::generate().map_err(|error| ApiError::Internal(error).into_response())?;
    record(state, &id, "session_create").await;
    state.metrics.session_created();
    tracing::debug!(session = %id.label(), "new session");
    Ok(id)
}

/// Records a session in Redis for the TTL. A failure is counted under `operation` and logged; the
/// session is handed out anyway.
async fn record(state: &AppState, id: &SessionId, operation: &'static str) {
    let recorded = chrono::Utc::now().to_rfc3339();
    let mut connection = state.redis.connection();
    let stored: redis::RedisResult<()> = connection
        .set_ex(
            session_key(state, id),
            recorded,
            state.settings.session.ttl_secs,
        )
        .await;
    if let Err(error) = stored {
        state.metrics.redis_error(operation);
        tracing::warn!(error = %error, operation, "cannot record the session in Redis; handing it out anyway");
    }
}

/// Every value of the cookie `name`, in the order the client sent them.
pub(crate) fn cookie_values<'a>(
    headers: &'a HeaderMap,
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

pub(crate) fn came_over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_have_one_shape() {
        let id = SessionId::generate().expect("randomness");
        assert_eq!(SessionId::parse(id.as_str()), Some(id.clone()));
        assert_ne!(SessionId::generate().expect("randomness"), id);
        assert!(SessionId::parse("short").is_none());
        assert!(SessionId::parse(&"G".repeat(64)).is_none());
        assert!(
            SessionId::parse(&"A".repeat(64)).is_none(),
            "upper case is not ours"
        );
        assert!(
            !format!("{id:?}").contains(id.as_str()),
            "Debug must not leak the id"
        );
    }

    proptest::proptest! {
        #[test]
        fn only_our_exact_shape_parses(value in "\\PC{0,80}") {
            if let Some(id) = SessionId::parse(&value) {
                proptest::prop_assert_eq!(id.as_str(), value.as_str());
                proptest::prop_assert_eq!(value.len(), 64);
                proptest::prop_assert!(value.bytes().all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase()));
            }
        }

        #[test]
        fn the_cookie_is_found_among_any_others(
            others in proptest::collection::vec(("[a-z]{1,8}", "[a-zA-Z0-9]{0,12}"), 0..5),
            position in 0usize..5,
        ) {
            let id = SessionId::generate().expect("randomness");
            let mut pairs: Vec<String> = others
                .iter()
                .filter(|(name, _)| name != "aiut_session")
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            pairs.insert(position.min(pairs.len()), format!("aiut_session={}", id.as_str()));
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, HeaderValue::from_str(&pairs.join("; ")).expect("ASCII"));
            proptest::prop_assert_eq!(
                cookie_values(&headers, "aiut_session").find_map(SessionId::parse),
                Some(id)
            );
        }
    }

    #[test]
    fn reads_the_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; aiut_session=abc; b=2"),
        );
        assert_eq!(cookie_values(&headers, "aiut_session").next(), Some("abc"));
        assert_eq!(cookie_values(&headers, "missing").next(), None);
        let valid = "0".repeat(64);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("aiut_session=stale; aiut_session={valid}"))
                .expect("ASCII"),
        );
        let found = cookie_values(&headers, "aiut_session").find_map(SessionId::parse);
        assert_eq!(found, SessionId::parse(&valid), "the well-formed one wins");
    }

    #[test]
    fn tls_is_read_from_the_first_forwarded_proto() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS, http"));
        assert!(came_over_tls(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!came_over_tls(&headers));
    }
}
