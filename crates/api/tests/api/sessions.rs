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

/// A private Redis server on a free loopback port, stopped when dropped.
struct PrivateRedis {
    port: u16,
    child: std::process::Child,
}

impl PrivateRedis {
    fn start_on(port: u16) -> PrivateRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed for this test (Debian package redis-server)");
        PrivateRedis { port, child }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn wait_until_up(&self) {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "the private redis-server did not start on port {}",
            self.port
        );
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn ready_status(app: &TestApp) -> u16 {
    app.get("/readyz").await.status().as_u16()
}

#[sqlx::test(migrations = false)]
async fn the_api_recovers_by_itself_when_redis_restarts(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let redis = PrivateRedis::start_on(port);
    redis.wait_until_up().await;
    let mut settings = test_settings(&unique_prefix());
    settings.redis.url = redis.url();
    let app = spawn_app_with(pool_options, connect, settings).await;
    assert_eq!(ready_status(&app).await, 200);
    let before = json_with_status(app.post_task(&python_task()).await, 202).await;

    drop(redis);
    assert_eq!(ready_status(&app).await, 503, "Redis is gone");
    // Tasks are still taken while Redis is down: Postgres holds them.
    json_with_status(
        app.post_task(&serde_json::json!({"source": python_source(1), "language": "python"}))
            .await,
        202,
    )
    .await;

    let redis = PrivateRedis::start_on(port);
    redis.wait_until_up().await;
    let mut recovered = false;
    for _ in 0..100 {
        if ready_status(&app).await == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "ready again within 10 s of Redis coming back");

    // The restarted Redis is empty: the old session record is gone, so a new session starts. The
    // tasks themselves were never in Redis and are all still in Postgres.
    let stranger_view = app
        .get(&format!(
            "/api/tasks/{}",
            before["id"].as_str().expect("id")
        ))
        .await;
    assert_error(stranger_view, 404, "task_not_found").await;
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
    drop(redis);
    app.stop().await;
}
