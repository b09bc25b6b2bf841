//! `/api/tasks`: create, list, get, cancel, download.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Timelike, Utc};
use domain::{
    Availability, CacheKey, Language, ModelId, ModelRegistry, Progress, TaskId, TaskSpec,
    TaskStatus,
};
use serde::{Deserialize, Serialize};
use utoipa::openapi::{RefOr, Response as OpenApiResponse};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::read_create_request;
use crate::extract::{CreateTaskBody, CreateTaskUpload};
use crate::fleet;
use crate::openapi::{
    DatabaseUnavailable, InternalError, InvalidTaskId, QueueFull, TaskNotFound, TooManyQueuedTasks,
    error_answers, json_response_with_headers, text_response,
};
use crate::session::{AdoptSession, Session, SessionId};
use crate::state::AppState;
use store::TaskRow;
use store::limits::SpendScope;
use store::tasks::{self, Cancelled, Caps, Created, NewTask};
use store::workers::Fleet;

static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

// The document's `Task` schema is derived from this type and the views it holds.
/// A task as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Task)]
pub struct TaskView {
    #[schema(value_type = uuid::Uuid)]
    pub id: TaskId,
    pub status: TaskStatus,
    #[schema(value_type = Language)]
    pub language: String,
    #[schema(value_type = domain::Framework)]
    pub framework: String,
    pub model: String,
    /// The source's relative path.
    pub file_name: String,
    pub test_file_name: String,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub started_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    #[schema(minimum = 0)]
    pub attempts: i32,
    #[schema(minimum = 1)]
    pub max_attempts: i32,
    pub progress: ProgressView,
    pub cancel_requested: bool,
    /// Answered from an earlier identical task's result.
    pub cache_hit: bool,
    pub tokens: TokensView,
    /// The model that wrote the result, present only when a fallback answered instead of
    /// `model`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub model_used: Option<String>,
    /// Model calls retried (rate limits, server errors, timeouts) over all attempts.
    #[schema(minimum = 0)]
    pub provider_retries: i32,
    /// Units left out of the result, each with the reason.
    #[schema(value_type = Vec<TaskWarning>)]
    pub warnings: serde_json::Value,
    /// The place in the queue (1 = next): only when one task is read with
    /// `GET /api/tasks/{id}`, and only while it is queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, nullable = false)]
    pub position: Option<i64>,
    #[schema(required = true)]
    pub result: Option<ResultView>,
    #[schema(required = true)]
    pub error: Option<ErrorView>,
    /// The source text; left out of listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub source: Option<String>,
    /// How far the tests are checked: `run` (built, run, run again, measured) or `syntax`.
    #[schema(value_type = domain::ValidationMode)]
    pub validate: String,
    /// Which passing tests are delivered: `covering` (those adding coverage) or `passing`.
    #[schema(value_type = domain::KeepPolicy)]
    pub keep: String,
    /// What running the tests found: per test a verdict, per file the coverage. Present once
    /// the task has succeeded; left out of listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<domain::Validation>, nullable = false)]
    pub validation: Option<serde_json::Value>,
    pub links: LinksView,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = TaskProgress)]
pub struct ProgressView {
    #[schema(minimum = 0)]
    pub completed: i32,
    #[schema(minimum = 0)]
    pub total: i32,
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = TaskTokens)]
pub struct TokensView {
    #[schema(minimum = 0)]
    pub prompt: i64,
    #[schema(minimum = 0)]
    pub completion: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = TaskResult)]
pub struct ResultView {
    pub file_name: String,
    /// The test file; left out of listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub code: Option<String>,
    /// The tests unit by unit, in source order: only when one task is read, and not for results
    /// answered from the cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<TaskUnit>>, nullable = false)]
    pub units: Option<serde_json::Value>,
}

// Documentation only: the worker stores a task's units and warnings as JSON, passed on as they are.
/// One unit's tests.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the JSON the worker stores")]
pub(crate) struct TaskUnit {
    /// Qualified with its container (`Account.deposit`, `Stack::push`).
    name: String,
    kind: domain::UnitKind,
    /// The enclosing type or namespace, if any.
    container: Option<String>,
    #[schema(minimum = 1)]
    start_line: u32,
    #[schema(minimum = 1)]
    end_line: u32,
    /// The unit's tests.
    code: String,
}

/// A unit left out of the result.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the JSON the worker stores")]
pub(crate) struct TaskWarning {
    unit: String,
    /// Why the unit has no tests.
    message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = TaskError)]
