//! The admin login: the password from the settings (as `AIUT_ADMIN_PASSWORD` gives it), the
//! admin cookie apart from the anonymous one, the growing delay after failures, idle expiry, CSRF,
//! logout and the audit log; the password in no answer and no log line.

use std::process::{Command, Stdio};
use std::time::Duration;

use api::{AdminPassword, Settings};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::binary::{Running, api_command, drop_database, first_readiness_answer, free_port};
use crate::helpers::*;

const PASSWORD: &str = "Tr0ub4dor-and-some-more-words";

fn admin_settings() -> Settings {
    let mut settings = test_settings(&unique_prefix());
    settings.admin_password = AdminPassword::new(PASSWORD);
    settings
}

async fn login_as(
    app: &TestApp,
    client: &reqwest::Client,
    password: &str,
    client_address: Option<&str>,
) -> reqwest::Response {
    let mut request = client
        .post(app.url("/api/admin/login"))
        .json(&json!({"password": password}));
    if let Some(address) = client_address {
        request = request.header("x-aiut-client", address);
    }
    request.send().await.expect("request sent")
}

async fn login(app: &TestApp, client: &reqwest::Client) -> Value {
    json_with_status(login_as(app, client, PASSWORD, None).await, 200).await
}

fn set_cookie(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::to_owned)
        .collect()
}

/// The audit log as the admin reads it, through `client`'s session.
async fn audit_log(app: &TestApp, client: &reqwest::Client) -> Vec<Value> {
    let response = client
        .get(app.url("/api/admin/audit?limit=100"))
        .send()
        .await
        .expect("request sent");
    let page = json_with_status(response, 200).await;
    page["entries"].as_array().cloned().unwrap_or_default()
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .filter_map(|entry| entry["action"].as_str())
        .collect()
}

