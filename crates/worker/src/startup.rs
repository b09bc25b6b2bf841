//! The worker process: the claim loop, the per-task runner, the `LISTEN` connection, lease renewal,
//! the queue sampler, the metrics endpoint, and shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use domain::{CacheKey, EventKind, Progress, TaskId};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use store::notify::{TASK_CANCEL, TASK_QUEUED};
use store::queue::{self, AfterFailure, ClaimedTask, Failure, Lease, Renewal, Success};
use store::{CachedResult, Redis, ResultCache, db};
use telemetry::propagation;
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span};

use crate::config::Settings;
use crate::events::Publisher;
use crate::heartbeat::Heartbeat;
use crate::metrics::Metrics;
use crate::pipeline::{Halt, Pipeline, StopReason, TaskControl};
use crate::provider::{CallReport, Models, RetryPolicy};

/// Everything a task runner needs, shared by all of them.
struct Shared {
    settings: Settings,
    worker_id: String,
    pool: PgPool,
    publisher: Publisher,
    results: ResultCache,
    models: Models,
    metrics: Metrics,
    running: Mutex<HashMap<TaskId, Arc<TaskControl>>>,
    /// Thrown when the grace period after a stop signal runs out: running tasks are released.
    hard_stop: CancellationToken,
    /// Wakes the claim loop: a task was queued or a slot came free.
    wake: Notify,
}

pub struct Application {
    shared: Arc<Shared>,
    metrics_listener: TcpListener,
}

impl Application {
    /// Connects to Postgres (migrating the schema, as the api does) and sets up Redis lazily.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let pool = db::connect(&settings.database).await?;
        db::migrate(&pool).await?;
        Application::build_with_pool(settings, pool).await
    }

    pub async fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Application> {
        settings.validate()?;
        let worker = &settings.worker;
        let address = format!("{}:{}", worker.metrics_host, worker.metrics_port);
        let metrics_listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let worker_id = worker
            .id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", service::hostname("worker"), std::process::id()));
        let metrics = Metrics::new(worker.concurrency);
        let redis = Redis::new(&settings.redis)?;
        let policy = RetryPolicy {
            max_retries: worker.max_retries,
            base_delay: Duration::from_millis(worker.retry_base_delay_ms),
            max_delay: Duration::from_millis(worker.retry_max_delay_ms),
        };
        let models = Models::new(
            settings.models.clone(),
            &service::config::environment_lookup,
            policy,
            metrics.clone(),
        )?;
        let shared = Shared {
            publisher: Publisher::new(redis.clone(), worker.event_ttl_secs, metrics.clone()),
            results: ResultCache::new(redis, settings.cache.result_ttl_secs),
            worker_id,
            pool,
            models,
            metrics,
            running: Mutex::new(HashMap::new()),
            hard_stop: CancellationToken::new(),
            wake: Notify::new(),
            settings,
        };
        Ok(Application {
            shared: Arc::new(shared),
            metrics_listener,
        })
    }

    pub fn metrics_port(&self) -> u16 {
        self.metrics_listener
            .local_addr()
            .map(|address| address.port())
            .unwrap_or_default()
    }

    pub fn worker_id(&self) -> &str {
        &self.shared.worker_id
    }

    /// Runs until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(service::shutdown_signal()).await
    }

    /// Runs until `stop` completes, then stops claiming, lets running tasks finish within the grace
    /// period, and releases what is still running so other workers take it at once.
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let shared = self.shared;
        let stop_claiming = CancellationToken::new();
        let background = CancellationToken::new();
        let tracker = TaskTracker::new();

        tokio::spawn(serve_metrics(
            self.metrics_listener,
            shared.clone(),
            background.clone(),
        ));
        tokio::spawn(listen(shared.clone(), background.clone()));
        tokio::spawn(sample_queue(shared.clone(), background.clone()));
        // Announced before the first claim; retired as soon as this worker stops claiming.
        let heartbeat = Heartbeat::new(&shared.settings, &shared.worker_id, shared.pool.clone());
        heartbeat.beat().await;
        let heartbeat = tokio::spawn(heartbeat.run(stop_claiming.clone()));

        tracing::info!(
            worker_id = %shared.worker_id,
            concurrency = shared.settings.worker.concurrency,
            "worker started"
        );
        let claim_loop = claim_loop(shared.clone(), tracker.clone(), stop_claiming.clone());
        tokio::pin!(claim_loop);
        tokio::select! {
            () = stop => {}
            result = &mut claim_loop => {
                if let Err(error) = result {
                    // No more claims: the announcement goes too.
                    stop_claiming.cancel();
                    return Err(error);
                }
            }
        }
        stop_claiming.cancel();
        claim_loop.await?;
        if heartbeat.await.is_err() {
            tracing::warn!("the heartbeat task ended abnormally");
        }
        tracker.close();
        let grace = Duration::from_secs(shared.settings.worker.shutdown_grace_secs);
        tracing::info!(
            in_flight = tracker.len(),
            "stopping: finishing running tasks"
        );
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!("grace period over: releasing the tasks still running");
            shared.hard_stop.cancel();
            tracker.wait().await;
        }
        background.cancel();
        tracing::info!("worker stopped");
        Ok(())
    }
}

