//! Live progress for browsers (`GET /api/tasks/{id}/events`, server-sent events) and for the
//! original tool's clients (`POST /api/generate-test-stream`, newline-delimited JSON, and
//! `POST /api/generate-test`, which waits for the result).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use domain::{Event, EventKind, Progress, RawSource, RawTaskRequest, TaskId, TaskStatus};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::Instrument;
use utoipa::openapi::{RefOr, Response as OpenApiResponse};
use utoipa::{IntoParams, ToSchema};

use super::tasks::{
    BodyTimeout, FrontDoor, IdempotencyKey, Submitted, TaskIdParam, UnprocessableSubmission,
    adopting, idempotency_key, submit,
};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::events::{HubMessage, Watch};
use crate::extract::read_json_body;
use crate::openapi::{
    DatabaseUnavailable, InternalError, QueueFull, TaskNotFound, TooManyQueuedTasks, error_answers,
    stream_response,
};
use crate::session::Session;
use crate::state::AppState;
use store::TaskRow;
use store::events::replay;
use store::tasks;

/// What a follower hands to a stream: an event, and whether it carries a resumable number.
#[derive(Debug, Clone)]
struct Frame {
    event: Arc<Event>,
    /// `false` for synthesised frames (heartbeats, the state read from the table): they have no
    /// place in the task's numbering.
    numbered: bool,
}

// Documentation only: the header is read by `last_event_id`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(dead_code, reason = "describes the header `last_event_id` reads")]
pub(crate) struct LastEventId {
    /// Resume after this event: only events with a larger `seq` are sent. Browsers'
    /// `EventSource` sends it by itself when it reconnects.
    #[serde(rename = "Last-Event-ID")]
    #[param(nullable = false)]
    id: Option<u64>,
}

/// The event stream of `GET /api/tasks/{id}/events`.
pub(crate) struct EventStream;

impl utoipa::IntoResponses for EventStream {
    fn responses() -> std::collections::BTreeMap<String, RefOr<OpenApiResponse>> {
        let names = crate::openapi::event_names().join(", ");
        [(
            "200".to_owned(),
            stream_response(
                "Server-sent events, one per step of the task: `event:` is the event's name, \
                 `data:` its JSON (an `Event`), and `id:` its number `seq`, which a client sends \
                 back as `Last-Event-ID` to resume after it. The task's events so far are \
                 replayed first, then live ones follow; a `heartbeat` (without `id:`) comes while \
                 the task is quiet. The stream ends after `completed`, `error` or `cancelled`. A \
                 task that ended with no events left to replay gets one such ending read from \
                 the table (without `id:`); when the replica cannot follow live events, the \
                 stream sends the task's state as one event and ends, and the client polls \
                 `GET /api/tasks/{id}`. Live events lost for a while (Redis restarting) are \
                 caught up when they come back; heartbeats meanwhile carry the table's \
                 progress. Numbers grow but are not consecutive and do not start at 1.",
                "text/event-stream",
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .description(Some(format!("Events named {names}.")))
                    .examples([
                        "event: generating\nid: 1765432109876543\ndata: {\"task_id\":\"6f1c2a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f\",\"seq\":1765432109876543,\"progress\":10,\"completed\":0,\"total\":2,\"event\":\"generating\",\"unit\":\"add\"}\n\n",
                    ])
                    .build(),
                "Event",
                &[("Cache-Control", "NoCache")],
            ),
        )]
        .into()
    }
}

/// The NDJSON stream of `POST /api/generate-test-stream`.
pub(crate) struct LineStream;

impl utoipa::IntoResponses for LineStream {
    fn responses() -> std::collections::BTreeMap<String, RefOr<OpenApiResponse>> {
        [(
            "200".to_owned(),
            stream_response(
                "One JSON object per line (`GenerateStreamLine`), in the original tool's `status` \
                 names: `started`, `parsing_completed`, `generating`, `warning`, then \
                 `completed`, `error` or `cancelled`, after which the stream ends; a unit's tests \
                 come as a line without `status`. `heartbeat` lines come while the task is quiet. \
                 When the replica cannot follow live events, one line with the task's state ends \
                 the stream.",
                "application/x-ndjson",
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .build(),
                "GenerateStreamLine",
                &[],
            ),
        )]
        .into()
    }
}