pub struct ErrorView {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = TaskLinks)]
pub struct LinksView {
    #[serde(rename = "self")]
    #[schema(format = "uri-reference")]
    pub task: String,
    #[schema(format = "uri-reference")]
    pub download: String,
}

impl LinksView {
    fn for_task(id: TaskId) -> LinksView {
        LinksView {
            task: format!("/api/tasks/{id}"),
            download: format!("/api/tasks/{id}/download"),
        }
    }
}

impl TaskView {
    fn from_row(row: TaskRow, position: Option<i64>) -> anyhow::Result<TaskView> {
        let status = row.status()?;
        let id = row.task_id();
        let percent = match status {
            TaskStatus::Succeeded => 100,
            _ => row.progress().percent(),
        };
        let test_file_name = row
            .language
            .parse::<Language>()
            .map(|language| language.test_file_name(&row.file_name))?;
        Ok(TaskView {
            id,
            status,
            test_file_name,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            updated_at: row.updated_at,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            progress: ProgressView {
                completed: row.progress_done,
                total: row.progress_total,
                percent,
            },
            cancel_requested: row.cancel_requested,
            cache_hit: row.cache_hit,
            tokens: TokensView {
                prompt: row.prompt_tokens,
                completion: row.completion_tokens,
            },
            model_used: row.model_used.filter(|used| *used != row.model),
            provider_retries: row.provider_retries,
            warnings: row.warnings,
            position: position.filter(|_| status == TaskStatus::Queued),
            result: row.result_file_name.map(|file_name| ResultView {
                file_name,
                code: row.result_code,
                units: row.result_units,
            }),
            // A requeued task keeps its last error on the row; it is the task's error only once
            // the task has failed.
            error: match (status, row.error_code, row.error_message) {
                (TaskStatus::Failed, Some(code), Some(message)) => {
                    Some(ErrorView { code, message })
                }
                _ => None,
            },
            source: row.source,
            validate: row.validate,
            keep: row.keep,
            validation: row.validation,
            links: LinksView::for_task(id),
            language: row.language,
            framework: row.framework,
            model: row.model,
            file_name: row.file_name,
        })
    }
}

/// The answer to a create that queued a task.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TaskAccepted)]
pub(crate) struct Accepted {
    #[schema(value_type = uuid::Uuid)]
    id: TaskId,
    status: TaskStatus,
    /// The place in the queue (1 = next).
    #[schema(minimum = 1)]
    position: i64,
    cache_hit: bool,
    links: LinksView,
}

// Documentation only: the header is read by `idempotency_key`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(dead_code, reason = "describes the header `idempotency_key` reads")]
pub(crate) struct IdempotencyKey {
    /// Makes a retry safe: a second request of this session with the same key and the same task
    /// answers with the first task instead of making another.
    #[serde(rename = "Idempotency-Key")]
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$",
        nullable = false
    )]
    key: Option<String>,
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(Some(text.to_owned()))
}

/// What the front door (the gateway, or nginx with the compatible configuration) says about a
/// create request. It sets both headers itself and drops any a client sent, so they are trusted
/// as they come; a value of the wrong shape is read as no value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct FrontDoor {
    /// The same on each of the request's attempts: a retry finds the task an earlier attempt made.
    pub(crate) create_token: Option<String>,
    /// The client the front door limits by: an IPv4 address or an IPv6 /64 network.
    pub(crate) client: Option<String>,
}

impl FrontDoor {
    pub(crate) const CREATE_TOKEN: &'static str = "x-aiut-create-token";
    pub(crate) const CLIENT: &'static str = "x-aiut-client";

    pub(crate) fn of(headers: &HeaderMap) -> FrontDoor {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
        };
        FrontDoor {
            create_token: text(Self::CREATE_TOKEN)
                .filter(|token| is_create_token(token))
                .map(str::to_owned),
            client: text(Self::CLIENT)
                .filter(|client| is_client_key(client))
                .map(str::to_owned),
        }
    }
}

/// A UUID (the gateway's) or nginx's `$request_id` (32 hex digits): random and never shown to
/// the client.
fn is_create_token(token: &str) -> bool {
    (32..=36).contains(&token.len())
        && token
            .bytes()
            .all(|byte| byte.is_ascii_hexdigit() || byte == b'-')
}

/// An IP address, or a network in CIDR form.
fn is_client_key(key: &str) -> bool {
    let (address, prefix) = match key.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (key, None),
    };
    let Ok(address) = address.parse::<std::net::IpAddr>() else {
        return false;
    };
    let longest = if address.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|prefix| prefix.parse::<u8>().is_ok_and(|prefix| prefix <= longest))
}

