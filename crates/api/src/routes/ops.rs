//! For operators and load balancers: `/healthz`, `/readyz`, `/metrics`, `/api/openapi.json`.

use std::sync::LazyLock;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::dependencies;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is up and serving. Says nothing about its dependencies, so a load
/// balancer does not eject every replica at once when Postgres blinks.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz")]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

#[derive(Serialize)]
struct Check {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Check {
    fn from_result(result: Result<(), String>) -> Check {
        Check {
            ok: result.is_ok(),
            error: result.err(),
        }
    }
}

/// `GET /readyz`: Postgres and Redis both answer. 503, naming what is down, when not.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz")]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (postgres, redis) = tokio::join!(
        dependencies::check_postgres(&state.pool, PROBE_TIMEOUT),
        dependencies::check_redis(&state.redis, PROBE_TIMEOUT),
    );
    let postgres = Check::from_result(postgres);
    let redis = Check::from_result(redis);
    let down: Vec<&str> = [("postgres", &postgres), ("redis", &redis)]
        .into_iter()
        .filter(|(_, check)| !check.ok)
        .map(|(name, _)| name)
        .collect();
    let checks = json!({"postgres": postgres, "redis": redis});
    if down.is_empty() {
        (
            StatusCode::OK,
            Json(json!({"status": "ready", "checks": checks})),
        )
            .into_response()
    } else {
        let message = format!("not ready: {} unreachable", down.join(" and "));
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
            Json(json!({
                "error": {"code": ErrorCode::NotReady, "message": message},
                "down": down,
                "checks": checks,
            })),
        )
            .into_response()
    }
}

/// `GET /metrics` in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", operation_id = "getMetrics")]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    // The pool's counts cost nothing to read, so they are fresh at each scrape.
    dependencies::sample_pool(&state);
    let text = state
        .metrics
        .encode()
        .map_err(|error| anyhow::anyhow!("cannot encode metrics: {error}"))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// `GET /api/openapi.json`; the document is fixed per build, so it is made once.
#[utoipa::path(get, path = "/api/openapi.json", operation_id = "getOpenApi")]
pub async fn openapi() -> Json<&'static serde_json::Value> {
    static DOCUMENT: LazyLock<serde_json::Value> = LazyLock::new(crate::openapi::document);
    Json(&DOCUMENT)
}