error_answers! {
    /// The 400 of `GET /api/tasks/{id}/events`.
    InvalidEventsRequest {
        "400" => "The `id` is not a task id, or `Last-Event-ID` is not an event number.",
            [InvalidTaskId, InvalidLastEventId];
    }
    /// The refusals the original tool's generation routes share before their task is checked.
    CompatRefusals {
        "400" => "The request cannot be read: a bad `Idempotency-Key`, malformed JSON, a body \
            that is not a JSON object, or no `code`.",
            [InvalidIdempotencyKey, InvalidJson, UnreadableBody];
        "413" => "The body (`payload_too_large`) or the code (`source_too_large`) is over its \
            limit.", [PayloadTooLarge, SourceTooLarge];
        "415" => "The body is not JSON, or it is compressed.", [UnsupportedMediaType];
    }
    /// The refusals only `POST /api/generate-test` gives.
    GenerateTestRefusals {
        "409" => "This `Idempotency-Key` was already used for a different request \
            (`idempotency_key_reused`), or the task was cancelled while it was awaited \
            (`task_cancelled`).", [IdempotencyKeyReused, TaskCancelled];
        "504" => "The task is still running after the wait limit (`stream.wait_timeout_secs`, \
            120 s unless changed); the message names the task to follow at `/api/tasks/{id}`.",
            [GenerationTimeout];
    }
    /// The 409 of `POST /api/generate-test-stream`.
    KeyReused {
        "409" => "This `Idempotency-Key` was already used for a different request.",
            [IdempotencyKeyReused];
    }
}

/// `GET /api/tasks/{id}/events`
#[utoipa::path(
    get,
    path = "/api/tasks/{id}/events",
    operation_id = "streamTaskEvents",
    tag = "tasks",
    summary = "Follow a task live, as server-sent events.",
    security(("sessionCookie" = []), ()),
    params(TaskIdParam, LastEventId),
    responses(
        EventStream,
        InvalidEventsRequest,
        (status = 404, response = TaskNotFound),
        (status = 500, response = InternalError),
        (status = 503, response = DatabaseUnavailable),
    )
)]
pub async fn task_events(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    TaskIdParam(id): TaskIdParam,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let after = last_event_id(&headers)?;
    let watch = state.hub.is_connected().then(|| state.hub.watch(id));
    let task = tasks::get_task(&state.pool, session.id.as_str(), id)
        .await?
        .ok_or_else(ApiError::task_not_found)?;
    let frames = follow(state, session, task, after, watch);
    let events = futures::StreamExt::map(frames, |frame| Ok::<_, Infallible>(sse_event(&frame)));
    let mut response = Sse::new(events).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    // Tells nginx-style proxies not to buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

fn last_event_id(headers: &HeaderMap) -> ApiResult<u64> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(0);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .ok_or_else(|| ApiError::BadRequest {
            code: ErrorCode::InvalidLastEventId,
            message: "Last-Event-ID must be the number of an event of this task".into(),
        })
}

fn sse_event(frame: &Frame) -> SseEvent {
    let data = serde_json::to_string(&*frame.event).unwrap_or_else(|_| "{}".to_owned());
    let event = SseEvent::default()
        .event(frame.event.kind.name())
        .data(data);
    if frame.numbered {
        event.id(frame.event.seq.to_string())
    } else {
        event
    }
}

/// The frames of one task: the log from `after` on, then live events, heartbeats while quiet, and
/// the end after a terminal event. Without the live subscription: the task's state, then the end.
fn follow(
    state: AppState,
    session: Session,
    task: TaskRow,
    after: u64,
    watch: Option<Watch>,
) -> impl Stream<Item = Frame> {
    let (sender, receiver) = mpsc::channel::<Frame>(64);
    // The follower runs in the request's span: its queries are part of the request's trace, and
    // its log lines name the request.
    let span = tracing::Span::current();
    tokio::spawn(
        async move {
            let follower = Follower {
                state,
                owner: session.id.as_str().to_owned(),
                id: task.task_id(),
                sender,
                last: after,
                last_progress: None,
                behind: false,
            };
            follower.run(task, watch).await;
        }
        .instrument(span),
    );
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|frame| (frame, receiver))
    })
}