/// The model must be in the registry, enabled, and served by the live workers (see
/// `fleet::availability`).
pub(crate) fn check_model(
    registry: &ModelRegistry,
    fleet: &Fleet,
    model: &ModelId,
) -> ApiResult<()> {
    let Some(spec) = registry.get(model) else {
        let offered: Vec<&str> = registry
            .models
            .iter()
            .map(|spec| spec.id.as_str())
            .collect();
        return Err(ApiError::Unprocessable {
            code: ErrorCode::UnknownModel,
            message: format!(
                "model: `{model}` is not offered here; choose one of: {}",
                offered.join(", ")
            ),
        });
    };
    if !spec.enabled {
        return Err(ApiError::Unprocessable {
            code: ErrorCode::ModelDisabled,
            message: format!(
                "model: `{model}` is disabled by the administrator; choose another model"
            ),
        });
    }
    match fleet::availability(spec, fleet) {
        Availability::Available => Ok(()),
        Availability::Unavailable(reason) => Err(ApiError::Unprocessable {
            code: ErrorCode::ModelUnavailable,
            message: format!("model: `{model}` is not available: {reason}"),
        }),
    }
}

/// A source with nothing to test is refused now rather than failed later by a worker. Parsing a
/// large file takes a while, so it runs off the async threads.
pub(crate) async fn check_testable(spec: &TaskSpec) -> ApiResult<()> {
    let syntax = codegen::Syntax::of(spec.language, spec.file_name.as_str());
    let source = spec.source.text().to_owned();
    let parsed = tokio::task::spawn_blocking(move || codegen::parse_units(syntax, &source))
        .await
        .map_err(|error| anyhow::anyhow!("the parser stopped: {error}"))?;
    match parsed {
        Ok(_) => Ok(()),
        Err(error) => Err(ApiError::Unprocessable {
            code: ErrorCode::NoTestableUnit,
            message: format!("source: {error}"),
        }),
    }
}

/// The front door's retry of a create found the task its first attempt made. That attempt may
/// have made the session too (the request came without a known cookie): the answer then hands
/// the caller that session. A task of another known session is never handed over.
fn resumed(session: &Session, task: TaskRow) -> ApiResult<Submitted> {
    if task.owner_session == session.id.as_str() {
        return Ok(Submitted::Resumed {
            task,
            adopted: None,
        });
    }
    match SessionId::parse(&task.owner_session) {
        Some(owner) if session.minted => {
            tracing::info!(task_id = %task.id, "a retried create resumed its first attempt's task");
            Ok(Submitted::Resumed {
                task,
                adopted: Some(owner),
            })
        }
        _ => Err(ApiError::Conflict {
            code: ErrorCode::IdempotencyKeyReused,
            message: "this request's create token belongs to another session's task".into(),
        }),
    }
}

/// How a submission was taken.
pub(crate) enum Submitted {
    Queued {
        task: TaskRow,
        position: i64,
    },
    FromCache(TaskRow),
    Replayed(TaskRow),
    /// An earlier attempt of this very request made the task (see [`resumed`]).
    Resumed {
        task: TaskRow,
        adopted: Option<SessionId>,
    },
}

impl Submitted {
    pub(crate) fn into_task(self) -> TaskRow {
        match self {
            Submitted::Queued { task, .. }
            | Submitted::FromCache(task)
            | Submitted::Replayed(task)
            | Submitted::Resumed { task, .. } => task,
        }
    }

    /// The session this request's first attempt made, which the caller is to be handed.
    pub(crate) fn adopted(&self) -> Option<SessionId> {
        match self {
            Submitted::Resumed { adopted, .. } => adopted.clone(),
            _ => None,
        }
    }

    /// The session the caller goes on with: its own, or the one its request's first attempt made.
    pub(crate) fn session(&self, caller: &Session) -> Session {
        match self {
            Submitted::Resumed {
                adopted: Some(owner),
                ..
            } => Session {
                id: owner.clone(),
                minted: false,
            },
            _ => caller.clone(),
        }
    }
}

/// Hands the caller the session its request's first attempt made, when it did.
pub(crate) fn adopting(mut response: Response, adopted: Option<&SessionId>) -> Response {
    if let Some(owner) = adopted {
        response
            .extensions_mut()
            .insert(AdoptSession(owner.clone()));
    }
    response
}

