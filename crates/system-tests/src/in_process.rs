//! Services in the test's own process: a server task stopped through a oneshot, the settings an
//! api replica and a worker start from on loopback, a worker on its own pool, and the simulator
//! as a model of the registry.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use domain::{ModelId, ModelKind, ModelSpec};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::redis::redis_url;

/// What a server's `run_until` waits for: completes when the test stops the server.
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server running on a task of its own until it is stopped.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Spawns `run(stop_signal)`, e.g. `|stop| application.run_until(stop)`.
    pub fn spawn<R, F>(run: R) -> Running
    where
        R: FnOnce(StopSignal) -> F,
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(Box::pin(async move {
            let _ = stopped.await;
        })));
        Running {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Tells the server to stop, without waiting.
    pub fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits at most `within` for the server's task, whatever its outcome.
    pub async fn wait(&mut self, within: Duration) {
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(within, task).await;
        }
    }

    /// Signals, then waits at most 10 s.
    pub async fn stop(&mut self) {
        self.signal();
        self.wait(Duration::from_secs(10)).await;
    }

    /// Signals, then fails the test unless `what` stops cleanly within `within`.
    pub async fn stop_cleanly(&mut self, what: &str, within: Duration) {
        self.signal();
        if let Some(task) = self.task.take() {
            let stopped = tokio::time::timeout(within, task)
                .await
                .unwrap_or_else(|_| panic!("{what} did not stop within {within:?}"));
            stopped
                .unwrap_or_else(|error| panic!("{what}'s task: {error}"))
                .unwrap_or_else(|error| panic!("{what} did not stop cleanly: {error:#}"));
        }
    }
}

/// An api replica's settings on loopback: a port of its own choosing, a one-second shutdown
/// grace, the machine's Redis under `key_prefix`; the rest as default.
pub fn api_settings(key_prefix: &str) -> api::Settings {
    let mut settings = api::Settings::default();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.shutdown_grace_secs = 1;
    settings.redis.url = redis_url();
    settings.redis.key_prefix = key_prefix.to_owned();
    settings
}

/// A worker's settings to serve the api of `api`: its Redis, limits and models, and `/metrics`
/// on a loopback port of its own choosing.
pub fn worker_settings(api: &api::Settings) -> worker::Settings {
    let mut settings = worker::Settings {
        redis: api.redis.clone(),
        limits: api.limits.clone(),
        models: api.models.clone(),
        model_keys: api.model_keys.clone(),
        ..worker::Settings::default()
    };
    settings.worker.metrics_host = "127.0.0.1".into();
    settings.worker.metrics_port = 0;
    settings
}

/// A worker running in this process.
pub struct InProcessWorker {
    pub metrics_port: u16,
    pub running: Running,
}

/// Builds a worker on a pool of its own (`max_connections`) to the test's database, and runs it.
pub async fn start_worker(
    settings: worker::Settings,
    connect: PgConnectOptions,
    max_connections: u32,
) -> InProcessWorker {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(connect)
        .await
        .expect("a worker pool");
    let application = worker::Application::build_with_pool(settings, pool)
        .await
        .expect("the worker builds");
    let metrics_port = application.metrics_port();
    InProcessWorker {
        metrics_port,
        running: Running::spawn(|stop| application.run_until(stop)),
    }
}

/// A model of the registry answered by the simulator at `base_url` (OpenAI-compatible, model
/// `aiut-sim`, temperature 0, 2048 tokens, no key, no fallback).
pub fn simulator_model(
    id: &str,
    display_name: &str,
    base_url: String,
    timeout_secs: u64,
    max_concurrency: u32,
) -> ModelSpec {
    ModelSpec {
        id: ModelId::parse(id).expect("a valid model id"),
        kind: ModelKind::Openai,
        display_name: Some(display_name.to_owned()),
        base_url: Some(base_url),
        api_key_env: None,
        model: Some("aiut-sim".into()),
        temperature: 0.0,
        max_tokens: 2048,
        timeout_secs,
        max_concurrency,
        fallback: Vec::new(),
        enabled: true,
        stored_key: false,
    }
}