struct Follower {
    state: AppState,
    owner: String,
    id: TaskId,
    sender: mpsc::Sender<Frame>,
    last: u64,
    /// The progress of the last event sent: a heartbeat repeats it, so the bar never goes back
    /// between events (the table's figures lag behind the events).
    last_progress: Option<Progress>,
    /// The log must be read again: the subscription came back (or this client fell behind) while
    /// Redis could not be read yet. Each heartbeat tries until it can.
    behind: bool,
}

/// Whether the stream goes on after a step.
enum Flow {
    Continue,
    End,
}

impl Follower {
    async fn run(mut self, task: TaskRow, watch: Option<Watch>) {
        let Some(mut watch) = watch else {
            self.send_state(&task).await;
            return;
        };
        if let Flow::End = self.catch_up(&task).await {
            return;
        }
        let every = Duration::from_secs(self.state.settings.stream.heartbeat_secs);
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            let flow = tokio::select! {
                () = self.sender.closed() => Flow::End,
                () = self.state.hub.stopping() => Flow::End,
                message = watch.recv() => match message {
                    Some(HubMessage::Event(event)) => self.send_live(event).await,
                    Some(HubMessage::Resync) => self.catch_up_live().await,
                    None => Flow::End,
                },
                _ = heartbeat.tick() => self.beat().await,
            };
            if let Flow::End = flow {
                return;
            }
        }
    }

    /// The log so far; and when the table says the task is over but the log has no ending (the log
    /// expired, or Redis lost it), the ending read from the table.
    async fn catch_up(&mut self, task: &TaskRow) -> Flow {
        if let Flow::End = self.resync().await {
            return Flow::End;
        }
        if task.status().is_ok_and(TaskStatus::is_terminal) {
            self.send_state(task).await;
            return Flow::End;
        }
        Flow::Continue
    }

    /// The log after the last number sent; when it cannot be read, the state and the end.
    async fn resync(&mut self) -> Flow {
        match self.replay_after_last().await {
            Ok(flow) => flow,
            Err(error) => {
                tracing::warn!(task_id = %self.id, error = %error, "cannot replay events; sending the state");
                self.send_current_state().await;
                Flow::End
            }
        }
    }

    /// The log after the last number sent, while following live events; when it cannot be read
    /// yet (Redis has just come back, and the shared connection with it), the stream goes on and
    /// the next heartbeat tries again.
    async fn catch_up_live(&mut self) -> Flow {
        match self.replay_after_last().await {
            Ok(flow) => flow,
            Err(error) => {
                tracing::debug!(task_id = %self.id, error = %error, "cannot replay events yet");
                self.behind = true;
                Flow::Continue
            }
        }
    }

    async fn replay_after_last(&mut self) -> redis::RedisResult<Flow> {
        let events = replay(&self.state.redis, self.id, self.last).await?;
        self.behind = false;
        for event in events {
            if let Flow::End = self.send_live(Arc::new(event)).await {
                return Ok(Flow::End);
            }
        }
        Ok(Flow::Continue)
    }

    async fn send_live(&mut self, event: Arc<Event>) -> Flow {
        if event.seq <= self.last {
            return Flow::Continue;
        }
        self.last = event.seq;
        self.last_progress = Some(event.progress);
        let terminal = event.kind.is_terminal();
        let delivered = self
            .sender
            .send(Frame {
                event,
                numbered: true,
            })
            .await
            .is_ok();
        if terminal || !delivered {
            Flow::End
        } else {
            Flow::Continue
        }
    }

    /// A heartbeat, unless the task ended unseen: then its ending, from the log or the table, and
    /// the end. While the subscription is down (Redis restarting) the stream goes on with the
    /// table's progress: the hub's `Resync` re-reads the log once it is back, and the numbers of
    /// events published meanwhile are above every earlier one, even if Redis lost the counter.
    async fn beat(&mut self) -> Flow {
        let task = match tasks::get_task(&self.state.pool, &self.owner, self.id).await {
            Ok(Some(task)) => task,
            _ => return Flow::End,
        };
        let over = task.status().is_ok_and(TaskStatus::is_terminal);
        if over && let Flow::End = self.resync().await {
            return Flow::End;
        }
        if over {
            self.send_state(&task).await;
            return Flow::End;
        }
        if self.behind
            && let Flow::End = self.catch_up_live().await
        {
            return Flow::End;
        }
        let table = task.progress();
        let progress = match self.last_progress {
            Some(sent) if sent.percent() >= table.percent() => sent,
            _ => table,
        };
        let beat = Event {
            task_id: self.id,
            seq: self.last,
            progress,
            kind: EventKind::Heartbeat {},
        };
        self.send_synthesised(beat).await
    }

    async fn send_current_state(&mut self) {
        if let Ok(Some(task)) = tasks::get_task(&self.state.pool, &self.owner, self.id).await {
            self.send_state(&task).await;
        }
    }

    async fn send_state(&mut self, task: &TaskRow) {
        let event = state_event(task, self.last);
        let _ = self.send_synthesised(event).await;
    }

    async fn send_synthesised(&mut self, event: Event) -> Flow {
        let frame = Frame {
            event: Arc::new(event),
            numbered: false,
        };
        match self.sender.send(frame).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::End,
        }
    }
}

