//! The worker's HTTP server: `/metrics` (Prometheus text) and `/healthz`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Shared;

pub(super) async fn serve_metrics(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(shared);
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(error) = served {
        tracing::error!(error = %error, "the metrics endpoint stopped");
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    match shared.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn healthz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let in_flight = shared
        .running
        .lock()
        .map(|running| running.len())
        .unwrap_or(0);
    axum::Json(serde_json::json!({
        "status": "ok",
        "worker_id": shared.worker_id,
        "in_flight": in_flight,
        "capacity": shared.metrics.capacity(),
    }))
}
