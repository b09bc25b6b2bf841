//! The model registry through the admin routes: list, add, edit, disable, delete, the default;
//! validation naming the field; the key sealed at rest and in no answer, audit entry or log line;
//! the registry and its keys across restarts, and a start refused with the wrong model key.

use std::process::{Command, Stdio};
use std::time::Duration;

use api::{AdminPassword, Settings};
use serde_json::{Value, json};
use service::sections::SecretText;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};

use crate::binary::{Running, api_command, drop_database, first_readiness_answer, free_port};
use crate::helpers::*;

const PASSWORD: &str = "models-admin-password-for-tests";
/// The model API key the tests set: it must never come back.
const SECRET: &str = "sk-live-0123456789abcdefSECRET";
/// Two model keys: base64 of 32 bytes of 1s and of 2s.
const KEY_ONE: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY_TWO: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

fn settings(with_keys: bool) -> Settings {
    let mut settings = test_settings(&unique_prefix());
    settings.admin_password = AdminPassword::new(PASSWORD);
    if with_keys {
        settings.model_keys.current = Some(SecretText::new(format!("k1:{KEY_ONE}")));
    }
    settings
}

/// Logs `client` in; returns the CSRF token.
async fn login(base: &str, client: &reqwest::Client) -> String {
    let response = client
        .post(format!("{base}/api/admin/login"))
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    let body = json_with_status(response, 200).await;
    body["csrf_token"]
        .as_str()
        .expect("a CSRF token")
        .to_owned()
}

struct Admin {
    base: String,
    client: reqwest::Client,
    csrf: String,
    /// Every answer's headers and body, to search for the key.
    answers: std::sync::Mutex<Vec<String>>,
}

impl Admin {
    async fn new(base: &str) -> Admin {
        let client = new_client();
        let csrf = login(base, &client).await;
        Admin {
            base: base.to_owned(),
            client,
            csrf,
            answers: std::sync::Mutex::new(Vec::new()),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("sent");
        let status = response.status().as_u16();
        let headers = format!("{:?}", response.headers());
        let text = response.text().await.expect("a body");
        if let Ok(mut answers) = self.answers.lock() {
            answers.push(format!("{headers}\n{text}"));
        }
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    fn no_answer_holds_the_key(&self) {
        let answers = self.answers.lock().expect("answers");
        assert!(!answers.is_empty());
        for answer in answers.iter() {
            assert!(
                !answer.contains(SECRET),
                "the key is in an answer: {answer}"
            );
        }
    }
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

fn local_model() -> Value {
    json!({
        "id": "local",
        "display_name": "A local endpoint",
        "base_url": "http://127.0.0.1:9/v1",
        "model": "served-name",
        "api_key": SECRET,
        "temperature": 0.5,
        "max_tokens": 512,
        "timeout_secs": 30,
        "max_concurrency": 2,
        "fallback": ["offline"],
    })
}

#[sqlx::test(migrations = false)]
async fn models_are_added_edited_disabled_and_deleted(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, settings(true)).await;
    let admin = Admin::new(&app.address).await;

    // Seeded from the configuration's registry.
    let (status, list) = admin.get("/api/admin/models").await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|model| model["id"].as_str())
        .collect();
    assert_eq!(ids, ["offline", "gpt-4.1-mini", "deepseek-chat"]);
    assert_eq!(list["models"][1]["origin"], "file");
    assert_eq!(list["models"][1]["key_env"], "OPENAI_API_KEY");
    assert_eq!(list["keys_configured"], true);

    // Anonymous callers and writes without the CSRF token are refused.
    let anonymous = new_client()
        .get(app.url("/api/admin/models"))
        .send()
        .await
        .expect("sent");
    assert_error(anonymous, 401, "admin_login_required").await;
    let no_csrf = admin
        .client
        .post(app.url("/api/admin/models"))
        .json(&local_model())
        .send()
        .await
        .expect("sent");
    assert_error(no_csrf, 403, "csrf_token_invalid").await;

    let (status, added) = admin.post("/api/admin/models", local_model()).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["id"], "local");
    assert_eq!(added["key_set"], true);
    assert_eq!(added["origin"], "admin");
    assert_eq!(added["model"], "served-name");
    assert_eq!(added["fallback"], json!(["offline"]));
    assert!(added.get("api_key").is_none());

