use std::path::PathBuf;
use std::time::{Duration, Instant};

use domain::{ModelId, ModelKind, ModelRegistry, ModelSpec};
use serde_json::Value;
use simulator::{Simulator, SimulatorConfig, SimulatorHandle};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn unique_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// The registry the tests use: `offline`, `simulator` (the default) at the simulator's URL, and
/// `backup`, the same simulator under another name, which `simulator` falls back to when asked.
pub fn registry(simulator_url: &str, timeout_secs: u64, with_fallback: bool) -> ModelRegistry {
    let simulator = ModelSpec {
        id: ModelId::parse("simulator").expect("valid id"),
        kind: ModelKind::Openai,
        display_name: Some("Model simulator".into()),
        base_url: Some(simulator_url.to_owned()),
        api_key_env: None,
        model: Some("aiut-sim".into()),
        temperature: 0.0,
        max_tokens: 2048,
        timeout_secs,
        max_concurrency: 64,
        fallback: Vec::new(),
    };
    let backup = ModelSpec {
        id: ModelId::parse("backup").expect("valid id"),
        display_name: Some("Backup simulator".into()),
        ..simulator.clone()
    };
    let simulator = ModelSpec {
        fallback: if with_fallback {
            vec![backup.id.clone()]
        } else {
            Vec::new()
        },
        ..simulator
    };
    ModelRegistry {
        default: Some(ModelId::parse("simulator").expect("valid id")),
        models: vec![ModelSpec::offline(), simulator, backup],
    }
}

/// A simulator whose answers take `first_token_ms` to start and then come at `tokens_per_sec`
/// (0: at once).
pub fn slow_simulator(first_token_ms: u64, tokens_per_sec: f64) -> SimulatorConfig {
    SimulatorConfig {
        first_token_ms,
        tokens_per_sec,
        ..SimulatorConfig::instant()
    }
}

/// What a test changes from the defaults.
pub struct StackOptions {
    pub simulator: SimulatorConfig,
    pub workers: usize,
    pub concurrency: u32,
    pub lease_secs: u64,
    pub model_timeout_secs: u64,
    pub max_retries: u32,
    pub max_attempts: u32,
    pub max_running_per_session: u32,
    pub max_queued_per_session: u32,
    /// `simulator` falls back to `backup`.
    pub with_fallback: bool,
    /// Units of one task written at once.
    pub unit_concurrency: u32,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            simulator: SimulatorConfig::instant(),
            workers: 1,
            concurrency: 8,
            lease_secs: 30,
            model_timeout_secs: 30,
            max_retries: 3,
            max_attempts: 3,
            max_running_per_session: 3,
            max_queued_per_session: 20,
            with_fallback: false,
            unit_concurrency: 4,
        }
    }
}

/// One api replica, some workers and the simulator, on a test database and a Redis prefix of
/// their own.
pub struct Stack {
    pub address: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub connect: PgConnectOptions,
    pub prefix: String,
    pub simulator: SimulatorHandle,
    pub api_settings: api::Settings,
    pub worker_settings: worker::Settings,
    pub api_probe: api::Probe,
    api_stop: Option<oneshot::Sender<()>>,
    api_task: Option<JoinHandle<anyhow::Result<()>>>,
    workers: Vec<RunningWorker>,
}

pub struct RunningWorker {
    pub metrics_port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(2048)
        .build()
        .expect("a client")
}

pub async fn stack(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
    options: StackOptions,
) -> Stack {
    let pool = pool_options
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(connect.clone())
        .await
        .expect("connect to the test database");
    let simulator = Simulator::bind(options.simulator.clone(), "127.0.0.1:0")
        .await
        .expect("the simulator binds")
        .spawn();
    let prefix = unique_prefix();
    let models = registry(
        &simulator.base_url(),
        options.model_timeout_secs,
        options.with_fallback,
    );

    let mut api_settings = api::Settings::default();
    api_settings.server.host = "127.0.0.1".into();
    api_settings.server.port = 0;
    api_settings.server.shutdown_grace_secs = 1;
    api_settings.redis.url = redis_url();
    api_settings.redis.key_prefix = prefix.clone();
    api_settings.models = models.clone();
    api_settings.queue.max_attempts = options.max_attempts;
    api_settings.limits.max_running_per_session = options.max_running_per_session;
    api_settings.limits.max_queued_per_session = options.max_queued_per_session;
    api_settings.stream.heartbeat_secs = 1;

    let mut worker_settings = worker::Settings {
        redis: api_settings.redis.clone(),
        limits: api_settings.limits.clone(),
        models,
        ..worker::Settings::default()
    };
    worker_settings.worker.metrics_host = "127.0.0.1".into();
    worker_settings.worker.metrics_port = 0;
    worker_settings.worker.concurrency = options.concurrency;
    worker_settings.worker.unit_concurrency = options.unit_concurrency;
    worker_settings.worker.lease_secs = options.lease_secs;
    worker_settings.worker.renew_every_secs = (options.lease_secs / 3).max(1);
    worker_settings.worker.poll_interval_ms = 500;
    worker_settings.worker.max_retries = options.max_retries;
    worker_settings.worker.retry_base_delay_ms = 20;
    worker_settings.worker.retry_max_delay_ms = 200;
    worker_settings.worker.shutdown_grace_secs = 2;

    let application = api::Application::build_with_pool(api_settings.clone(), pool.clone())
        .await
        .expect("the api builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let api_probe = application.probe();
    let (api_stop, stopped) = oneshot::channel::<()>();
    let api_task = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));
    let mut stack = Stack {
        address,
        client: new_client(),
        pool,
        connect,
        prefix,
        simulator,
        api_settings,
        worker_settings,
        api_probe,
        api_stop: Some(api_stop),
        api_task: Some(api_task),
        workers: Vec::new(),
    };
    for index in 0..options.workers {
        stack.start_worker(&format!("worker-{index}")).await;
    }
    stack.wait_for_subscription().await;
    stack
}

