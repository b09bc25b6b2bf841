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
pub struct VerdictLabels {
    pub language: &'static str,
    pub model: String,
    pub verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LanguageLabels {
    pub language: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    pub language: &'static str,
    pub outcome: &'static str,
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
    tests: Family<VerdictLabels, Counter>,
    kept_rounds: Family<LanguageLabels, Counter>,
    coverage: Family<LanguageLabels, Histogram>,
    runs: Family<RunLabels, Counter>,
    run_duration: Family<LanguageLabels, Histogram>,
    run_queue: Histogram,
    run_overhead: Family<LanguageLabels, Histogram>,
    runner: Family<StateLabels, Gauge>,
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
        let tests = Family::<VerdictLabels, Counter>::default();
        registry.register(
            "tests",
            "Units' tests after running them, by language, model and verdict (passed, no_new_coverage, flaky, failed, build_failed, limit_exceeded, missing_module, not_run)",
            tests.clone(),
        );
        let kept_rounds = Family::<LanguageLabels, Counter>::default();
        registry.register(
            "kept_test_rounds",
            "Model answers the delivered tests took, by language (divide by passed tests for rounds per kept test)",
            kept_rounds.clone(),
        );
        let coverage = Family::<LanguageLabels, Histogram>::new_with_constructor(
            (|| Histogram::new([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]))
                as fn() -> Histogram,
        );
        registry.register(
            "delivered_line_coverage_ratio",
            "Line coverage of the source file by the delivered tests, by language",
            coverage.clone(),
        );
        let runs = Family::<RunLabels, Counter>::default();
        registry.register(
            "runner_runs",
            "Sandboxed test runs, by language and outcome (passed, failed, build_failed, limit_exceeded, missing_module, not_run; explored and explore_failed for the offline generator's runs of the code itself)",
            runs.clone(),
        );
        let run_duration = Family::<LanguageLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "runner_run_seconds",
            "Time of one run (build, run with coverage, reruns), from a free slot to its report, by language",
            run_duration.clone(),
        );
        let run_queue = seconds_histogram();
        registry.register(
            "runner_queue_seconds",
            "Time a run waited for a free runner slot",
            run_queue.clone(),
        );
        let run_overhead = Family::<LanguageLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "runner_overhead_seconds",
            "Time of a run outside its sandboxed commands (work directory, files, reports), by language",
            run_overhead.clone(),
        );
        let runner = Family::<StateLabels, Gauge>::default();
        registry.register(
            "runner_slots",
            "Runner slots by state (total, busy, waiting: runs queued for a slot)",
            runner.clone(),
        );
        Metrics(Arc::new(Inner {
            registry: root,
            tests,
            kept_rounds,
            coverage,
            runs,
            run_duration,
            run_queue,
            run_overhead,
            runner,
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
    /// A unit's tests after the selection.
    pub fn test_verdict(
        &self,
        language: domain::Language,
        model: &domain::ModelId,
        verdict: domain::Verdict,
        kept: bool,
        rounds: u32,
    ) {
        self.0
            .tests
            .get_or_create(&VerdictLabels {
                language: language.id(),
                model: model.as_str().to_owned(),
                verdict: verdict.as_str(),
            })
            .inc();
        if kept {
            self.0
                .kept_rounds
                .get_or_create(&LanguageLabels {
                    language: language.id(),
                })
                .inc_by(u64::from(rounds));
        }
    }

    pub fn delivered_coverage(&self, language: domain::Language, ratio: f64) {
        self.0
            .coverage
            .get_or_create(&LanguageLabels {
                language: language.id(),
            })
            .observe(ratio);
    }

    /// The runner's slots, as they are now.
    pub fn runner_state(&self, runner: &runner::Runner) {
        let set = |state: &'static str, value: usize| {
            self.0
                .runner
                .get_or_create(&StateLabels { state })
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set("total", runner.slots());
        set("busy", runner.running());
        set("waiting", runner.waiting());
    }

    /// A task whose tests cannot run here (no sandbox, no toolchain).
    pub fn runner_not_run(&self, language: domain::Language) {
        self.count_run(language, "not_run");
    }

    fn count_run(&self, language: domain::Language, outcome: &'static str) {
        self.0
            .runs
            .get_or_create(&RunLabels {
                language: language.id(),
                outcome,
            })
            .inc();
    }

    /// One run of the offline generator's explorer: whether it reported calls to pin.
    pub fn explored(&self, language: domain::Language, report: &runner::ExploreReport) {
        let found = report
            .exploration
            .as_ref()
            .is_ok_and(|exploration| exploration.imported && exploration.cases() > 0);
        self.count_run(language, if found { "explored" } else { "explore_failed" });
    }

    pub fn runner_run(
        &self,
        language: domain::Language,
        report: &runner::RunReport,
        runner: &runner::Runner,
    ) {
        let outcome = match &report.outcome {
            runner::Outcome::Passed => "passed",
            runner::Outcome::Failed => "failed",
            runner::Outcome::BuildFailed => "build_failed",
            runner::Outcome::LimitExceeded(_) => "limit_exceeded",
            runner::Outcome::MissingModule(_) => "missing_module",
            runner::Outcome::NotRun(_) => "not_run",
        };
        self.count_run(language, outcome);
        let language_labels = LanguageLabels {
            language: language.id(),
        };
        if report.commands > 0 {
            self.0
                .run_duration
                .get_or_create(&language_labels)
                .observe(report.total.as_secs_f64());
            self.0
                .run_overhead
                .get_or_create(&language_labels)
                .observe(report.total.saturating_sub(report.sandboxed).as_secs_f64());
            self.0.run_queue.observe(report.queued.as_secs_f64());
        }
        self.runner_state(runner);
    }

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