    // The original tool's AI configuration answers from the same registry, the key masked.
    let (status, config) = admin
        .send(reqwest::Method::GET, "/api/admin/ai-config", None)
        .await;
    assert_eq!(status, 200, "{config}");
    let local = config["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|model| model["name"] == "local")
        .expect("the added model");
    assert_eq!(local["api_key"], "********");
    assert_eq!(local["api_key_set"], true);
    assert_eq!(local["base_url"], added["base_url"]);
    assert_eq!(local["provider"], "openai");
    assert_eq!(config["default_model"], list["default_model"]);
    let anonymous = new_client()
        .get(app.url("/api/admin/ai-config"))
        .send()
        .await
        .expect("sent");
    assert_error(anonymous, 401, "admin_login_required").await;

    // Validation names the field.
    let (status, body) = admin.post("/api/admin/models", local_model()).await;
    assert_eq!((status, error_code(&body)), (409, "model_exists"), "{body}");
    for (change, field) in [
        (json!({"base_url": "not a url"}), "base_url"),
        (json!({"base_url": "ftp://host/v1"}), "base_url"),
        (json!({"base_url": "http://user:pw@host/v1"}), "base_url"),
        (json!({"fallback": ["nowhere"]}), "fallback"),
        (json!({"fallback": ["other"]}), "fallback"),
        (json!({"temperature": 5.0}), "temperature"),
        (json!({"max_tokens": 0}), "max_tokens"),
        (json!({"id": "bad id!"}), "id"),
    ] {
        let mut body = local_model();
        body["id"] = json!("other");
        for (name, value) in change.as_object().expect("an object") {
            body[name] = value.clone();
        }
        let (status, answer) = admin.post("/api/admin/models", body).await;
        assert_eq!(status, 422, "{change}: {answer}");
        assert_eq!(error_code(&answer), "invalid_model_settings", "{answer}");
        assert!(
            message(&answer).contains(&format!("`{field}`")),
            "{field}: {answer}"
        );
    }
    let (status, body) = admin
        .post("/api/admin/models", json!({"id": "x", "surprise": 1}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("surprise"), "{body}");

    // The key is sealed at rest: the row holds no trace of it.
    let (ciphertext, key_id): (Vec<u8>, String) =
        sqlx::query_as("select key_ciphertext, key_id from models where id = 'local'")
            .fetch_one(&app.pool)
            .await
            .expect("the row");
    assert_eq!(key_id, "k1");
    assert!(
        !ciphertext
            .windows(SECRET.len())
            .any(|window| window == SECRET.as_bytes())
    );

    // Available to tasks (no worker yet: they wait in the queue), then disabled: 422.
    let task = json!({"source": "def add(a, b):\n    return a + b\n", "filename": "calc.py", "model": "local"});
    let queued = app.post_task(&task).await;
    assert_eq!(queued.status().as_u16(), 202);
    let (status, edited) = admin
        .patch(
            "/api/admin/models/local",
            json!({"enabled": false, "max_tokens": 256}),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["enabled"], false);
    assert_eq!(edited["max_tokens"], 256);
    assert_eq!(edited["key_set"], true, "the key is kept");
    let refused = app.post_task(&task).await;
    let body = assert_error(refused, 422, "model_disabled").await;
    assert!(message(&body).contains("local"), "{body}");
    let models = json_with_status(app.get("/api/models").await, 200).await;
    let local = models["details"]
        .as_array()
        .expect("details")
        .iter()
        .find(|model| model["id"] == "local")
        .expect("listed");
    assert_eq!(local["available"], false);

    // The default: only an enabled model; a default is neither disabled nor deleted.
    let (status, body) = admin
        .send(
            reqwest::Method::PUT,
            "/api/admin/default-model",
            Some(json!({"model": "local"})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (422, "invalid_model_settings"));
    admin
        .patch("/api/admin/models/local", json!({"enabled": true}))
        .await;
    let (status, body) = admin
        .send(
            reqwest::Method::PUT,
            "/api/admin/default-model",
            Some(json!({"model": "local"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["default_model"], "local");
    let models = json_with_status(app.get("/api/models").await, 200).await;
    assert_eq!(models["default_model"], "local");
    let (status, body) = admin
        .patch("/api/admin/models/local", json!({"enabled": false}))
        .await;
    assert_eq!((status, error_code(&body)), (409, "model_in_use"), "{body}");
    let (status, body) = admin
        .send(reqwest::Method::DELETE, "/api/admin/models/local", None)
        .await;
    assert_eq!((status, error_code(&body)), (409, "model_in_use"), "{body}");
    admin
        .send(
            reqwest::Method::PUT,
            "/api/admin/default-model",
            Some(json!({"model": "offline"})),
        )
        .await;

    // A fallback is not deleted while a model names it.
    let (status, body) = admin
        .send(reqwest::Method::DELETE, "/api/admin/models/offline", None)
        .await;
    assert_eq!((status, error_code(&body)), (409, "model_in_use"), "{body}");

    // The key cleared, then the model deleted.
    let (status, body) = admin
        .patch("/api/admin/models/local", json!({"clear_api_key": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key_set"], false);
    let (status, _) = admin
        .send(reqwest::Method::DELETE, "/api/admin/models/local", None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = admin.get("/api/admin/models/local").await;
    assert_eq!((status, error_code(&body)), (404, "model_not_found"));
    let refused = app.post_task(&task).await;
    assert_error(refused, 422, "unknown_model").await;

    // Every write is audited, without the key.
    let (_, audit) = admin.get("/api/admin/audit?limit=100").await;
    let entries = audit["entries"].as_array().expect("entries");
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    for action in [
        "model_added",
        "model_disabled",
        "model_enabled",
        "model_default_set",
        "model_updated",
        "model_deleted",
    ] {
        assert!(actions.contains(&action), "{action} missing: {actions:?}");
    }
    let added = entries
        .iter()
        .find(|entry| entry["action"] == "model_added")
        .expect("added");
    assert_eq!(added["target"], "local");
    assert_eq!(added["detail"]["key"], "set");
    admin.no_answer_holds_the_key();
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_key_needs_a_configured_model_key(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, settings(false)).await;
    let admin = Admin::new(&app.address).await;
    let (status, list) = admin.get("/api/admin/models").await;
    assert_eq!(status, 200);
    assert_eq!(list["keys_configured"], false);
    let (status, body) = admin.post("/api/admin/models", local_model()).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "model_keys_not_configured"),
        "{body}"
    );
    assert!(message(&body).contains("AIUT_MODEL_KEYS__CURRENT"));
    let mut keyless = local_model();
    keyless
        .as_object_mut()
        .expect("an object")
        .remove("api_key");
    let (status, body) = admin.post("/api/admin/models", keyless).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["key_set"], false);
    admin.no_answer_holds_the_key();
    app.stop().await;
}

/// The api binary on `database` with `keys` as its model keys' variables, its output in `log`.
fn start(database: &str, port: u16, keys: &[(&str, String)], log: &std::path::Path) -> Running {
    let mut command = api_command(database, port);
    command
        .env("AIUT_LOG__ACCESS", "info")
        .env("AIUT_LOG__ROUTINE_SAMPLE_EVERY", "1")
        .env("RUST_LOG", "trace,h2=info,hyper=info,rustls=info")
        .env(AdminPassword::VARIABLE, PASSWORD);
    for (name, value) in keys {
        command.env(name, value);
    }
    let output = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("the log file");
    let errors = output.try_clone().expect("the log file");
    let child = command
        .stdout(Stdio::from(output))
        .stderr(Stdio::from(errors))
        .spawn()
        .expect("the aiut-api binary starts");
    Running(child)
}

async fn stop(mut running: Running) {
    let status = Command::new("kill")
        .args(["-TERM", &running.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let stopping = std::time::Instant::now();
    while running.0.try_wait().expect("wait").is_none()
        && stopping.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for a binary that must refuse to start; returns whether it exited with a failure.
async fn refused_to_start(mut running: Running) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Some(status) = running.0.try_wait().expect("wait") {
            return !status.success();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn keys_persist_across_restarts_and_the_wrong_model_key_stops_the_start() {
    let database = format!("aiut_models_{}", uuid::Uuid::new_v4().simple());
    let port = free_port();
    let log = std::env::temp_dir().join(format!("{database}.log"));
    let base = format!("http://127.0.0.1:{port}");
    let key_one = vec![("AIUT_MODEL_KEYS__CURRENT", format!("k1:{KEY_ONE}"))];

    let running = start(&database, port, &key_one, &log);
    first_readiness_answer(&new_client(), &base).await;
    let admin = Admin::new(&base).await;
    let (status, body) = admin.post("/api/admin/models", local_model()).await;
    assert_eq!(status, 201, "{body}");
    admin.get("/api/admin/models").await;
    admin.get("/api/admin/models/local").await;
    admin
        .patch(
            "/api/admin/models/local",
            json!({"api_key": SECRET, "temperature": 0.1}),
        )
        .await;
    // No worker serves it: the test says so, without the key.
    let (status, body) = admin.post("/api/admin/models/local/test", json!({})).await;
    assert_eq!(
        (status, error_code(&body)),
        (503, "no_worker_for_model"),
        "{body}"
    );
    admin.get("/api/admin/audit").await;
    admin.get("/api/models").await;
    admin.no_answer_holds_the_key();
    stop(running).await;

    // The same key: the model and its key are still there.
    let running = start(&database, port, &key_one, &log);
    first_readiness_answer(&new_client(), &base).await;
    let admin = Admin::new(&base).await;
    let (status, body) = admin.get("/api/admin/models/local").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key_set"], true);
    assert_eq!(body["temperature"], 0.1);
    stop(running).await;

    // Another key under the same id, or none at all: the start is refused, saying why.
    let wrong = vec![("AIUT_MODEL_KEYS__CURRENT", format!("k1:{KEY_TWO}"))];
    assert!(
        refused_to_start(start(&database, port, &wrong, &log)).await,
        "started with the wrong model key"
    );
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logs.contains(
            "the configured model key `k1` is not the one the stored keys were encrypted under"
        ),
        "{logs}"
    );
    assert!(
        refused_to_start(start(&database, port, &[], &log)).await,
        "started without the model key"
    );
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logs.contains("stored under the key id `k1`, which is not configured"),
        "{logs}"
    );

    // Rotation: a new current key, the old one among the previous ones; new keys go under k2.
    let rotated = vec![
        ("AIUT_MODEL_KEYS__CURRENT", format!("k2:{KEY_TWO}")),
        ("AIUT_MODEL_KEYS__PREVIOUS", format!("[\"k1:{KEY_ONE}\"]")),
    ];
    let running = start(&database, port, &rotated, &log);
    first_readiness_answer(&new_client(), &base).await;
    let admin = Admin::new(&base).await;
    let (status, body) = admin
        .patch("/api/admin/models/local", json!({"api_key": SECRET}))
        .await;
    assert_eq!(status, 200, "{body}");
    admin.no_answer_holds_the_key();
    stop(running).await;

    let mut connection = PgConnection::connect(&crate::binary::url_of_database(&database))
        .await
        .expect("connect");
    let key_id: String = sqlx::query_scalar("select key_id from models where id = 'local'")
        .fetch_one(&mut connection)
        .await
        .expect("the row");
    assert_eq!(key_id, "k2");
    drop(connection);

    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    drop_database(&database).await;
    assert!(logs.contains("model added to the registry"), "{logs}");
    assert!(!logs.contains(SECRET), "the key is in a log line");
    assert!(
        !logs.contains(KEY_ONE) && !logs.contains(KEY_TWO),
        "a model key is in a log line"
    );
}

#[sqlx::test(migrations = false)]
async fn the_file_owns_its_models_until_the_admin_edits_one(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, settings(true)).await;
    let admin = Admin::new(&app.address).await;
    let max_tokens = |list: &Value, id: &str| {
        list["models"]
            .as_array()
            .and_then(|models| models.iter().find(|model| model["id"] == id))
            .map(|model| (model["max_tokens"].clone(), model["origin"].clone()))
            .expect("listed")
    };

    // A change to the file is applied at the next start (each start seeds as this does).
    let mut file = app.settings.models.clone();
    file.models[1].max_tokens = 777;
    file.models[2].max_tokens = 888;
    let written = store::models::seed(&app.pool, &file).await.expect("seeded");
    assert_eq!(written.len(), 2, "{written:?}");
    let (_, list) = admin.get("/api/admin/models").await;
    assert_eq!(
        max_tokens(&list, "gpt-4.1-mini"),
        (json!(777), json!("file"))
    );

    // Edited by the admin, a model is the registry's: the file's next change leaves it alone.
    let (status, body) = admin
        .patch(
            "/api/admin/models/deepseek-chat",
            json!({"temperature": 0.7}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["origin"], "admin");
    file.models[1].max_tokens = 666;
    file.models[2].max_tokens = 999;
    store::models::seed(&app.pool, &file).await.expect("seeded");
    let (_, list) = admin.get("/api/admin/models").await;
    assert_eq!(
        max_tokens(&list, "gpt-4.1-mini"),
        (json!(666), json!("file"))
    );
    assert_eq!(
        max_tokens(&list, "deepseek-chat"),
        (json!(888), json!("admin"))
    );
    // Nothing changed: nothing written, the version stays.
    let version = list["version"].clone();
    assert!(
        store::models::seed(&app.pool, &file)
            .await
            .expect("seeded")
            .is_empty()
    );
    let (_, list) = admin.get("/api/admin/models").await;
    assert_eq!(list["version"], version);
    app.stop().await;
}
