//! The OpenAPI document against the running application: its paths are exactly the routes the
//! router serves, every documented operation is routed, and real answers have a documented
//! status, media type, required headers, schema and error code.

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
    let mut problems = Vec::new();
    check(
        document,
        &content[&content_type]["schema"],
        &body,
        "$",
        &mut problems,
    );
    assert!(
        problems.is_empty(),
        "the body does not match the schema: {problems:#?}\n{context}"
    );
    (status, body)
}

/// Checks `value` against `schema`, for the part of JSON Schema the document uses, collecting every
/// mismatch with where it is.
pub fn check(
    document: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    problems: &mut Vec<String>,
) {
    let schema = resolve(document, schema);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        check(document, part, value, at, problems);
    }
    for (keyword, exactly_one) in [("anyOf", false), ("oneOf", true)] {
        let Some(options) = schema[keyword].as_array() else {
            continue;
        };
        let matching = options
            .iter()
            .filter(|option| {
                let mut found = Vec::new();
                check(document, option, value, at, &mut found);
                found.is_empty()
            })
            .count();
        if matching == 0 || (exactly_one && matching > 1) {
            problems.push(format!("{at}: matches {matching} of the {keyword} options"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(single) => vec![single.as_str()],
        Value::Array(several) => several.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|kind| is_of_type(kind, value)) {
        problems.push(format!("{at}: {value} is not of type {types:?}"));
        return;
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        problems.push(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        problems.push(format!("{at}: {value} is not {expected}"));
    }
    if let (Some(number), Some(minimum)) = (value.as_f64(), schema["minimum"].as_f64())
        && number < minimum
    {
        problems.push(format!("{at}: {number} is below {minimum}"));
    }
    if let (Some(number), Some(maximum)) = (value.as_f64(), schema["maximum"].as_f64())
        && number > maximum
    {
        problems.push(format!("{at}: {number} is above {maximum}"));
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                problems.push(format!("{at}: `{name}` is missing"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, field) in object {
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => {
                    check(document, property, field, &format!("{at}.{name}"), problems)
                }
                None if schema["additionalProperties"] == false => {
                    problems.push(format!("{at}: `{name}` is not allowed"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            check(document, items, item, &format!("{at}[{index}]"), problems);
        }
    }
}

async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.expect("request sent")
}

fn is_of_type(kind: &str, value: &Value) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

#[sqlx::test(migrations = false)]
async fn the_document_lists_exactly_the_routes_served(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let document = fetch_document(&app).await;

    let documented = documented_routes(&document);
    let served: BTreeSet<(String, String)> = app
        .served_routes
        .iter()
        .map(|(method, path)| (method.as_str().to_owned(), (*path).to_owned()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "the document and the router disagree\n  served but not documented: {undocumented:?}\n  \
         documented but not served: {unserved:?}"
    );

    // The web UI (`/` and `/assets/...`) is left out of the document on purpose: the document
    // describes the JSON API, not the page that uses it. Its routes are served all the same.
    for path in api::routes::ui::UI_ROUTES {
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
    let document = api::openapi::document();
    let problems_with = |schema: Value, value: Value| {
        let mut problems = Vec::new();
        check(&document, &schema, &value, "$", &mut problems);
        problems
    };
    let task = json!({"$ref": "#/components/schemas/Task"});
    let found = problems_with(
        task.clone(),
        json!({"id": 1, "status": "done", "result": {}}),
    );
    for expected in [
        "$.id: 1 is not of type",
        "$.status: \"done\" is not one of",
        "`links` is missing",
    ] {
        assert!(
            found.iter().any(|problem| problem.contains(expected)),
            "`{expected}` not among {found:#?}"
        );
    }
    assert!(
        !problems_with(task, json!({"result": {"file_name": "x"}}))
            .iter()
            .any(|p| p.contains("result"))
    );

    let not_found = &document["components"]["responses"]["TaskNotFound"]["content"]["application/json"]
        ["schema"];
    let stray = json!({"error": {"code": "not_found", "message": "no such route"}});
    assert!(!problems_with(not_found.clone(), stray).is_empty());
    let right = json!({"error": {"code": "task_not_found", "message": "no such task"}});
    assert!(problems_with(not_found.clone(), right).is_empty());
}
