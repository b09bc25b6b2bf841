//! The worker's Prometheus metrics, all prefixed `aiut_worker_`, served at `/metrics` with the
//! `aiut_process_*` and `aiut_build_info` metrics every service shares.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelOutcomeLabels {
    pub model: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub model: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetryLabels {
    pub model: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

struct Inner {
    registry: Registry,
    claims: Family<OutcomeLabels, Counter>,
    outcomes: Family<OutcomeLabels, Counter>,
    task_duration: Family<OutcomeLabels, Histogram>,
    model_requests: Family<ModelOutcomeLabels, Counter>,
    model_duration: Family<ModelLabels, Histogram>,
    time_to_first_token: Family<ModelLabels, Histogram>,
    tokens: Family<TokenLabels, Counter>,
    retries: Family<RetryLabels, Counter>,
    fallbacks: Family<ModelLabels, Counter>,
    unit_warnings: Counter,
    in_flight: Gauge,
    capacity: Gauge,
    queue: Family<StateLabels, Gauge>,
    redis_errors: Counter,
}

/// Cheap to clone; every clone feeds the same registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

/// The kinds of claim, each exported from the start.
pub const CLAIM_OUTCOMES: [&str; 2] = ["new", "reclaimed"];

/// The ways an attempt ends, each exported from the start: `worker_lost` is a task failed by the
/// sweep after its last attempt's worker died, `unrecorded` an end the database did not take.
pub const TASK_OUTCOMES: [&str; 8] = [
    "succeeded",
    "failed",
    "requeued",
    "cancelled",
    "released",
    "lease_lost",
    "worker_lost",
    "unrecorded",
];

fn seconds_histogram() -> Histogram {
    // 5 ms to ~80 s: a whole task or a model call.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

impl Metrics {
    pub fn new(capacity: u32) -> Metrics {
        // The shared `aiut_process_*` names sit at the root; the worker's own under `aiut_worker_`.
        let mut root = Registry::with_prefix("aiut");
        telemetry::process::register(&mut root, "worker", env!("CARGO_PKG_VERSION"));
        let registry = root.sub_registry_with_prefix("worker");
        let claims = Family::<OutcomeLabels, Counter>::default();
        for outcome in CLAIM_OUTCOMES {
            claims.get_or_create_owned(&OutcomeLabels { outcome });
        }
        registry.register(
            "claims",
            "Tasks claimed, by kind (new: from the queue, reclaimed: after an expired lease)",
            claims.clone(),
        );
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        for outcome in TASK_OUTCOMES {
            outcomes.get_or_create_owned(&OutcomeLabels { outcome });
        }
        registry.register(
            "task_outcomes",
            "Attempts ended, by outcome (succeeded, failed, requeued, cancelled, released, lease_lost, worker_lost, unrecorded)",
            outcomes.clone(),
        );
        let task_duration = Family::<OutcomeLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "task_duration_seconds",
            "Time from claim to the end of an attempt, by outcome",
            task_duration.clone(),
        );
        let model_requests = Family::<ModelOutcomeLabels, Counter>::default();
        registry.register(
            "model_requests",
            "Model calls, by model and outcome (ok, retryable, fatal, cancelled)",
            model_requests.clone(),
        );
        let model_duration = Family::<ModelLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "model_request_duration_seconds",
            "Time of one successful model call, by model",
            model_duration.clone(),
        );
        let time_to_first_token = Family::<ModelLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "model_time_to_first_token_seconds",
            "Time from sending a model call to its first streamed token, by model",
            time_to_first_token.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "model_tokens",
            "Tokens reported by the provider, by model and kind (prompt, completion)",
            tokens.clone(),
        );
        let retries = Family::<RetryLabels, Counter>::default();
        registry.register(
            "model_retries",
            "Model calls retried, by model and reason (rate_limited, server_error, timeout, connection, cut_stream)",
            retries.clone(),
        );
        let fallbacks = Family::<ModelLabels, Counter>::default();
        registry.register(
            "model_fallbacks",
            "Calls moved on to a fallback model, by the model given up on",
            fallbacks.clone(),
        );
        let unit_warnings = Counter::default();
        registry.register(
            "unit_warnings",
            "Units dropped from a result because their tests did not parse",
            unit_warnings.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "tasks_in_flight",
            "Tasks this worker runs now",
            in_flight.clone(),
        );
        let capacity_gauge = Gauge::default();
        capacity_gauge.set(i64::from(capacity));
        registry.register(
            "capacity",
            "Tasks this worker runs at most at once",
            capacity_gauge.clone(),
        );
        let queue = Family::<StateLabels, Gauge>::default();
        registry.register(
            "queue_tasks",
            "Tasks in the queue by state (queued, running), as last sampled",
            queue.clone(),
        );
        let redis_errors = Counter::default();
        registry.register(
            "redis_errors",
            "Progress events that could not be published",
            redis_errors.clone(),
        );
        Metrics(Arc::new(Inner {
            registry: root,
            claims,
            outcomes,
            task_duration,
            model_requests,
            model_duration,
            time_to_first_token,
            tokens,
            retries,
            fallbacks,
            unit_warnings,
            in_flight,
            capacity: capacity_gauge,
            queue,
            redis_errors,
        }))
    }
}