async fn claim_loop(
    shared: Arc<Shared>,
    tracker: TaskTracker,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(
        usize::try_from(shared.settings.worker.concurrency).unwrap_or(1),
    ));
    let poll = shared.settings.worker.poll_interval();
    let mut last_sweep = Instant::now() - poll;
    let mut error_delay = Duration::from_millis(100);
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            permit = slots.clone().acquire_owned() => permit.context("the slot semaphore closed")?,
        };
        if last_sweep.elapsed() >= poll {
            last_sweep = Instant::now();
            sweep_exhausted(&shared).await;
        }
        let settings = &shared.settings;
        let spans = ClaimSpans::start(&shared.worker_id);
        match queue::claim(
            &shared.pool,
            &shared.worker_id,
            settings.worker.lease(),
            settings.limits.max_running_per_session,
        )
        .await
        {
            Ok(Some(task)) => {
                error_delay = Duration::from_millis(100);
                let span = spans.claimed(&task);
                tracker.spawn(run_task(shared.clone(), task, permit).instrument(span));
            }
            Ok(None) => {
                spans.unused();
                drop(permit);
                tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    () = shared.wake.notified() => {}
                    () = tokio::time::sleep(poll) => {}
                }
            }
            Err(error) => {
                spans.unused();
                drop(permit);
                tracing::warn!(error = format!("{error:#}"), "cannot claim; retrying");
                tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    () = tokio::time::sleep(error_delay) => {}
                }
                error_delay = (error_delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// A claim's spans, made before the claim so they time it: the task's (`worker.task`, which
/// the task runs in) and the claim's own (`worker.claim`, under it). Only once a task is
/// claimed is it known which trace they belong to: the one of the request that made the task,
/// whose `traceparent` the row keeps.
struct ClaimSpans {
    task: Span,
    claim: Span,
}

impl ClaimSpans {
    fn start(worker_id: &str) -> ClaimSpans {
        ClaimSpans {
            task: tracing::info_span!(
                parent: None,
                "worker.task",
                task_id = tracing::field::Empty,
                attempt = tracing::field::Empty,
                trace_id = tracing::field::Empty,
                outcome = tracing::field::Empty,
                "otel.status_code" = tracing::field::Empty,
            ),
            claim: tracing::info_span!(
                parent: None,
                "worker.claim",
                worker_id,
                task_id = tracing::field::Empty,
                reclaimed = tracing::field::Empty,
            ),
        }
    }

    /// Joins the spans to the task's trace (or starts a new one when the row names none), ends
    /// the claim's, and returns the task's.
    fn claimed(self, task: &ClaimedTask) -> Span {
        let ClaimSpans { task: span, claim } = self;
        if let Some(traceparent) = &task.traceparent {
            propagation::set_parent_from_traceparent(&span, traceparent);
        }
        span.record("task_id", tracing::field::display(task.id));
        span.record("attempt", task.attempt);
        propagation::record_trace_id(&span);
        propagation::set_parent_span(&claim, &span);
        claim.record("task_id", tracing::field::display(task.id));
        claim.record("reclaimed", task.reclaimed);
        drop(claim);
        span
    }

    /// Nothing was claimed: the spans are not exported.
    fn unused(self) {
        propagation::skip_export(&self.task);
        propagation::skip_export(&self.claim);
    }
}

/// Fails the tasks whose last attempt's worker died, and tells their watchers.
async fn sweep_exhausted(shared: &Shared) {
    match queue::fail_exhausted(&shared.pool).await {
        Ok(ids) => {
            for id in ids {
                shared.metrics.attempt_ended("worker_lost", 0.0);
                shared
                    .publisher
                    .publish(
                        id,
                        Progress::start(),
                        EventKind::Error {
                            code: "worker_lost".into(),
                            message:
                                "the worker running the last attempt stopped without finishing"
                                    .into(),
                        },
                    )
                    .await;
            }
        }
        Err(error) => tracing::warn!(error = format!("{error:#}"), "cannot sweep expired leases"),
    }
}

async fn run_task(shared: Arc<Shared>, task: ClaimedTask, permit: OwnedSemaphorePermit) {
    let started = Instant::now();
    let control = Arc::new(TaskControl::default());
    if let Ok(mut running) = shared.running.lock() {
        running.insert(task.id, control.clone());
    }
    shared.metrics.claimed(task.reclaimed);
    shared.metrics.in_flight().inc();
    tracing::info!(task_id = %task.id, attempt = task.attempt, reclaimed = task.reclaimed, "task claimed");
    if task.cancel_requested {
        control.stop(StopReason::CancelRequested);
    }
    shared
        .publisher
        .publish(
            task.id,
            Progress::start(),
            EventKind::Started {
                attempt: u32::try_from(task.attempt).unwrap_or(0),
            },
        )
        .await;

    let finished = CancellationToken::new();
    tokio::spawn(keep_lease(
        shared.clone(),
        task.id,
        task.attempt,
        control.clone(),
        finished.clone(),
    ));

    let mut report = CallReport::default();
    let outcome = if control.token().is_cancelled() {
        Err(Halt::Stopped)
    } else {
        Pipeline {
            task: &task,
            unit_concurrency: usize::try_from(shared.settings.worker.unit_concurrency).unwrap_or(1),
            models: &shared.models,
            publisher: &shared.publisher,
            metrics: &shared.metrics,
            control: &control,
        }
        .run(&mut report)
        .await
    };
    finished.cancel();
    let lease = Lease {
        task: task.id,
        owner: &shared.worker_id,
        attempt: task.attempt,
    };
    let ended = match finish(&shared, &task, lease, outcome, &control, &report).await {
        Ok(ended) => ended,
        Err(error) => {
            // The lease runs out and another worker retries the task.
            tracing::error!(task_id = %task.id, error = format!("{error:#}"), "cannot record how the task ended");
            "unrecorded"
        }
    };
    let span = Span::current();
    span.record("outcome", ended);
    if matches!(ended, "failed" | "requeued" | "unrecorded") {
        span.record("otel.status_code", "ERROR");
    }
    shared
        .metrics
        .attempt_ended(ended, started.elapsed().as_secs_f64());
    shared.metrics.in_flight().dec();
    if let Ok(mut running) = shared.running.lock() {
        running.remove(&task.id);
    }
    drop(permit);
    shared.wake.notify_one();
}

/// The progress an ending event carries when no unit count goes with it: the bar full.
fn ending_progress() -> Progress {
    Progress::new(100, 0, 0).unwrap_or_else(|_| Progress::start())
}

/// Records the end of an attempt, then tells the watchers. Returns the outcome's metric label.
async fn finish(
    shared: &Shared,
    task: &ClaimedTask,
    lease: Lease<'_>,
    outcome: Result<crate::pipeline::Generated, Halt>,
    control: &TaskControl,
    report: &CallReport,
) -> anyhow::Result<&'static str> {
    let publisher = &shared.publisher;
    let done = ending_progress();
    match outcome {
        Ok(generated) => {
            let stored = queue::succeed(
                &shared.pool,
                lease,
                &Success {
                    file_name: &generated.file_name,
                    code: &generated.code,
                    units: &generated.units,
                    warnings: &generated.warnings,
                    model_used: generated.model_used.as_str(),
                    prompt_tokens: report.prompt_tokens,
                    completion_tokens: report.completion_tokens,
                    retries: report.retries,
                    total_units: generated.total_units,
                },
            )
            .await?;
            if !stored {
                return Ok("lease_lost");
            }
            if let Some(key) = CacheKey::from_stored(&task.cache_key) {
                let cached = CachedResult {
                    task_id: task.id,
                    file_name: generated.file_name.clone(),
                    code: generated.code.clone(),
                };
                shared.results.put(&key, &cached).await;
            }
            let total = generated.total_units;
            let progress = Progress::new(100, total, total).unwrap_or(done);
            publisher
                .publish(
                    task.id,
                    progress,
                    EventKind::Completed {
                        file_name: generated.file_name,
                        tests: generated.tests,
                    },
                )
                .await;
            tracing::info!(task_id = %task.id, tests = generated.tests, "task succeeded");
            Ok("succeeded")
        }
        Err(Halt::Fatal { code, message }) => {
            fail(shared, task, lease, report, code, &message, false).await
        }
        Err(Halt::Retryable { code, message }) => {
            fail(shared, task, lease, report, code, &message, true).await
        }
        Err(Halt::Stopped) => match control.reason() {
            Some(StopReason::CancelRequested) => {
                if !queue::cancel(&shared.pool, lease).await? {
                    return Ok("lease_lost");
                }
                publisher
                    .publish(
                        task.id,
                        done,
                        EventKind::Cancelled {
                            reason: "cancelled by its owner".into(),
                        },
                    )
                    .await;
                tracing::info!(task_id = %task.id, "task cancelled");
                Ok("cancelled")
            }
            Some(StopReason::LeaseLost) => Ok("lease_lost"),
            Some(StopReason::Shutdown) | None => {
                if queue::release(&shared.pool, lease).await? {
                    publisher
                        .publish(
                            task.id,
                            Progress::start(),
                            EventKind::Warning {
                                message: "the worker stopped; the task is queued again".into(),
                                unit: None,
                            },
                        )
                        .await;
                }
                Ok("released")
            }
        },
    }
}

