//! One error type for every handler, and its one mapping to an HTTP answer:
//! `{"error": {"code": "...", "message": "..."}}` with the right status. Bad input never becomes a
//! 500; an internal failure is logged in full and answered without its details. Every code the
//! api itself gives is an [`ErrorCode`]; the OpenAPI document lists them from the same enum.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::RequestError;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// Declares [`ErrorCode`] with each variant's wire name written once.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $wire:literal,)+) => {
        /// The stable, machine-readable `error.code` of an answer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)+
                }
            }
        }
    };
}

error_codes! {
    // The request cannot be read.
    InvalidIdempotencyKey = "invalid_idempotency_key",
    InvalidJson = "invalid_json",
    UnreadableBody = "unreadable_body",
    InvalidMultipart = "invalid_multipart",
    DuplicateSource = "duplicate_source",
    DuplicateField = "duplicate_field",
    UnknownField = "unknown_field",
    MissingFile = "missing_file",
    InvalidField = "invalid_field",
    InvalidQuery = "invalid_query",
    InvalidTaskId = "invalid_task_id",
    InvalidLastEventId = "invalid_last_event_id",
    RequestTimeout = "request_timeout",
    PayloadTooLarge = "payload_too_large",
    UnsupportedMediaType = "unsupported_media_type",
    // The request was read but its task cannot be accepted.
    SourceTooLarge = "source_too_large",
    EmptySource = "empty_source",
    SourceNotUtf8 = "source_not_utf8",
    SourceBinary = "source_binary",
    InvalidFilename = "invalid_filename",
    UnknownLanguage = "unknown_language",
    LanguageRequired = "language_required",
    UnknownFramework = "unknown_framework",
    FrameworkNotForLanguage = "framework_not_for_language",
    InvalidModel = "invalid_model",
    InvalidValidate = "invalid_validate",
    InvalidKeep = "invalid_keep",
    UnknownModel = "unknown_model",
    ModelUnavailable = "model_unavailable",
    ModelDisabled = "model_disabled",
    NoTestableUnit = "no_testable_unit",
    IdempotencyKeyReused = "idempotency_key_reused",
    TooManyQueuedTasks = "too_many_queued_tasks",
    DailyTokenBudgetSpent = "daily_token_budget_spent",
    QueueFull = "queue_full",
    // The administrator.
    InvalidCredentials = "invalid_credentials",
    AdminLoginRequired = "admin_login_required",
    CsrfTokenInvalid = "csrf_token_invalid",
    TooManyLoginFailures = "too_many_login_failures",
    LoginInProgress = "login_in_progress",
    AdminNotConfigured = "admin_not_configured",
    // The model registry, through the admin routes.
    InvalidModelSettings = "invalid_model_settings",
    ModelExists = "model_exists",
    ModelNotFound = "model_not_found",
    ModelInUse = "model_in_use",
    ModelKeysNotConfigured = "model_keys_not_configured",
    NoWorkerForModel = "no_worker_for_model",
    // The limits, through the admin routes.
    InvalidLimits = "invalid_limits",
    ModelTestTimeout = "model_test_timeout",
    // Repositories on a forge, through the git routes.
    InvalidGitRequest = "invalid_git_request",
    InvalidGitToken = "invalid_git_token",
    InvalidForgeUrl = "invalid_forge_url",
    GitTokenRequired = "git_token_required",
    GitTokenRejected = "git_token_rejected",
    GitScopeMissing = "git_scope_missing",
    GitForbidden = "git_forbidden",
    GitNotFound = "git_not_found",
    GitConflict = "git_conflict",
    GitRefused = "git_refused",
    GitRateLimited = "git_rate_limited",
    FileNotText = "file_not_text",
    ForgeUnavailable = "forge_unavailable",
    GitTokensNotConfigured = "git_tokens_not_configured",
    GitForgeMismatch = "git_forge_mismatch",
    // Batches over a repository's folder.
    InvalidBatchId = "invalid_batch_id",
    InvalidBatchPath = "invalid_batch_path",
    NothingToTest = "nothing_to_test",
    BatchNotFound = "batch_not_found",
    BatchNotFinished = "batch_not_finished",
    BatchHasNoTests = "batch_has_no_tests",
    PullRequestExists = "pull_request_exists",
    RedisUnavailable = "redis_unavailable",
    // The task asked for.
    TaskNotFound = "task_not_found",
    TaskFinished = "task_finished",
    TaskNotFinished = "task_not_finished",
    NoResult = "no_result",
    TaskCancelled = "task_cancelled",
    GenerationTimeout = "generation_timeout",
    // The router and the service.
    NotFound = "not_found",
    MethodNotAllowed = "method_not_allowed",
    NotReady = "not_ready",
    DatabaseUnavailable = "database_unavailable",
    InternalError = "internal_error",
}

