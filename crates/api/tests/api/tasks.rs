//! Creating, reading, listing, cancelling and downloading tasks; idempotency and the result cache.

use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use crate::helpers::*;

#[sqlx::test(migrations = false)]
async fn create_answers_202_with_id_position_and_location(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;

    let response = app.post_task(&python_task()).await;
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = json_with_status(response, 202).await;

    let id = body["id"].as_str().expect("an id");
    assert_eq!(body["status"], "queued");
    assert_eq!(body["position"], 1);
    assert_eq!(body["cache_hit"], false);
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/tasks/{id}").as_str())
    );

    let second = json_with_status(
        app.post_task(&json!({"source": python_source(1), "language": "python"}))
            .await,
        202,
    )
    .await;
    assert_eq!(
        second["position"], 2,
        "the queue is first come, first served"
    );

    let stored: (String, String, String, String, String) = sqlx::query_as(
        "select owner_session, status, language, framework, file_name from tasks where id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("the task is in Postgres");
    assert_eq!(stored.1, "queued");
    assert_eq!(
        (stored.2.as_str(), stored.3.as_str(), stored.4.as_str()),
        ("python", "pytest", "calc.py")
    );
    assert_eq!(stored.0.len(), 64, "owned by the session");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_task_reads_back_with_its_source_and_settings(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let body = json!({
        "source": "package calc\n\nfunc Add(a, b int) int { return a + b }\n",
        "filename": "pkg/calc/calc.go",
        "framework": "testify",
    });
    let created = json_with_status(app.post_task(&body).await, 202).await;
    let id = created["id"].as_str().expect("an id");

    let task = app.task(id).await;
    assert_eq!(task["id"], id);
    assert_eq!(task["status"], "queued");
    assert_eq!(task["language"], "go");
    assert_eq!(task["framework"], "testify");
    assert_eq!(task["model"], "offline");
    assert_eq!(task["file_name"], "pkg/calc/calc.go");
    assert_eq!(task["test_file_name"], "calc_test.go");
    assert_eq!(task["source"], body["source"]);
    assert_eq!(task["position"], 1);
    assert_eq!(task["attempts"], 0);
    assert_eq!(task["max_attempts"], 3);
    assert_eq!(task["result"], Value::Null);
    assert_eq!(task["error"], Value::Null);
    assert_eq!(
        task["links"]["download"],
        format!("/api/tasks/{id}/download")
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn the_list_is_newest_first_paginated_and_filtered(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let body = json!({"source": format!("def f{n}():\n    return {n}\n"), "filename": format!("m{n}.py")});
        let created = json_with_status(app.post_task(&body).await, 202).await;
        ids.push(created["id"].as_str().expect("an id").to_owned());
    }
    ids.reverse();

    let first = json_with_status(app.get("/api/tasks?limit=2").await, 200).await;
    let page_ids = |page: &Value| -> Vec<String> {
        page["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|task| task["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(page_ids(&first), ids[..2]);
    assert!(
        first["tasks"][0].get("source").is_none(),
        "listings leave the source out"
    );
    let next = first["next_before"].as_str().expect("another page follows");

    let second = json_with_status(
        app.get(&format!("/api/tasks?limit=2&before={next}")).await,
        200,
    )
    .await;
    assert_eq!(page_ids(&second), ids[2..4]);
    let next = second["next_before"].as_str().expect("a last page follows");
    let last = json_with_status(
        app.get(&format!("/api/tasks?limit=2&before={next}")).await,
        200,
    )
    .await;
    assert_eq!(page_ids(&last), ids[4..]);
    assert!(last.get("next_before").is_none(), "no page after the last");

    let all = json_with_status(app.get("/api/tasks").await, 200).await;
    assert_eq!(page_ids(&all), ids);

    app.delete(&format!("/api/tasks/{}", ids[0])).await;
    let cancelled = json_with_status(app.get("/api/tasks?status=cancelled").await, 200).await;
    assert_eq!(page_ids(&cancelled), ids[..1]);
    let queued = json_with_status(app.get("/api/tasks?status=queued").await, 200).await;
    assert_eq!(page_ids(&queued), ids[1..]);

    for bad in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "before=nope",
        "status=done",
        "colour=red",
    ] {
        assert_error(
            app.get(&format!("/api/tasks?{bad}")).await,
            400,
            if bad.starts_with("before") {
                "invalid_task_id"
            } else {
                "invalid_query"
            },
        )
        .await;
    }
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_queued_task_is_cancelled_at_once(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id");

    let cancelled = json_with_status(app.delete(&format!("/api/tasks/{id}")).await, 200).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["finished_at"].is_string());

    assert_error(
        app.delete(&format!("/api/tasks/{id}")).await,
        409,
        "task_finished",
    )
    .await;
    let task = app.task(id).await;
    assert_eq!(task["status"], "cancelled");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_running_task_is_flagged_and_its_worker_notified(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id");
    start_task(&app.pool, id).await;
    // A pool of its own, as a worker has: a listener keeps its connection.
    let worker_pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*app.pool.connect_options()).clone())
        .await
        .expect("a worker's pool");
    let mut listener = PgListener::connect_with(&worker_pool)
        .await
        .expect("a listener");
    listener
        .listen(store::notify::TASK_CANCEL)
        .await
        .expect("listen");

    let flagged = json_with_status(app.delete(&format!("/api/tasks/{id}")).await, 202).await;
    assert_eq!(flagged["status"], "running", "the worker ends it");
    assert_eq!(flagged["cancel_requested"], true);

    let notification = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
        .await
        .expect("notified within 5 s")
        .expect("a notification");
    assert_eq!(notification.payload(), id);
    drop(listener);
    worker_pool.close().await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn download_gives_the_test_file_once_succeeded(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id");
    let download = format!("/api/tasks/{id}/download");

    assert_error(app.get(&download).await, 409, "task_not_finished").await;

    let code = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n";
    finish_task(&app.pool, id, "test_calc.py", code).await;
    let response = app.get(&download).await;
    assert_eq!(response.status().as_u16(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "text/x-python; charset=utf-8");
    assert!(
        header("content-disposition").starts_with("attachment; filename=\"test_calc.py\""),
        "{}",
        header("content-disposition")
    );
    assert_eq!(response.text().await.expect("a body"), code);

    let task = app.task(id).await;
    assert_eq!(task["status"], "succeeded");
    assert_eq!(task["result"]["code"], code);
    assert_eq!(task["progress"]["percent"], 100);
    assert!(task.get("position").is_none());

    let other = json_with_status(
        app.post_task(&json!({"source": python_source(2), "language": "python"}))
            .await,
        202,
    )
    .await;
    let other_id = other["id"].as_str().expect("an id");
    app.delete(&format!("/api/tasks/{other_id}")).await;
    assert_error(
        app.get(&format!("/api/tasks/{other_id}/download")).await,
        409,
        "no_result",
    )
    .await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_idempotency_key_returns_the_same_task(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let send = |client: reqwest::Client, key: &'static str, body: Value| {
        let url = app.url("/api/tasks");
        async move {
            client
                .post(url)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .expect("request sent")
        }
    };

    let first = json_with_status(
        send(app.client.clone(), "order-1", python_task()).await,
        202,
    )
    .await;
    let again = send(app.client.clone(), "order-1", python_task()).await;
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .and_then(|value| value.to_str().ok()),
        Some("true")
    );
    let again = json_with_status(again, 202).await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["position"], 1);

    let count: i64 = sqlx::query_scalar("select count(*) from tasks")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 1, "a retry must not make a second task");

    let changed = json!({"source": "def sub(a, b):\n    return a - b\n", "filename": "calc.py"});
    assert_error(
        send(app.client.clone(), "order-1", changed).await,
        409,
        "idempotency_key_reused",
    )
    .await;

    // Keys are per session: another user's "order-1" is their own.
    let theirs = json_with_status(send(new_client(), "order-1", python_task()).await, 202).await;
    assert_ne!(theirs["id"], first["id"]);

    let bad = app
        .client
        .post(app.url("/api/tasks"))
        .header("Idempotency-Key", "has spaces")
        .json(&python_task())
        .send()
        .await
        .expect("request sent");
    assert_error(bad, 400, "invalid_idempotency_key").await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn concurrent_retries_with_one_key_make_one_task(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    // A first request makes the session, so the concurrent ones share it.
    json_with_status(app.get("/api/queue").await, 200).await;
    let requests = (0..8).map(|_| {
        app.client
            .post(app.url("/api/tasks"))
            .header("Idempotency-Key", "same")
            .json(&python_task())
            .send()
    });
    let responses = futures::future::join_all(requests).await;
    let mut ids = std::collections::HashSet::new();
    for response in responses {
        let body = json_with_status(response.expect("sent"), 202).await;
        ids.insert(body["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1, "every retry names the same task");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_identical_request_is_answered_from_the_cache(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id");
    let code = "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n";
    finish_task(&app.pool, id, "test_calc.py", code).await;

    // Another user, the same source, file name, language, framework and model: answered at once
    // from the table (the worker that would fill Redis does not exist in this test).
    let other = new_client();
    let hit = json_with_status(app.post_task_as(&other, &python_task()).await, 200).await;
    assert_eq!(hit["cache_hit"], true);
    assert_eq!(hit["status"], "succeeded");
    assert_eq!(hit["result"]["code"], code);
    assert_eq!(hit["result"]["file_name"], "test_calc.py");
    let hit_id = hit["id"].as_str().expect("the hit is a task of its own");
    assert_ne!(hit_id, id);
    let downloaded = other
        .get(app.url(&format!("/api/tasks/{hit_id}/download")))
        .send()
        .await
        .expect("sent");
    assert_eq!(downloaded.text().await.expect("body"), code);

    // That answer filled the Redis cache: with the source rows gone, Redis alone answers.
    let mut redis = redis::Client::open(redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}result:*", app.settings.redis.key_prefix))
        .query_async(&mut redis)
        .await
        .expect("keys");
    assert_eq!(keys.len(), 1, "{keys:?}");
    sqlx::query("delete from tasks")
        .execute(&app.pool)
        .await
        .expect("delete");
    let from_redis =
        json_with_status(app.post_task_as(&new_client(), &python_task()).await, 200).await;
    assert_eq!(from_redis["cache_hit"], true);
    assert_eq!(from_redis["result"]["code"], code);

    // Anything that shapes the result is part of the key: another framework is generated anew.
    let unittest =
        json!({"source": python_task()["source"], "filename": "calc.py", "framework": "unittest"});
    let miss = json_with_status(app.post_task_as(&new_client(), &unittest).await, 202).await;
    assert_eq!(miss["cache_hit"], false);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_session_may_queue_only_so_many_tasks(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut settings = test_settings(&unique_prefix());
    settings.limits.max_queued_per_session = 3;
    settings.limits.retry_after_secs = 7;
    let app = spawn_app_with(pool_options, connect, settings).await;
    for n in 0..3 {
        let body = json!({"source": python_source(n), "language": "python"});
        json_with_status(app.post_task(&body).await, 202).await;
    }
    let refused = app
        .post_task(&json!({"source": python_source(99), "language": "python"}))
        .await;
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("7")
    );
    assert_error(refused, 429, "too_many_queued_tasks").await;

    // Others are not held back by this session.
    json_with_status(app.post_task_as(&new_client(), &python_task()).await, 202).await;

    // A cancelled task frees its place.
    let mine = json_with_status(app.get("/api/tasks?status=queued&limit=1").await, 200).await;
    let id = mine["tasks"][0]["id"].as_str().expect("an id");
    json_with_status(app.delete(&format!("/api/tasks/{id}")).await, 200).await;
    json_with_status(
        app.post_task(&json!({"source": python_source(100), "language": "python"}))
            .await,
        202,
    )
    .await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn concurrent_creates_cannot_overshoot_the_cap(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut settings = test_settings(&unique_prefix());
    settings.limits.max_queued_per_session = 5;
    let app = spawn_app_with(pool_options, connect, settings).await;
    json_with_status(app.get("/api/queue").await, 200).await;
    let requests = (0..12).map(|n| {
        app.client
            .post(app.url("/api/tasks"))
            .json(&json!({"source": python_source(n), "language": "python"}))
            .send()
    });
    let statuses: Vec<u16> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|response| response.expect("sent").status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&status| status == 202).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&status| status == 429).count(),
        7,
        "{statuses:?}"
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_full_queue_answers_503(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let mut settings = test_settings(&unique_prefix());
    settings.limits.max_queue_depth = 2;
    let app = spawn_app_with(pool_options, connect, settings).await;
    json_with_status(
        app.post_task_as(
            &new_client(),
            &json!({"source": python_source(1), "language": "python"}),
        )
        .await,
        202,
    )
    .await;
    json_with_status(
        app.post_task_as(
            &new_client(),
            &json!({"source": python_source(2), "language": "python"}),
        )
        .await,
        202,
    )
    .await;
    let refused = app.post_task_as(&new_client(), &python_task()).await;
    assert!(refused.headers().get("retry-after").is_some());
    assert_error(refused, 503, "queue_full").await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_upload_is_a_task_too(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let app = spawn_app(pool_options, connect).await;
    let source = "public class Account {\n    public int balance() { return 0; }\n}\n";
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(source.as_bytes().to_vec())
                .file_name("src/main/java/Account.java"),
        )
        .text("framework", "junit5-mockito");
    let response = app.post_upload(form).await;
    let created = json_with_status(response, 202).await;
    let task = app.task(created["id"].as_str().expect("id")).await;
    assert_eq!(task["language"], "java", "detected from the upload's name");
    assert_eq!(task["framework"], "junit5-mockito");
    assert_eq!(task["file_name"], "src/main/java/Account.java");
    assert_eq!(task["test_file_name"], "AccountTest.java");
    assert_eq!(task["source"], source);

    // An explicit filename field wins over the upload's own name.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(python_source(1).into_bytes()).file_name("blob.bin"),
        )
        .text("filename", "tools/x.py");
    let response = app.post_upload(form).await;
    let created = json_with_status(response, 202).await;
    let task = app.task(created["id"].as_str().expect("id")).await;
    assert_eq!(task["language"], "python");
    assert_eq!(task["file_name"], "tools/x.py");
    app.stop().await;
}

/// The session cookie an answer sets.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix("aiut_session="))
        .and_then(|value| value.split(';').next())
        .map(str::to_owned)
}

fn no_cookies() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("a client")
}

#[sqlx::test(migrations = false)]
async fn a_retried_create_finds_the_task_its_first_attempt_made(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    // The gateway retries a create on another replica when the first one died before answering:
    // same body, same token, and a caller without a cookie, whose first attempt made a session.
    let token = uuid::Uuid::new_v4().to_string();
    let attempt = |route: &'static str, body: Value| {
        let url = app.url(route);
        let token = token.clone();
        async move {
            no_cookies()
                .post(url)
                .header("x-aiut-create-token", token)
                .json(&body)
                .send()
                .await
                .expect("request sent")
        }
    };
    let first = attempt("/api/tasks", python_task()).await;
    let first_session = session_cookie(&first).expect("a new session");
    let first = json_with_status(first, 202).await;

    let retry = attempt("/api/tasks", python_task()).await;
    assert_eq!(
        session_cookie(&retry).as_deref(),
        Some(first_session.as_str()),
        "the retry hands over the session that owns the task"
    );
    assert!(
        retry.headers().get("idempotent-replayed").is_none(),
        "the caller sent one request: its answer is not a replay"
    );
    let retry = json_with_status(retry, 202).await;
    assert_eq!(retry["id"], first["id"]);
    assert_eq!(retry["position"], 1);

    let tasks: i64 = sqlx::query_scalar("select count(*) from tasks")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(tasks, 1, "a retried create must not make a second task");

    // The handed-over session reads its task.
    let owner = no_cookies()
        .get(app.url(&format!("/api/tasks/{}", first["id"].as_str().expect("id"))))
        .header("cookie", format!("aiut_session={first_session}"))
        .send()
        .await
        .expect("request sent");
    let owner = json_with_status(owner, 200).await;
    assert_eq!(owner["id"], first["id"]);

    // Another known session never gets a task through a token.
    json_with_status(app.get("/api/queue").await, 200).await;
    let foreign = app
        .client
        .post(app.url("/api/tasks"))
        .header("x-aiut-create-token", token.as_str())
        .json(&python_task())
        .send()
        .await
        .expect("request sent");
    assert_error(foreign, 409, "idempotency_key_reused").await;

    // The original tool's blocking route resumes the same way (it then waits for the task).
    let compat_token = uuid::Uuid::new_v4().to_string();
    let compat_body = json!({"code": python_source("compat"), "language": "python"});
    let compat = |token: String, body: Value| {
        let url = app.url("/api/generate-test-stream");
        async move {
            no_cookies()
                .post(url)
                .header("x-aiut-create-token", token)
                .json(&body)
                .send()
                .await
                .expect("request sent")
        }
    };
    let compat_first = compat(compat_token.clone(), compat_body.clone()).await;
    assert_eq!(compat_first.status(), 200);
    let compat_session = session_cookie(&compat_first).expect("a new session");
    drop(compat_first);
    let compat_retry = compat(compat_token.clone(), compat_body).await;
    assert_eq!(compat_retry.status(), 200);
    assert_eq!(session_cookie(&compat_retry), Some(compat_session));
    drop(compat_retry);
    let made: i64 = sqlx::query_scalar("select count(*) from tasks where create_token = $1")
        .bind(&compat_token)
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(made, 1);

    let resumed = app.get("/metrics").await.text().await.expect("the metrics");
    assert!(
        resumed.contains("aiut_tasks_created_total{outcome=\"resumed\"} 2"),
        "{resumed}"
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn overlapping_attempts_of_one_create_make_one_task(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let token = uuid::Uuid::new_v4().to_string();
    let client = no_cookies();
    let attempts = (0..6).map(|_| {
        client
            .post(app.url("/api/tasks"))
            .header("x-aiut-create-token", token.as_str())
            .json(&python_task())
            .send()
    });
    let mut ids = std::collections::HashSet::new();
    for response in futures::future::join_all(attempts).await {
        let body = json_with_status(response.expect("sent"), 202).await;
        ids.insert(body["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1, "every attempt names the same task");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn one_client_cannot_fill_the_queue_with_new_sessions(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut settings = test_settings(&unique_prefix());
    settings.limits.max_queued_per_client = 2;
    let app = spawn_app_with(pool_options, connect, settings).await;
    let create = |client_key: &'static str, n: u32| {
        let url = app.url("/api/tasks");
        async move {
            // Without a cookie: every request is a new session, so only the client cap holds.
            no_cookies()
                .post(url)
                .header("x-aiut-client", client_key)
                .json(&json!({"source": python_source(n), "filename": "calc.py"}))
                .send()
                .await
                .expect("request sent")
        }
    };
    json_with_status(create("2001:db8:7:1::/64", 1).await, 202).await;
    json_with_status(create("2001:db8:7:1::/64", 2).await, 202).await;
    let refused = assert_error(
        create("2001:db8:7:1::/64", 3).await,
        429,
        "too_many_queued_tasks",
    )
    .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("your address")),
        "{refused}"
    );
    // Another client is not held back by it; nor is a request no front door named.
    json_with_status(create("203.0.113.9", 4).await, 202).await;
    json_with_status(
        no_cookies()
            .post(app.url("/api/tasks"))
            .json(&json!({"source": python_source(5), "filename": "calc.py"}))
            .send()
            .await
            .expect("request sent"),
        202,
    )
    .await;
    // A value of the wrong shape names no client.
    json_with_status(create("not an address", 6).await, 202).await;
    app.stop().await;
}