impl Metrics {
    pub fn claimed(&self, reclaimed: bool) {
        let outcome = if reclaimed { "reclaimed" } else { "new" };
        self.0
            .claims
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn attempt_ended(&self, outcome: &'static str, seconds: f64) {
        let labels = OutcomeLabels { outcome };
        self.0.outcomes.get_or_create(&labels).inc();
        self.0.task_duration.get_or_create(&labels).observe(seconds);
    }

    pub fn model_call(&self, model: &str, outcome: &'static str) {
        let labels = ModelOutcomeLabels {
            model: model.to_owned(),
            outcome,
        };
        self.0.model_requests.get_or_create(&labels).inc();
    }

    pub fn model_answered(&self, model: &str, seconds: f64, first_token: Option<f64>) {
        let labels = ModelLabels {
            model: model.to_owned(),
        };
        self.0
            .model_duration
            .get_or_create(&labels)
            .observe(seconds);
        if let Some(first_token) = first_token {
            self.0
                .time_to_first_token
                .get_or_create(&labels)
                .observe(first_token);
        }
    }

    pub fn tokens(&self, model: &str, prompt: u64, completion: u64) {
        for (kind, count) in [("prompt", prompt), ("completion", completion)] {
            let labels = TokenLabels {
                model: model.to_owned(),
                kind,
            };
            self.0.tokens.get_or_create(&labels).inc_by(count);
        }
    }

    pub fn retry(&self, model: &str, reason: &'static str) {
        let labels = RetryLabels {
            model: model.to_owned(),
            reason,
        };
        self.0.retries.get_or_create(&labels).inc();
    }

    pub fn fallback(&self, model: &str) {
        let labels = ModelLabels {
            model: model.to_owned(),
        };
        self.0.fallbacks.get_or_create(&labels).inc();
    }

    pub fn unit_dropped(&self) {
        self.0.unit_warnings.inc();
    }

    pub fn in_flight(&self) -> &Gauge {
        &self.0.in_flight
    }

    pub fn capacity(&self) -> i64 {
        self.0.capacity.get()
    }

    pub fn queue_sampled(&self, queued: i64, running: i64) {
        for (state, value) in [("queued", queued), ("running", running)] {
            self.0
                .queue
                .get_or_create(&StateLabels { state })
                .set(value);
        }
    }

    pub fn redis_error(&self) {
        self.0.redis_errors.inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.0.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_claim_and_outcome_is_exported_from_the_start_under_the_old_names() {
        let text = Metrics::new(4).encode().expect("encodes");
        for outcome in CLAIM_OUTCOMES {
            let line = format!("aiut_worker_claims_total{{outcome=\"{outcome}\"}} 0\n");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        for outcome in TASK_OUTCOMES {
            let line = format!("aiut_worker_task_outcomes_total{{outcome=\"{outcome}\"}} 0\n");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        assert!(text.contains("aiut_worker_capacity 4\n"), "{text}");
        assert!(
            text.contains("aiut_build_info{service=\"worker\","),
            "{text}"
        );
        #[cfg(target_os = "linux")]
        assert!(text.contains("\naiut_process_threads "), "{text}");
    }
}
