//! What the service offers and how busy it is: `/api/languages`, `/api/queue`, and the original
//! tool's `/api/health` and `/api/queue/status`, whose field names its clients read.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use domain::{Framework, Language};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Response as OpenApiResponse};

use super::ops::Up;
use crate::error::ApiResult;
use crate::fleet;
use crate::openapi::{DatabaseUnavailable, InternalError, json_response_with_headers};
use crate::session::Session;
use crate::state::AppState;
use store::limits::SpendScope;
use store::tasks;

#[derive(Serialize, ToSchema)]
pub struct Languages {
    /// The language ids (the original tool's field).
    #[schema(value_type = BTreeSet<Language>)]
    languages: Vec<Language>,
    details: Vec<LanguageDetail>,
}

#[derive(Serialize, ToSchema)]
pub struct LanguageDetail {
    id: Language,
    name: &'static str,
    /// Lower case, without the dot.
    #[schema(value_type = Vec<String>)]
    extensions: &'static [&'static str],
    frameworks: Vec<FrameworkDetail>,
    default_framework: Framework,
    /// What the test file of `example.<ext>` is called.
    test_file_example: String,
}

#[derive(Serialize, ToSchema)]
pub struct FrameworkDetail {
    id: Framework,
    name: &'static str,
}

/// The answer of `GET /api/languages`: the same for everyone, so it may be cached.
impl utoipa::IntoResponses for Languages {
    fn responses() -> std::collections::BTreeMap<String, RefOr<OpenApiResponse>> {
        [(
            "200".to_owned(),
            json_response_with_headers(
                "The languages, defaults first among each one's frameworks.",
                "Languages",
                &["Cache-Control"],
            ),
        )]
        .into()
    }
}

