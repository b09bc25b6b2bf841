//! The admin routes: login (rate-limited per client address and per account), the session, logout
//! and the audit log. Every route but the login takes an [`AdminSession`], which also checks the
//! CSRF token of writes; later admin routes take it the same way.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::admin::{FailureKey, NewAuditEntry};
use utoipa::{IntoParams, ToSchema};

use crate::admin::lockout::{self, FORGET_AFTER};
use crate::admin::{self, ADMIN_ACCOUNT, AdminPassword, AdminSession, password};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::read_json_body;
use crate::openapi::{AdminUnavailable, InternalError, TooManyLoginFailures, error_answers};
use crate::state::AppState;

/// A login body is a password and a name: a few hundred bytes at most.
const MAX_LOGIN_BODY_BYTES: usize = 4096;

/// The audit log's page sizes.
const DEFAULT_AUDIT_LIMIT: u32 = 50;
const MAX_AUDIT_LIMIT: u32 = 500;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    /// The admin password (`AIUT_ADMIN_PASSWORD`).
    #[schema(min_length = 1)]
    password: String,
    /// The account; `admin` unless given.
    #[schema(default = "admin")]
    account: Option<String>,
}

/// The caller's admin session. The session token itself is only ever in the cookie.
#[derive(Serialize, ToSchema)]
pub(crate) struct AdminSessionView {
    account: String,
    /// Sent back as `X-CSRF-Token` on every admin write.
    csrf_token: String,
    created_at: DateTime<Utc>,
    /// The absolute end of the session, however much it is used.
    expires_at: DateTime<Utc>,
    /// When the session ends unless it is used again.
    idle_expires_at: DateTime<Utc>,
    idle_timeout_secs: u64,
}

impl AdminSessionView {
    fn of(state: &AppState, session: &AdminSession) -> AdminSessionView {
        AdminSessionView {
            account: session.account.clone(),
            csrf_token: session.csrf_token.clone(),
            created_at: session.created_at,
            expires_at: session.expires_at,
            idle_expires_at: session.idle_expires_at,
            idle_timeout_secs: state.settings.admin.idle_timeout_secs,
        }
    }
}

error_answers! {
    /// The refusals of a login.
    LoginRefusals {
        "400" => "The body is not a JSON object with a `password` (and optionally an `account`).",
            [InvalidJson, UnreadableBody];
        "401" => "Wrong account or password. After three failures in a row from one address or \
            for one account, each further failure locks logins for a growing delay.",
            [InvalidCredentials];
        "413" => "The body is over 4 KiB.", [PayloadTooLarge];
        "415" => "The body is not JSON.", [UnsupportedMediaType];
    }

    /// No admin session.
    LoginRequired {
        "401" => "No live admin session: no `aiut_admin` cookie (the anonymous session's cookie \
            is not one), or its session ended (logged out, idle too long, or past its lifetime).",
            [AdminLoginRequired];
    }

    /// No admin session, or an admin write without the session's CSRF token.
    WriteRefusals {
        "401" => "No live admin session.", [AdminLoginRequired];
        "403" => "The `X-CSRF-Token` header is missing or is not the session's CSRF token.",
            [CsrfTokenInvalid];
    }

    /// A bad `limit`, or no admin session.
    AuditRefusals {
        "400" => "`limit` is not a whole number from 1 to 500, or another parameter was given.",
            [InvalidQuery];
        "401" => "No live admin session.", [AdminLoginRequired];
    }
}

/// Documentation only: `AdminSession` reads the header.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(dead_code, reason = "describes the header `AdminSession` checks")]
pub(crate) struct CsrfHeader {
    /// The session's CSRF token, as the login and `GET /api/admin/session` give it.
    #[serde(rename = "X-CSRF-Token")]
    #[param(min_length = 64, max_length = 64)]
    token: String,
}

fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| {
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
}

