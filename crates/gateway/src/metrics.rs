//! The gateway's Prometheus metrics (`aiut_gateway_*`), served on their own listener with the
//! `aiut_process_*` and `aiut_build_info` metrics every service shares.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use http::{Response, StatusCode, header};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    backend: String,
    class: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    backend: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    reason: String,
}

/// The reasons for a 429, each exported from the start.
pub const LIMIT_REASONS: [&str; 2] = ["rate", "concurrency"];

/// The backend label of requests the gateway answered itself (health, status, limits, errors).
pub const NO_BACKEND: &str = "none";

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<DurationLabels, Histogram>,
    in_flight: Family<BackendLabels, Gauge>,
    up: Family<BackendLabels, Gauge>,
    ejections: Family<BackendLabels, Counter>,
    retries: Counter,
    failovers: Counter,
    rate_limited: Family<LimitLabels, Counter>,
    header_timeouts: Counter,
    connections: Gauge,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        // The shared `aiut_process_*` names sit at the root; the gateway's own under `aiut_gateway_`.
        let mut root = Registry::with_prefix("aiut");
        telemetry::process::register(&mut root, "gateway", env!("CARGO_PKG_VERSION"));
        let registry = root.sub_registry_with_prefix("gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by backend, status class (1xx–5xx, none) and kind (request, stream)",
            requests.clone(),
        );
        let duration = Family::<DurationLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time from the request to the end of its response, by backend and kind (request, stream)",
            duration.clone(),
        );
        let in_flight = Family::<BackendLabels, Gauge>::default();
        registry.register(
            "backend_in_flight",
            "Requests in flight at each backend",
            in_flight.clone(),
        );
        let up = Family::<BackendLabels, Gauge>::default();
        registry.register(
            "backend_up",
            "1 when a backend is in rotation (healthy and not ejected)",
            up.clone(),
        );
        let ejections = Family::<BackendLabels, Counter>::default();
        registry.register(
            "backend_ejections",
            "Times a backend was ejected after repeated failures",
            ejections.clone(),
        );
        let retries = Counter::default();
        registry.register(
            "retries",
            "Attempts retried on another backend",
            retries.clone(),
        );
        let failovers = Counter::default();
        registry.register(
            "failovers",
            "Requests answered by another backend than the first one tried",
            failovers.clone(),
        );
        let rate_limited = Family::<LimitLabels, Counter>::default();
        for reason in LIMIT_REASONS {
            rate_limited.get_or_create_owned(&LimitLabels {
                reason: reason.to_owned(),
            });
        }
        registry.register(
            "rate_limited",
            "Requests refused with 429, by reason (rate, concurrency)",
            rate_limited.clone(),
        );
        let header_timeouts = Counter::default();
        registry.register(
            "header_timeouts",
            "Client connections closed because a request's header did not arrive whole in time",
            header_timeouts.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "downstream_connections",
            "Open client connections (HTTP/1.1, from their first request)",
            connections.clone(),
        );
        Metrics {
            registry: root,
            requests,
            duration,
            in_flight,
            up,
            ejections,
            retries,
            failovers,
            rate_limited,
            header_timeouts,
            connections,
        }
    }

    /// The series of one backend (or of [`NO_BACKEND`]), to be kept with it: each is looked up
    /// by its labels once, on first use, and a request then touches only its counters.
    pub fn series(&self, backend: &str) -> BackendSeries {
        BackendSeries {
            backend: backend.to_owned(),
            requests: Default::default(),
            duration: Default::default(),
            in_flight: OnceLock::new(),
            requests_family: self.requests.clone(),
            duration_family: self.duration.clone(),
            in_flight_family: self.in_flight.clone(),
        }
    }

    /// Counts a finished request; `is_stream` for an event stream, whose duration is the time the
    /// client stayed connected and so is kept apart from ordinary requests.
    pub fn request_done(
        &self,
        series: &BackendSeries,
        status: u16,
        elapsed: Duration,
        is_stream: bool,
    ) {
        series.request_done(status, elapsed, is_stream);
    }

    pub fn in_flight_changed(&self, series: &BackendSeries, delta: i64) {
        series.in_flight_changed(delta);
    }

    pub fn set_up(&self, backend: &str, up: bool) {
        let labels = BackendLabels {
            backend: backend.to_owned(),
        };
        self.up.get_or_create(&labels).set(i64::from(up));
        // A known backend's ejection count exists from 0, so its first ejection shows in increase().
        self.ejections.get_or_create_owned(&labels);
    }

    pub fn ejected(&self, backend: &str) {
        self.ejections
            .get_or_create(&BackendLabels {
                backend: backend.to_owned(),
            })
            .inc();
    }

    /// Drops the per-backend series of a backend that left.
    pub fn forget_backend(&self, backend: &str) {
        let labels = BackendLabels {
            backend: backend.to_owned(),
        };
        self.up.remove(&labels);
        self.in_flight.remove(&labels);
    }

    pub fn retried(&self) {
        self.retries.inc();
    }

    pub fn failed_over(&self) {
        self.failovers.inc();
    }

    pub fn rate_limited(&self, reason: &str) {
        self.rate_limited
            .get_or_create(&LimitLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn header_timed_out(&self) {
        self.header_timeouts.inc();
    }

    pub fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.inc();
        ConnectionGuard {
            metrics: Arc::clone(self),
        }
    }

    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The status classes of `aiut_gateway_requests_total`, by [`status_class`].
const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"];

/// The index in [`STATUS_CLASSES`] of a status; 0 (no answer written) and nonsense are `none`.
pub fn status_class(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100 - 1),
        _ => STATUS_CLASSES.len() - 1,
    }
}

