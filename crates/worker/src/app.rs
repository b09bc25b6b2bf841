//! The worker process: [`Application`] builds it (Postgres, Redis, the models, the metrics
//! listener) and runs it until a stop signal, then shuts down (stop claiming → grace → release).
//! Each concern it runs lives in a module of its own:
//!
//! - [`claim`] — the claim loop, and the sweep of dead workers' tasks;
//! - [`runner`] — one task's run under its lease;
//! - [`finish`] — the end of an attempt: succeed, fail, cancel or release;
//! - [`lease`] — lease renewal and the task's off switch;
//! - [`listen`] — the `LISTEN` connection (wake-ups, cancels, model changes and tests);
//! - [`models`] — the model registry from Postgres, rebuilt when it changes, and model tests;
//! - [`sampler`] — the queue sampler;
//! - [`http`] — `/metrics` and `/healthz`.

mod claim;
mod finish;
mod http;
mod lease;
mod listen;
mod models;
mod runner;
mod sampler;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use domain::TaskId;
use sqlx::PgPool;
use store::{Redis, ResultCache, db};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::events::Publisher;
use crate::heartbeat::Heartbeat;
use crate::metrics::Metrics;
use crate::pipeline::TaskControl;
use crate::progress::ProgressBook;
use crate::provider::{Models, RetryPolicy};

/// Everything a task runner needs, shared by all of them.
struct Shared {
    settings: Settings,
    worker_id: String,
    pool: PgPool,
    publisher: Publisher,
    results: ResultCache,
    /// The models now in force; a task takes the value current when it starts.
    models: watch::Sender<Models>,
    /// The registry version `models` was built from.
    model_version: AtomicI64,
    /// The registry changed: read it again.
    models_changed: Notify,
    /// A model test was requested.
    tests_waiting: Notify,
    /// Opens the stored model keys.
    keys: store::model_keys::KeyRing,
    policy: RetryPolicy,
    metrics: Metrics,
    /// Runs generated tests in the sandbox, a pool of slots shared by every task.
    runner: ::runner::Runner,
    running: Mutex<HashMap<TaskId, Arc<TaskControl>>>,
    /// Thrown when the grace period after a stop signal runs out: running tasks are released.
    hard_stop: CancellationToken,
    /// Wakes the claim loop: a task was queued or a slot came free.
    wake: Notify,
    /// The running tasks' units done, written on their rows in batches.
    progress: ProgressBook,
    /// The repository checkouts of the batches whose tasks ran last, newest first.
    checkouts: Mutex<Vec<(uuid::Uuid, Arc<domain::Checkout>)>>,
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
        // A worker that cannot open the stored model keys says so now, not in its tasks.
        let keys = store::model_keys::KeyRing::from_settings(&settings.model_keys)
            .context("invalid model_keys")?;
        store::models::check_key_ring(&pool, &keys)
            .await
            .context("the model keys cannot open the stored model API keys")?;
        store::models::seed(&pool, &settings.models)
            .await
            .context("cannot seed the model registry")?;
        let (model_version, models) = models::load(&pool, &keys, policy, &metrics, true)
            .await
            .context("cannot load the model registry")?;
        let runner = ::runner::Runner::new(settings.runner.clone()).await;
        metrics.runner_state(&runner);
        let shared = Shared {
            runner,
            publisher: Publisher::new(redis.clone(), worker.event_ttl_secs, metrics.clone()),
            results: ResultCache::new(redis, settings.cache.result_ttl_secs),
            worker_id,
            pool,
            models: watch::Sender::new(models),
            model_version: AtomicI64::new(model_version),
            models_changed: Notify::new(),
            tests_waiting: Notify::new(),
            keys,
            policy,
            metrics,
            running: Mutex::new(HashMap::new()),
            hard_stop: CancellationToken::new(),
            wake: Notify::new(),
            progress: ProgressBook::default(),
            checkouts: Mutex::new(Vec::new()),
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

        tokio::spawn(http::serve_metrics(
            self.metrics_listener,
            shared.clone(),
            background.clone(),
        ));
        tokio::spawn(listen::listen(shared.clone(), background.clone()));
        tokio::spawn(sampler::sample_queue(shared.clone(), background.clone()));
        let progress_writer = {
            let (shared, stop) = (shared.clone(), background.clone());
            tokio::spawn(async move {
                shared
                    .progress
                    .write_until(&shared.pool, &shared.worker_id, stop)
                    .await;
            })
        };
        tokio::spawn(models::watch_registry(shared.clone(), background.clone()));
        tokio::spawn(models::serve_tests(shared.clone(), stop_claiming.clone()));
        // Announced before the first claim; retired as soon as this worker stops claiming.
        let heartbeat = Heartbeat::new(
            &shared.settings,
            &shared.worker_id,
            shared.pool.clone(),
            shared.models.subscribe(),
        );
        heartbeat.beat().await;
        let heartbeat = tokio::spawn(heartbeat.run(stop_claiming.clone()));

        tracing::info!(
            worker_id = %shared.worker_id,
            concurrency = shared.settings.worker.concurrency,
            "worker started"
        );
        let claim_loop = claim::claim_loop(shared.clone(), tracker.clone(), stop_claiming.clone());
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
        if progress_writer.await.is_err() {
            tracing::warn!("the progress writer ended abnormally");
        }
        tracing::info!("worker stopped");
        Ok(())
    }
}
