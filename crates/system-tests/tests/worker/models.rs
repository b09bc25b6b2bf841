//! Models at runtime: a model added through the admin API, with its key, serves tasks within
//! seconds on a running worker; the admin's test goes through the worker's provider code; a
//! disabled model is refused; a restarted worker opens the stored key again, and one given the
//! wrong model key refuses to start.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use simulator::SimulatorConfig;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;

/// The key the simulator demands, standing in for an endpoint's API key.
const ENDPOINT_KEY: &str = "sk-endpoint-runtime-4242";

async fn admin_login(stack: &Stack) -> (reqwest::Client, String) {
    let client = new_client();
    let body: Value = client
        .post(stack.url("/api/admin/login"))
        .json(&json!({"password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let csrf = body["csrf_token"]
        .as_str()
        .expect("a CSRF token")
        .to_owned();
    (client, csrf)
}

async fn admin_write(
    stack: &Stack,
    admin: &(reqwest::Client, String),
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = admin
        .0
        .request(method, stack.url(path))
        .header("x-csrf-token", &admin.1)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    assert!(
        !text.contains(ENDPOINT_KEY),
        "the key is in an answer: {text}"
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A task for `model`; each `n` a source of its own, so no answer comes from the result cache.
fn task(model: &str, n: u32) -> Value {
    json!({
        "source": format!("def add_{n}(a, b):\n    return a + b + {n}\n"),
        "filename": "calc.py",
        "model": model,
        "validate": "syntax",
    })
}

/// Submits until the api takes the task (the model is on offer once a worker announces it);
/// returns the task's id and how long that took.
/// Waits for task `id` to succeed, then has the `runtime` model tested, which `worker` must answer
/// with the model's own answer; returns the test's result.
async fn succeeds_and_tests(
    stack: &Stack,
    admin: &(reqwest::Client, String),
    id: &str,
    worker: &str,
) -> Value {
    let finished = stack
        .wait_until_finished(&stack.client, id, Duration::from_secs(60))
        .await;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    let (status, tested) = admin_write(
        stack,
        admin,
        reqwest::Method::POST,
        "/api/admin/models/runtime/test",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["worker"], worker);
    tested
}

async fn submit_when_offered(
    stack: &Stack,
    model: &str,
    n: u32,
    within: Duration,
) -> (String, Duration) {
    let started = Instant::now();
    loop {
        let response = stack
            .client
            .post(stack.url("/api/tasks"))
            .json(&task(model, n))
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("JSON");
        if status == 202 {
            return (
                body["id"].as_str().expect("an id").to_owned(),
                started.elapsed(),
            );
        }
        assert_eq!(status, 422, "{body}");
        assert!(
            started.elapsed() < within,
            "`{model}` not on offer after {within:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test(migrations = false)]
async fn a_model_added_through_the_api_serves_tasks_within_seconds(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let simulator = SimulatorConfig {
        api_key: Some(ENDPOINT_KEY.into()),
        ..SimulatorConfig::instant()
    };
    let mut stack = stack(
        pool_options,
        connect,
        StackOptions {
            simulator,
            ..StackOptions::default()
        },
    )
    .await;
    let admin = admin_login(&stack).await;
    let (status, body) = admin_write(
        &stack,
        &admin,
        reqwest::Method::POST,
        "/api/admin/models",
        json!({
            "id": "runtime",
            "display_name": "Added at runtime",
            "base_url": stack.simulator.base_url(),
            "model": "aiut-sim",
            "api_key": ENDPOINT_KEY,
            "temperature": 0.0,
            "timeout_secs": 30,
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let (id, offered_after) =
        submit_when_offered(&stack, "runtime", 1, Duration::from_secs(10)).await;
    assert!(
        offered_after < Duration::from_secs(5),
        "on offer only after {offered_after:?}"
    );
    // The task succeeds, and the admin's test goes through the worker, with the decrypted key.
    let tested = succeeds_and_tests(&stack, &admin, &id, "worker-0").await;
    assert!(
        tested["answer"]
            .as_str()
            .is_some_and(|answer| !answer.is_empty())
    );

    // A wrong key: the test shows the endpoint's refusal.
    let (status, _) = admin_write(
        &stack,
        &admin,
        reqwest::Method::PATCH,
        "/api/admin/models/runtime",
        json!({"api_key": "sk-wrong"}),
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, tested) = admin_write(
        &stack,
        &admin,
        reqwest::Method::POST,
        "/api/admin/models/runtime/test",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], false, "{tested}");
    assert!(
        tested["error"]
            .as_str()
            .is_some_and(|error| error.contains("401") || error.contains("key")),
        "{tested}"
    );
    admin_write(
        &stack,
        &admin,
        reqwest::Method::PATCH,
        "/api/admin/models/runtime",
        json!({"api_key": ENDPOINT_KEY}),
    )
    .await;

    // Disabled: refused at once with 422.
    let (status, _) = admin_write(
        &stack,
        &admin,
        reqwest::Method::PATCH,
        "/api/admin/models/runtime",
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(status, 200);
    let refused = stack
        .client
        .post(stack.url("/api/tasks"))
        .json(&task("runtime", 2))
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status().as_u16(), 422);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "model_disabled", "{body}");

    // A new worker opens the stored key at start; the first one goes.
    stack.stop_first_worker().await;
    stack.start_worker("worker-1").await;
    admin_write(
        &stack,
        &admin,
        reqwest::Method::PATCH,
        "/api/admin/models/runtime",
        json!({"enabled": true}),
    )
    .await;
    let (id, _) = submit_when_offered(&stack, "runtime", 3, Duration::from_secs(10)).await;
    let finished = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(60))
        .await;
    assert_eq!(finished["status"], "succeeded", "{finished}");

    // With another key under the same id, a worker refuses to start, and says why.
    let mut wrong = stack.worker_settings.clone();
    wrong.worker.id = Some("worker-wrong-key".into());
    wrong.model_keys.current = Some(service::sections::SecretText::new(
        "k1:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
    ));
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(stack.connect.clone())
        .await
        .expect("a pool");
    let error = match worker::Application::build_with_pool(wrong, pool).await {
        Ok(_) => panic!("a worker started with the wrong model key"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("the configured model key `k1` is not the one"),
        "{error}"
    );
    assert!(!error.contains(ENDPOINT_KEY));
    stack.stop().await;
}

/// The worker as a process of its own, every log line down to `trace` captured: it opens the
/// stored key, serves the model, answers the test, and no line holds the key.
#[sqlx::test(migrations = false)]
async fn a_worker_process_serves_a_stored_key_and_logs_none_of_it(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let simulator = SimulatorConfig {
        api_key: Some(ENDPOINT_KEY.into()),
        ..SimulatorConfig::instant()
    };
    let stack = stack(
        pool_options,
        connect.clone(),
        StackOptions {
            simulator,
            workers: 0,
            ..StackOptions::default()
        },
    )
    .await;
    let admin = admin_login(&stack).await;
    let (status, body) = admin_write(
        &stack,
        &admin,
        reqwest::Method::POST,
        "/api/admin/models",
        json!({
            "id": "runtime",
            "base_url": stack.simulator.base_url(),
            "model": "aiut-sim",
            "api_key": ENDPOINT_KEY,
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let log = std::env::temp_dir().join(format!("aiut-worker-{}.log", uuid::Uuid::new_v4()));
    let output = std::fs::File::create(&log).expect("a log file");
    let errors = output.try_clone().expect("the log file");
    let mut process = std::process::Command::new(worker_binary())
        .env("AIUT_DATABASE__URL", database_url(&connect))
        .env("AIUT_REDIS__URL", redis_url())
        .env("AIUT_REDIS__KEY_PREFIX", &stack.prefix)
        .env("AIUT_WORKER__ID", "keyed")
        .env("AIUT_WORKER__METRICS_PORT", "0")
        .env("AIUT_WORKER__METRICS_HOST", "127.0.0.1")
        .env("AIUT_MODEL_KEYS__CURRENT", MODEL_KEY)
        .env(
            "RUST_LOG",
            "trace,h2=info,hyper=info,hyper_util=info,rustls=info",
        )
        .stdout(std::process::Stdio::from(output))
        .stderr(std::process::Stdio::from(errors))
        .spawn()
        .expect("the worker binary starts");

    let (id, _) = submit_when_offered(&stack, "runtime", 10, Duration::from_secs(30)).await;
    succeeds_and_tests(&stack, &admin, &id, "keyed").await;

    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &process.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(stopped.success());
    let stopping = Instant::now();
    while process.try_wait().expect("wait").is_none()
        && stopping.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = process.kill();
    let _ = process.wait();
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert!(logs.contains("model tested"), "{logs}");
    assert!(
        !logs.contains(ENDPOINT_KEY),
        "the model's key is in a log line"
    );
    let model_key = MODEL_KEY.split_once(':').map_or(MODEL_KEY, |(_, key)| key);
    assert!(!logs.contains(model_key), "the model key is in a log line");
    stack.stop().await;
}