/// Checks a request and stores it as a task (or answers it from the cache, or replays an
/// idempotent retry). Shared by `POST /api/tasks` and the original tool's generation routes.
pub(crate) async fn submit(
    state: &AppState,
    session: &Session,
    raw: domain::RawTaskRequest,
    key: Option<String>,
    front: &FrontDoor,
) -> ApiResult<Submitted> {
    let fleet = state.live_workers().await;
    let registry = state.models().await.registry();
    let default_model = available_default_model(&registry, &fleet)?;
    let spec = TaskSpec::parse(raw, state.settings.source_limits(), &default_model)?;
    check_model(&registry, &fleet, &spec.model)?;
    check_testable(&spec).await?;
    let cache_key = CacheKey::for_spec(&spec);
    let cached = match state.results.get(&cache_key).await {
        Some(hit) => Some(hit),
        None => {
            let found = tasks::find_result(&state.pool, &cache_key).await?;
            if let Some(found) = &found {
                state.results.put(&cache_key, found).await;
            }
            found
        }
    };
    // The request's span context goes on the row: the worker that claims the task continues the
    // request's trace from there.
    let traceparent = telemetry::propagation::traceparent(&tracing::Span::current());
    let new = NewTask {
        owner: session.id.as_str(),
        spec: &spec,
        cache_key: &cache_key,
        idempotency_key: key.as_deref(),
        max_attempts: i32::try_from(state.settings.queue.max_attempts).unwrap_or(3),
        traceparent: traceparent.as_deref(),
        create_token: front.create_token.as_deref(),
        client: front.client.as_deref(),
    };
    let limits = &state.settings.limits;
    let caps = Caps {
        max_queued_per_owner: i64::from(limits.max_queued_per_session),
        max_queued_per_client: i64::from(limits.max_queued_per_client),
        max_queue_depth: i64::from(limits.max_queue_depth),
    };
    match tasks::create_task(&state.pool, &new, cached.as_ref(), caps).await? {
        Created::Queued { task, position } => {
            state.metrics.task_created("queued");
            tracing::info!(task_id = %task.id, language = %spec.language, "task queued");
            Ok(Submitted::Queued { task, position })
        }
        Created::FromCache(task) => {
            state.metrics.task_created("cache_hit");
            tracing::info!(task_id = %task.id, "task answered from the result cache");
            Ok(Submitted::FromCache(task))
        }
        Created::Replayed(task) => {
            state.metrics.task_created("replayed");
            Ok(Submitted::Replayed(task))
        }
        Created::Resumed(task) => resumed(session, task).inspect(|_| {
            state.metrics.task_created("resumed");
        }),
        Created::KeyReused => Err(ApiError::Conflict {
            code: ErrorCode::IdempotencyKeyReused,
            message: "this Idempotency-Key was already used for a different request".into(),
        }),
        Created::OwnerQueueFull { queued, limit } => Err(ApiError::TooManyRequests {
            code: ErrorCode::TooManyQueuedTasks,
            message: format!(
                "you already have {queued} queued tasks (the limit is {limit}); wait for some to \
                 start"
            ),
            retry_after_secs: limits.retry_after_secs,
        }),
        Created::ClientQueueFull { queued, limit } => Err(ApiError::TooManyRequests {
            code: ErrorCode::TooManyQueuedTasks,
            message: format!(
                "your address already has {queued} queued tasks (the limit is {limit}); wait for \
                 some to start"
            ),
            retry_after_secs: limits.retry_after_secs,
        }),
        Created::BudgetSpent {
            scope,
            spent,
            budget,
        } => Err(ApiError::TooManyRequests {
            code: ErrorCode::DailyTokenBudgetSpent,
            message: format!(
                "{} spent {spent} model tokens today, and the daily budget is {budget}; it is \
                 renewed at midnight UTC (answers already in the result cache are still served)",
                match scope {
                    SpendScope::Session => "this session",
                    SpendScope::Client => "your address",
                }
            ),
            retry_after_secs: seconds_to_utc_midnight(Utc::now()),
        }),
        Created::QueueFull { queued } => Err(ApiError::Unavailable {
            code: ErrorCode::QueueFull,
            message: format!("the queue is full ({queued} tasks waiting); try again later"),
            retry_after_secs: limits.retry_after_secs,
        }),
    }
}

/// The model a request without one gets: the registry's default among those a live worker serves.
pub(crate) fn available_default_model(
    registry: &ModelRegistry,
    fleet: &Fleet,
) -> ApiResult<ModelId> {
    fleet::default_model(registry, fleet).ok_or_else(|| ApiError::Unprocessable {
        code: ErrorCode::ModelUnavailable,
        message: "model: no model is available now; name one, or start a worker that serves one"
            .into(),
    })
}

