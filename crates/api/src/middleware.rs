//! Layers every response passes through: the request id, the replica's name, and metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use service::sections::{AccessLog, LogSettings};
use telemetry::propagation;
use tracing::Instrument;

use crate::state::AppState;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static X_BACKEND_INSTANCE: HeaderName = HeaderName::from_static("x-backend-instance");

/// Paths polled by health checks and scrapers: traced only when the caller sends a trace.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Reads that cost nothing and are asked all the time (pages load them, monitors poll them): with
/// the probes, the routine requests the access log samples.
const CHEAP_READS: [&str; 4] = ["/api/languages", "/api/models", "/api/health", "/"];

/// Routine requests seen by this process, for the access log's one-in-N sample.
static ROUTINE_SEEN: AtomicU64 = AtomicU64::new(0);

/// How the access log records one finished request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccessLine {
    Skip,
    Debug,
    Info,
    Warn,
}

/// Whether a request is routine: a probe, a scrape, a cheap read or a UI asset, by GET or HEAD.
fn is_routine(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && (PROBES.contains(&path) || CHEAP_READS.contains(&path) || path.starts_with("/assets/"))
}

/// The access log's decision: slow requests and server errors always (as warnings); otherwise
/// nothing when the log is off, one in `routine_sample_every` of the routine requests that went
/// well, and every other request at the configured level. `routine_seen` counts the routine
/// requests before this one.
fn access_line(
    settings: &LogSettings,
    routine: bool,
    status: u16,
    latency: Duration,
    routine_seen: impl FnOnce() -> u64,
) -> AccessLine {
    if status >= 500 || latency >= Duration::from_millis(settings.slow_request_ms) {
        return AccessLine::Warn;
    }
    let level = match settings.access {
        AccessLog::Off => return AccessLine::Skip,
        AccessLog::Debug => AccessLine::Debug,
        AccessLog::Info => AccessLine::Info,
    };
    let every = u64::from(settings.routine_sample_every.max(1));
    if routine && status < 400 && !routine_seen().is_multiple_of(every) {
        return AccessLine::Skip;
    }
    level
}

/// An id is kept when it is short, visible ASCII; anything else is replaced, so logs stay clean.
fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let fits =
        !text.is_empty() && text.len() <= 128 && text.bytes().all(|byte| byte.is_ascii_graphic());
    fits.then(|| text.to_owned())
}

/// Gives the request an id, runs it inside a span carrying that id and its trace id (so every log
/// line it causes names them) and parented on the caller's `traceparent`, logs its completion,
/// echoes the id and names this replica in the response.
pub async fn request_context(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = request.method().clone();
    let routine = is_routine(&method, request.uri().path());
    // Who asked, for the access line only (the front door's client, else the peer).
    let client = crate::admin::client_address(request.headers(), request.extensions());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        path = %request.uri().path(),
        trace_id = tracing::field::Empty,
        status = tracing::field::Empty,
        "otel.status_code" = tracing::field::Empty,
    );
    // The caller's trace (the gateway's span) is this request's parent; probes without one are
    // not worth a trace of their own.
    if !propagation::set_parent_from_headers(&span, request.headers())
        && PROBES.contains(&request.uri().path())
    {
        propagation::skip_export(&span);
    }
    propagation::record_trace_id(&span);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let latency = started.elapsed();
    let line = access_line(&state.settings.log, routine, status, latency, || {
        ROUTINE_SEEN.fetch_add(1, Ordering::Relaxed)
    });
    // Whole microseconds: `0.245` rather than `0.24545399999999998`, a dozen bytes a line.
    let latency_ms = u32::try_from(latency.as_micros()).map_or(f64::MAX, f64::from) / 1000.0;
    let client = client.as_deref().unwrap_or("-");
    span.in_scope(|| match line {
        AccessLine::Skip => {}
        AccessLine::Debug => tracing::debug!(status, latency_ms, client, "request completed"),
        AccessLine::Info => tracing::info!(status, latency_ms, client, "request completed"),
        AccessLine::Warn => tracing::warn!(status, latency_ms, client, "request completed"),
    });
    span.record("status", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(X_REQUEST_ID.clone(), value);
    }
    if let Ok(value) = HeaderValue::from_str(&state.instance_id) {
        headers.insert(X_BACKEND_INSTANCE.clone(), value);
    }
    response
}

/// Counts and times requests by method, matched route (not the raw path, which would explode the
/// label set) and status.
pub async fn record_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    state.metrics.in_flight().inc();
    let response = next.run(request).await;
    state.metrics.in_flight().dec();
    state.metrics.observe_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Answers are per-session or live unless a handler says otherwise: no cache may keep them.
