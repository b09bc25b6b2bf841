use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use domain::{ModelId, ModelRegistry, ModelSpec};
use serde_json::Value;
use simulator::{Simulator, SimulatorConfig, SimulatorHandle};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use system_tests::in_process::{
    InProcessWorker, Running, api_settings, simulator_model, start_worker, worker_settings,
};
use system_tests::redis::{remove_keys, unique_prefix};

pub use system_tests::postgres::database_url;
pub use system_tests::redis::redis_url;
pub use system_tests::sse::{SseFrame, read_events};

/// The registry the tests use: `offline`, `simulator` (the default) at the simulator's URL, and
/// `backup`, the same simulator under another name, which `simulator` falls back to when asked.
pub fn registry(simulator_url: &str, timeout_secs: u64, with_fallback: bool) -> ModelRegistry {
    let simulator = simulator_model(
        "simulator",
        "Model simulator",
        simulator_url.to_owned(),
        timeout_secs,
        64,
    );
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

/// The stack's admin password.
pub const ADMIN_PASSWORD: &str = "worker-tests-admin-password";
/// The stack's model key (`k1`, 32 bytes of 7s).
pub const MODEL_KEY: &str = "k1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

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
    /// Whether the workers have the sandbox; without it, tests are not run and tasks say so.
    pub sandbox: bool,
    /// Test runs at once, per worker.
    pub runner_slots: usize,
    /// The api may reach forges on loopback (the tests' own git server and forge APIs).
    pub loopback_forges: bool,
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
            sandbox: true,
            runner_slots: 2,
            loopback_forges: false,
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
    api: Running,
    workers: Vec<InProcessWorker>,
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
    let prefix = unique_prefix("");
    let models = registry(
        &simulator.base_url(),
        options.model_timeout_secs,
        options.with_fallback,
    );

    let mut api_settings = api_settings(&prefix);
    api_settings.models = models;
    api_settings.admin_password = api::AdminPassword::new(ADMIN_PASSWORD);
    api_settings.model_keys.current = Some(service::sections::SecretText::new(MODEL_KEY));
    api_settings.queue.max_attempts = options.max_attempts;
    api_settings.limits.max_running_per_session = options.max_running_per_session;
    api_settings.limits.max_queued_per_session = options.max_queued_per_session;
    api_settings.stream.heartbeat_secs = 1;
    if options.loopback_forges {
        api_settings.git.allowed_networks = vec!["127.0.0.0/8".into()];
        api_settings.git.allow_plain_http = true;
    }

    let mut worker_settings = worker_settings(&api_settings);
    worker_settings.worker.concurrency = options.concurrency;
    worker_settings.worker.unit_concurrency = options.unit_concurrency;
    worker_settings.worker.lease_secs = options.lease_secs;
    worker_settings.worker.renew_every_secs = (options.lease_secs / 3).max(1);
    worker_settings.worker.poll_interval_ms = 500;
    worker_settings.worker.max_retries = options.max_retries;
    worker_settings.worker.retry_base_delay_ms = 20;
    worker_settings.worker.retry_max_delay_ms = 200;
    worker_settings.worker.shutdown_grace_secs = 2;
    // Each stack's runs in a folder of their own, so a test can see that none is left behind.
    worker_settings.runner.work_root =
        std::env::temp_dir().join(format!("aiut-runs-{}", prefix.replace(':', "-")));
    worker_settings.runner.slots = options.runner_slots;
    if !options.sandbox {
        worker_settings.runner.bwrap = std::path::PathBuf::new();
    }

    let application = api::Application::build_with_pool(api_settings.clone(), pool.clone())
        .await
        .expect("the api builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let api_probe = application.probe();
    let api = Running::spawn(|stop| application.run_until(stop));
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
        api,
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
        let max_connections = settings.worker.concurrency + 4;
        let worker = start_worker(settings, self.connect.clone(), max_connections).await;
        self.workers.push(worker);
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
            worker.running.signal();
        }
        for worker in &mut self.workers {
            worker.running.wait(Duration::from_secs(10)).await;
        }
        self.api.stop().await;
        remove_keys(&self.prefix).await;
        let _ = self.simulator.stop().await;
    }
}

/// The worker binary, for tests that kill a worker process hard.
pub fn worker_binary() -> PathBuf {
    system_tests::binary("aiut-worker")
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

    /// The first worker's metrics once it has finished its attempts: the row says `succeeded` a
    /// moment before the worker counts the attempt's end and leaves its slot, so the text is read
    /// again until no task is in flight and `finished` attempts are counted (or 5 s have passed).
    pub async fn first_worker_metrics_when_idle(&self, finished: u32) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let metrics = self.first_worker_metrics().await;
            let counted: u32 = metrics
                .lines()
                .filter(|line| line.starts_with("aiut_worker_task_duration_seconds_count"))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<u32>().ok())
                .sum();
            let idle = metrics.contains("aiut_worker_tasks_in_flight 0") && counted >= finished;
            if idle || tokio::time::Instant::now() > deadline {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the first worker gracefully and waits for it.
    pub async fn stop_first_worker(&mut self) {
        let Some(worker) = self.workers.first_mut() else {
            return;
        };
        worker
            .running
            .stop_cleanly("the first worker", Duration::from_secs(15))
            .await;
    }
}

/// A fresh folder under the temporary directory for a test's files, `name` in its name.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "aiut-worker-tests-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs `program` in `dir`, outside any sandbox (the files are a source and the tests a task
/// delivered for it), and returns its output; the test fails with the output when it fails.
pub fn by_hand(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|error| panic!("{program}: {error}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{text}"
    );
    text
}