/// Until the daily budgets are renewed.
fn seconds_to_utc_midnight(now: DateTime<Utc>) -> u64 {
    let since_midnight = u64::from(now.num_seconds_from_midnight());
    (24 * 60 * 60 - since_midnight).max(1)
}

/// The answers of `POST /api/tasks` that carry a task, with `Location` and `Idempotent-Replayed`.
pub(crate) struct TaskAnswers;

impl utoipa::IntoResponses for TaskAnswers {
    fn responses() -> std::collections::BTreeMap<String, RefOr<OpenApiResponse>> {
        let headers = ["Location", "Idempotent-Replayed"];
        [
            (
                "200".to_owned(),
                json_response_with_headers(
                    "Answered at once from the result cache: a new task of this session, already \
                     succeeded, with `cache_hit: true`. Also the answer to a replay \
                     (`Idempotent-Replayed: true`) whose task is no longer queued: the whole task \
                     as it is now.",
                    "Task",
                    &headers,
                ),
            ),
            (
                "202".to_owned(),
                json_response_with_headers(
                    "Queued (or, with `Idempotent-Replayed: true`, the still queued task this \
                     `Idempotency-Key` made before).",
                    "TaskAccepted",
                    &headers,
                ),
            ),
        ]
        .into()
    }
}

error_answers! {
    /// The refusals of `POST /api/tasks` before its task is checked.
    CreateRefusals {
        "400" => "The request cannot be read: a bad `Idempotency-Key`, malformed JSON, a missing \
            `source`, an unknown field, or a broken or incomplete upload.",
            [InvalidIdempotencyKey, InvalidJson, UnreadableBody, InvalidMultipart, DuplicateSource,
             DuplicateField, UnknownField, MissingFile, InvalidField];
        "409" => "This `Idempotency-Key` was already used by this session for a different request.",
            [IdempotencyKeyReused];
        "413" => "The body (`payload_too_large`) or the source (`source_too_large`) is over its \
            limit.", [PayloadTooLarge, SourceTooLarge];
        "415" => "The body is neither JSON nor a multipart upload, or it is compressed.",
            [UnsupportedMediaType];
    }
    /// The 408 of every route that reads a body.
    BodyTimeout {
        "408" => "The body stopped arriving for longer than the body timeout (30 s by default).",
            [RequestTimeout];
    }
    /// The 422 of every route that queues a task.
    UnprocessableSubmission {
        "422" => "The request was read but cannot be served; the message names the field at \
            fault. `model_unavailable`: the model is offered but its key is not set (see \
            `GET /api/models`); `model_disabled`: the administrator disabled the model; `no_testable_unit`: the source has no function, method or \
            constructor to test.",
            [EmptySource, SourceNotUtf8, SourceBinary, InvalidFilename, UnknownLanguage,
             LanguageRequired, UnknownFramework, FrameworkNotForLanguage, InvalidModel,
             InvalidValidate, InvalidKeep, UnknownModel, ModelUnavailable, ModelDisabled,
             NoTestableUnit];
    }
    /// The 400 of `GET /api/tasks`.
    InvalidListQuery {
        "400" => "A query parameter is malformed, out of range or unknown.",
            [InvalidQuery, InvalidTaskId];
    }
    /// The 409 of `DELETE /api/tasks/{id}`.
    TaskAlreadyFinished {
        "409" => "The task has already finished.", [TaskFinished];
    }
    /// The 409 of `GET /api/tasks/{id}/download`.
    NoTestFile {
        "409" => "There is no test file: the task has not finished yet (`task_not_finished`), or \
            it ended without one (`no_result`).", [TaskNotFinished, NoResult];
    }
}

