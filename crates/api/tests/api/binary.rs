//! The real `aiut-api` binary, run as an operator runs it: configured from the environment, on its
//! own database (created at start), stopped by SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::helpers::redis_url;

pub(crate) fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `DATABASE_URL` with another database name.
pub(crate) fn url_of_database(name: &str) -> String {
    let base = database_url();
    let (without_query, query) = match base.split_once('?') {
        Some((url, query)) => (url.to_owned(), format!("?{query}")),
        None => (base.clone(), String::new()),
    };
    let server = without_query
        .rsplit_once('/')
        .map_or(without_query.as_str(), |(server, _)| server);
    format!("{server}/{name}{query}")
}

/// Drops a database a test's binary made for itself.
pub(crate) async fn drop_database(name: &str) {
    let mut connection = PgConnection::connect(&database_url())
        .await
        .expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "drop database if exists {name} with (force)"
    )))
    .execute(&mut connection)
    .await
    .expect("drop the database");
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `aiut-api` as an operator starts it: nothing from the test's environment but `PATH`, on
/// `port`, on its own `database` (created at start) and Redis keys. Each test adds its own
/// settings and where the output goes.
pub(crate) fn api_command(database: &str, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aiut-api"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AIUT_SERVER__HOST", "127.0.0.1")
        .env("AIUT_SERVER__PORT", port.to_string())
        .env("AIUT_SERVER__SHUTDOWN_GRACE_SECS", "2")
        .env("DATABASE_URL", url_of_database(database))
        .env("REDIS_URL", redis_url())
        .env("AIUT_REDIS__KEY_PREFIX", format!("test:{database}:"));
    command
}

/// The first answer of `/readyz` at `base`, asked every 100 ms until the binary listens (at most
/// 30 s).
pub(crate) async fn first_readiness_answer(
    client: &reqwest::Client,
    base: &str,
) -> reqwest::Response {
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await {
            return response;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not listening after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Kills the process if the test ends before it stopped.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_starts_from_the_environment_and_stops_on_sigterm() {
    let database = format!("aiut_bin_{}", uuid::Uuid::new_v4().simple());
    let port = free_port();
    let log = std::env::temp_dir().join(format!("{database}.log"));
    let child = api_command(&database, port)
        .env("AIUT_SERVER__INSTANCE_ID", "api-binary")
        .env("AIUT_LOG__JSON", "true")
        .stdout(Stdio::from(
            std::fs::File::create(&log).expect("a log file"),
        ))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the aiut-api binary starts");
    let mut running = Running(child);

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let ready = first_readiness_answer(&client, &base).await;
    assert_eq!(
        ready.status().as_u16(),
        200,
        "created its database, migrated, reached Redis"
    );
    assert_eq!(
        ready
            .headers()
            .get("x-backend-instance")
            .and_then(|value| value.to_str().ok()),
        Some("api-binary"),
        "configured from the environment"
    );

    let status = Command::new("kill")
        .args(["-TERM", &running.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let stopping = Instant::now();
    let exit = loop {
        if let Some(exit) = running.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "a clean exit on SIGTERM: {exit}");
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(output.contains("\"stopped\""), "says it stopped: {output}");

    let _ = std::fs::remove_file(&log);
    drop_database(&database).await;
}