impl ErrorCode {
    /// The code of a request the domain refused. The domain names its own codes
    /// ([`RequestError::code`]); a test holds the two namings together.
    pub fn of_request_error(error: &RequestError) -> ErrorCode {
        use domain::{FrameworkError, SourceError};
        match error {
            RequestError::Source(SourceError::Empty) => ErrorCode::EmptySource,
            RequestError::Source(SourceError::TooLarge { .. }) => ErrorCode::SourceTooLarge,
            RequestError::Source(SourceError::NotUtf8 { .. }) => ErrorCode::SourceNotUtf8,
            RequestError::Source(SourceError::NulByte { .. }) => ErrorCode::SourceBinary,
            RequestError::FileName(_) => ErrorCode::InvalidFilename,
            RequestError::Language(_) => ErrorCode::UnknownLanguage,
            RequestError::LanguageNotDetected(_) | RequestError::LanguageMissing => {
                ErrorCode::LanguageRequired
            }
            RequestError::Framework(FrameworkError::Unknown(_)) => ErrorCode::UnknownFramework,
            RequestError::Framework(FrameworkError::NotForLanguage { .. }) => {
                ErrorCode::FrameworkNotForLanguage
            }
            RequestError::Model(_) => ErrorCode::InvalidModel,
            RequestError::Validate(_) => ErrorCode::InvalidValidate,
            RequestError::Keep(_) => ErrorCode::InvalidKeep,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    #[error("{message}")]
    Unauthorized { code: ErrorCode, message: String },
    #[error("{message}")]
    Forbidden { code: ErrorCode, message: String },
    #[error("{message}")]
    NotFound { code: ErrorCode, message: String },
    #[error("{message}")]
    MethodNotAllowed { message: String },
    #[error("{message}")]
    RequestTimeout { message: String },
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    #[error("{message}")]
    PayloadTooLarge { code: ErrorCode, message: String },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    #[error("{message}")]
    Unprocessable { code: ErrorCode, message: String },
    #[error("{message}")]
    TooManyRequests {
        code: ErrorCode,
        message: String,
        retry_after_secs: u64,
    },
    #[error("{message}")]
    Unavailable {
        code: ErrorCode,
        message: String,
        retry_after_secs: u64,
    },
    /// The model side failed the task: the provider refused, kept failing, or wrote nothing valid.
    #[error("{message}")]
    /// `task_code` is the task's own error code (`provider_error`, `no_valid_tests`, ...), which
    /// the worker chose: it is passed on as the answer's code.
    GenerationFailed { task_code: String, message: String },
    /// A service the api called for the caller (a forge) failed or could not be reached.
    #[error("{message}")]
    BadGateway { code: ErrorCode, message: String },
    #[error("{message}")]
    GatewayTimeout { code: ErrorCode, message: String },
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// The schema of the codes is built from [`ErrorCode::ALL`].
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "Every `error.code` the api gives (a 502 passes on the failed task's own code \
                 instead).",
            ))
            .enum_values(Some(ErrorCode::ALL.iter().map(|code| code.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

/// The one error shape. Some answers add fields beside `error`.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    #[schema(inline)]
    error: ErrorDetail<'a>,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail<'a> {
    /// Stable and machine-readable: an `ErrorCode`, or in a 502 the failed task's own code.
    code: &'a str,
    /// For people.
    #[schema(min_length = 1)]
    message: &'a str,
}

impl ApiError {
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn task_not_found() -> ApiError {
        ApiError::NotFound {
            code: ErrorCode::TaskNotFound,
            message: "no such task".into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::GenerationFailed { .. } | ApiError::BadGateway { .. } => {
                StatusCode::BAD_GATEWAY
            }
            ApiError::GatewayTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The answer's `error.code`: an [`ErrorCode`], or a failed task's own code.
    pub fn code(&self) -> &str {
        match self {
            ApiError::GenerationFailed { task_code, .. } => task_code,
            ApiError::GatewayTimeout { code, .. }
            | ApiError::BadGateway { code, .. }
            | ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::TooManyRequests { code, .. }
            | ApiError::Unavailable { code, .. }
            | ApiError::PayloadTooLarge { code, .. } => code.as_str(),
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed.as_str(),
            ApiError::RequestTimeout { .. } => ErrorCode::RequestTimeout.as_str(),
            ApiError::UnsupportedMediaType { .. } => ErrorCode::UnsupportedMediaType.as_str(),
            ApiError::Internal(_) => ErrorCode::InternalError.as_str(),
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests {
                retry_after_secs, ..
            }
            | ApiError::Unavailable {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                "an internal error occurred; it has been logged".to_owned()
            }
            other => {
                if status.is_server_error() {
                    tracing::warn!(code = other.code(), "{other}");
                }
                other.to_string()
            }
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: &message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after_secs() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> ApiError {
        match error {
            RequestError::Source(domain::SourceError::TooLarge { .. }) => {
                ApiError::PayloadTooLarge {
                    code: ErrorCode::of_request_error(&error),
                    message: error.to_string(),
                }
            }
            other => ApiError::Unprocessable {
                code: ErrorCode::of_request_error(&other),
                message: other.to_string(),
            },
        }
    }
}

/// Postgres trouble is the service's, not the caller's: an unreachable or saturated database is a
/// 503 the client may retry; anything else is an internal error.
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> ApiError {
        if database_unreachable(&error) {
            tracing::warn!(error = %error, "database unavailable");
            database_unavailable()
        } else {
            ApiError::Internal(anyhow::Error::new(error).context("database query failed"))
        }
    }
}

/// The same rule for errors that went through `anyhow` on their way up.
impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> ApiError {
        match error.downcast_ref::<sqlx::Error>() {
            Some(cause) if database_unreachable(cause) => {
                tracing::warn!(error = format!("{error:#}"), "database unavailable");
                database_unavailable()
            }
            _ => ApiError::Internal(error),
        }
    }
}

/// Unreachable, saturated, or going down or coming up (a restart the store's retries outlasted).
fn database_unreachable(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
        || store::db::is_transient(error)
}

fn database_unavailable() -> ApiError {
    ApiError::Unavailable {
        code: ErrorCode::DatabaseUnavailable,
        message: "the database is unavailable; try again shortly".into(),
        retry_after_secs: 2,
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_distinct_snake_case_names() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "`{name}` is used twice");
            assert!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "`{name}` is not snake_case"
            );
        }
    }

    #[test]
    fn request_errors_keep_the_domain_s_codes() {
        for error in [
            RequestError::LanguageMissing,
            RequestError::Source(domain::SourceError::Empty),
        ] {
            assert_eq!(ErrorCode::of_request_error(&error).as_str(), error.code());
        }
    }

    #[test]
    fn the_body_carries_the_code() {
        let error = ApiError::bad_request(ErrorCode::InvalidQuery, "limit must be a number");
        assert_eq!(error.code(), "invalid_query");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        let failed = ApiError::GenerationFailed {
            task_code: "provider_error".into(),
            message: "the provider refused".into(),
        };
        assert_eq!(failed.code(), "provider_error");
    }
}