pub async fn default_no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::Router;
    use axum::body::Body;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::config::Settings;
    use crate::metrics::Metrics;
    use crate::state::Shared;
    use store::{Redis, ResultCache};
    use telemetry::capture::CapturedLog;

    /// A state whose pool and Redis connect lazily: this test never reaches either.
    fn offline_state() -> AppState {
        let settings = Settings::default();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy(&settings.database.url)
            .expect("a lazy pool");
        let redis = Redis::new(&settings.redis).expect("a lazy Redis");
        AppState::new(Shared {
            fleet: crate::fleet::FleetView::default(),
            registry: crate::registry::RegistryView::default(),
            keys: store::model_keys::KeyRing::default(),
            hub: crate::events::EventHub::default(),
            git: crate::git_token::ForgeAccess::from_settings(&settings)
                .expect("default git settings"),
            results: ResultCache::new(redis.clone(), 60),
            pool,
            redis,
            metrics: Metrics::new(),
            instance_id: "api-test".into(),
            started_at: Instant::now(),
            settings,
        })
    }

    #[test]
    fn every_log_line_of_a_request_names_its_request_id() {
        let captured = CapturedLog::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let state = offline_state();
                let app = Router::new()
                    .route(
                        "/work",
                        get(|| async {
                            tracing::info!("handler at work");
                            "done"
                        }),
                    )
                    .layer(from_fn_with_state(state.clone(), request_context))
                    .with_state(state);
                let request = axum::http::Request::get("/work")
                    .header("x-request-id", "req-42")
                    .header("x-aiut-client", "203.0.113.7")
                    .body(Body::empty())
                    .expect("a request");
                let response = app.oneshot(request).await.expect("an answer");
                assert_eq!(response.headers()["x-request-id"], "req-42");
                assert_eq!(response.headers()["x-backend-instance"], "api-test");
            });
        });
        let output = captured.text();
        let lines: Vec<serde_json::Value> = output
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON log line"))
            .collect();
        assert!(
            lines.len() >= 2,
            "the handler's line and the access line: {output}"
        );
        assert!(
            lines
                .iter()
                .any(|line| line["fields"]["message"] == "handler at work"),
            "{output}"
        );
        for line in &lines {
            assert_eq!(line["span"]["request_id"], "req-42", "{line}");
        }
        let access = lines
            .iter()
            .find(|line| line["fields"]["message"] == "request completed")
            .unwrap_or_else(|| panic!("no access line in {output}"));
        assert_eq!(access["fields"]["status"], 200, "{access}");
        assert_eq!(access["fields"]["client"], "203.0.113.7", "{access}");
        assert_eq!(access["span"]["method"], "GET", "{access}");
        assert_eq!(access["span"]["path"], "/work", "{access}");
        let latency = access["fields"]["latency_ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("no latency in {access}"));
        assert!(
            latency >= 0.0 && (latency * 1000.0 - (latency * 1000.0).round()).abs() < 1e-6,
            "whole microseconds: {access}"
        );
    }

    #[test]
    fn routine_requests_are_sampled_and_everything_else_is_logged() {
        let settings = LogSettings {
            routine_sample_every: 10,
            ..LogSettings::default()
        };
        let fast = Duration::from_millis(2);
        let mut seen = 0_u64;
        let mut logged = 0;
        for _ in 0..100 {
            let line = access_line(&settings, true, 200, fast, || {
                seen += 1;
                seen - 1
            });
            if line == AccessLine::Info {
                logged += 1;
            } else {
                assert_eq!(line, AccessLine::Skip);
            }
        }
        assert_eq!(logged, 10, "one routine request in ten");
        let never = || -> u64 { panic!("not a sampled request") };
        assert_eq!(
            access_line(&settings, false, 200, fast, never),
            AccessLine::Info
        );
        assert_eq!(
            access_line(&settings, true, 404, fast, || 3),
            AccessLine::Info
        );
        assert_eq!(
            access_line(&settings, true, 503, fast, never),
            AccessLine::Warn
        );
        let slow = Duration::from_millis(settings.slow_request_ms);
        assert_eq!(
            access_line(&settings, true, 200, slow, never),
            AccessLine::Warn
        );

        let off = LogSettings {
            access: AccessLog::Off,
            ..settings.clone()
        };
        assert_eq!(access_line(&off, false, 201, fast, never), AccessLine::Skip);
        assert_eq!(access_line(&off, false, 500, fast, never), AccessLine::Warn);
        let debug = LogSettings {
            access: AccessLog::Debug,
            routine_sample_every: 1,
            ..settings
        };
        assert_eq!(
            access_line(&debug, true, 200, fast, || 7),
            AccessLine::Debug
        );
    }

    #[test]
    fn probes_cheap_reads_and_assets_are_routine_and_task_routes_are_not() {
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/api/languages",
            "/",
            "/assets/app.js",
        ] {
            assert!(is_routine(&Method::GET, path), "{path}");
            assert!(!is_routine(&Method::POST, path), "{path}");
        }
        for path in ["/api/tasks", "/api/queue", "/api/tasks/1/events"] {
            assert!(!is_routine(&Method::GET, path), "{path}");
        }
    }

    proptest::proptest! {
        #[test]
        fn kept_request_ids_are_short_visible_ascii(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes)
                && let Some(id) = acceptable_request_id(&value)
            {
                proptest::prop_assert!(!id.is_empty() && id.len() <= 128);
                proptest::prop_assert!(id.bytes().all(|byte| byte.is_ascii_graphic()));
                proptest::prop_assert_eq!(id.as_bytes(), &bytes[..]);
            }
        }
    }
}