/// The task's state as one event: its ending when it is over, else a heartbeat with its progress.
fn state_event(task: &TaskRow, seq: u64) -> Event {
    let progress = task.progress();
    let done = |completed: u32| Progress::new(100, completed, completed).unwrap_or(progress);
    let kind = match task.status() {
        Ok(TaskStatus::Succeeded) => {
            let tests = task
                .result_units
                .as_ref()
                .and_then(Value::as_array)
                .map_or(1, Vec::len);
            let tests = u32::try_from(tests).unwrap_or(u32::MAX);
            return Event {
                task_id: task.task_id(),
                seq,
                progress: done(u32::try_from(task.progress_total).unwrap_or(0)),
                kind: EventKind::Completed {
                    file_name: task.result_file_name.clone().unwrap_or_default(),
                    tests,
                },
            };
        }
        Ok(TaskStatus::Failed) => EventKind::Error {
            code: task.error_code.clone().unwrap_or_else(|| "failed".into()),
            message: task.error_message.clone().unwrap_or_default(),
        },
        Ok(TaskStatus::Cancelled) => EventKind::Cancelled {
            reason: "cancelled by its owner".into(),
        },
        _ => EventKind::Heartbeat {},
    };
    Event {
        task_id: task.task_id(),
        seq,
        progress,
        kind,
    }
}

/// The original tool's generation request.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = GenerateTestRequest)]
pub(crate) struct GenerateRequest {
    /// The source text, with the limits of `source` in `POST /api/tasks`.
    code: String,
    /// As `language` in `POST /api/tasks`.
    language: Option<String>,
    /// As `model` in `POST /api/tasks`.
    model: Option<String>,
    /// As `framework` in `POST /api/tasks`.
    framework: Option<String>,
    /// As `filename` in `POST /api/tasks`.
    file_name: Option<String>,
    /// The same as `file_name`; give only one of the two.
    filename: Option<String>,
}

/// The original's answer: one test per unit, and the whole test file.
#[derive(Serialize, ToSchema)]
#[schema(as = GenerateTestResult)]
pub(crate) struct CompatResult {
    /// One entry per unit; a result answered from the cache is one entry of `type` `file` with
    /// the whole test file.
    tests: Vec<CompatTest>,
    #[schema(schema_with = always_null)]
    git_urls: (),
    #[schema(value_type = uuid::Uuid)]
    task_id: TaskId,
    /// The test file's name.
    file_name: String,
    /// The whole test file.
    #[schema(required = true)]
    code: Option<String>,
}

/// `git_urls`: always null, kept for the original's clients.
fn always_null() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Null)
        .description(Some("Always null: kept for the original's clients."))
        .build()
}

/// One unit's tests in the original's shape; the unit's fields are passed on from the stored
/// result as they are.
#[derive(Serialize, ToSchema)]
pub(crate) struct CompatTest {
    #[schema(value_type = Option<String>, required = true)]
    name: Value,
    /// The unit's kind, or `file`.
    #[serde(rename = "type")]
    #[schema(value_type = Option<String>, required = true)]
    kind: Value,
    #[schema(value_type = Option<String>, required = true)]
    test_code: Value,
    /// The unit's lines of the source.
    original_snippet: String,
    /// The test file's name.
    file_name: String,
}

