//! `/api/models` from the registry, and the checks a new task's model and source must pass.

use domain::ModelRegistry;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;
use crate::openapi::{assert_documented, fetch_document};

/// The name of an environment variable that no test machine sets.
fn unset_variable() -> String {
    let name = format!("AIUT_TEST_KEY_{}", uuid::Uuid::new_v4().simple()).to_ascii_uppercase();
    assert!(std::env::var_os(&name).is_none());
    name
}

fn registry(models: Value) -> ModelRegistry {
    serde_json::from_value(json!({ "registry": models })).expect("a valid registry")
}

fn detail<'a>(models: &'a Value, id: &str) -> &'a Value {
    models["details"]
        .as_array()
        .and_then(|details| details.iter().find(|detail| detail["id"] == id))
        .unwrap_or_else(|| panic!("no detail for `{id}` in {models}"))
}

#[sqlx::test(migrations = false)]
async fn the_built_in_registry_is_listed_with_what_each_model_needs(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;
    let (status, models) = assert_documented(
        &document,
        "get",
        "/api/models",
        app.get("/api/models").await,
    )
    .await;
    assert_eq!(status, 200);

    let ids: Vec<&str> = models["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(ids, ["offline", "gpt-4.1-mini", "deepseek-chat"]);
    let detail_ids: Vec<&str> = models["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|detail| detail["id"].as_str())
        .collect();
    assert_eq!(detail_ids, ids, "one detail per model, in the same order");

    let offline = detail(&models, "offline");
    assert_eq!(offline["kind"], "offline");
    assert_eq!(offline["available"], true);
    assert!(offline.get("reason").is_none(), "{offline}");

    // The api holds no provider keys, whatever its environment says: a hosted model is offered
    // once a live worker announces it, and no worker runs here.
    for (id, variable) in [
        ("gpt-4.1-mini", "OPENAI_API_KEY"),
        ("deepseek-chat", "DEEPSEEK_API_KEY"),
    ] {
        let hosted = detail(&models, id);
        assert_eq!(hosted["kind"], "openai");
        assert_eq!(hosted["available"], false, "{hosted}");
        let reason = hosted["reason"].as_str().expect("a reason");
        assert!(reason.contains(variable), "{reason}");
    }
    assert_eq!(models["default_model"], "offline");
    assert_eq!(offline["default"], true);
    let defaults = models["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter(|detail| detail["default"] == true)
        .count();
    assert_eq!(defaults, 1, "{models}");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn with_no_key_set_the_default_is_offline(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let variable = unset_variable();
    let mut settings = test_settings(&unique_prefix());
    settings.models = registry(json!([
        {"id": "offline", "kind": "offline"},
        {
            "id": "hosted",
            "kind": "openai",
            "base_url": "https://models.example/v1",
            "api_key_env": variable,
        },
    ]));
    let app = spawn_app_with(pool_options, connect, settings).await;
    let models = json_with_status(app.get("/api/models").await, 200).await;
    assert_eq!(models["models"], json!(["offline", "hosted"]));
    assert_eq!(models["default_model"], "offline");
    let hosted = detail(&models, "hosted");
    assert_eq!(hosted["available"], false);
    assert_eq!(hosted["default"], false);
    assert!(
        hosted["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains(&variable)),
        "the reason names the variable to set: {hosted}"
    );

    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let task = app.task(created["id"].as_str().expect("an id")).await;
    assert_eq!(task["model"], "offline");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_configured_registry_decides_what_is_offered_and_the_default(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let variable = unset_variable();
    let mut settings = test_settings(&unique_prefix());
    settings.models = registry(json!([
        {"id": "offline", "kind": "offline"},
        {
            "id": "needs-key",
            "kind": "openai",
            "base_url": "https://models.example/v1",
            "api_key_env": variable,
        },
        {
            "id": "local-sim",
            "kind": "openai",
            "display_name": "Local simulator",
            "base_url": "http://127.0.0.1:9/v1",
            "temperature": 0.5,
            "max_tokens": 512,
            "fallback": ["offline"],
        },
        {
            // A live worker announces that it has this model's key (below).
            "id": "has-key",
            "kind": "openai",
            "base_url": "https://models.example/v1",
            "api_key_env": "PATH",
        },
    ]));
    let app = spawn_app_with(pool_options, connect, settings).await;
    let served = ["offline", "local-sim", "has-key"].map(str::to_owned);
    store::workers::announce(
        &app.pool,
        &store::workers::Announcement {
            id: "worker-with-a-key",
            capacity: 8,
            models: &served,
            ttl: std::time::Duration::from_secs(60),
        },
    )
    .await
    .expect("announced");
    let document = fetch_document(&app).await;
    let response = app.get("/api/models").await;
    let (status, models) = assert_documented(&document, "get", "/api/models", response).await;
    assert_eq!(status, 200);
    assert_eq!(
        models["models"],
        json!(["offline", "needs-key", "local-sim", "has-key"])
    );
    assert_eq!(
        models["default_model"], "local-sim",
        "the first available hosted model is the default"
    );

    let local = detail(&models, "local-sim");
    assert_eq!(local["available"], true, "no key needed: {local}");
    assert_eq!(local["kind"], "openai");
    assert_eq!(local["name"], "Local simulator");
    assert_eq!(local["default"], true);
    assert_eq!(local["max_tokens"], 512);
    assert_eq!(local["fallback"], json!(["offline"]));
    assert!(local.get("reason").is_none());
    assert_eq!(detail(&models, "offline")["default"], false);
    assert_eq!(detail(&models, "needs-key")["available"], false);

    let keyed = detail(&models, "has-key");
    assert_eq!(keyed["available"], true);
    let text = models.to_string();
    assert!(
        !text.contains("PATH"),
        "the variable holding a key is not shown: {text}"
    );
    if let Ok(key) = std::env::var("PATH")
        && !key.is_empty()
    {
        assert!(!text.contains(&key), "a key is never shown");
    }

    // Tasks follow the same registry.
    let ask =
        |model: &str| json!({"source": python_source(1), "filename": "values.py", "model": model});
    let refused = assert_error(
        app.post_task(&ask("needs-key")).await,
        422,
        "model_unavailable",
    )
    .await;
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("needs-key") && message.contains(&variable),
        "{message}"
    );
    let unknown = assert_error(
        app.post_task(&ask("gpt-4.1-mini")).await,
        422,
        "unknown_model",
    )
    .await;
    let message = unknown["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("local-sim"),
        "names what is offered: {message}"
    );

    let created = json_with_status(app.post_task(&ask("has-key")).await, 202).await;
    assert_eq!(
        app.task(created["id"].as_str().expect("id")).await["model"],
        "has-key"
    );
    let defaulted = json!({"source": python_source(2), "filename": "values.py"});
    let created = json_with_status(app.post_task(&defaulted).await, 202).await;
    assert_eq!(
        app.task(created["id"].as_str().expect("id")).await["model"],
        "local-sim"
    );
    assert_eq!(task_count(&app).await, 2, "refused requests make no task");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_unavailable_or_unknown_model_is_422_as_documented(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let variable = unset_variable();
    let mut settings = test_settings(&unique_prefix());
    settings.models = registry(json!([
        {"id": "offline", "kind": "offline"},
        {
            "id": "hosted",
            "kind": "openai",
            "base_url": "https://models.example/v1",
            "api_key_env": variable,
        },
    ]));
    let app = spawn_app_with(pool_options, connect, settings).await;
    let document = fetch_document(&app).await;
    for (model, code) in [("hosted", "model_unavailable"), ("nope", "unknown_model")] {
        let body = json!({"source": python_source(1), "language": "python", "model": model});
        let (status, answer) =
            assert_documented(&document, "post", "/api/tasks", app.post_task(&body).await).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (422, Some(code))
        );
    }
    assert_eq!(task_count(&app).await, 0);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_source_with_nothing_to_test_is_422(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;
    let untestable = [
        ("python", "# settings\nlimit = 10\nname = \"calc\"\n"),
        (
            "javascript",
            "// settings\nconst limit = 10;\nmodule.exports = { limit };\n",
        ),
        ("typescript", "export const limit: number = 10;\n"),
        (
            "java",
            "public class Limits {\n    public static final int MAX = 3;\n}\n",
        ),
        ("go", "package limits\n\n// Max is the cap.\nvar Max = 3\n"),
        ("rust", "/// The cap.\npub const MAX: u32 = 3;\n"),
        ("cpp", "// the cap\nint max_items = 3;\n"),
        (
            "csharp",
            "namespace App\n{\n    public class Limits\n    {\n        public int Max = 3;\n    }\n}\n",
        ),
    ];
    for (language, source) in untestable {
        let body = json!({"source": source, "language": language});
        let (status, answer) =
            assert_documented(&document, "post", "/api/tasks", app.post_task(&body).await).await;
        assert_eq!(status, 422, "{language}: {answer}");
        assert_eq!(answer["error"]["code"], "no_testable_unit", "{language}");
    }
    assert_eq!(task_count(&app).await, 0);

    // The same file with a function in it is taken.
    let testable = json!({
        "source": "# settings\nlimit = 10\n\n\ndef within(n):\n    return n <= limit\n",
        "language": "python",
    });
    json_with_status(app.post_task(&testable).await, 202).await;
    app.stop().await;
}

async fn task_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from tasks")
        .fetch_one(&app.pool)
        .await
        .expect("count")
}
