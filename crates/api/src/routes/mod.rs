//! The router. Routes are registered through [`RouteTable`], which keeps the list of (method, path)
//! pairs, so a test can hold the OpenAPI document to exactly what is served. The web UI's routes
//! ([`ui::UI_ROUTES`]) are merged in apart from the table: the document describes the JSON API,
//! not the page that uses it.

mod events;
mod meta;
mod ops;
mod tasks;
pub mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, delete, get, post};
use std::sync::Arc;
use std::time::Duration;

use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::error::{ApiError, ErrorCode};
use crate::middleware::{default_no_store, record_metrics, request_context};
use crate::session::session_layer;
use crate::state::AppState;

pub use tasks::TaskView;

/// A router that remembers what it serves.
pub struct RouteTable {
    router: Router<AppState>,
    served: Vec<(Method, &'static str)>,
}

impl RouteTable {
    fn new() -> RouteTable {
        RouteTable {
            router: Router::new(),
            served: Vec::new(),
        }
    }

    fn route(
        mut self,
        path: &'static str,
        methods: &[Method],
        handler: MethodRouter<AppState>,
    ) -> Self {
        self.served
            .extend(methods.iter().map(|method| (method.clone(), path)));
        self.router = self.router.route(path, handler);
        self
    }

    fn merge(mut self, other: RouteTable) -> Self {
        self.served.extend(other.served);
        self.router = self.router.merge(other.router);
        self
    }

    fn route_layer_session(mut self, state: &AppState) -> Self {
        self.router = self
            .router
            .route_layer(from_fn_with_state(state.clone(), session_layer));
        self
    }
}

/// Every (method, path) the api serves, in axum's path syntax.
pub fn served_routes(state: &AppState) -> Vec<(Method, &'static str)> {
    route_table(state).served
}

fn route_table(state: &AppState) -> RouteTable {
    use Method as M;
    let with_session = RouteTable::new()
        .route(
            "/api/tasks",
            &[M::POST, M::GET],
            post(tasks::create)
                .layer(DefaultBodyLimit::max(state.settings.limits.max_body_bytes))
                .get(tasks::list),
        )
        .route(
            "/api/tasks/{id}",
            &[M::GET, M::DELETE],
            get(tasks::get).merge(delete(tasks::cancel)),
        )
        .route("/api/tasks/{id}/download", &[M::GET], get(tasks::download))
        .route(
            "/api/tasks/{id}/events",
            &[M::GET],
            get(events::task_events),
        )
        .route(
            "/api/generate-test",
            &[M::POST],
            post(events::generate_test)
                .layer(DefaultBodyLimit::max(state.settings.limits.max_body_bytes)),
        )
        .route(
            "/api/generate-test-stream",
            &[M::POST],
            post(events::generate_test_stream)
                .layer(DefaultBodyLimit::max(state.settings.limits.max_body_bytes)),
        )
        .route("/api/queue", &[M::GET], get(meta::queue))
        .route(
            "/api/queue/status",
            &[M::GET],
            get(meta::queue_status_compat),
        )
        .route_layer_session(state);
    RouteTable::new()
        .route("/api/languages", &[M::GET], get(meta::languages))
        .route("/api/health", &[M::GET], get(meta::health_compat))
        .route("/api/models", &[M::GET], get(meta::models))
        .route("/healthz", &[M::GET], get(ops::healthz))
        .route("/readyz", &[M::GET], get(ops::readyz))
        .route("/metrics", &[M::GET], get(ops::metrics))
        .route("/api/openapi.json", &[M::GET], get(ops::openapi))
        .merge(with_session)
}

pub fn router(state: AppState) -> Router {
    let ui = Arc::new(ui::Ui::new(state.settings.limits.max_source_bytes));
    route_table(&state)
        .router
        .merge(ui::router(ui))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), record_metrics))
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(
            state.settings.server.body_timeout_secs,
        )))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
        }))
        .layer(from_fn_with_state(state.clone(), request_context))
        .layer(from_fn(default_no_store))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound {
        code: ErrorCode::NotFound,
        message: "no such route".into(),
    }
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed {
        message: format!("{method} is not allowed on this route"),
    }
}