/// `GET /api/languages`
#[utoipa::path(
    get,
    path = "/api/languages",
    operation_id = "listLanguages",
    tag = "service",
    summary = "The languages and test frameworks on offer.",
    responses(Languages)
)]
pub async fn languages() -> Response {
    let body = Languages {
        languages: Language::ALL.to_vec(),
        details: Language::ALL
            .iter()
            .map(|&language| LanguageDetail {
                id: language,
                name: language.display_name(),
                extensions: language.extensions(),
                frameworks: language
                    .frameworks()
                    .iter()
                    .map(|&framework| FrameworkDetail {
                        id: framework,
                        name: framework.display_name(),
                    })
                    .collect(),
                default_framework: language.default_framework(),
                test_file_example: language
                    .test_file_name(&format!("example.{}", language.primary_extension())),
            })
            .collect(),
    };
    let mut response = Json(body).into_response();
    // The same for everyone and fixed per release.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

#[derive(Serialize, ToSchema)]
pub struct Queue {
    #[schema(minimum = 0)]
    queued: i64,
    #[schema(minimum = 0)]
    running: i64,
    /// How many tasks the workers run at once.
    capacity: u32,
    /// Beyond this many queued tasks in all, new tasks are refused.
    max_queue_depth: u32,
    yours: YourQueue,
}

/// This session's share of the queue.
#[derive(Serialize, ToSchema)]
pub struct YourQueue {
    #[schema(minimum = 0)]
    queued: i64,
    #[schema(minimum = 0)]
    running: i64,
    /// Where this session's oldest queued task stands (1 = next); absent when it has none queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, nullable = false)]
    position: Option<i64>,
    max_queued: u32,
    max_running: u32,
    /// Model tokens this session's tasks spent today (UTC); present when a daily budget is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, nullable = false)]
    tokens_today: Option<i64>,
    /// The session's daily token budget, when an admin set one: at it, new tasks that are not
    /// answered from the cache are refused until midnight UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, nullable = false)]
    daily_token_budget: Option<i64>,
}

/// `GET /api/queue`
#[utoipa::path(
    get,
    path = "/api/queue",
    operation_id = "getQueue",
    tag = "service",
    summary = "How busy the queue is, overall and for this session.",
    security(("sessionCookie" = []), ()),
    responses(
        (status = 200, description = "The queue.", body = Queue),
        (status = 500, response = InternalError),
        (status = 503, response = DatabaseUnavailable),
    )
)]
pub async fn queue(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> ApiResult<Json<Queue>> {
    let owner = session.id.as_str();
    let counts = tasks::queue_counts(&state.pool, owner).await?;
    let position = if counts.owner_queued > 0 {
        tasks::owner_position(&state.pool, owner).await?
    } else {
        None
    };
    let limits = crate::limits::in_force(&state).await?;
    let tokens_today = match limits.daily_tokens_per_session {
        Some(_) => Some(store::limits::spent_today(&state.pool, SpendScope::Session, owner).await?),
        None => None,
    };
    Ok(Json(Queue {
        queued: counts.queued,
        running: counts.running,
        capacity: state.live_workers().await.capacity,
        max_queue_depth: limits.max_queue_depth,
        yours: YourQueue {
            queued: counts.owner_queued,
            running: counts.owner_running,
            position,
            max_queued: limits.max_queued_per_session,
            max_running: limits.max_running_per_session,
            tokens_today,
            daily_token_budget: limits.daily_tokens_per_session,
        },
    }))
}

#[derive(Serialize, ToSchema)]
pub struct HealthCompat {
    #[schema(inline)]
    status: Up,
    version: &'static str,
    /// The replica that answered.
    instance: String,
    uptime_secs: u64,
}

/// `GET /api/health`: the original's `{"status": "ok", "version": …}`, plus the replica's name and
/// uptime. Liveness only; `/readyz` checks the dependencies.
#[utoipa::path(
    get,
    path = "/api/health",
    operation_id = "getHealthCompat",
    tag = "compat",
    summary = "Liveness in the original tool's shape, with the replica's name and uptime.",
    responses((status = 200, description = "The process is up.", body = HealthCompat))
)]
pub async fn health_compat(State(state): State<AppState>) -> Json<HealthCompat> {
    Json(HealthCompat {
        status: Up::Ok,
        version: env!("CARGO_PKG_VERSION"),
        instance: state.instance_id.clone(),
        uptime_secs: state.started_at.elapsed().as_secs(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct QueueStatusCompat {
    #[schema(minimum = 0)]
    pending_tasks: i64,
    #[schema(minimum = 0)]
    running_tasks: i64,
    #[schema(minimum = 0)]
    ai_tasks_running: i64,
    max_concurrent: u32,
    max_ai_tasks: u32,
    #[schema(minimum = 0)]
    active_streams: i64,
    stats: StatsCompat,
    /// The caller's own unfinished tasks, oldest first (at most 50).
    stream_details: Vec<StreamDetail>,
}

#[derive(Serialize, ToSchema)]
pub struct StatsCompat {
    #[schema(minimum = 0)]
    total_completed: i64,
    #[schema(minimum = 0)]
    total_failed: i64,
    /// Mean seconds of the succeeded tasks that were not cache hits.
    #[schema(minimum = 0)]
    avg_duration: f64,
    /// Our addition: the stats cover the tasks that finished in this many past hours.
    #[schema(minimum = 1)]
    window_hours: u32,
}

#[derive(Serialize, ToSchema)]
pub struct StreamDetail {
    #[schema(value_type = uuid::Uuid)]
    id: String,
    #[schema(inline)]
    status: ActiveStatus,
    /// Unix time in seconds, when started.
    #[schema(required = true)]
    start_time: Option<f64>,
    /// A non-secret label of the session, never its id.
    user_id: String,
}

/// Where an unfinished task is.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActiveStatus {
    Queued,
    Running,
}

/// `GET /api/queue/status` in the original tool's shape. `stream_details` lists only the caller's
/// own unfinished tasks: other users' tasks are theirs alone.
#[utoipa::path(
    get,
    path = "/api/queue/status",
    operation_id = "getQueueStatusCompat",
    tag = "compat",
    summary = "The queue in the original tool's shape.",
    description = "`stream_details` lists only the caller's own unfinished tasks.",
    security(("sessionCookie" = []), ()),
    responses(
        (status = 200, description = "The queue.", body = QueueStatusCompat),
        (status = 500, response = InternalError),
        (status = 503, response = DatabaseUnavailable),
    )
)]
pub async fn queue_status_compat(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> ApiResult<Json<QueueStatusCompat>> {
    let owner = session.id.as_str();
    let counts = tasks::queue_counts(&state.pool, owner).await?;
    let outcomes = tasks::recent_outcomes(&state.pool).await?;
    let active = tasks::owner_active(&state.pool, owner).await?;
    let label = session.id.label();
    let capacity = state.live_workers().await.capacity;
    Ok(Json(QueueStatusCompat {
        pending_tasks: counts.queued,
        running_tasks: counts.running,
        ai_tasks_running: counts.running,
        max_concurrent: capacity,
        max_ai_tasks: capacity,
        active_streams: counts.running,
        stats: StatsCompat {
            total_completed: outcomes.succeeded,
            total_failed: outcomes.failed,
            avg_duration: outcomes.mean_duration_secs,
            window_hours: 24,
        },
        stream_details: active
            .into_iter()
            .map(|task| StreamDetail {
                id: task.id.to_string(),
                status: if task.status == "running" {
                    ActiveStatus::Running
                } else {
                    ActiveStatus::Queued
                },
                start_time: task
                    .started_at
                    .map(|at| at.timestamp_millis() as f64 / 1000.0),
                user_id: label.clone(),
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Models {
    /// The model ids (the original tool's field), available or not.
    #[schema(value_type = BTreeSet<String>)]
    models: Vec<String>,
    /// The model a task gets when it names none (the original tool's field).
    default_model: String,
    details: Vec<ModelDetail>,
}

/// A model as users may see it: never its key, nor the variable holding it (except in `reason`,
/// which says what to set).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelDetail {
    id: String,
    name: String,
    #[schema(inline)]
    kind: domain::ModelKind,
    available: bool,
    /// Why the model is not available; absent when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    reason: Option<String>,
    default: bool,
    #[schema(minimum = 0)]
    temperature: f32,
    #[schema(minimum = 1)]
    max_tokens: u32,
    /// Models tried in order when this one keeps failing.
    fallback: Vec<String>,
}

/// `GET /api/models`
#[utoipa::path(
    get,
    path = "/api/models",
    operation_id = "listModels",
    tag = "service",
    summary = "The models on offer, which of them can be used now, and the default.",
    description = "A hosted model whose key is not set is listed with `available: false` and a \
        `reason`; tasks asking for it are refused with 422 `model_unavailable`. Keys are never \
        shown.",
    responses((status = 200, description = "The models.", body = Models))
)]
pub async fn models(State(state): State<AppState>) -> Json<Models> {
    let registry = &state.models().await.registry();
    let fleet = state.live_workers().await;
    let default_model = fleet::default_model(registry, &fleet);
    let details = registry
        .models
        .iter()
        .map(|spec| {
            let availability = fleet::availability(spec, &fleet);
            ModelDetail {
                id: spec.id.to_string(),
                name: spec
                    .display_name
                    .clone()
                    .unwrap_or_else(|| spec.id.to_string()),
                kind: spec.kind,
                available: availability.is_available(),
                reason: match availability {
                    domain::Availability::Available => None,
                    domain::Availability::Unavailable(reason) => Some(reason),
                },
                default: default_model.as_ref() == Some(&spec.id),
                temperature: spec.temperature,
                max_tokens: spec.max_tokens,
                fallback: spec.fallback.iter().map(ToString::to_string).collect(),
            }
        })
        .collect();
    Json(Models {
        models: registry
            .models
            .iter()
            .map(|spec| spec.id.to_string())
            .collect(),
        default_model: default_model.map(|id| id.to_string()).unwrap_or_default(),
        details,
    })
}
