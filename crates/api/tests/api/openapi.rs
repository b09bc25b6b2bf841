//! The OpenAPI document against the running application: on every documented path exactly the
//! documented methods are routed (the others answer 405), the UI is served but not documented, and
//! real answers have a documented status, media type, required headers, schema and error code.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `GET /api/openapi.json`: a 3.1 document of this version.
pub async fn fetch_document(app: &TestApp) -> Value {
    let document = json_with_status(app.get("/api/openapi.json").await, 200).await;
    let version = document["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1"), "openapi is `{version}`");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    document
}

/// Every (METHOD, path) the document describes.
fn documented_routes(document: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            if METHODS.contains(&method.as_str()) {
                routes.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// Follows a `$ref`, if `value` is one.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local $ref");
            resolve(
                document,
                document
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {reference}")),
            )
        }
        None => value,
    }
}

fn media_type_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Asserts that `response` to `method path` (the path as documented, with `{id}`) is one the
/// document foresees: a documented status, a documented media type, the headers marked required,
/// and for JSON a body matching the documented schema. Returns the status and the JSON body (null
/// when not JSON).
pub async fn assert_documented(
    document: &Value,
    method: &str,
    path: &str,
    response: reqwest::Response,
) -> (u16, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let context = format!("{} {path} answered {status}: {text}", method.to_uppercase());
    let operation = &document["paths"][path][method.to_ascii_lowercase()];
    assert!(operation.is_object(), "undocumented operation: {context}");
    let documented = resolve(document, &operation["responses"][status.to_string()]);
    assert!(documented.is_object(), "undocumented status: {context}");

    for (name, header) in documented["headers"].as_object().into_iter().flatten() {
        if resolve(document, header)["required"] == true {
            assert!(
                headers.contains_key(name.as_str()),
                "no `{name}`: {context}"
            );
        }
    }

    // No content: nothing to type or validate, and none may be documented.
    if status == 204 {
        assert!(
            text.is_empty() && documented["content"].is_null(),
            "a 204 with content: {context}"
        );
        return (status, Value::Null);
    }
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(media_type_essence)
        .unwrap_or_default();
    let content = &documented["content"];
    assert!(
        content.get(&content_type).is_some(),
        "media type `{content_type}` is not documented (documented: {content}): {context}"
    );
    if content_type != "application/json" {
        return (status, Value::Null);
    }
    let body: Value = serde_json::from_str(&text).expect("a JSON body");
    let problems = problems(document, &content[&content_type]["schema"], &body);
    assert!(
        problems.is_empty(),
        "the body does not match the schema: {problems:#?}\n{context}"
    );
    (status, body)
}

/// Every way `value` fails `schema`, a JSON Schema (2020-12, the dialect of OpenAPI 3.1) taken
/// from `document`, whose `$ref`s point into the document's components. Formats (`uuid`,
/// `date-time`, ...) are checked too.
pub fn problems(document: &Value, schema: &Value, value: &Value) -> Vec<String> {
    // The schema sits under a root that holds the components, so `#/components/...` resolves.
    let rooted = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": document["components"],
    });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&rooted)
        .unwrap_or_else(|error| panic!("the documented schema does not compile: {error}"));
    validator
        .iter_errors(value)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect()
}

async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.expect("request sent")
}