/// `POST /api/tasks`
#[utoipa::path(
    post,
    path = "/api/tasks",
    operation_id = "createTask",
    tag = "tasks",
    summary = "Queue a test-generation task for one source file.",
    description = "The source comes as JSON or as a multipart upload. The language is the one \
        asked for, else the one the file name's extension shows; the framework defaults to the \
        language's first; the model to the service's default. An identical earlier request that \
        succeeded answers at once from the result cache (200). With an `Idempotency-Key`, a \
        retry answers with the task the key first made and `Idempotent-Replayed: true`.",
    security(("sessionCookie" = []), ()),
    params(IdempotencyKey),
    request_body(
        description = "`application/json` (or any `application/*+json`) or \
            `multipart/form-data`; any other `Content-Type` is refused with 415.",
        content(
            (CreateTaskBody = "application/json"),
            (
                CreateTaskUpload = "multipart/form-data",
                encoding(("file" = (content_type = "*/*")))
            ),
        )
    ),
    responses(
        TaskAnswers,
        CreateRefusals,
        BodyTimeout,
        UnprocessableSubmission,
        (status = 429, response = TooManyQueuedTasks),
        (status = 500, response = InternalError),
        (status = 503, response = QueueFull),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    request: Request,
) -> ApiResult<Response> {
    let key = idempotency_key(request.headers())?;
    let front = FrontDoor::of(request.headers());
    let raw = read_create_request(request, state.settings.limits.max_body_bytes).await?;
    match submit(&state, &session, raw, key, &front).await? {
        Submitted::Queued { task, position } => accepted(task, position, StatusCode::ACCEPTED),
        Submitted::FromCache(task) => whole_task(task),
        Submitted::Resumed { task, adopted } => {
            // The answer the first attempt would have given, as far as the task has come since.
            let response = as_it_is_now(&state, task).await?;
            Ok(adopting(response, adopted.as_ref()))
        }
        Submitted::Replayed(task) => {
            // The task as it is now: still queued, the same answer as the first time; otherwise
            // the whole task, so a retry after completion gets the result.
            let mut response = as_it_is_now(&state, task).await?;
            response.headers_mut().insert(
                IDEMPOTENT_REPLAYED.clone(),
                HeaderValue::from_static("true"),
            );
            Ok(response)
        }
    }
}

/// A task found again (a replay, a resumed retry): 202 with its place while it is still queued,
/// read again with the place in one statement, else the whole task.
async fn as_it_is_now(state: &AppState, task: TaskRow) -> ApiResult<Response> {
    if task.status()? != TaskStatus::Queued {
        return whole_task(task);
    }
    let now = tasks::get_task_with_position(&state.pool, &task.owner_session, task.task_id())
        .await?
        .ok_or_else(ApiError::task_not_found)?;
    match now {
        (task, Some(position)) => accepted(task, position, StatusCode::ACCEPTED),
        (task, None) => whole_task(task),
    }
}

fn accepted(task: TaskRow, position: i64, status: StatusCode) -> ApiResult<Response> {
    let id = task.task_id();
    let body = Accepted {
        id,
        status: task.status()?,
        position,
        cache_hit: task.cache_hit,
        links: LinksView::for_task(id),
    };
    Ok((status, location(&body.links.task), Json(body)).into_response())
}

/// 200 with the whole task: the answer when the task needs no waiting for.
fn whole_task(task: TaskRow) -> ApiResult<Response> {
    let view = TaskView::from_row(task, None)?;
    Ok((StatusCode::OK, location(&view.links.task), Json(view)).into_response())
}

fn location(path: &str) -> [(HeaderName, HeaderValue); 1] {
    [(
        header::LOCATION,
        HeaderValue::from_str(path).unwrap_or(HeaderValue::from_static("/api/tasks")),
    )]
}

fn parse_id(raw: &str) -> ApiResult<TaskId> {
    raw.parse::<TaskId>()
        .map_err(|error| ApiError::bad_request(ErrorCode::InvalidTaskId, error.to_string()))
}

/// The `{id}` of a task route. Whatever the path holds — not a UUID, not even UTF-8 — it is a 400
/// `invalid_task_id` in the one error shape, never the router's plain-text rejection.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct TaskIdParam(
    /// The task's id, in canonical hyphenated form.
    #[param(value_type = uuid::Uuid)]
    pub TaskId,
);

impl<S: Send + Sync> FromRequestParts<S> for TaskIdParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::bad_request(ErrorCode::InvalidTaskId, "the task id is not valid text")
            })?;
        parse_id(&raw).map(TaskIdParam)
    }
}

/// `GET /api/tasks/{id}`
#[utoipa::path(
    get,
    path = "/api/tasks/{id}",
    operation_id = "getTask",
    tag = "tasks",
    summary = "Read one task of the session, with its source and result.",
    security(("sessionCookie" = []), ()),
    params(TaskIdParam),
    responses(
        (
            status = 200,
            description = "The task; `position` is present while it is queued.",
            body = TaskView
        ),
        (status = 400, response = InvalidTaskId),
        (status = 404, response = TaskNotFound),
        (status = 500, response = InternalError),
        (status = 503, response = DatabaseUnavailable),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    TaskIdParam(id): TaskIdParam,
) -> ApiResult<Json<TaskView>> {
    // The row and, while it is queued, its place: one statement.
    let (task, position) = tasks::get_task_with_position(&state.pool, session.id.as_str(), id)
        .await?
        .ok_or_else(ApiError::task_not_found)?;
    Ok(Json(TaskView::from_row(task, position)?))
}

