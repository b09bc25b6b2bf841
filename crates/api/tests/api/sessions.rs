//! Anonymous sessions: the cookie, isolation between sessions, sharing across replicas.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;

fn set_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[sqlx::test(migrations = false)]
async fn the_first_request_gets_a_safe_cookie_kept_in_redis(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let response = app.post_task(&python_task()).await;
    let cookie = set_cookie(&response);
    assert!(cookie.starts_with("aiut_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    let id = cookie
        .trim_start_matches("aiut_session=")
        .split(';')
        .next()
        .expect("a value")
        .to_owned();

    let mut redis = redis::Client::open(redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{}session:{id}", app.settings.redis.key_prefix))
        .query_async(&mut redis)
        .await
        .expect("ttl");
    assert!((86_000..=86_400).contains(&ttl), "a 24 h TTL, got {ttl}");

    // Over TLS (as the gateway reports it) the cookie is Secure.
    let tls = new_client()
        .get(app.url("/api/queue"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("sent");
    assert!(
        set_cookie(&tls).contains("; Secure"),
        "{}",
        set_cookie(&tls)
    );
    // ... and `__Host-` prefixed, which browsers accept only Secure, for Path=/, without Domain.
    let secure_cookie = set_cookie(&tls);
    assert!(
        secure_cookie.starts_with("__Host-aiut_session=") && secure_cookie.contains("; Path=/"),
        "{secure_cookie}"
    );
    assert!(!secure_cookie.contains("Domain"), "{secure_cookie}");
    let secure_id = secure_cookie
        .trim_start_matches("__Host-aiut_session=")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    // The prefixed cookie names the session over TLS; a plain one from before is read too, once.
    for cookie in [
        format!("__Host-aiut_session={secure_id}"),
        format!("aiut_session={secure_id}"),
    ] {
        let again = new_client()
            .get(app.url("/api/queue"))
            .header("x-forwarded-proto", "https")
            .header("cookie", &cookie)
            .send()
            .await
            .expect("sent");
        assert!(
            set_cookie(&again).starts_with(&format!("__Host-aiut_session={secure_id};")),
            "{cookie}: {}",
            set_cookie(&again)
        );
    }

    // Routes that need no session make none.
    let languages = new_client()
        .get(app.url("/api/languages"))
        .send()
        .await
        .expect("sent");
    assert!(languages.headers().get("set-cookie").is_none());
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn sessions_do_not_see_each_others_tasks(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id");

    let stranger = new_client();
    for path in [
        format!("/api/tasks/{id}"),
        format!("/api/tasks/{id}/download"),
    ] {
        let response = stranger.get(app.url(&path)).send().await.expect("sent");
        assert_error(response, 404, "task_not_found").await;
    }
    let cancel = stranger
        .delete(app.url(&format!("/api/tasks/{id}")))
        .send()
        .await
        .expect("sent");
    assert_error(cancel, 404, "task_not_found").await;
    let list = stranger
        .get(app.url("/api/tasks"))
        .send()
        .await
        .expect("sent");
    let list = json_with_status(list, 200).await;
    assert_eq!(list["tasks"].as_array().map(Vec::len), Some(0));

    let mine = app.task(id).await;
    assert_eq!(
        mine["status"], "queued",
        "the stranger's cancel changed nothing"
    );

    // A forged or unknown cookie is not a way in: it is replaced by a new, empty session.
    let forger = reqwest::Client::new();
    let forged = forger
        .get(app.url(&format!("/api/tasks/{id}")))
        .header("cookie", format!("aiut_session={}", "ab".repeat(32)))
        .send()
        .await
        .expect("sent");
    let replacement = set_cookie(&forged);
    assert!(!replacement.contains(&"ab".repeat(32)), "{replacement}");
    assert_error(forged, 404, "task_not_found").await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_stale_cookie_beside_the_real_one_keeps_the_session(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let response = app.post_task(&python_task()).await;
    let cookie = set_cookie(&response);
    let value = cookie
        .trim_start_matches("aiut_session=")
        .split(';')
        .next()
        .expect("a value")
        .to_owned();
    let created = json_with_status(response, 202).await;
    let id = created["id"].as_str().expect("an id");

    let both = reqwest::Client::new()
        .get(app.url(&format!("/api/tasks/{id}")))
        .header(
            "cookie",
            format!("aiut_session=stale; aiut_session={value}"),
        )
        .send()
        .await
        .expect("sent");
    assert!(
        set_cookie(&both).contains(&value),
        "the same session goes on"
    );
    json_with_status(both, 200).await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn three_replicas_share_sessions_and_tasks(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let prefix = unique_prefix();
    let pool = pool_options.connect_with(connect).await.expect("connect");
    let mut replicas = Vec::new();
    for n in 0..3 {
        let mut settings = test_settings(&prefix);
        settings.server.instance_id = Some(format!("api-{n}"));
        replicas.push(spawn_on_pool(pool.clone(), settings).await);
    }

    // One browser, one cookie jar, talking to each replica in turn (as through the gateway).
    let browser = new_client();
    let created = replicas[0].post_task_as(&browser, &python_task()).await;
    assert_eq!(
        created
            .headers()
            .get("x-backend-instance")
            .and_then(|value| value.to_str().ok()),
        Some("api-0")
    );
    let created = json_with_status(created, 202).await;
    let id = created["id"].as_str().expect("an id");

    for (n, replica) in replicas.iter().enumerate() {
        let response = browser
            .get(replica.url(&format!("/api/tasks/{id}")))
            .send()
            .await
            .expect("sent");
        let instance = response
            .headers()
            .get("x-backend-instance")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        assert_eq!(instance.as_deref(), Some(format!("api-{n}").as_str()));
        let task = json_with_status(response, 200).await;
        assert_eq!(task["id"], id, "replica {n} knows the session");
    }
    let cancelled = browser
        .delete(replicas[2].url(&format!("/api/tasks/{id}")))
        .send()
        .await
        .expect("sent");
    json_with_status(cancelled, 200).await;
    let list = browser
        .get(replicas[1].url("/api/tasks"))
        .send()
        .await
        .expect("sent");
    let list = json_with_status(list, 200).await;
    assert_eq!(list["tasks"][0]["status"], "cancelled");

    for replica in replicas {
        replica.stop().await;
    }
}

#[sqlx::test(migrations = false)]
async fn three_replicas_migrating_at_once_agree(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = pool_options.connect_with(connect).await.expect("connect");
    let prefix = unique_prefix();
    let (a, b, c) = tokio::join!(
        spawn_on_pool(pool.clone(), test_settings(&prefix)),
        spawn_on_pool(pool.clone(), test_settings(&prefix)),
        spawn_on_pool(pool.clone(), test_settings(&prefix)),
    );
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&pool)
        .await
        .expect("the migrations table");
    assert_eq!(
        applied as usize,
        store::db::MIGRATOR.iter().count(),
        "each migration applied once"
    );
    for app in [&a, &b, &c] {
        json_with_status(app.post_task_as(&new_client(), &python_task()).await, 202).await;
    }
    for app in [a, b, c] {
        app.stop().await;
    }
}

#[sqlx::test(migrations = false)]
async fn without_redis_the_api_still_takes_tasks(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut settings = test_settings(&unique_prefix());
    // Nothing listens on port 1: Redis is "down".
    settings.redis.url = "redis://127.0.0.1:1".into();
    let app = spawn_app_with(pool_options, connect, settings).await;

    let ready = app.get("/readyz").await;
    let ready = json_with_status(ready, 503).await;
    assert_eq!(ready["down"], serde_json::json!(["redis"]));
    assert!(
        ready["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("redis"),
        "{ready}"
    );

    // Sessions cannot be recorded, but tasks are taken and found again with the same cookie.
    let created = json_with_status(app.post_task(&python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id");
    let task = app.task(id).await;
    assert_eq!(task["status"], "queued");
    app.stop().await;
}

async fn ready_status(app: &TestApp) -> u16 {
    app.get("/readyz").await.status().as_u16()
}

/// The session id in the cookie a response sets, if it sets one.
fn session_in(response: &reqwest::Response) -> Option<String> {
    let cookie = set_cookie(response);
    let value = cookie.strip_prefix("aiut_session=")?.split(';').next()?;
    Some(value.to_owned())
}

/// The ids the session's task list shows.
async fn listed(app: &TestApp, client: &reqwest::Client) -> Vec<String> {
    let list = client
        .get(app.url("/api/tasks"))
        .send()
        .await
        .expect("sent");
    let list = json_with_status(list, 200).await;
    list["tasks"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|task| task["id"].as_str().map(str::to_owned))
        .collect()
}

/// Reads a task as `client`, and checks that the answer keeps the session the cookie names.
async fn read_as(app: &TestApp, client: &reqwest::Client, session: &str, id: &str) {
    let response = client
        .get(app.url(&format!("/api/tasks/{id}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        session_in(&response).as_deref(),
        Some(session),
        "the same session goes on"
    );
    let task = json_with_status(response, 200).await;
    assert_eq!(task["id"], id);
}

async fn session_ttl(redis: &PrivateRedis, prefix: &str, session: &str) -> i64 {
    let mut connection = redis::Client::open(redis.url())
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("the private Redis answers");
    redis::cmd("TTL")
        .arg(format!("{prefix}session:{session}"))
        .query_async(&mut connection)
        .await
        .expect("TTL")
}

#[sqlx::test(migrations = false)]
async fn the_api_recovers_by_itself_when_redis_restarts(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let redis = PrivateRedis::start().await;
    let prefix = unique_prefix();
    let mut settings = test_settings(&prefix);
    settings.redis.url = redis.url();
    let app = spawn_app_with(pool_options, connect, settings).await;
    assert_eq!(ready_status(&app).await, 200);
    let response = app.post_task(&python_task()).await;
    let session = session_in(&response).expect("a session");
    let before = json_with_status(response, 202).await;
    let before = before["id"].as_str().expect("an id").to_owned();

    let port = redis.port;
    drop(redis);
    assert_eq!(ready_status(&app).await, 503, "Redis is gone");
    // Tasks are still taken while Redis is down: Postgres holds them, and the cookie is trusted.
    let during = json_with_status(
        app.post_task(&serde_json::json!({"source": python_source(1), "language": "python"}))
            .await,
        202,
    )
    .await;
    let during = during["id"].as_str().expect("an id").to_owned();

    let redis = PrivateRedis::start_on(port).await;
    let mut recovered = false;
    for _ in 0..100 {
        if ready_status(&app).await == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "ready again within 10 s of Redis coming back");

    // The restarted Redis is empty, but the session owns recent tasks in Postgres: it is
    // recognised, recorded again with its TTL, and keeps all its tasks.
    read_as(&app, &app.client, &session, &before).await;
    let ttl = session_ttl(&redis, &prefix, &session).await;
    assert!(
        (86_000..=86_400).contains(&ttl),
        "recorded again for 24 h, got {ttl}"
    );
    assert_eq!(
        listed(&app, &app.client).await,
        [during.clone(), before.clone()]
    );

    // A flush forgets it again, and again its tasks bring it back.
    redis.flush_all().await;
    read_as(&app, &app.client, &session, &during).await;
    assert_eq!(
        listed(&app, &app.client).await,
        [during.clone(), before.clone()]
    );

    let fresh = new_client();
    let created = json_with_status(app.post_task_as(&fresh, &python_task()).await, 202).await;
    let id = created["id"].as_str().expect("an id");
    let mine = fresh
        .get(app.url(&format!("/api/tasks/{id}")))
        .send()
        .await
        .expect("sent");
    json_with_status(mine, 200).await;
    let stored: i64 = sqlx::query_scalar("select count(*) from tasks")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(stored, 3, "no task lost across the Redis restart");
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("aiut_sessions_restored_total 2"),
        "restored after the restart and after the flush"
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_forgotten_session_comes_back_only_while_its_tasks_are_recent(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let redis = PrivateRedis::start().await;
    let mut settings = test_settings(&unique_prefix());
    settings.redis.url = redis.url();
    let app = spawn_app_with(pool_options, connect, settings).await;
    let response = app.post_task(&python_task()).await;
    let session = session_in(&response).expect("a session");
    let created = json_with_status(response, 202).await;
    let id = created["id"].as_str().expect("an id").to_owned();

    // Its last task went quiet longer ago than the session's TTL: the session expired with it.
    sqlx::query("update tasks set updated_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .expect("age the task");
    redis.flush_all().await;
    let response = app
        .client
        .get(app.url(&format!("/api/tasks/{id}")))
        .send()
        .await
        .expect("sent");
    let replacement = session_in(&response).expect("a session");
    assert_ne!(replacement, session, "an expired session is replaced");
    assert_error(response, 404, "task_not_found").await;

    // A well-formed cookie that owns no task is replaced, as it always was.
    let unknown = "cd".repeat(32);
    let response = reqwest::Client::new()
        .get(app.url("/api/tasks"))
        .header("cookie", format!("aiut_session={unknown}"))
        .send()
        .await
        .expect("sent");
    assert_ne!(session_in(&response).as_deref(), Some(unknown.as_str()));
    let restored = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        restored.contains("aiut_sessions_restored_total 0"),
        "neither was restored"
    );
    app.stop().await;
}