#[sqlx::test(migrations = false)]
async fn login_sets_a_strict_cookie_apart_from_the_anonymous_one(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, admin_settings()).await;
    let response = login_as(&app, &app.client, PASSWORD, None).await;
    let cookies = set_cookie(&response);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    assert!(cookie.starts_with("aiut_admin="), "{cookie}");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(cookie.contains(part), "{part} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let body = json_with_status(response, 200).await;
    assert_eq!(body["account"], "admin");
    let csrf = body["csrf_token"].as_str().expect("a CSRF token");
    assert_eq!(csrf.len(), 64);
    assert!(
        !cookie.contains(csrf),
        "the CSRF token is not the session token"
    );
    assert_eq!(body["idle_timeout_secs"], 900);

    let session = json_with_status(app.get("/api/admin/session").await, 200).await;
    assert_eq!(session["account"], "admin");
    assert_eq!(session["csrf_token"], csrf);
    assert_eq!(session["expires_at"], body["expires_at"]);

    // Under TLS, as the anonymous session decides it: `__Host-` and Secure.
    let response = app
        .client
        .post(app.url("/api/admin/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .expect("request sent");
    let cookie = set_cookie(&response).join("\n");
    assert!(cookie.starts_with("__Host-aiut_admin="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");

    // The session token is stored hashed: no row holds the cookie's value.
    let token = cookies[0]
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_owned())
        .expect("a value");
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("select token_hash from admin_sessions")
        .fetch_all(&app.pool)
        .await
        .expect("sessions");
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .all(|hash| hash.len() == 32 && *hash != token.as_bytes())
    );
    let hash: String = sqlx::query_scalar("select password_hash from admin_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("the account");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_wrong_password_is_401_and_audited_with_the_address(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, admin_settings()).await;
    let response = login_as(&app, &app.client, "not the password", None).await;
    assert!(set_cookie(&response).is_empty());
    assert_error(response, 401, "invalid_credentials").await;
    // An unknown account answers the same.
    let response = app
        .client
        .post(app.url("/api/admin/login"))
        .json(&json!({"password": PASSWORD, "account": "root"}))
        .send()
        .await
        .expect("request sent");
    assert_error(response, 401, "invalid_credentials").await;
    // The body must be JSON.
    let response = app
        .client
        .post(app.url("/api/admin/login"))
        .header("content-type", "text/plain")
        .body(PASSWORD)
        .send()
        .await
        .expect("request sent");
    assert_error(response, 415, "unsupported_media_type").await;

    let admin = new_client();
    login_as(&app, &admin, PASSWORD, Some("203.0.113.7")).await;
    let entries = audit_log(&app, &admin).await;
    assert_eq!(
        actions(&entries),
        ["login", "login_failed", "login_failed"],
        "newest first: {entries:?}"
    );
    assert_eq!(entries[0]["client_address"], "203.0.113.7");
    assert_eq!(entries[0]["account"], "admin");
    assert_eq!(entries[1]["account"], "root");
    assert_eq!(
        entries[2]["client_address"], "127.0.0.1",
        "the peer without a front door"
    );
    assert_eq!(entries[2]["detail"]["address_failures"], 1);
    assert_eq!(entries[2]["detail"]["account_failures"], 1);
    assert!(entries[0]["at"].is_string() && entries[0]["id"].is_i64());
    let one = admin
        .get(app.url("/api/admin/audit?limit=1"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(
        json_with_status(one, 200).await["entries"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let bad = admin
        .get(app.url("/api/admin/audit?limit=0"))
        .send()
        .await
        .expect("request sent");
    assert_error(bad, 400, "invalid_query").await;
    app.stop().await;
}

/// Guesses sent all at once are checked one at a time: those that find another being checked are
/// refused at once (429 `login_in_progress`), so no more than the three failures that set the lock
/// are ever checked, however many guesses arrive together.
#[sqlx::test(migrations = false)]
async fn guesses_sent_at_once_are_checked_one_at_a_time(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, admin_settings()).await;
    let guesses = (0..12).map(|n| {
        let client = new_client();
        let url = app.url("/api/admin/login");
        async move {
            client
                .post(url)
                .header("x-aiut-client", "198.51.100.9")
                .json(&json!({"password": format!("guess-{n}")}))
                .send()
                .await
                .expect("request sent")
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|status| **status == 401).count();
    assert!(
        (1..=3).contains(&checked),
        "{checked} guesses were checked: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|status| [401, 429].contains(status)),
        "{statuses:?}"
    );
    let failures: i32 = sqlx::query_scalar(
        "select failures from admin_login_failures where kind = 'address' and key = '198.51.100.9'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("the address's count");
    assert_eq!(usize::try_from(failures).ok(), Some(checked));
    // The refusals say which of the two it was.
    let again = login_as(&app, &app.client, "guess", Some("198.51.100.9")).await;
    if checked == 3 {
        assert_error(again, 429, "too_many_login_failures").await;
    } else {
        assert_error(again, 401, "invalid_credentials").await;
    }
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn repeated_failures_lock_the_address_and_the_account_even_for_the_right_password(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options.clone(), connect.clone(), admin_settings()).await;
    let attacker = Some("198.51.100.1");
    for _ in 0..3 {
        let response = login_as(&app, &app.client, "guess", attacker).await;
        assert_error(response, 401, "invalid_credentials").await;
    }
    // The third failure locked both keys: the right password is refused too.
    let response = login_as(&app, &app.client, PASSWORD, attacker).await;
    let retry_after = retry_after_secs(&response);
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert!(set_cookie(&response).is_empty());
    assert_error(response, 429, "too_many_login_failures").await;
    // The account is locked from any address.
    let response = login_as(&app, &app.client, PASSWORD, Some("192.0.2.50")).await;
    assert_error(response, 429, "too_many_login_failures").await;

    // The lock is in Postgres: another replica on the same database refuses as well.
    let other = spawn_app_with(pool_options, connect, admin_settings()).await;
    let response = login_as(&other, &other.client, PASSWORD, Some("192.0.2.51")).await;
    assert_error(response, 429, "too_many_login_failures").await;
    other.stop().await;

    // Once the account's lock has passed, the attacker's address stays locked while the
    // administrator's own gets in; the next failure from the attacker doubles its delay.
    sqlx::query("update admin_login_failures set locked_until = now() where kind = 'account'")
        .execute(&app.pool)
        .await
        .expect("lock lifted");
    let response = login_as(&app, &app.client, PASSWORD, attacker).await;
    assert_error(response, 429, "too_many_login_failures").await;
    let admin = new_client();
    json_with_status(
        login_as(&app, &admin, PASSWORD, Some("192.0.2.50")).await,
        200,
    )
    .await;
    sqlx::query("update admin_login_failures set locked_until = now()")
        .execute(&app.pool)
        .await
        .expect("lock lifted");
    let response = login_as(&app, &app.client, "guess", attacker).await;
    assert_error(response, 401, "invalid_credentials").await;
    let response = login_as(&app, &app.client, PASSWORD, attacker).await;
    let retry_after = retry_after_secs(&response);
    assert!((31..=60).contains(&retry_after), "doubled: {retry_after}");

    let entries = audit_log(&app, &admin).await;
    let found = actions(&entries);
    assert!(found.contains(&"lockout"), "{found:?}");
    assert!(found.contains(&"login_refused_locked"), "{found:?}");
    let lockout = entries
        .iter()
        .find(|entry| entry["action"] == "lockout")
        .expect("a lockout");
    assert_eq!(lockout["client_address"], "198.51.100.1");
    assert!(lockout["detail"]["locked_for_secs"].is_u64());
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_idle_session_ends(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let mut settings = admin_settings();
    // Three seconds: uses half a second apart keep it alive even when a loaded machine delays a
    // request by a second or two; four seconds without use end it.
    settings.admin.idle_timeout_secs = 3;
    let app = spawn_app_with(pool_options, connect, settings).await;
    login(&app, &app.client).await;
    // Each use keeps it alive, though together they outlast the idle timeout.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        json_with_status(app.get("/api/admin/session").await, 200).await;
    }
    tokio::time::sleep(Duration::from_millis(4000)).await;
    assert_error(
        app.get("/api/admin/session").await,
        401,
        "admin_login_required",
    )
    .await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn writes_need_the_csrf_token_and_logout_ends_the_session(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, admin_settings()).await;
    let body = login(&app, &app.client).await;
    let csrf = body["csrf_token"]
        .as_str()
        .expect("a CSRF token")
        .to_owned();
    let logout = || app.client.post(app.url("/api/admin/logout"));

    let missing = logout().send().await.expect("request sent");
    assert_error(missing, 403, "csrf_token_invalid").await;
    let wrong = logout()
        .header("x-csrf-token", "0".repeat(64))
        .send()
        .await
        .expect("request sent");
    assert_error(wrong, 403, "csrf_token_invalid").await;
    // Still logged in after the refusals.
    json_with_status(app.get("/api/admin/session").await, 200).await;

    let done = logout()
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("request sent");
    assert_eq!(done.status(), 204);
    let cleared = set_cookie(&done).join("\n");
    assert!(
        cleared.starts_with("aiut_admin=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_error(
        app.get("/api/admin/session").await,
        401,
        "admin_login_required",
    )
    .await;
    let rows: i64 = sqlx::query_scalar("select count(*) from admin_sessions")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rows, 0, "the session is deleted, not only its cookie");

    let admin = new_client();
    login(&app, &admin).await;
    let entries = audit_log(&app, &admin).await;
    assert_eq!(actions(&entries), ["login", "logout", "login"]);
    assert_eq!(entries[1]["account"], "admin");
    assert_eq!(entries[1]["client_address"], "127.0.0.1");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn anonymous_callers_and_the_anonymous_cookie_are_refused(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, admin_settings()).await;
    let routes = [
        ("GET", "/api/admin/session"),
        ("GET", "/api/admin/audit"),
        ("POST", "/api/admin/logout"),
    ];
    let anonymous = new_client();
    for (method, path) in routes {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let response = anonymous
            .request(method, app.url(path))
            .send()
            .await
            .expect("request sent");
        assert!(set_cookie(&response).is_empty(), "{path} made a session");
        assert_error(response, 401, "admin_login_required").await;
    }

    // A client with an anonymous session (made by the task routes) is no admin.
    let listed = app.get("/api/tasks").await;
    let anonymous_cookie = set_cookie(&listed).join("\n");
    assert!(
        anonymous_cookie.starts_with("aiut_session="),
        "{anonymous_cookie}"
    );
    let value = anonymous_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_owned())
        .expect("a value");
    for (method, path) in routes {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("request sent");
        assert_error(response, 401, "admin_login_required").await;
        // Nor is its value under the admin cookie's name.
        let response = new_client()
            .request(method, app.url(path))
            .header("cookie", format!("aiut_admin={value}"))
            .send()
            .await
            .expect("request sent");
        assert_error(response, 401, "admin_login_required").await;
    }
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn without_a_password_the_admin_routes_say_how_to_set_one(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app(pool_options, connect).await;
    let response = login_as(&app, &app.client, "anything", None).await;
    let body = assert_error(response, 503, "admin_not_configured").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("AIUT_ADMIN_PASSWORD")),
        "{body}"
    );
    assert_error(
        app.get("/api/admin/session").await,
        503,
        "admin_not_configured",
    )
    .await;
    let accounts: i64 = sqlx::query_scalar("select count(*) from admin_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(accounts, 0, "no built-in default");
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_new_password_at_start_replaces_the_old_and_ends_its_sessions(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options.clone(), connect.clone(), admin_settings()).await;
    login(&app, &app.client).await;
    let hash: String = sqlx::query_scalar("select password_hash from admin_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("the account");
    // The same password at a restart keeps the hash and the session.
    let same = spawn_app_with(pool_options.clone(), connect.clone(), admin_settings()).await;
    let kept: String = sqlx::query_scalar("select password_hash from admin_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("the account");
    assert_eq!(kept, hash);
    json_with_status(app.get("/api/admin/session").await, 200).await;
    same.stop().await;

    let mut settings = admin_settings();
    settings.admin_password = AdminPassword::new("a-wholly-different-password");
    let changed = spawn_app_with(pool_options, connect, settings).await;
    assert_error(
        app.get("/api/admin/session").await,
        401,
        "admin_login_required",
    )
    .await;
    let response = login_as(&changed, &changed.client, PASSWORD, None).await;
    assert_error(response, 401, "invalid_credentials").await;
    let response = login_as(
        &changed,
        &changed.client,
        "a-wholly-different-password",
        None,
    )
    .await;
    json_with_status(response, 200).await;
    changed.stop().await;
    app.stop().await;
}

/// An answer's headers and body, as text.
async fn keep(response: reqwest::Response) -> String {
    let headers = format!("{:?}", response.headers());
    let body = response.text().await.expect("a body");
    format!("{headers}\n{body}")
}

/// The binary as an operator runs it, with the password in `AIUT_ADMIN_PASSWORD` and every log
/// line (down to `trace`) captured from its output.
#[tokio::test]
async fn the_password_is_in_no_answer_and_no_log_line() {
    let database = format!("aiut_admin_{}", uuid::Uuid::new_v4().simple());
    let port = free_port();
    let log = std::env::temp_dir().join(format!("{database}.log"));
    let child = api_command(&database, port)
        .env("AIUT_LOG__ACCESS", "info")
        .env("AIUT_LOG__ROUTINE_SAMPLE_EVERY", "1")
        .env("RUST_LOG", "trace,h2=info,hyper=info,rustls=info")
        .env(AdminPassword::VARIABLE, PASSWORD)
        .stdout(Stdio::from(
            std::fs::File::create(&log).expect("a log file"),
        ))
        .stderr(Stdio::from(
            std::fs::File::options()
                .append(true)
                .open(&log)
                .expect("the log file"),
        ))
        .spawn()
        .expect("the aiut-api binary starts");
    let mut running = Running(child);
    let base = format!("http://127.0.0.1:{port}");
    let url = |path: &str| format!("{base}{path}");
    let anonymous = new_client();
    first_readiness_answer(&anonymous, &base).await;

    let login = |client: &reqwest::Client, password: &str| {
        client
            .post(url("/api/admin/login"))
            .json(&json!({"password": password}))
            .send()
    };
    let admin = new_client();
    let mut answers = Vec::new();
    // Every route, wrong and right passwords, a malformed body, the lockout.
    for password in ["wrong-1", PASSWORD, "wrong-2"] {
        answers.push(keep(login(&admin, password).await.expect("sent")).await);
    }
    let malformed = admin
        .post(url("/api/admin/login"))
        .header("content-type", "application/json")
        .body(format!("{{\"password\": \"{PASSWORD}\", \"extra\": 1}}"))
        .send()
        .await
        .expect("sent");
    answers.push(keep(malformed).await);
    let plain = admin
        .post(url("/api/admin/login"))
        .header("content-type", "text/plain")
        .body(PASSWORD)
        .send()
        .await
        .expect("sent");
    answers.push(keep(plain).await);
    answers.push(
        keep(
            admin
                .get(url("/api/admin/session"))
                .send()
                .await
                .expect("sent"),
        )
        .await,
    );
    answers.push(
        keep(
            admin
                .get(url("/api/admin/audit"))
                .send()
                .await
                .expect("sent"),
        )
        .await,
    );
    for _ in 0..3 {
        answers.push(keep(login(&anonymous, "wrong-3").await.expect("sent")).await);
    }
    answers.push(keep(login(&anonymous, PASSWORD).await.expect("sent")).await);
    answers.push(
        keep(
            anonymous
                .get(url("/api/openapi.json"))
                .send()
                .await
                .expect("sent"),
        )
        .await,
    );

    let status = Command::new("kill")
        .args(["-TERM", &running.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    // Its last lines are written as it stops.
    let stopping = std::time::Instant::now();
    while running.0.try_wait().expect("wait").is_none()
        && stopping.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(running);
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    drop_database(&database).await;

    for expected in [
        "admin password set from AIUT_ADMIN_PASSWORD",
        "admin logged in",
        "admin login locked after repeated failures",
        "/api/admin/login",
    ] {
        assert!(
            logs.contains(expected),
            "`{expected}` is not in the log: {logs}"
        );
    }
    assert!(!logs.contains(PASSWORD), "the password is in a log line");
    for answer in &answers {
        assert!(
            !answer.contains(PASSWORD),
            "the password is in an answer: {answer}"
        );
    }
    assert!(
        answers
            .iter()
            .any(|answer| answer.contains("too_many_login_failures"))
    );
    assert!(answers.iter().any(|answer| answer.contains("csrf_token")));
}

/// The seconds of an answer's `Retry-After`.
fn retry_after_secs(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("Retry-After")
}