impl Stack {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Starts one more in-process worker on its own pool.
    pub async fn start_worker(&mut self, id: &str) {
        let mut settings = self.worker_settings.clone();
        settings.worker.id = Some(id.to_owned());
        let pool = PgPoolOptions::new()
            .max_connections(settings.worker.concurrency + 4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(self.connect.clone())
            .await
            .expect("a worker pool");
        let application = worker::Application::build_with_pool(settings, pool)
            .await
            .expect("the worker builds");
        let metrics_port = application.metrics_port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(application.run_until(async move {
            let _ = stopped.await;
        }));
        self.workers.push(RunningWorker {
            metrics_port,
            stop: Some(stop),
            task: Some(task),
        });
    }

    async fn wait_for_subscription(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.api_probe.is_subscribed() {
            assert!(
                Instant::now() < deadline,
                "the api never subscribed to events"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Submits a task as this stack's client; returns its id.
    pub async fn submit(&self, client: &reqwest::Client, body: Value) -> String {
        let response = client
            .post(self.url("/api/tasks"))
            .json(&body)
            .send()
            .await
            .expect("the api answers");
        let status = response.status();
        let json: Value = response.json().await.expect("a JSON answer");
        assert_eq!(status, 202, "unexpected answer: {json}");
        json["id"].as_str().expect("an id").to_owned()
    }

    pub async fn task(&self, client: &reqwest::Client, id: &str) -> Value {
        client
            .get(self.url(&format!("/api/tasks/{id}")))
            .send()
            .await
            .expect("the api answers")
            .json()
            .await
            .expect("a JSON answer")
    }

    /// Polls until the task ends; fails the test after `within`.
    pub async fn wait_until_finished(
        &self,
        client: &reqwest::Client,
        id: &str,
        within: Duration,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let task = self.task(client, id).await;
            if ["succeeded", "failed", "cancelled"].contains(&task["status"].as_str().unwrap_or(""))
            {
                return task;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} did not finish in time: {task}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops workers and api, and removes this test's Redis keys.
    pub async fn stop(mut self) {
        for worker in &mut self.workers {
            if let Some(stop) = worker.stop.take() {
                let _ = stop.send(());
            }
        }
        for worker in &mut self.workers {
            if let Some(task) = worker.task.take() {
                let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
            }
        }
        if let Some(stop) = self.api_stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.api_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        remove_keys(&self.prefix).await;
        let _ = self.simulator.stop().await;
    }
}

pub async fn remove_keys(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut connection)
            .await;
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct SseFrame {
    pub event: String,
    pub id: Option<u64>,
    pub data: Value,
}

/// Reads an event stream until it ends (or `within` passes, which fails the test).
pub async fn read_events(
    client: &reqwest::Client,
    url: &str,
    last_event_id: Option<u64>,
    within: Duration,
) -> Vec<SseFrame> {
    let mut request = client.get(url);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    let mut response = request.send().await.expect("the stream opens");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    let mut buffer = String::new();
    let mut frames = Vec::new();
    let read = async {
        while let Some(chunk) = response.chunk().await.expect("the stream reads") {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if let Some(frame) = parse_frame(&block) {
                    frames.push(frame);
                }
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .expect("the event stream ended in time");
    frames
}

pub fn parse_frame(block: &str) -> Option<SseFrame> {
    let mut event = None;
    let mut id = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            event = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("id:") {
            id = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim_start());
        }
    }
    Some(SseFrame {
        event: event?,
        id,
        data: serde_json::from_str(&data).ok()?,
    })
}

/// The worker binary, for tests that kill a worker process hard.
pub fn worker_binary() -> PathBuf {
    system_tests::binary("aiut-worker")
}

/// A Postgres URL for the test database.
pub fn database_url(connect: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        connect.get_username(),
        connect.get_host(),
        connect.get_port(),
        connect.get_database().unwrap_or("postgres")
    )
}

pub const PYTHON_SOURCE: &str = r#""""Small helpers for an inventory."""


def add(a: int, b: int) -> int:
    """Adds two quantities."""
    return a + b


class Stock:
    def __init__(self, name: str):
        self.name = name
        self.count = 0

    def restock(self, amount: int) -> int:
        self.count += amount
        return self.count
"#;

pub const JAVA_SOURCE: &str = r#"package com.example.util;

public class Calculator {
    public int add(int a, int b) {
        return a + b;
    }

    public static int square(int x) {
        return x * x;
    }
}
"#;

pub const GO_SOURCE: &str = r#"package mathx

// Add adds two numbers.
func Add(a, b int) int {
	return a + b
}

type Counter struct {
	n int
}

// Inc counts one more.
func (c *Counter) Inc() int {
	c.n++
	return c.n
}
"#;

impl Stack {
    /// Where each worker serves `/metrics` and `/healthz`.
    pub fn worker_metrics_ports(&self) -> Vec<u16> {
        self.workers
            .iter()
            .map(|worker| worker.metrics_port)
            .collect()
    }

    /// The first worker's `/metrics` text.
    pub async fn first_worker_metrics(&self) -> String {
        let port = self.worker_metrics_ports()[0];
        self.client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("a metrics body")
    }

    /// Stops the first worker gracefully and waits for it.
    pub async fn stop_first_worker(&mut self) {
        let Some(worker) = self.workers.first_mut() else {
            return;
        };
        if let Some(stop) = worker.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = worker.task.take() {
            let stopped = tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("the worker stops in time");
            stopped.expect("the worker task").expect("a clean stop");
        }
    }
}