async fn fail(
    shared: &Shared,
    task: &ClaimedTask,
    lease: Lease<'_>,
    report: &CallReport,
    code: &str,
    message: &str,
    retry: bool,
) -> anyhow::Result<&'static str> {
    let failure = Failure {
        code,
        message,
        prompt_tokens: report.prompt_tokens,
        completion_tokens: report.completion_tokens,
        retries: report.retries,
    };
    let after = queue::fail(&shared.pool, lease, &failure, retry).await?;
    let publisher = &shared.publisher;
    match after {
        AfterFailure::Requeued => {
            publisher
                .publish(
                    task.id,
                    Progress::start(),
                    EventKind::Warning {
                        message: format!(
                            "attempt {} of {} failed ({message}); the task is queued again",
                            task.attempt, task.max_attempts
                        ),
                        unit: None,
                    },
                )
                .await;
            tracing::warn!(task_id = %task.id, code, message, "attempt failed; requeued");
            Ok("requeued")
        }
        AfterFailure::Failed => {
            publisher
                .publish(
                    task.id,
                    ending_progress(),
                    EventKind::Error {
                        code: code.to_owned(),
                        message: message.to_owned(),
                    },
                )
                .await;
            tracing::warn!(task_id = %task.id, code, message, "task failed");
            Ok("failed")
        }
        AfterFailure::LeaseLost => Ok("lease_lost"),
    }
}