async fn submit_compat(
    state: &AppState,
    session: &Session,
    request: Request,
) -> ApiResult<Submitted> {
    let key = idempotency_key(request.headers())?;
    let front = FrontDoor::of(request.headers());
    let body: GenerateRequest =
        read_json_body(request, state.settings.limits.max_body_bytes).await?;
    let filename = match (body.file_name, body.filename) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidJson,
                "field `filename`: duplicate field `file_name` (give only one of the two)",
            ));
        }
        (file_name, filename) => file_name.or(filename),
    };
    let raw = RawTaskRequest {
        source: RawSource::Text(body.code),
        filename,
        language: body.language,
        framework: body.framework,
        model: body.model,
        ..RawTaskRequest::default()
    };
    submit(state, session, raw, key, &front).await
}

/// `POST /api/generate-test`: the original tool's blocking call. Waits for the result (up to
/// `stream.wait_timeout_secs`) and answers with the tests unit by unit, as the original did.
#[utoipa::path(
    post,
    path = "/api/generate-test",
    operation_id = "generateTestCompat",
    tag = "compat",
    summary = "Queue a task and wait for its tests, in the original tool's shape.",
    description = "Queues a task as `POST /api/tasks` does (the same checks, limits, \
        `Idempotency-Key` and result cache) and answers when it has ended.",
    security(("sessionCookie" = []), ()),
    params(IdempotencyKey),
    request_body(
        content = GenerateRequest,
        content_type = "application/json",
        description = "`application/json`; a multipart upload or any other `Content-Type` is \
            refused with 415."
    ),
    responses(
        (
            status = 200,
            description = "The task succeeded: its tests unit by unit, and the whole test file.",
            body = CompatResult
        ),
        CompatRefusals,
        BodyTimeout,
        GenerateTestRefusals,
        UnprocessableSubmission,
        (status = 429, response = TooManyQueuedTasks),
        (status = 500, response = InternalError),
        (
            status = 502,
            description = "The task failed on the model side: `error.code` is the task's error \
                code (for example `provider_error`, `no_valid_tests`, `assembly_failed`).",
            body = crate::error::ErrorBody<'static>
        ),
        (status = 503, response = QueueFull),
    )
)]
pub async fn generate_test(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    request: Request,
) -> ApiResult<Response> {
    let submitted = submit_compat(&state, &session, request).await?;
    let session = submitted.session(&session);
    let adopted = submitted.adopted();
    let answer = wait_and_answer(&state, &session, submitted.into_task()).await;
    // Whatever the answer, it hands over the session that owns the task.
    Ok(adopting(
        answer.unwrap_or_else(IntoResponse::into_response),
        adopted.as_ref(),
    ))
}

async fn wait_and_answer(
    state: &AppState,
    session: &Session,
    task: TaskRow,
) -> ApiResult<Response> {
    let id = task.task_id();
    let owner = session.id.as_str().to_owned();
    let deadline = Duration::from_secs(state.settings.stream.wait_timeout_secs);
    let finished = tokio::time::timeout(deadline, wait_for_end(state, &owner, id)).await;
    let task = match finished {
        Ok(result) => result?,
        Err(_) => {
            return Err(ApiError::GatewayTimeout {
                code: ErrorCode::GenerationTimeout,
                message: format!(
                    "task {id} is still running after {} s; follow it at /api/tasks/{id}",
                    deadline.as_secs()
                ),
            });
        }
    };
    match task.status()? {
        TaskStatus::Succeeded => Ok(Json(compat_result(&task)).into_response()),
        TaskStatus::Cancelled => Err(ApiError::Conflict {
            code: ErrorCode::TaskCancelled,
            message: format!("task {id} was cancelled"),
        }),
        _ => Err(ApiError::GenerationFailed {
            task_code: task.error_code.clone().unwrap_or_else(|| "failed".into()),
            message: task.error_message.clone().unwrap_or_default(),
        }),
    }
}