/// Read as text, so each malformed value gets its own message.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Tasks per page; the upper bound is the configured page size (100 unless changed).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20, nullable = false)]
    limit: Option<String>,
    /// Only tasks older than this one: the `next_before` of the previous page.
    #[param(value_type = Option<uuid::Uuid>, nullable = false)]
    before: Option<String>,
    /// Only tasks in this status.
    #[param(value_type = Option<TaskStatus>, nullable = false)]
    status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct TaskPage {
    tasks: Vec<TaskView>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<uuid::Uuid>, nullable = false)]
    next_before: Option<TaskId>,
}

/// `GET /api/tasks?limit=&before=&status=`: the caller's tasks, newest first.
#[utoipa::path(
    get,
    path = "/api/tasks",
    operation_id = "listTasks",
    tag = "tasks",
    summary = "List the session's tasks, newest first, a page at a time.",
    description = "Listings leave out `source`, `position` and `result.code`. Any query \
        parameter other than these three is refused.",
    security(("sessionCookie" = []), ()),
    params(ListParams),
    responses(
        (status = 200, description = "One page of tasks.", body = TaskPage),
        InvalidListQuery,
        (status = 500, response = InternalError),
        (status = 503, response = DatabaseUnavailable),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidQuery, rejection.body_text())
    })?;
    let max = state.settings.limits.max_page_size;
    let limit = match params.limit.as_deref() {
        None => 20.min(max),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=max).contains(limit))
            .ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidQuery,
                    format!("limit must be a whole number from 1 to {max}"),
                )
            })?,
    };
    let before = params.before.as_deref().map(parse_id).transpose()?;
    let status = params
        .status
        .as_deref()
        .map(str::parse::<TaskStatus>)
        .transpose()
        .map_err(|error| ApiError::bad_request(ErrorCode::InvalidQuery, error.to_string()))?;
    // One extra row tells whether another page follows.
    let mut rows = tasks::list_tasks(
        &state.pool,
        session.id.as_str(),
        before,
        status,
        i64::from(limit) + 1,
    )
    .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_before = if more {
        rows.last().map(TaskRow::task_id)
    } else {
        None
    };
    let tasks = rows
        .into_iter()
        .map(|row| TaskView::from_row(row, None))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Json(TaskPage { tasks, next_before }).into_response())
}

/// `DELETE /api/tasks/{id}`: 200 when cancelled at once, 202 when the worker was asked to stop,
/// 409 when the task had already finished.
#[utoipa::path(
    delete,
    path = "/api/tasks/{id}",
    operation_id = "cancelTask",
    tag = "tasks",
    summary = "Cancel a task: at once when queued, by asking its worker when running.",
    security(("sessionCookie" = []), ()),
    params(TaskIdParam),
    responses(
        (status = 200, description = "The task was queued and is now cancelled.", body = TaskView),
        (
            status = 202,
            description = "The task is running; its worker was asked to stop \
                (`cancel_requested: true`).",
            body = TaskView
        ),
        (status = 400, response = InvalidTaskId),
        (status = 404, response = TaskNotFound),
        TaskAlreadyFinished,
        (status = 500, response = InternalError),
        (status = 503, response = DatabaseUnavailable),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    TaskIdParam(id): TaskIdParam,
) -> ApiResult<Response> {
    match tasks::cancel_task(&state.pool, session.id.as_str(), id).await? {
        Cancelled::Now(task) => {
            tracing::info!(task_id = %id, "queued task cancelled");
            // No worker has the task, so the api tells its watchers.
            let ended = store::events::publish(
                &state.redis,
                state.settings.stream.event_ttl_secs,
                id,
                Progress::start(),
                domain::EventKind::Cancelled {
                    reason: "cancelled by its owner".into(),
                },
            )
            .await;
            if let Err(error) = ended {
                tracing::warn!(task_id = %id, error = %error, "cannot publish the cancellation");
            }
            Ok((StatusCode::OK, Json(TaskView::from_row(task, None)?)).into_response())
        }
        Cancelled::Requested(task) => {
            tracing::info!(task_id = %id, "cancellation of a running task requested");
            Ok((StatusCode::ACCEPTED, Json(TaskView::from_row(task, None)?)).into_response())
        }
        Cancelled::AlreadyFinished(task) => Err(ApiError::Conflict {
            code: ErrorCode::TaskFinished,
            message: format!("the task has already finished ({})", task.status),
        }),
        Cancelled::NotFound => Err(ApiError::task_not_found()),
    }
}