/// Renews the lease until the task finishes; stops the task when a cancel is asked for or the lease
/// is lost, and when the shutdown grace period runs out.
async fn keep_lease(
    shared: Arc<Shared>,
    task: TaskId,
    attempt: i32,
    control: Arc<TaskControl>,
    finished: CancellationToken,
) {
    let every = shared.settings.worker.renew_every();
    let length = shared.settings.worker.lease();
    loop {
        tokio::select! {
            () = finished.cancelled() => return,
            () = shared.hard_stop.cancelled() => {
                control.stop(StopReason::Shutdown);
                return;
            }
            () = tokio::time::sleep(every) => {}
        }
        let lease = Lease {
            task,
            owner: &shared.worker_id,
            attempt,
        };
        match queue::renew(&shared.pool, lease, length).await {
            Ok(Renewal::Renewed {
                cancel_requested: true,
            }) => control.stop(StopReason::CancelRequested),
            Ok(Renewal::Renewed { .. }) => {}
            Ok(Renewal::Lost) => {
                tracing::warn!(task_id = %task, "lease lost; stopping the task");
                control.stop(StopReason::LeaseLost);
                return;
            }
            // The lease is still good for a while; the next renewal may get through.
            Err(error) => {
                tracing::warn!(task_id = %task, error = format!("{error:#}"), "cannot renew the lease")
            }
        }
    }
}

/// One `LISTEN` connection: queued tasks wake the claim loop, cancels stop running tasks at once.
async fn listen(shared: Arc<Shared>, stop: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    loop {
        let session = async {
            let mut listener = PgListener::connect_with(&shared.pool).await?;
            listener.listen_all([TASK_QUEUED, TASK_CANCEL]).await?;
            // Anything queued while we were not listening is found by this claim attempt.
            shared.wake.notify_one();
            loop {
                let notification = listener.recv().await?;
                match notification.channel() {
                    TASK_QUEUED => shared.wake.notify_one(),
                    TASK_CANCEL => {
                        if let Ok(id) = notification.payload().parse::<TaskId>()
                            && let Some(control) = shared
                                .running
                                .lock()
                                .ok()
                                .and_then(|running| running.get(&id).cloned())
                        {
                            tracing::info!(task_id = %id, "cancel requested");
                            control.stop(StopReason::CancelRequested);
                        }
                    }
                    _ => {}
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            () = stop.cancelled() => return,
            result = session => {
                if let Err(error) = result {
                    tracing::warn!(error = %error, "LISTEN connection lost; reconnecting");
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn sample_queue(shared: Arc<Shared>, stop: CancellationToken) {
    let every = Duration::from_secs(shared.settings.worker.queue_sample_secs.max(1));
    loop {
        match queue::depth(&shared.pool).await {
            Ok((queued, running)) => shared.metrics.queue_sampled(queued, running),
            Err(error) => tracing::debug!(error = format!("{error:#}"), "cannot sample the queue"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

async fn serve_metrics(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
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