#[utoipa::path(
    post,
    path = "/api/admin/login",
    operation_id = "adminLogin",
    tag = "admin",
    summary = "Log in as the administrator: an admin session cookie and its CSRF token.",
    description = "Sets the `aiut_admin` cookie (`HttpOnly`, `SameSite=Strict`, `Path=/`; \
        `__Host-aiut_admin` and `Secure` behind TLS), apart from the anonymous session's. The \
        session ends after `admin.idle_timeout_secs` without use (15 minutes unless changed) and \
        `admin.lifetime_secs` after the login (8 hours). While a client address or an account is \
        locked after repeated failures, every login from it or for it answers 429, even with the \
        right password.",
    request_body(content = LoginBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Logged in.", body = AdminSessionView),
        LoginRefusals,
        (status = 429, response = TooManyLoginFailures),
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn login(State(state): State<AppState>, request: Request) -> ApiResult<Response> {
    if !is_json(&request) {
        return Err(ApiError::UnsupportedMediaType {
            message: "the login takes a JSON body (Content-Type: application/json)".into(),
        });
    }
    let headers = request.headers().clone();
    let client = admin::client_address(&headers, request.extensions());
    let body: LoginBody = read_json_body(request, MAX_LOGIN_BODY_BYTES).await?;
    let Some(password) = AdminPassword::new(&body.password) else {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidJson,
            "field `password`: must not be empty",
        ));
    };
    let name = body.account.unwrap_or_else(|| ADMIN_ACCOUNT.to_owned());
    if !store::admin::any_account(&state.pool).await? {
        return Err(admin::not_configured());
    }
    // A caller without a known address is counted under one shared key, so it is limited too.
    let address = client.clone().unwrap_or_else(|| "unknown".to_owned());
    let keys = [FailureKey::Address(&address), FailureKey::Account(&name)];
    let entry = |action, detail| NewAuditEntry {
        account: Some(&name),
        action,
        target: None,
        detail,
        client_address: client.as_deref(),
    };

    // From the lock check to the failure count, one login at a time from this address and for
    // this account: guesses sent at once cannot all be checked before the first is counted.
    let Some(turn) = store::admin::login_turn(&state.pool, &keys).await? else {
        return Err(ApiError::TooManyRequests {
            code: ErrorCode::LoginInProgress,
            message: "another login from this address or for this account is being checked; \
                      try again in a second"
                .into(),
            retry_after_secs: 1,
        });
    };
    if let Some(remaining) = store::admin::locked_for(&state.pool, &keys).await? {
        let retry_after_secs = lockout::retry_after_secs(remaining);
        admin::audit(
            &state,
            entry(
                "login_refused_locked",
                json!({"retry_after_secs": retry_after_secs}),
            ),
        )
        .await;
        return Err(locked(retry_after_secs));
    }

    let account = store::admin::account(&state.pool, &name).await?;
    let exists = account.is_some();
    let verified = match &account {
        Some(account) => password::verify(password, account.password_hash.clone()).await,
        None => {
            // The same work as for a real account, so the time taken does not say which names
            // exist.
            password::verify(password, password::decoy_hash().await?).await;
            false
        }
    };
    let Some(account) = account.filter(|_| verified) else {
        // Only accounts that exist are counted: made-up names would fill the table.
        let counted = if exists { &keys[..] } else { &keys[..1] };
        let (counts, locked_for) = count_failure(&state, counted).await?;
        turn.end().await?;
        admin::audit(&state, entry("login_failed", counts)).await;
        if let Some(delay) = locked_for {
            tracing::warn!(
                delay_secs = delay.as_secs(),
                "admin login locked after repeated failures"
            );
            admin::audit(
                &state,
                entry("lockout", json!({"locked_for_secs": delay.as_secs()})),
            )
            .await;
        }
        return Err(ApiError::Unauthorized {
            code: ErrorCode::InvalidCredentials,
            message: "wrong account or password".into(),
        });
    };

    store::admin::clear_failures(&state.pool, &keys).await?;
    turn.end().await?;
    let token = admin::random_token()?;
    let csrf_token = admin::random_token()?;
    let lifetime = Duration::from_secs(state.settings.admin.lifetime_secs);
    let idle = Duration::from_secs(state.settings.admin.idle_timeout_secs);
    let opened = store::admin::open_session(
        &state.pool,
        &admin::token_hash(&token),
        account.id,
        &csrf_token,
        lifetime,
        idle,
    )
    .await?;
    admin::audit(&state, entry("login", json!({}))).await;
    tracing::info!(account = %account.name, "admin logged in");
    let view = AdminSessionView {
        account: opened.account,
        csrf_token: opened.csrf_token,
        created_at: opened.created_at,
        expires_at: opened.expires_at,
        idle_expires_at: admin::idle_expires_at(opened.last_seen_at, idle, opened.expires_at),
        idle_timeout_secs: idle.as_secs(),
    };
    let mut response = Json(view).into_response();
    if let Some(cookie) = admin::set_cookie(&state, &headers, Some((&token, lifetime.as_secs()))) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Counts a failed login under each of `keys` and locks those whose count calls for it. Returns the
