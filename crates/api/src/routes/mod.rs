//! The router. The api's routes are registered once through utoipa-axum's [`OpenApiRouter`], each
//! with its handler's `#[utoipa::path]`, so the OpenAPI document's (method, path) pairs are the ones
//! served. The web UI's routes ([`UI_ROUTES`]) are merged in afterwards and stay out of the
//! document: it describes the JSON API, not the page that uses it.

mod admin;
mod admin_limits;
mod admin_models;
mod batches;
mod events;
mod git;
mod meta;
mod ops;
mod tasks;
mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use std::sync::Arc;
use std::time::Duration;

use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorCode};
use crate::middleware::{default_no_store, record_metrics, request_context};
use crate::session::session_layer;
use crate::state::AppState;

pub(crate) use events::StreamLine;
pub(crate) use meta::Languages;
pub(crate) use ops::NotReady;
pub(crate) use tasks::{Accepted, FrontDoor};
pub use ui::UI_ROUTES;

/// The api's routes, each registered with its documented operation (the handler's
/// `#[utoipa::path]`), so the document's paths and methods are the ones served. `state` is `None`
/// when only the document is wanted: the session layer and the body limits need the settings, and
/// neither shows in the document.
pub(crate) fn api_routes(state: Option<&AppState>) -> OpenApiRouter<AppState> {
    let max_body_bytes = state.map_or(0, |state| state.settings.limits.max_body_bytes);
    let mut with_session = OpenApiRouter::new()
        .routes(body_limited(routes!(tasks::create), max_body_bytes))
        .routes(routes!(tasks::list))
        .routes(routes!(tasks::get, tasks::cancel))
        .routes(routes!(tasks::download))
        .routes(routes!(events::task_events))
        .routes(body_limited(routes!(events::generate_test), max_body_bytes))
        .routes(body_limited(
            routes!(events::generate_test_stream),
            max_body_bytes,
        ))
        .routes(routes!(meta::queue))
        .routes(routes!(meta::queue_status_compat))
        .routes(routes!(git::get_token, git::set_token, git::forget_token))
        .routes(routes!(git::repos))
        .routes(routes!(git::branches))
        .routes(routes!(git::tree))
        .routes(routes!(git::file))
        .routes(routes!(batches::create, batches::list))
        .routes(routes!(batches::get))
        .routes(routes!(batches::archive))
        .routes(routes!(batches::pull_request));
    if let Some(state) = state {
        with_session = with_session.route_layer(from_fn_with_state(state.clone(), session_layer));
    }
    OpenApiRouter::new()
        .routes(routes!(meta::languages))
        .routes(routes!(meta::health_compat))
        .routes(routes!(meta::models))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        // Apart from the anonymous session: an admin request neither makes nor needs one.
        .routes(routes!(admin::login))
        .routes(routes!(admin::session))
        .routes(routes!(admin::logout))
        .routes(routes!(admin::audit))
        .routes(routes!(admin_models::list, admin_models::add))
        .routes(routes!(
            admin_models::get,
            admin_models::edit,
            admin_models::delete
        ))
        .routes(routes!(admin_models::set_default))
        .routes(routes!(admin_models::test))
        .routes(routes!(admin_models::ai_config_compat))
        .routes(routes!(admin_limits::get_limits, admin_limits::edit_limits))
        .routes(routes!(admin_limits::usage))
        .merge(with_session)
}

/// Limits the body of the routes' requests to `max_body_bytes`.
fn body_limited(
    (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
    max_body_bytes: usize,
) -> UtoipaMethodRouter<AppState> {
    (
        schemas,
        paths,
        method_router.layer(DefaultBodyLimit::max(max_body_bytes)),
    )
}

pub fn router(state: AppState) -> Router {
    let ui = Arc::new(ui::Ui::new(state.settings.limits.max_source_bytes));
    let (api, _document) = api_routes(Some(&state)).split_for_parts();
    api.merge(ui::router(ui))
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