/// The request kinds of the request metrics: ordinary requests and event streams.
const KINDS: [&str; 2] = ["request", "stream"];

/// One backend's request, duration and in-flight series ([`Metrics::series`]). Each series is
/// created in its family the first time it is used, so the exported text is the same as with a
/// lookup per request, without hashing and cloning the labels per request.
pub struct BackendSeries {
    backend: String,
    /// By kind, then status class.
    requests: [[OnceLock<Counter>; STATUS_CLASSES.len()]; KINDS.len()],
    duration: [OnceLock<Histogram>; KINDS.len()],
    in_flight: OnceLock<Gauge>,
    requests_family: Family<RequestLabels, Counter>,
    duration_family: Family<DurationLabels, Histogram>,
    in_flight_family: Family<BackendLabels, Gauge>,
}

impl BackendSeries {
    /// The `backend` label.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    fn request_done(&self, status: u16, elapsed: Duration, is_stream: bool) {
        let kind = usize::from(is_stream);
        let class = status_class(status);
        self.requests[kind][class]
            .get_or_init(|| {
                self.requests_family.get_or_create_owned(&RequestLabels {
                    backend: self.backend.clone(),
                    class: STATUS_CLASSES[class].to_owned(),
                    kind: KINDS[kind],
                })
            })
            .inc();
        self.duration[kind]
            .get_or_init(|| {
                self.duration_family.get_or_create_owned(&DurationLabels {
                    backend: self.backend.clone(),
                    kind: KINDS[kind],
                })
            })
            .observe(elapsed.as_secs_f64());
    }

    fn in_flight_changed(&self, delta: i64) {
        self.in_flight
            .get_or_init(|| {
                self.in_flight_family.get_or_create_owned(&BackendLabels {
                    backend: self.backend.clone(),
                })
            })
            .inc_by(delta);
    }
}

/// Counts one open client connection until dropped.
pub struct ConnectionGuard {
    metrics: Arc<Metrics>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.metrics.connections.dec();
    }
}

/// Serves `GET /metrics` on the metrics listener.
pub struct MetricsApp {
    pub metrics: Arc<Metrics>,
}