#[sqlx::test(migrations = false)]
async fn every_documented_path_serves_exactly_the_documented_methods(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;

    // The router and the document come from one registration (`routes::api_routes`), so a route
    // cannot be served undocumented; what is left to check is that the router answers as the
    // document says: each documented method is routed, every other method on a documented path is
    // refused with 405.
    let documented = documented_routes(&document);
    let paths: BTreeSet<&str> = documented.iter().map(|(_, path)| path.as_str()).collect();
    for path in paths {
        let url = app.url(&path.replace("{id}", &uuid::Uuid::new_v4().to_string()));
        for method in METHODS {
            let method = method.to_ascii_uppercase();
            let is_documented = documented.contains(&(method.clone(), path.to_owned()));
            // axum answers HEAD wherever GET is served.
            let head_of_get =
                method == "HEAD" && documented.contains(&("GET".to_owned(), path.to_owned()));
            let method_value = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            let response = send(app.client.request(method_value, url.clone())).await;
            let status = response.status().as_u16();
            if is_documented || head_of_get {
                assert_ne!(status, 405, "{method} {path} is documented but not routed");
                if status == 404 {
                    let body: Value = response.json().await.unwrap_or_default();
                    assert_ne!(
                        body["error"]["code"], "not_found",
                        "{method} {path} is documented but fell through to the router's 404"
                    );
                }
            } else {
                assert_eq!(
                    status, 405,
                    "{method} {path} is not documented yet is served"
                );
                // The answer to HEAD has no body.
                if method != "HEAD" {
                    let body: Value = response.json().await.expect("a JSON error");
                    assert_eq!(
                        body["error"]["code"], "method_not_allowed",
                        "{method} {path}"
                    );
                }
            }
        }
    }

    // The web UI (`/` and `/assets/...`) is left out of the document on purpose: the document
    // describes the JSON API, not the page that uses it. Its routes are served all the same.
    for path in api::UI_ROUTES {
        assert!(
            !documented.iter().any(|(_, documented)| documented == path),
            "{path} is the UI's and is not documented"
        );
    }
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    // Revalidated, not the API's `no-store`.
    assert_eq!(page.headers()["cache-control"], "no-cache");
    assert_eq!(app.get("/assets/app.js").await.status(), 200);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn every_documented_operation_is_routed_and_answers_as_documented(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;
    let routes = documented_routes(&document);
    assert!(!routes.is_empty());

    for (method, path) in &routes {
        let url = app.url(&path.replace("{id}", &uuid::Uuid::new_v4().to_string()));
        let method_value = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = app.client.request(method_value, url);
        if method == "POST" && path == "/api/tasks" {
            request = request.json(&python_task());
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        assert_ne!(status, 405, "{method} {path} is documented but not routed");
        let (status, body) = assert_documented(&document, method, path, response).await;
        assert!(
            !(status == 404 && body["error"]["code"] == "not_found"),
            "{method} {path} is documented but fell through to the router's 404: {body}"
        );
    }
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn tasks_in_every_state_match_the_documented_schemas(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;
    let task_path = "/api/tasks/{id}";
    let id_of = |body: &Value| body["id"].as_str().expect("an id").to_owned();

    // Queued: the accepted answer, then the task with its place in the queue.
    let (status, accepted) = assert_documented(
        &document,
        "post",
        "/api/tasks",
        app.post_task(&python_task()).await,
    )
    .await;
    assert_eq!(status, 202);
    let queued = id_of(&accepted);
    let (_, task) = assert_documented(
        &document,
        "get",
        task_path,
        app.get(&format!("/api/tasks/{queued}")).await,
    )
    .await;
    assert_eq!(task["position"], 1, "{task}");
    let (status, _) = assert_documented(
        &document,
        "get",
        "/api/tasks/{id}/download",
        app.get(&format!("/api/tasks/{queued}/download")).await,
    )
    .await;
    assert_eq!(status, 409);

    // Running, then cancelled through its worker: 202 with the task.
    let running_task =
        json!({"source": "def sub(a, b):\n    return a - b\n", "filename": "sub.py"});
    let running = id_of(&json_with_status(app.post_task(&running_task).await, 202).await);
    start_task(&app.pool, &running).await;
    let (status, _) = assert_documented(
        &document,
        "get",
        "/api/queue/status",
        app.get("/api/queue/status").await,
    )
    .await;
    assert_eq!(status, 200);
    let (_, queue) =
        assert_documented(&document, "get", "/api/queue", app.get("/api/queue").await).await;
    assert_eq!(queue["yours"]["position"], 1, "{queue}");
    let (status, flagged) = assert_documented(
        &document,
        "delete",
        task_path,
        app.delete(&format!("/api/tasks/{running}")).await,
    )
    .await;
    assert_eq!((status, &flagged["cancel_requested"]), (202, &json!(true)));

    // Succeeded: the result, the download, and a cache hit for another session.
    let code = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n";
    finish_task(&app.pool, &queued, "test_calc.py", code).await;
    let (_, done) = assert_documented(
        &document,
        "get",
        task_path,
        app.get(&format!("/api/tasks/{queued}")).await,
    )
    .await;
    assert_eq!(done["result"]["code"], code, "{done}");
    assert_eq!(done["validation"]["status"], "validated", "{done}");
    assert_eq!(
        done["validation"]["tests"][1]["verdict"], "failed",
        "{done}"
    );
    let (status, _) = assert_documented(
        &document,
        "get",
        "/api/tasks/{id}/download",
        app.get(&format!("/api/tasks/{queued}/download")).await,
    )
    .await;
    assert_eq!(status, 200);
    let (status, hit) = assert_documented(
        &document,
        "post",
        "/api/tasks",
        app.post_task_as(&new_client(), &python_task()).await,
    )
    .await;
    assert_eq!((status, &hit["cache_hit"]), (200, &json!(true)));
    let (status, _) = assert_documented(
        &document,
        "delete",
        task_path,
        app.delete(&format!("/api/tasks/{queued}")).await,
    )
    .await;
    assert_eq!(status, 409);

    // A listing with another page behind it, and a queued task cancelled at once.
    let third = id_of(
        &json_with_status(
            app.post_task(&json!({"source": python_source(3), "language": "python"}))
                .await,
            202,
        )
        .await,
    );
    let (_, page) = assert_documented(
        &document,
        "get",
        "/api/tasks",
        app.get("/api/tasks?limit=1").await,
    )
    .await;
    assert!(page["next_before"].is_string(), "{page}");
    let (status, cancelled) = assert_documented(
        &document,
        "delete",
        task_path,
        app.delete(&format!("/api/tasks/{third}")).await,
    )
    .await;
    assert_eq!((status, &cancelled["status"]), (200, &json!("cancelled")));
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn refusals_carry_documented_statuses_and_codes(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;
    let create = || app.client.post(app.url("/api/tasks"));

    let cases = [
        (
            create()
                .body("{\"source\": ")
                .header("content-type", "application/json"),
            400,
        ),
        (
            create().json(&json!({"source": "x = 1\n", "langauge": "python"})),
            400,
        ),
        (
            create().json(&json!({"source": "x = 1\n", "language": "cobol"})),
            422,
        ),
        (
            create().json(&json!({"source": "  ", "language": "python"})),
            422,
        ),
        (create().json(&json!({"source": "x = 1\n"})), 422),
        (
            create().json(&json!({"source": "x = 1\n", "filename": "x.py", "model": "nope"})),
            422,
        ),
        (
            create()
                .body("x = 1\n")
                .header("content-type", "text/plain"),
            415,
        ),
        (
            create().multipart(reqwest::multipart::Form::new().text("language", "python")),
            400,
        ),
        (
            create()
                .header("Idempotency-Key", "two words")
                .json(&python_task()),
            400,
        ),
    ];
    for (request, expected) in cases {
        let (status, body) =
            assert_documented(&document, "post", "/api/tasks", send(request).await).await;
        assert_eq!(status, expected, "{body}");
    }

    for query in [
        "limit=0",
        "limit=101",
        "status=done",
        "before=nope",
        "colour=red",
    ] {
        let (status, _) = assert_documented(
            &document,
            "get",
            "/api/tasks",
            app.get(&format!("/api/tasks?{query}")).await,
        )
        .await;
        assert_eq!(status, 400, "{query}");
    }
    for (method, path) in [
        ("get", "/api/tasks/{id}"),
        ("delete", "/api/tasks/{id}"),
        ("get", "/api/tasks/{id}/download"),
    ] {
        let url = app.url(&path.replace("{id}", "not-a-uuid"));
        let request = app.client.request(
            reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method"),
            url,
        );
        let (status, _) = assert_documented(&document, method, path, send(request).await).await;
        assert_eq!(status, 400, "{method} {path}");
    }

    // Operators' routes: readiness, metrics, the document itself, the compat health.
    for path in [
        "/readyz",
        "/healthz",
        "/metrics",
        "/api/health",
        "/api/languages",
        "/api/openapi.json",
    ] {
        let (status, _) = assert_documented(&document, "get", path, app.get(path).await).await;
        assert_eq!(status, 200, "{path}");
    }
    app.stop().await;
}

/// The checker above must not pass anything: a broken task and a stray error code are caught.
#[test]
fn the_schema_check_catches_mismatches() {
    let document = serde_json::to_value(api::openapi_document()).expect("a JSON document");
    let problems_with = |schema: Value, value: Value| problems(&document, &schema, &value);
    let task = json!({"$ref": "#/components/schemas/Task"});
    let found = problems_with(
        task.clone(),
        json!({"id": "6f1c2a7e", "model": 3, "status": "done", "result": {}}),
    );
    for expected in [
        "/id: \"6f1c2a7e\" is not a \"uuid\"",
        "/model: 3 is not of type",
        "/status: \"done\" is not one of",
        "\"links\" is a required property",
    ] {
        assert!(
            found.iter().any(|problem| problem.contains(expected)),
            "`{expected}` not among {found:#?}"
        );
    }
    assert!(
        !problems_with(task, json!({"result": {"file_name": "x"}}))
            .iter()
            .any(|problem| problem.starts_with("/result"))
    );

    let not_found = &document["components"]["responses"]["TaskNotFound"]["content"]["application/json"]
        ["schema"];
    let stray = json!({"error": {"code": "not_found", "message": "no such route"}});
    assert!(!problems_with(not_found.clone(), stray).is_empty());
    let right = json!({"error": {"code": "task_not_found", "message": "no such task"}});
    assert!(problems_with(not_found.clone(), right).is_empty());
}