/// counts, for the audit log, and the longest lock it set.
async fn count_failure(
    state: &AppState,
    keys: &[FailureKey<'_>],
) -> ApiResult<(serde_json::Value, Option<Duration>)> {
    let mut counts = serde_json::Map::new();
    let mut longest = None;
    for &key in keys {
        let failures = store::admin::record_failure(&state.pool, key, FORGET_AFTER).await?;
        let label = match key {
            FailureKey::Address(_) => "address_failures",
            FailureKey::Account(_) => "account_failures",
        };
        counts.insert(label.to_owned(), json!(failures));
        if let Some(delay) = lockout::delay_after(failures) {
            store::admin::lock(&state.pool, key, delay).await?;
            longest = longest.max(Some(delay));
        }
    }
    Ok((counts.into(), longest))
}

fn locked(retry_after_secs: u64) -> ApiError {
    ApiError::TooManyRequests {
        code: ErrorCode::TooManyLoginFailures,
        message: format!(
            "too many failed logins from this address or for this account; try again in \
             {retry_after_secs} s"
        ),
        retry_after_secs,
    }
}

#[utoipa::path(
    get,
    path = "/api/admin/session",
    operation_id = "getAdminSession",
    tag = "admin",
    summary = "Read the caller's admin session: who, until when, and its CSRF token.",
    security(("adminCookie" = [])),
    responses(
        (
            status = 200,
            description = "The session; reading it counts as using it.",
            body = AdminSessionView
        ),
        LoginRequired,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn session(
    State(state): State<AppState>,
    session: AdminSession,
) -> Json<AdminSessionView> {
    Json(AdminSessionView::of(&state, &session))
}

#[utoipa::path(
    post,
    path = "/api/admin/logout",
    operation_id = "adminLogout",
    tag = "admin",
    summary = "End the caller's admin session and clear its cookie.",
    security(("adminCookie" = [])),
    params(CsrfHeader),
    responses(
        (status = 204, description = "The session is over; the cookie is cleared."),
        WriteRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    session: AdminSession,
    headers: HeaderMap,
) -> ApiResult<Response> {
    store::admin::close_session(&state.pool, &session.token_hash).await?;
    admin::audit(
        &state,
        NewAuditEntry {
            account: Some(&session.account),
            action: "logout",
            target: None,
            detail: json!({}),
            client_address: session.client_address.as_deref(),
        },
    )
    .await;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(cookie) = admin::set_cookie(&state, &headers, None) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Read as text, so a malformed value gets its own message.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries to return, newest first.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500, default = 50, nullable = false)]
    limit: Option<String>,
}

/// One entry of the audit log.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditEntryView {
    id: i64,
    at: DateTime<Utc>,
    /// The account acting (for a failed login, the one named).
    account: Option<String>,
    /// `login`, `login_failed`, `lockout`, `login_refused_locked`, `logout`, …
    action: String,
    /// What the action was on, when it was on something.
    target: Option<String>,
    detail: serde_json::Value,
    /// The client, as the front door names it (else the connection's peer).
    client_address: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AuditPage {
    entries: Vec<AuditEntryView>,
}

#[utoipa::path(
    get,
    path = "/api/admin/audit",
    operation_id = "getAdminAudit",
    tag = "admin",
    summary = "Read the audit log, newest first.",
    security(("adminCookie" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "The newest entries.", body = AuditPage),
        AuditRefusals,
        (status = 500, response = InternalError),
        (status = 503, response = AdminUnavailable),
    )
)]
pub async fn audit(
    State(state): State<AppState>,
    _session: AdminSession,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidQuery, rejection.body_text())
    })?;
    let limit = match params.limit.as_deref() {
        None => DEFAULT_AUDIT_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_AUDIT_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidQuery,
                    format!("limit must be a whole number from 1 to {MAX_AUDIT_LIMIT}"),
                )
            })?,
    };
    let entries = store::admin::audit_log(&state.pool, limit)
        .await?
        .into_iter()
        .map(|entry| AuditEntryView {
            id: entry.id,
            at: entry.at,
            account: entry.account,
            action: entry.action,
            target: entry.target,
            detail: entry.detail,
            client_address: entry.client_address,
        })
        .collect();
    Ok(Json(AuditPage { entries }))
}