#[async_trait]
impl ServeHttp for MetricsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path();
        let (status, content_type, body) = if path == "/metrics" {
            match self.metrics.encode() {
                Ok(text) => (
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    text.into_bytes(),
                ),
                Err(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    b"cannot encode metrics\n".to_vec(),
                ),
            }
        } else {
            (StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec())
        };
        let length = body.len();
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CONTENT_LENGTH, length)
            .body(body)
            .unwrap_or_else(|_| Response::new(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_prefixed_names() {
        let metrics = Arc::new(Metrics::new());
        let backend = metrics.series("127.0.0.1:1");
        let own = metrics.series(NO_BACKEND);
        metrics.request_done(&backend, 200, Duration::from_millis(3), false);
        metrics.request_done(&own, 429, Duration::from_millis(1), false);
        metrics.request_done(&backend, 200, Duration::from_secs(40), true);
        metrics.in_flight_changed(&backend, 1);
        metrics.set_up("127.0.0.1:1", true);
        metrics.retried();
        metrics.rate_limited("rate");
        let guard = metrics.connection_opened();
        let text = metrics.encode().expect("encodes");
        assert!(text.contains(
            "aiut_gateway_requests_total{backend=\"127.0.0.1:1\",class=\"2xx\",kind=\"request\"} 1\n"
        ));
        assert!(text.contains(
            "aiut_gateway_requests_total{backend=\"127.0.0.1:1\",class=\"2xx\",kind=\"stream\"} 1\n"
        ));
        assert!(text.contains(
            "aiut_gateway_request_duration_seconds_count{backend=\"127.0.0.1:1\",kind=\"stream\"} 1\n"
        ));
        assert!(text.contains(
            "aiut_gateway_request_duration_seconds_count{backend=\"none\",kind=\"request\"} 1\n"
        ));
        assert!(text.contains("class=\"4xx\""));
        assert!(text.contains("aiut_gateway_backend_up{backend=\"127.0.0.1:1\"} 1"));
        assert!(text.contains("aiut_gateway_backend_ejections_total{backend=\"127.0.0.1:1\"} 0\n"));
        assert!(text.contains("aiut_gateway_rate_limited_total{reason=\"concurrency\"} 0\n"));
        assert!(text.contains("aiut_gateway_retries_total 1"));
        assert!(text.contains("aiut_gateway_downstream_connections 1"));
        assert!(text.contains("aiut_gateway_request_duration_seconds_bucket"));
        assert!(
            text.contains("aiut_build_info{service=\"gateway\","),
            "{text}"
        );
        #[cfg(target_os = "linux")]
        assert!(text.contains("\naiut_process_open_fds "), "{text}");
        drop(guard);
        let text = metrics.encode().expect("encodes");
        assert!(text.contains("aiut_gateway_downstream_connections 0"));
    }

    #[test]
    fn kept_series_count_in_the_exported_families_and_appear_only_once_used() {
        let metrics = Metrics::new();
        let backend = metrics.series("127.0.0.1:2");
        let text = metrics.encode().expect("encodes");
        assert!(!text.contains("127.0.0.1:2"), "nothing before use: {text}");
        for _ in 0..3 {
            metrics.request_done(&backend, 204, Duration::from_millis(2), false);
        }
        metrics.request_done(&backend, 0, Duration::from_millis(2), false);
        metrics.request_done(&backend, 503, Duration::from_millis(2), false);
        // A second handle on the same backend (a replica that left and came back) adds to the
        // same series.
        let again = metrics.series("127.0.0.1:2");
        metrics.request_done(&again, 204, Duration::from_millis(2), false);
        metrics.in_flight_changed(&backend, 2);
        metrics.in_flight_changed(&again, -1);
        let text = metrics.encode().expect("encodes");
        for line in [
            "aiut_gateway_requests_total{backend=\"127.0.0.1:2\",class=\"2xx\",kind=\"request\"} 4\n",
            "aiut_gateway_requests_total{backend=\"127.0.0.1:2\",class=\"none\",kind=\"request\"} 1\n",
            "aiut_gateway_requests_total{backend=\"127.0.0.1:2\",class=\"5xx\",kind=\"request\"} 1\n",
            "aiut_gateway_request_duration_seconds_count{backend=\"127.0.0.1:2\",kind=\"request\"} 6\n",
            "aiut_gateway_backend_in_flight{backend=\"127.0.0.1:2\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(
            !text.contains("class=\"3xx\""),
            "unused classes stay out: {text}"
        );
        assert!(!text.contains("kind=\"stream\""), "{text}");
    }

    #[test]
    fn statuses_fall_in_their_class() {
        assert_eq!(STATUS_CLASSES[status_class(101)], "1xx");
        assert_eq!(STATUS_CLASSES[status_class(200)], "2xx");
        assert_eq!(STATUS_CLASSES[status_class(308)], "3xx");
        assert_eq!(STATUS_CLASSES[status_class(429)], "4xx");
        assert_eq!(STATUS_CLASSES[status_class(599)], "5xx");
        assert_eq!(STATUS_CLASSES[status_class(0)], "none");
        assert_eq!(STATUS_CLASSES[status_class(99)], "none");
        assert_eq!(STATUS_CLASSES[status_class(600)], "none");
    }
}
