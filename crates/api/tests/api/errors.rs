//! Bad input of every kind: a clear 4xx in the one JSON error shape, never a 5xx, nothing stored.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;

async fn task_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from tasks")
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

#[sqlx::test(migrations = false)]
async fn bad_task_requests_get_a_clear_4xx(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let app = spawn_app(pool_options, connect).await;
    let cases = [
        (
            json!({"source": "x", "language": "cobol"}),
            422,
            "unknown_language",
            "cobol",
        ),
        (
            json!({"source": "x", "language": "python", "framework": "jest"}),
            422,
            "framework_not_for_language",
            "pytest, unittest",
        ),
        (
            json!({"source": "x", "language": "python", "framework": "mocha"}),
            422,
            "unknown_framework",
            "mocha",
        ),
        (
            json!({"source": "x", "language": "python", "model": "gpt-99"}),
            422,
            "unknown_model",
            "offline",
        ),
        (
            json!({"source": "x", "language": "python", "model": "bad model!"}),
            422,
            "invalid_model",
            "model",
        ),
        (json!({"source": "x"}), 422, "language_required", "language"),
        (
            json!({"source": "x", "filename": "notes.txt"}),
            422,
            "language_required",
            "notes.txt",
        ),
        (
            json!({"source": "x", "filename": "../../etc/passwd.py"}),
            422,
            "invalid_filename",
            "filename",
        ),
        (
            json!({"source": "   \n", "language": "python"}),
            422,
            "empty_source",
            "empty",
        ),
        (
            json!({"source": "a\u{0}b", "language": "python"}),
            422,
            "source_binary",
            "NUL",
        ),
        (
            json!({"source": 42, "language": "python"}),
            400,
            "invalid_json",
            "`source`",
        ),
        (
            json!({"language": "python"}),
            400,
            "invalid_json",
            "missing field `source`",
        ),
        (
            json!({"source": "x", "langauge": "python"}),
            400,
            "invalid_json",
            "langauge",
        ),
        (
            json!({"source": "x", "language": ["python"]}),
            400,
            "invalid_json",
            "`language`",
        ),
        (json!(["source"]), 400, "invalid_json", "invalid"),
    ];
    for (body, status, code, mentions) in cases {
        let error = assert_error(app.post_task(&body).await, status, code).await;
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(mentions),
            "{body}: `{message}` should mention `{mentions}`"
        );
    }
    assert_eq!(task_count(&app).await, 0, "nothing bad is stored");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn malformed_and_mistyped_bodies(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let app = spawn_app(pool_options, connect).await;
    let post = |content_type: Option<&str>, body: Vec<u8>| {
        let mut request = app.client.post(app.url("/api/tasks")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type.to_owned());
        }
        request.send()
    };
    let json = Some("application/json");
    let cases: [(Option<&str>, &[u8], u16, &str); 7] = [
        (json, b"{\"source\": ", 400, "invalid_json"),
        (
            json,
            b"{\"source\": \"x\", \"language\": \"python\"} {}",
            400,
            "invalid_json",
        ),
        (json, &[0xff, 0xfe], 400, "invalid_json"),
        (
            Some("text/plain"),
            b"def f(): pass",
            415,
            "unsupported_media_type",
        ),
        (None, b"def f(): pass", 415, "unsupported_media_type"),
        (
            Some("application/xml"),
            b"<a/>",
            415,
            "unsupported_media_type",
        ),
        (
            Some("multipart/form-data"),
            b"garbage",
            400,
            "invalid_multipart",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let response = post(content_type, body.to_vec()).await.expect("sent");
        assert_error(response, status, code).await;
    }
    let truncated = post(json, b"{\"source\": ".to_vec()).await.expect("sent");
    let truncated = assert_error(truncated, 400, "invalid_json").await;
    assert!(
        truncated["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("line 1"),
        "says where: {truncated}"
    );
    // A vendor JSON type is JSON.
    let accepted = post(
        Some("application/vnd.api+json; charset=utf-8"),
        serde_json::to_vec(&python_task()).expect("json"),
    )
    .await
    .expect("sent");
    json_with_status(accepted, 202).await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn oversized_bodies_and_sources_are_413(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut settings = test_settings(&unique_prefix());
    settings.limits.max_source_bytes = 1024;
    settings.limits.max_body_bytes = 4096;
    let app = spawn_app_with(pool_options, connect, settings).await;

    // Over the source limit but within the body limit: refused by the source check.
    let source = "x = 1\n".repeat(300);
    let error = assert_error(
        app.post_task(&json!({"source": source, "language": "python"}))
            .await,
        413,
        "source_too_large",
    )
    .await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1024"),
        "{error}"
    );

    // Over the body limit.
    let source = "y".repeat(8192);
    assert_error(
        app.post_task(&json!({"source": source, "language": "python"}))
            .await,
        413,
        "payload_too_large",
    )
    .await;

    // The same through an upload.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![b'z'; 8192]).file_name("big.py"),
    );
    let response = app.post_upload(form).await;
    assert_error(response, 413, "payload_too_large").await;
    assert_eq!(task_count(&app).await, 0);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_two_mebibyte_body_is_413_with_default_limits(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let source = "a".repeat(2 * 1024 * 1024);
    assert_error(
        app.post_task(&json!({"source": source, "language": "python"}))
            .await,
        413,
        "payload_too_large",
    )
    .await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn bad_uploads_get_a_clear_4xx(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let app = spawn_app(pool_options, connect).await;
    let file = |bytes: &[u8], name: &str| {
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned())
    };

    let not_utf8 = reqwest::multipart::Form::new().part("file", file(b"caf\xe9 = 1\n", "x.py"));
    assert_error(app.post_upload(not_utf8).await, 422, "source_not_utf8").await;
    let binary = reqwest::multipart::Form::new().part("file", file(b"\x00\x01ELF", "x.py"));
    assert_error(app.post_upload(binary).await, 422, "source_binary").await;
    let no_file = reqwest::multipart::Form::new().text("language", "python");
    assert_error(app.post_upload(no_file).await, 400, "missing_file").await;
    let unknown = reqwest::multipart::Form::new()
        .part("file", file(b"x = 1\n", "x.py"))
        .text("colour", "red");
    assert_error(app.post_upload(unknown).await, 400, "unknown_field").await;
    let two = reqwest::multipart::Form::new()
        .part("file", file(b"x = 1\n", "x.py"))
        .part("file", file(b"y = 1\n", "y.py"));
    assert_error(app.post_upload(two).await, 400, "duplicate_source").await;
    let undetectable = reqwest::multipart::Form::new().part("file", file(b"x = 1\n", "README"));
    assert_error(
        app.post_upload(undetectable).await,
        422,
        "language_required",
    )
    .await;
    assert_eq!(task_count(&app).await, 0);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn bad_ids_routes_and_methods(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let app = spawn_app(pool_options, connect).await;
    for path in ["/api/tasks/not-a-uuid", "/api/tasks/1234/download"] {
        assert_error(app.get(path).await, 400, "invalid_task_id").await;
    }
    assert_error(app.delete("/api/tasks/%00").await, 400, "invalid_task_id").await;
    let unknown = uuid::Uuid::new_v4();
    assert_error(
        app.get(&format!("/api/tasks/{unknown}")).await,
        404,
        "task_not_found",
    )
    .await;
    assert_error(
        app.delete(&format!("/api/tasks/{unknown}")).await,
        404,
        "task_not_found",
    )
    .await;
    assert_error(
        app.get(&format!("/api/tasks/{unknown}/download")).await,
        404,
        "task_not_found",
    )
    .await;
    assert_error(app.get("/api/nothing-here").await, 404, "not_found").await;
    let put = app
        .client
        .put(app.url("/api/tasks"))
        .send()
        .await
        .expect("sent");
    assert_error(put, 405, "method_not_allowed").await;
    let post = app
        .client
        .post(app.url("/api/languages"))
        .send()
        .await
        .expect("sent");
    assert_error(post, 405, "method_not_allowed").await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn hostile_framing_is_refused_in_the_error_shape(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut settings = test_settings(&unique_prefix());
    settings.server.body_timeout_secs = 1;
    let app = spawn_app_with(pool_options, connect, settings).await;
    let wait = std::time::Duration::from_secs(5);

    // An id that is not even UTF-8: JSON, like every other bad id.
    assert_error(app.get("/api/tasks/%ff").await, 400, "invalid_task_id").await;
    assert_error(
        app.get("/api/tasks/%ff/download").await,
        400,
        "invalid_task_id",
    )
    .await;

    // A huge announced body is refused at once, without waiting for (or asking for) the body.
    let answer = raw_exchange(
        &app,
        b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 10000000000\r\nExpect: 100-continue\r\n\r\n",
        wait,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");

    // A body that stops arriving is answered 408 after the body timeout.
    let answer = raw_exchange(
        &app,
        b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"source\": ",
        wait,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    // Compressed bodies are not inflated: refused, not misread.
    let gzipped = app
        .client
        .post(app.url("/api/tasks"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(vec![0x1f, 0x8b, 0x08, 0x00])
        .send()
        .await
        .expect("sent");
    assert_error(gzipped, 415, "unsupported_media_type").await;

    // A repeated form field is ambiguous: refused rather than silently taking one.
    let twice = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"x = 1\n".to_vec()).file_name("x.py"),
        )
        .text("language", "python")
        .text("language", "go");
    assert_error(app.post_upload(twice).await, 400, "duplicate_field").await;

    // Huge values are not echoed back whole.
    let huge = "q".repeat(100_000);
    let error = assert_error(
        app.post_task(&json!({"source": "x", "language": huge}))
            .await,
        422,
        "unknown_language",
    )
    .await;
    assert!(
        error.to_string().len() < 1_000,
        "{}",
        error.to_string().len()
    );

    for limit in ["-1", "99999999999999999999", "4294967296"] {
        let error = assert_error(
            app.get(&format!("/api/tasks?limit={limit}")).await,
            400,
            "invalid_query",
        )
        .await;
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|message| message.contains("from 1 to 100")),
            "{error}"
        );
    }
    app.stop().await;
}
