//! What the service offers and how busy it is: `/api/languages`, `/api/queue`, and the original
//! tool's `/api/health` and `/api/queue/status`, whose field names its clients read.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use domain::Language;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Response as OpenApiResponse};

use crate::error::ApiResult;
use crate::fleet;
use crate::openapi::{DatabaseUnavailable, InternalError, json_response_with_headers};
use crate::session::Session;
use crate::state::AppState;
use store::tasks;

#[derive(Serialize, ToSchema)]
pub struct Languages {
    /// The original's field: language ids.
    languages: Vec<&'static str>,
    details: Vec<LanguageDetail>,
}

#[derive(Serialize, ToSchema)]
pub struct LanguageDetail {
    id: &'static str,
    name: &'static str,
    #[schema(value_type = Vec<String>)]
    extensions: &'static [&'static str],
    frameworks: Vec<FrameworkDetail>,
    default_framework: &'static str,
    /// What the test file of `example.<ext>` is called.
    test_file_example: String,
}

#[derive(Serialize, ToSchema)]
pub struct FrameworkDetail {
    id: &'static str,
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
        languages: Language::ALL.iter().map(|language| language.id()).collect(),
        details: Language::ALL
            .iter()
            .map(|&language| LanguageDetail {
                id: language.id(),
                name: language.display_name(),
                extensions: language.extensions(),
                frameworks: language
                    .frameworks()
                    .iter()
                    .map(|framework| FrameworkDetail {
                        id: framework.id(),
                        name: framework.display_name(),
                    })
                    .collect(),
                default_framework: language.default_framework().id(),
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
    queued: i64,
    running: i64,
    /// How many tasks the workers run at once.
    capacity: u32,
    max_queue_depth: u32,
    yours: YourQueue,
}

#[derive(Serialize, ToSchema)]
pub struct YourQueue {
    queued: i64,
    running: i64,
    /// Where your oldest queued task stands (1 = next); absent when you have none queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<i64>,
    max_queued: u32,
    max_running: u32,
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
    let limits = &state.settings.limits;
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
        },
    }))
}

#[derive(Serialize, ToSchema)]
pub struct HealthCompat {
    status: &'static str,
    version: &'static str,
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
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        instance: state.instance_id.clone(),
        uptime_secs: state.started_at.elapsed().as_secs(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct QueueStatusCompat {
    pending_tasks: i64,
    running_tasks: i64,
    ai_tasks_running: i64,
    max_concurrent: u32,
    max_ai_tasks: u32,
    active_streams: i64,
    stats: StatsCompat,
    stream_details: Vec<StreamDetail>,
}

#[derive(Serialize, ToSchema)]
pub struct StatsCompat {
    total_completed: i64,
    total_failed: i64,
    avg_duration: f64,
    /// Our addition: the stats cover the tasks that finished in this many past hours.
    window_hours: u32,
}

#[derive(Serialize, ToSchema)]
pub struct StreamDetail {
    id: String,
    status: &'static str,
    start_time: Option<f64>,
    /// A non-secret label of the caller's session (never the session id itself).
    user_id: String,
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
                    "running"
                } else {
                    "queued"
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
    /// The original's fields: model ids, and the default.
    models: Vec<String>,
    default_model: String,
    details: Vec<ModelDetail>,
}

/// A model as users may see it: never its key, nor the variable holding it.
#[derive(Serialize, ToSchema)]
pub struct ModelDetail {
    id: String,
    name: String,
    #[schema(value_type = String)]
    kind: domain::ModelKind,
    available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    default: bool,
    temperature: f32,
    max_tokens: u32,
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
    let registry = &state.settings.models;
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
