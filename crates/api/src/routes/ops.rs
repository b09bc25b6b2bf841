//! For operators and load balancers: `/healthz`, `/readyz`, `/metrics`, `/api/openapi.json`.

use std::sync::LazyLock;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Response as OpenApiResponse};

use crate::dependencies;
use crate::error::{ApiError, ErrorCode};
use crate::openapi::{InternalError, OpenApiDocument, json_response_with_headers};
use crate::state::AppState;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is up and serving. Says nothing about its dependencies, so a load
/// balancer does not eject every replica at once when Postgres blinks.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    summary = "Liveness: the process is up and serving (dependencies are not checked).",
    responses((status = 200, description = "The process is up.", body = Liveness))
)]
pub async fn healthz() -> Json<Liveness> {
    Json(Liveness { status: Up::Ok })
}

#[derive(Serialize, ToSchema)]
pub struct Liveness {
    #[schema(inline)]
    status: Up,
}

/// The one status of a process that answers at all.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Up {
    Ok,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    #[schema(inline)]
    status: Ready,
    checks: ReadinessChecks,
}

/// The status of a replica whose dependencies all answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ready {
    Ready,
}

/// A dependency `GET /readyz` checks.
#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dependency {
    Postgres,
    Redis,
}

impl Dependency {
    fn name(self) -> &'static str {
        match self {
            Dependency::Postgres => "postgres",
            Dependency::Redis => "redis",
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReadinessChecks {
    postgres: DependencyCheck,
    redis: DependencyCheck,
}

/// Not ready: the one error shape, with what is down and every check.
#[derive(Serialize, ToSchema)]
pub struct NotReady {
    error: NotReadyError,
    #[schema(inline, min_items = 1)]
    down: Vec<Dependency>,
    checks: ReadinessChecks,
}

/// The one error shape's `error`, with its one code.
#[derive(Serialize, ToSchema)]
pub struct NotReadyError {
    #[schema(schema_with = not_ready_code)]
    code: ErrorCode,
    #[schema(min_length = 1)]
    message: String,
}

fn not_ready_code() -> utoipa::openapi::Object {
    crate::openapi::code_schema(&[ErrorCode::NotReady])
}

/// The 503 of `GET /readyz`, which names the `Retry-After` of `components.headers`.
impl utoipa::IntoResponses for NotReady {
    fn responses() -> std::collections::BTreeMap<String, RefOr<OpenApiResponse>> {
        [(
            "503".to_owned(),
            json_response_with_headers(
                "Not ready; `down` names what is unreachable.",
                "NotReady",
                &["Retry-After"],
            ),
        )]
        .into()
    }
}

#[derive(Serialize, ToSchema)]
pub struct DependencyCheck {
    ok: bool,
    /// Why not, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error: Option<String>,
}

impl DependencyCheck {
    fn from_result(result: Result<(), String>) -> DependencyCheck {
        DependencyCheck {
            ok: result.is_ok(),
            error: result.err(),
        }
    }
}

/// `GET /readyz`: Postgres and Redis both answer. 503, naming what is down, when not.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    summary = "Readiness: Postgres and Redis both answer.",
    responses((status = 200, description = "Ready.", body = Readiness), NotReady)
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (postgres, redis) = tokio::join!(
        dependencies::check_postgres(&state.pool, PROBE_TIMEOUT),
        dependencies::check_redis(&state.redis, PROBE_TIMEOUT),
    );
    let checks = ReadinessChecks {
        postgres: DependencyCheck::from_result(postgres),
        redis: DependencyCheck::from_result(redis),
    };
    let down: Vec<Dependency> = [
        (Dependency::Postgres, &checks.postgres),
        (Dependency::Redis, &checks.redis),
    ]
    .into_iter()
    .filter(|(_, check)| !check.ok)
    .map(|(dependency, _)| dependency)
    .collect();
    if down.is_empty() {
        (
            StatusCode::OK,
            Json(Readiness {
                status: Ready::Ready,
                checks,
            }),
        )
            .into_response()
    } else {
        let names: Vec<&str> = down.iter().map(|dependency| dependency.name()).collect();
        let message = format!("not ready: {} unreachable", names.join(" and "));
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
            Json(NotReady {
                error: NotReadyError {
                    code: ErrorCode::NotReady,
                    message,
                },
                down,
                checks,
            }),
        )
            .into_response()
    }
}

/// `GET /metrics` in the OpenMetrics text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "operations",
    summary = "Prometheus metrics in the OpenMetrics text format.",
    responses(
        (
            status = 200,
            description = "The metrics (`version=1.0.0; charset=utf-8`).",
            body = String,
            content_type = "application/openmetrics-text"
        ),
        (status = 500, response = InternalError),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "getOpenApi",
    tag = "operations",
    summary = "This document.",
    responses((
        status = 200,
        description = "The OpenAPI 3.1 document of the api.",
        body = inline(OpenApiDocument)
    ))
)]
pub async fn openapi() -> Json<&'static serde_json::Value> {
    static DOCUMENT: LazyLock<serde_json::Value> = LazyLock::new(crate::openapi::document);
    Json(&DOCUMENT)
}
