use std::time::Duration;

use api::{Application, Probe, Settings};
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running application, and a client that keeps its cookies (one session).
pub struct TestApp {
    pub address: String,
    pub instance_id: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub settings: Settings,
    /// A view behind the API: its Redis, its event subscription.
    pub probe: Probe,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The Redis URL of the test machine: `REDIS_URL`, else the local default.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Settings for a test: port 0 on loopback, a key prefix of its own in Redis.
pub fn test_settings(key_prefix: &str) -> Settings {
    let mut settings = Settings::default();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.shutdown_grace_secs = 1;
    settings.redis.url = redis_url();
    settings.redis.key_prefix = key_prefix.to_owned();
    settings
}

/// A fresh Redis key prefix for one test.
pub fn unique_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// Starts an application on the test's database with default test settings.
pub async fn spawn_app(pool_options: PgPoolOptions, connect: PgConnectOptions) -> TestApp {
    spawn_app_with(pool_options, connect, test_settings(&unique_prefix())).await
}

/// Starts an application with the given settings on the test's database.
pub async fn spawn_app_with(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
    settings: Settings,
) -> TestApp {
    let pool = pool_options
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(connect)
        .await
        .expect("connect to the test database");
    spawn_on_pool(pool, settings).await
}

pub async fn spawn_on_pool(pool: PgPool, settings: Settings) -> TestApp {
    let application = Application::build_with_pool(settings.clone(), pool.clone())
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let instance_id = application.instance_id().to_owned();
    let probe = application.probe();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        instance_id,
        client: new_client(),
        pool,
        settings,
        probe,
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `POST /api/tasks` with a JSON body, as `client`.
    pub async fn post_task_as(&self, client: &reqwest::Client, body: &Value) -> reqwest::Response {
        client
            .post(self.url("/api/tasks"))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_task(&self, body: &Value) -> reqwest::Response {
        self.post_task_as(&self.client, body).await
    }

    /// `POST /api/tasks` with a multipart upload.
    pub async fn post_upload(&self, form: reqwest::multipart::Form) -> reqwest::Response {
        self.client
            .post(self.url("/api/tasks"))
            .multipart(form)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET /api/tasks/{id}`, which must answer 200.
    pub async fn task(&self, id: &str) -> Value {
        json_with_status(self.get(&format!("/api/tasks/{id}")).await, 200).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Waits (at most 10 s) until the application's one Redis subscription for task events is up:
    /// before that, event streams send a task's state and close.
    pub async fn wait_for_event_subscription(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.probe.is_subscribed() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the event subscription did not come up within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server, waits for it to finish, and removes the test's keys from Redis.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task")
                .expect("the server stops cleanly");
        }
        remove_keys(&self.settings.redis.url, &self.settings.redis.key_prefix).await;
    }
}

/// Deletes every key under `prefix`; quietly does nothing when that Redis is not reachable (some
/// tests point the app at a Redis that is down on purpose).
async fn remove_keys(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(Ok(mut connection)) = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await
    else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut connection)
            .await;
    }
}

/// A Python source with one function.
pub fn python_task() -> Value {
    serde_json::json!({
        "source": "def add(a, b):\n    return a + b\n",
        "filename": "calc.py",
    })
}

/// A small Python source with one function, different for every `n`.
pub fn python_source(n: impl std::fmt::Display) -> String {
    format!("def value_{n}():\n    return {n}\n")
}

/// Reads a JSON body, checking the status first.
pub async fn json_with_status(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("a body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "expected JSON, got `{content_type}`: {text}"
    );
    serde_json::from_str(&text).expect("a JSON body")
}

/// Checks the one error shape: status, `error.code`, and a non-empty `error.message`.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let body = json_with_status(response, status).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{body}"
    );
    body
}

/// Puts a task in a finished state behind the API's back, as a worker would.
pub async fn finish_task(pool: &PgPool, id: &str, file_name: &str, code: &str) {
    // What a worker stores after running the tests: one kept test, one left out, the coverage.
    let validation = domain::Validation {
        status: domain::ValidationStatus::Validated,
        reason: None,
        tool: Some("pytest + coverage.py".into()),
        tests: vec![
            domain::TestReport {
                unit: "add".into(),
                verdict: domain::Verdict::Passed,
                kept: true,
                rounds: 2,
                reruns: 2,
                rerun_passes: 2,
                reason: None,
                added_lines: vec![1, 2],
                added_branches: 0,
                has_assertion: true,
            },
            domain::TestReport {
                unit: "sub".into(),
                verdict: domain::Verdict::Failed,
                kept: false,
                rounds: 3,
                reruns: 0,
                rerun_passes: 0,
                reason: Some("E   assert 1 == 0".into()),
                added_lines: Vec::new(),
                added_branches: 0,
                has_assertion: true,
            },
        ],
        coverage: Some(domain::FileCoverage {
            lines_total: 4,
            lines_covered: 2,
            branches_total: Some(0),
            branches_covered: Some(0),
            covered_lines: vec![1, 2],
            uncovered_lines: vec![4, 5],
        }),
        runs: 9,
    };
    sqlx::query(
        "update tasks set status = 'succeeded', started_at = now(), finished_at = now(), \
         result_file_name = $2, result_code = $3, lease_owner = null, lease_expires_at = null, \
         validation = $4, updated_at = now() where id = $1::uuid",
    )
    .bind(id)
    .bind(file_name)
    .bind(code)
    .bind(serde_json::to_value(&validation).expect("serialisable"))
    .execute(pool)
    .await
    .expect("finish the task");
}

/// Marks a task running under a lease, as a worker's claim would.
pub async fn start_task(pool: &PgPool, id: &str) {
    sqlx::query(
        "update tasks set status = 'running', started_at = now(), attempts = attempts + 1, \
         lease_owner = 'test-worker', lease_expires_at = now() + interval '30 seconds', \
         updated_at = now() where id = $1::uuid",
    )
    .bind(id)
    .execute(pool)
    .await
    .expect("start the task");
}

/// Sends raw bytes on a fresh connection and returns what the server answers within `wait`: for
/// requests an HTTP client will not send (a stalled body, `Expect: 100-continue` with a huge length).
pub async fn raw_exchange(app: &TestApp, request: &[u8], wait: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Ok(read)) = tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
        if answer.windows(4).any(|window| window == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A private Redis server on a free loopback port, stopped when dropped: for the tests that
/// restart or flush Redis, which must never be done to the machine's.
pub struct PrivateRedis {
    pub port: u16,
    child: std::process::Child,
}

impl PrivateRedis {
    /// A server on a port nothing listens on, up when this returns.
    pub async fn start() -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        PrivateRedis::start_on(port).await
    }

    /// A server on `port` (the port of one stopped before: a restart), up when this returns.
    pub async fn start_on(port: u16) -> PrivateRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed for this test (Debian package redis-server)");
        let redis = PrivateRedis { port, child };
        redis.wait_until_up().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `FLUSHALL` on this private server.
    pub async fn flush_all(&self) {
        let mut connection = redis::Client::open(self.url())
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("the private Redis answers");
        redis::cmd("FLUSHALL")
            .query_async::<()>(&mut connection)
            .await
            .expect("FLUSHALL");
    }

    async fn wait_until_up(&self) {
        for _ in 0..100 {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut connection) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
                    .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the private redis-server did not start on port {}",
            self.port
        );
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Loopback forges allowed (they are the tests' own), and a key to seal tokens under.
pub fn git_settings() -> api::Settings {
    let mut settings = test_settings(&unique_prefix());
    settings.git.allowed_networks = vec!["127.0.0.0/8".into()];
    settings.git.allow_plain_http = true;
    settings.git.token_key = Some(service::sections::SecretText::new(
        "a long random text to seal forge tokens with",
    ));
    settings
}

pub async fn set_token(
    app: &TestApp,
    client: &reqwest::Client,
    body: serde_json::Value,
) -> reqwest::Response {
    client
        .post(app.url("/api/git/token"))
        .json(&body)
        .send()
        .await
        .expect("request sent")
}
