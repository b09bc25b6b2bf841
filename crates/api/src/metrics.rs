//! The api's Prometheus metrics, all prefixed `aiut_`, served at `/metrics` in the OpenMetrics
//! text format, with the `aiut_process_*` and `aiut_build_info` metrics every service shares.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DependencyLabels {
    pub dependency: &'static str,
}

/// The outcomes of a create request, each exported from the start so that rates over them exist
/// before the first one happens.
pub const TASK_OUTCOMES: [&str; 4] = ["queued", "cache_hit", "replayed", "resumed"];

/// The Redis operations whose failures are counted, each exported from the start.
pub const REDIS_OPERATIONS: [&str; 3] = ["session_create", "session_refresh", "session_restore"];

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RouteLabels, Histogram>,
    in_flight: Gauge,
    tasks_created: Family<OutcomeLabels, Counter>,
    sessions_created: Counter,
    sessions_restored: Counter,
    redis_errors: Family<OperationLabels, Counter>,
    pool_connections: Family<StateLabels, Gauge>,
    pool_max_connections: Gauge,
    dependency_up: Family<DependencyLabels, Gauge>,
}

fn duration_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("aiut");
        telemetry::process::register(&mut registry, "api", env!("CARGO_PKG_VERSION"));
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, matched route and status",
            requests.clone(),
        );
        let request_duration = Family::<RouteLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and matched route",
            request_duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being answered now",
            in_flight.clone(),
        );
        let tasks_created = Family::<OutcomeLabels, Counter>::default();
        for outcome in TASK_OUTCOMES {
            tasks_created.get_or_create_owned(&OutcomeLabels { outcome });
        }
        registry.register(
            "tasks_created",
            "Create-task requests accepted, by outcome (queued, cache_hit, replayed, resumed)",
            tasks_created.clone(),
        );
        let sessions_created = Counter::default();
        registry.register(
            "sessions_created",
            "Anonymous sessions handed out",
            sessions_created.clone(),
        );
        let sessions_restored = Counter::default();
        registry.register(
            "sessions_restored",
            "Sessions Redis had lost, recognised by their recent tasks and recorded again",
            sessions_restored.clone(),
        );
        let redis_errors = Family::<OperationLabels, Counter>::default();
        for operation in REDIS_OPERATIONS {
            redis_errors.get_or_create_owned(&OperationLabels { operation });
        }
        registry.register(
            "redis_errors",
            "Redis operations that failed, by operation",
            redis_errors.clone(),
        );
        let pool_connections = Family::<StateLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Connections of the database pool, by state (idle, in_use), as last sampled",
            pool_connections.clone(),
        );
        let pool_max_connections = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "Connections the database pool opens at most",
            pool_max_connections.clone(),
        );
        let dependency_up = Family::<DependencyLabels, Gauge>::default();
        registry.register(
            "dependency_up",
            "1 when the dependency (postgres, redis) answered its last check, else 0",
            dependency_up.clone(),
        );
        Metrics {
            registry,
            requests,
            request_duration,
            in_flight,
            tasks_created,
            sessions_created,
            sessions_restored,
            redis_errors,
            pool_connections,
            pool_max_connections,
            dependency_up,
        }
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.request_duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    pub fn task_created(&self, outcome: &'static str) {
        self.tasks_created
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn session_created(&self) {
        self.sessions_created.inc();
    }

    pub fn session_restored(&self) {
        self.sessions_restored.inc();
    }

    pub fn redis_error(&self, operation: &'static str) {
        self.redis_errors
            .get_or_create(&OperationLabels { operation })
            .inc();
    }

    /// Records the pool's connections: `size` open, `idle` of them idle, `max` at most.
    pub fn pool_sampled(&self, size: u32, idle: usize, max: u32) {
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        let in_use = (i64::from(size) - idle).max(0);
        for (state, value) in [("idle", idle), ("in_use", in_use)] {
            self.pool_connections
                .get_or_create(&StateLabels { state })
                .set(value);
        }
        self.pool_max_connections.set(i64::from(max));
    }

    pub fn dependency_sampled(&self, dependency: &'static str, up: bool) {
        self.dependency_up
            .get_or_create(&DependencyLabels { dependency })
            .set(i64::from(up));
    }

    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_process_metrics_and_every_task_outcome_from_the_start() {
        let text = Metrics::new().encode().expect("encodes");
        for outcome in TASK_OUTCOMES {
            let line = format!("aiut_tasks_created_total{{outcome=\"{outcome}\"}} 0\n");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        for operation in REDIS_OPERATIONS {
            let line = format!("aiut_redis_errors_total{{operation=\"{operation}\"}} 0\n");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        assert!(text.contains("aiut_build_info{service=\"api\","), "{text}");
        #[cfg(target_os = "linux")]
        assert!(
            text.contains("\naiut_process_resident_memory_bytes "),
            "{text}"
        );
    }

    #[test]
    fn pool_and_dependency_samples() {
        let metrics = Metrics::new();
        metrics.pool_sampled(5, 2, 20);
        metrics.dependency_sampled("postgres", true);
        metrics.dependency_sampled("redis", false);
        let text = metrics.encode().expect("encodes");
        for line in [
            "aiut_db_pool_connections{state=\"idle\"} 2\n",
            "aiut_db_pool_connections{state=\"in_use\"} 3\n",
            "aiut_db_pool_max_connections 20\n",
            "aiut_dependency_up{dependency=\"postgres\"} 1\n",
            "aiut_dependency_up{dependency=\"redis\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        // More idle than open (sampled at different instants) is not a negative in-use count.
        metrics.pool_sampled(1, 3, 20);
        let text = metrics.encode().expect("encodes");
        assert!(text.contains("aiut_db_pool_connections{state=\"in_use\"} 0\n"));
    }
}