/// The test file of `GET /api/tasks/{id}/download`, in its language's media type.
pub(crate) struct TestFile;

impl utoipa::IntoResponses for TestFile {
    fn responses() -> std::collections::BTreeMap<String, RefOr<OpenApiResponse>> {
        let media_types = Language::ALL.map(|language| {
            language
                .media_type()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
        });
        [(
            "200".to_owned(),
            text_response(
                "The test file, as an attachment, in the media type of the task's language \
                 (`; charset=utf-8`).",
                &media_types,
                "UTF-8 source text.",
                &["Content-Disposition"],
            ),
        )]
        .into()
    }
}

/// `GET /api/tasks/{id}/download`: the test file as an attachment.
#[utoipa::path(
    get,
    path = "/api/tasks/{id}/download",
    operation_id = "downloadTask",
    tag = "tasks",
    summary = "Download the generated test file of a succeeded task.",
    security(("sessionCookie" = []), ()),
    params(TaskIdParam),
    responses(
        TestFile,
        (status = 400, response = InvalidTaskId),
        (status = 404, response = TaskNotFound),
        NoTestFile,
        (status = 500, response = InternalError),
        (status = 503, response = DatabaseUnavailable),
    )
)]
pub async fn download(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    TaskIdParam(id): TaskIdParam,
) -> ApiResult<Response> {
    let task = tasks::get_task(&state.pool, session.id.as_str(), id)
        .await?
        .ok_or_else(ApiError::task_not_found)?;
    let status = task.status()?;
    let (Some(file_name), Some(code)) = (task.result_file_name, task.result_code) else {
        return Err(ApiError::Conflict {
            code: if status.is_terminal() {
                ErrorCode::NoResult
            } else {
                ErrorCode::TaskNotFinished
            },
            message: if status.is_terminal() {
                format!("the task ended {status} and has no test file")
            } else {
                format!("the task is {status}; download it once it has succeeded")
            },
        });
    };
    let language: Language = task.language.parse().map_err(anyhow::Error::from)?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(language.media_type()),
        ),
        (header::CONTENT_DISPOSITION, content_disposition(&file_name)),
    ];
    Ok((headers, code).into_response())
}

/// `attachment; filename="x.py"; filename*=UTF-8''x.py` — the plain form for old clients, the
/// encoded one for names outside ASCII.
fn content_disposition(file_name: &str) -> HeaderValue {
    let plain: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = file_name
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_safe_for_any_name() {
        let value = content_disposition("tëst \"x\".py");
        let text = value.to_str().expect("ASCII");
        assert!(
            text.starts_with("attachment; filename=\"t_st _x_.py\""),
            "{text}"
        );
        assert!(
            text.contains("filename*=UTF-8''t%C3%ABst%20%22x%22.py"),
            "{text}"
        );
    }

    #[test]
    fn idempotency_keys_are_checked() {
        let mut headers = HeaderMap::new();
        assert_eq!(idempotency_key(&headers).ok(), Some(None));
        headers.insert("idempotency-key", HeaderValue::from_static("order-42"));
        assert_eq!(
            idempotency_key(&headers).ok(),
            Some(Some("order-42".into()))
        );
        headers.insert("idempotency-key", HeaderValue::from_static("has space"));
        assert!(idempotency_key(&headers).is_err());
    }

    #[test]
    fn the_front_doors_headers_are_read_only_in_their_shapes() {
        let mut headers = HeaderMap::new();
        assert_eq!(FrontDoor::of(&headers), FrontDoor::default());
        for (token, client) in [
            ("6f1c2a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f", "203.0.113.5"),
            ("0123456789abcdef0123456789abcdef", "2001:db8:1:2::/64"),
        ] {
            headers.insert(FrontDoor::CREATE_TOKEN, HeaderValue::from_static(token));
            headers.insert(FrontDoor::CLIENT, HeaderValue::from_static(client));
            assert_eq!(
                FrontDoor::of(&headers),
                FrontDoor {
                    create_token: Some(token.to_owned()),
                    client: Some(client.to_owned()),
                }
            );
        }
        for (token, client) in [
            ("short", "not-an-address"),
            (
                "6f1c2a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f-and-more",
                "203.0.113.5/33",
            ),
            ("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "2001:db8::/129"),
        ] {
            headers.insert(FrontDoor::CREATE_TOKEN, HeaderValue::from_static(token));
            headers.insert(FrontDoor::CLIENT, HeaderValue::from_static(client));
            assert_eq!(
                FrontDoor::of(&headers),
                FrontDoor::default(),
                "{token} {client}"
            );
        }
    }
}