/// Polls the table, woken early by the task's live events.
async fn wait_for_end(state: &AppState, owner: &str, id: TaskId) -> ApiResult<TaskRow> {
    let mut watch = state.hub.watch(id);
    loop {
        let task = tasks::get_task(&state.pool, owner, id)
            .await?
            .ok_or_else(ApiError::task_not_found)?;
        if task.status()?.is_terminal() {
            return Ok(task);
        }
        tokio::select! {
            _ = watch.recv() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// The original's answer: `tests` (one per unit: `name`, `type`, `test_code`, `original_snippet`,
/// `file_name`) and `git_urls`, plus the task id and the whole assembled file.
fn compat_result(task: &TaskRow) -> CompatResult {
    let file_name = task.result_file_name.clone().unwrap_or_default();
    let source = task.source.as_deref().unwrap_or_default();
    let lines: Vec<&str> = source.lines().collect();
    let snippet = |unit: &Value| -> String {
        let start = unit["start_line"].as_u64().unwrap_or(1).max(1);
        let end = unit["end_line"].as_u64().unwrap_or(start).max(start);
        let (start, end) = (
            usize::try_from(start).unwrap_or(1),
            usize::try_from(end).unwrap_or(1),
        );
        lines
            .get(start - 1..end.min(lines.len()))
            .map(|slice| slice.join("\n"))
            .unwrap_or_default()
    };
    let tests: Vec<CompatTest> = match task.result_units.as_ref().and_then(Value::as_array) {
        Some(units) => units
            .iter()
            .map(|unit| CompatTest {
                name: unit["name"].clone(),
                kind: unit["kind"].clone(),
                test_code: unit["code"].clone(),
                original_snippet: snippet(unit),
                file_name: file_name.clone(),
            })
            .collect(),
        // A result answered from the cache has no units: the whole file is one entry.
        None => vec![CompatTest {
            name: json!(task.file_name),
            kind: json!("file"),
            test_code: json!(task.result_code),
            original_snippet: source.to_owned(),
            file_name: file_name.clone(),
        }],
    };
    CompatResult {
        tests,
        git_urls: (),
        task_id: task.task_id(),
        file_name,
        code: task.result_code.clone(),
    }
}

/// `POST /api/generate-test-stream`: the original tool's streaming call, one JSON object per line
/// with the original's `status` names; a unit's tests come as a line without `status`.
#[utoipa::path(
    post,
    path = "/api/generate-test-stream",
    operation_id = "generateTestStreamCompat",
    tag = "compat",
    summary = "Queue a task and stream its progress as JSON lines, in the original tool's shape.",
    security(("sessionCookie" = []), ()),
    params(IdempotencyKey),
    request_body(
        content = GenerateRequest,
        content_type = "application/json",
        description = "`application/json`; a multipart upload or any other `Content-Type` is \
            refused with 415."
    ),
    responses(
        LineStream,
        CompatRefusals,
        BodyTimeout,
        KeyReused,
        UnprocessableSubmission,
        (status = 429, response = TooManyQueuedTasks),
        (status = 500, response = InternalError),
        (status = 503, response = QueueFull),
    )
)]
pub async fn generate_test_stream(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    request: Request,
) -> ApiResult<Response> {
    let submitted = submit_compat(&state, &session, request).await?;
    let session = submitted.session(&session);
    let adopted = submitted.adopted();
    let task = submitted.into_task();
    let watch = state
        .hub
        .is_connected()
        .then(|| state.hub.watch(task.task_id()));
    let frames = follow(state, session, task, 0, watch);
    // A unit's result line names the unit's kind, as `/api/generate-test` does; the kinds come
    // with `parsing_completed`.
    let mut kinds: HashMap<String, String> = HashMap::new();
    let lines = futures::StreamExt::map(frames, move |frame| {
        if let EventKind::ParsingCompleted { units } = &frame.event.kind {
            for unit in units {
                let qualified = match &unit.container {
                    Some(container) => vec![
                        format!("{container}.{}", unit.name),
                        format!("{container}::{}", unit.name),
                    ],
                    None => vec![unit.name.clone()],
                };
                for name in qualified {
                    kinds.insert(name, unit.kind.clone());
                }
            }
        }
        let mut line = compat_line(&frame.event, &kinds).to_string();
        line.push('\n');
        Ok::<_, Infallible>(line)
    });
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-cache, no-store"),
        ],
        Body::from_stream(lines),
    )
        .into_response())
    .map(|response| adopting(response, adopted.as_ref()))
}

