//! Health, readiness, metrics, request ids, and the original tool's routes.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;

#[sqlx::test(migrations = false)]
async fn health_and_readiness(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let app = spawn_app(pool_options, connect).await;
    let alive = json_with_status(app.get("/healthz").await, 200).await;
    assert_eq!(alive["status"], "ok");
    let ready = json_with_status(app.get("/readyz").await, 200).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["postgres"]["ok"], true);
    assert_eq!(ready["checks"]["redis"]["ok"], true);

    // The original's health answer, with our additions beside its fields.
    let health = json_with_status(app.get("/api/health").await, 200).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["instance"], app.instance_id.as_str());

    // Postgres gone: not ready, and saying so.
    app.pool.close().await;
    let down = json_with_status(app.get("/readyz").await, 503).await;
    assert_eq!(down["down"], serde_json::json!(["postgres"]));
    assert_eq!(down["error"]["code"], "not_ready");
    let refused = app.post_task(&python_task()).await;
    assert_error(refused, 503, "database_unavailable").await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn languages_keep_the_original_field_and_add_details(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let body = json_with_status(app.get("/api/languages").await, 200).await;
    assert_eq!(
        body["languages"],
        serde_json::json!([
            "python",
            "java",
            "go",
            "cpp",
            "csharp",
            "rust",
            "javascript",
            "typescript"
        ])
    );
    let details = body["details"].as_array().expect("details");
    assert_eq!(details.len(), 8);
    let java = details
        .iter()
        .find(|detail| detail["id"] == "java")
        .expect("java");
    assert_eq!(java["default_framework"], "junit5");
    assert_eq!(java["test_file_example"], "ExampleTest.java");
    assert_eq!(java["frameworks"][1]["id"], "junit5-mockito");
    let typescript = details
        .iter()
        .find(|detail| detail["id"] == "typescript")
        .expect("ts");
    assert!(
        typescript["extensions"]
            .as_array()
            .is_some_and(|list| list.contains(&"tsx".into()))
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn the_queue_shows_totals_and_my_place(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    // The capacity is what the live workers announce; an expired announcement counts for nothing.
    for (id, capacity, ttl_secs) in [("w-1", 8, 60), ("w-2", 4, 60), ("w-dead", 100, 0)] {
        let models = vec!["offline".to_owned()];
        store::workers::announce(
            &app.pool,
            &store::workers::Announcement {
                id,
                capacity,
                models: &models,
                ttl: std::time::Duration::from_secs(ttl_secs),
            },
        )
        .await
        .expect("announced");
    }
    let other = new_client();
    json_with_status(
        app.post_task_as(
            &other,
            &serde_json::json!({"source": python_source(1), "language": "python"}),
        )
        .await,
        202,
    )
    .await;
    let running = json_with_status(
        app.post_task_as(
            &other,
            &serde_json::json!({"source": python_source(2), "language": "python"}),
        )
        .await,
        202,
    )
    .await;
    start_task(&app.pool, running["id"].as_str().expect("id")).await;
    json_with_status(app.post_task(&python_task()).await, 202).await;

    let queue = json_with_status(app.get("/api/queue").await, 200).await;
    assert_eq!(queue["queued"], 2);
    assert_eq!(queue["running"], 1);
    assert_eq!(queue["capacity"], 12);
    assert_eq!(queue["yours"]["queued"], 1);
    assert_eq!(queue["yours"]["running"], 0);
    assert_eq!(
        queue["yours"]["position"], 2,
        "behind the other user's older task"
    );
    assert_eq!(queue["yours"]["max_queued"], 20);
    assert_eq!(queue["yours"]["max_running"], 3);

    // The original's queue status, with only my own tasks in the details.
    let status = json_with_status(app.get("/api/queue/status").await, 200).await;
    assert_eq!(status["pending_tasks"], 2);
    assert_eq!(status["running_tasks"], 1);
    assert_eq!(status["ai_tasks_running"], 1);
    assert_eq!(status["active_streams"], 1);
    assert_eq!(status["max_concurrent"], 12);
    for field in ["total_completed", "total_failed", "avg_duration"] {
        assert!(status["stats"][field].is_number(), "{field}: {status}");
    }
    let details = status["stream_details"].as_array().expect("details");
    assert_eq!(details.len(), 1, "only my own task: {status}");
    let label = details[0]["user_id"].as_str().expect("a label");
    assert!(
        label.starts_with("s-") && label.len() < 16,
        "a label, never the session id: {label}"
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn request_ids_are_kept_or_made_and_the_replica_named(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let given = app
        .client
        .get(app.url("/api/languages"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        header(&given, "x-request-id").as_deref(),
        Some("trace-me-123")
    );
    assert_eq!(
        header(&given, "x-backend-instance").as_deref(),
        Some(app.instance_id.as_str())
    );

    let made = app.get("/api/nothing").await;
    let made_id = header(&made, "x-request-id").expect("an id is made");
    assert!(uuid::Uuid::parse_str(&made_id).is_ok(), "{made_id}");
    assert!(
        header(&made, "x-backend-instance").is_some(),
        "even on errors"
    );

    let unsafe_id = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .expect("sent");
    assert_ne!(
        header(&unsafe_id, "x-request-id"),
        Some("x".repeat(500)),
        "overlong ids are replaced"
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn metrics_count_requests_by_route_and_status(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    json_with_status(app.post_task(&python_task()).await, 202).await;
    app.get("/api/tasks/not-a-uuid").await;
    let id = uuid::Uuid::new_v4();
    app.get(&format!("/api/tasks/{id}")).await;

    let response = app.get("/metrics").await;
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/openmetrics-text"))
    );
    let text = response.text().await.expect("a body");
    for expected in [
        r#"aiut_http_requests_total{method="POST",route="/api/tasks",status="202"} 1"#,
        r#"aiut_http_requests_total{method="GET",route="/api/tasks/{id}",status="400"} 1"#,
        r#"aiut_http_requests_total{method="GET",route="/api/tasks/{id}",status="404"} 1"#,
        r#"aiut_http_request_duration_seconds_count{method="POST",route="/api/tasks"} 1"#,
        r#"aiut_tasks_created_total{outcome="queued"} 1"#,
        "# TYPE aiut_http_requests_in_flight gauge",
        "# EOF",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert!(
        !text.contains(&id.to_string()),
        "raw paths must not become labels"
    );
    app.stop().await;
}