// Documentation only: `compat_line` builds each line from its event, with the fields of the step.
/// One line of `POST /api/generate-test-stream`: the original's fields for the step, plus `event`,
/// `task_id`, `progress`, `completed` and `total` as in `Event`. `started`: `message`;
/// `parsing_completed`: `total_snippets`, `units`; `generating`: `current_snippet`; a unit's tests
/// (no `status`): `name`, `type`, `test_code`, `success`, `message`; `warning`: `message`,
/// `current_snippet`; `error`: `code`, `message`; `completed`: `test_count`, `file_name`;
/// `cancelled`: `message`.
#[derive(ToSchema)]
#[schema(as = GenerateStreamLine)]
#[expect(dead_code, reason = "describes the lines `compat_line` writes")]
pub(crate) struct StreamLine {
    #[schema(inline, nullable = false)]
    status: Option<StreamStatus>,
    #[schema(value_type = crate::openapi::EventName)]
    event: String,
    #[schema(value_type = uuid::Uuid)]
    task_id: TaskId,
    #[schema(maximum = 100)]
    progress: u8,
    completed: u32,
    total: u32,
    #[schema(nullable = false)]
    message: Option<String>,
    #[schema(nullable = false)]
    code: Option<String>,
    #[schema(nullable = false)]
    total_snippets: Option<u32>,
    #[schema(nullable = false)]
    units: Option<Vec<domain::UnitSummary>>,
    current_snippet: Option<String>,
    #[schema(nullable = false)]
    name: Option<String>,
    #[schema(nullable = false, rename = "type")]
    kind: Option<String>,
    #[schema(nullable = false)]
    test_code: Option<String>,
    #[schema(nullable = false)]
    success: Option<bool>,
    #[schema(nullable = false)]
    test_count: Option<u32>,
    #[schema(nullable = false)]
    file_name: Option<String>,
}

/// The original tool's `status` names of the stream's lines.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(dead_code, reason = "describes the lines `compat_line` writes")]
enum StreamStatus {
    Started,
    ParsingCompleted,
    Generating,
    Warning,
    Error,
    Completed,
    Cancelled,
    Heartbeat,
}

fn compat_line(event: &Event, kinds: &HashMap<String, String>) -> Value {
    let progress = &event.progress;
    let mut line = match &event.kind {
        EventKind::Started { attempt } => json!({
            "status": "started",
            "message": format!("generation started (attempt {attempt})"),
        }),
        EventKind::ParsingCompleted { units } => json!({
            "status": "parsing_completed",
            "total_snippets": units.len(),
            "units": units,
        }),
        EventKind::Generating { unit } => json!({
            "status": "generating",
            "current_snippet": unit,
        }),
        EventKind::Result { unit, code } => json!({
            "name": unit,
            "type": kinds.get(unit).map_or("unit", String::as_str),
            "test_code": code,
            "success": true,
            "message": format!("tests written for {unit}"),
        }),
        EventKind::Warning { message, unit } => json!({
            "status": "warning",
            "message": message,
            "current_snippet": unit,
        }),
        EventKind::Error { code, message } => json!({
            "status": "error",
            "code": code,
            "message": message,
        }),
        EventKind::Completed { file_name, tests } => json!({
            "status": "completed",
            "test_count": tests,
            "file_name": file_name,
        }),
        EventKind::Cancelled { reason } => json!({
            "status": "cancelled",
            "message": reason,
        }),
        EventKind::Heartbeat {} => json!({ "status": "heartbeat" }),
        EventKind::Validating { unit, round } => json!({
            "status": "validating",
            "current_snippet": unit,
            "round": round,
        }),
        EventKind::TestResult {
            unit,
            verdict,
            kept,
            reason,
            added_lines,
        } => json!({
            "status": "test_result",
            "name": unit,
            "verdict": verdict,
            "kept": kept,
            "message": reason,
            "added_lines": added_lines,
        }),
        EventKind::Coverage {
            status,
            reason,
            coverage,
        } => json!({
            "status": "coverage",
            "validation": status,
            "message": reason,
            "coverage": coverage,
        }),
    };
    if let Some(fields) = line.as_object_mut() {
        fields.insert("event".into(), json!(event.kind.name()));
        fields.insert("task_id".into(), json!(event.task_id));
        fields.insert("progress".into(), json!(progress.percent()));
        fields.insert("completed".into(), json!(progress.completed()));
        fields.insert("total".into(), json!(progress.total()));
    }
    line
}
