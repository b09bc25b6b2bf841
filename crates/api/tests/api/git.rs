//! The git routes against local GitHub and GitLab API servers (`forge::testing`): the session's
//! token is checked with the forge, kept sealed in Redis for the session only, used for browsing,
//! and never answered; every refusal is a documented 4xx.

use forge::testing::apis::{self, CALC_PY, COMMIT, GOOD_TOKEN, MockApi, NARROW_TOKEN};
use redis::AsyncCommands;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;
use crate::openapi::{assert_documented, fetch_document};

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis is up")
}

/// The sealed token records under the test's prefix, by key.
async fn sealed_records(app: &TestApp) -> Vec<(String, String)> {
    let mut connection = redis().await;
    let pattern = format!("{}session:*:git", app.settings.redis.key_prefix);
    let keys: Vec<String> = connection.keys(pattern).await.expect("KEYS");
    let mut records = Vec::new();
    for key in keys {
        let value: String = connection.get(&key).await.expect("GET");
        records.push((key, value));
    }
    records
}

fn session_id(response: &reqwest::Response) -> String {
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .expect("a session cookie");
    cookie
        .trim_start_matches("aiut_session=")
        .split(';')
        .next()
        .expect("a value")
        .to_owned()
}

/// `GET path`, held to the document, expecting `status` and, for a refusal, `code`.
async fn documented_get(
    app: &TestApp,
    document: &Value,
    path: &str,
    status: u16,
    code: Option<&str>,
) -> Value {
    let documented_path = path.split('?').next().expect("a path");
    let response = app.get(path).await;
    let retry_after = response.headers().get("retry-after").cloned();
    let (actual, body) = assert_documented(document, "get", documented_path, response).await;
    assert_eq!(actual, status, "GET {path}: {body}");
    if let Some(code) = code {
        assert_eq!(body["error"]["code"], code, "GET {path}: {body}");
    }
    if status == 429 {
        assert!(
            retry_after.is_some(),
            "GET {path}: a 429 without Retry-After"
        );
    }
    body
}

fn assert_token_absent(text: &str) {
    for token in [GOOD_TOKEN, NARROW_TOKEN] {
        assert!(!text.contains(token), "the token shows in {text}");
    }
}

/// Every request the forge saw carried the token in `Authorization` only.
fn assert_forge_saw_the_token_in_its_header_only(api: &MockApi, token: &str) {
    let requests = api.requests();
    assert!(!requests.is_empty());
    for request in requests {
        assert_eq!(
            request.headers["authorization"].to_str().expect("ASCII"),
            format!("Bearer {token}")
        );
        assert!(!format!("{} {:?}", request.path, request.query).contains(token));
    }
}

#[sqlx::test(migrations = false)]
async fn a_github_token_is_checked_kept_sealed_and_used_for_browsing(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, git_settings()).await;
    let document = fetch_document(&app).await;
    let github = apis::github().await;

    let response = set_token(
        &app,
        &app.client,
        json!({"forge": "github", "base_url": github.base, "token": GOOD_TOKEN}),
    )
    .await;
    let (status, kept) = assert_documented(&document, "post", "/api/git/token", response).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(
        kept,
        json!({"forge": "github", "base_url": github.base, "login": "octocat", "scopes": ["repo", "read:org"]})
    );
    assert_eq!(
        github.requests()[0].path,
        "/user",
        "the token was tried at once"
    );

    // In Redis, sealed: neither the token nor its base64 is readable, and it lives as long as
    // the session.
    let records = sealed_records(&app).await;
    assert_eq!(records.len(), 1);
    assert_token_absent(&records[0].1);
    let mut connection = redis().await;
    let ttl: i64 = connection.ttl(&records[0].0).await.expect("TTL");
    assert!(
        (1..=i64::try_from(app.settings.session.ttl_secs).expect("a TTL")).contains(&ttl),
        "{ttl}"
    );

    let view = documented_get(&app, &document, "/api/git/token", 200, None).await;
    assert_eq!(view, kept);
    let repositories = documented_get(&app, &document, "/api/git/repos", 200, None).await;
    assert_eq!(repositories["repositories"][0]["full_name"], "acme/widgets");
    assert_eq!(repositories["next_page"], 2);
    let page_two = documented_get(&app, &document, "/api/git/repos?page=2", 200, None).await;
    assert_eq!(
        page_two["repositories"][0]["full_name"],
        "octocat/hello-world"
    );
    assert!(page_two.get("next_page").is_none(), "{page_two}");

    let branches = documented_get(
        &app,
        &document,
        "/api/git/branches?repo=acme/widgets",
        200,
        None,
    )
    .await;
    assert_eq!(
        branches["branches"][0],
        json!({"name": "main", "commit": COMMIT, "protected": true})
    );
    let tree = documented_get(
        &app,
        &document,
        &format!("/api/git/tree?repo=acme/widgets&commit={COMMIT}"),
        200,
        None,
    )
    .await;
    assert_eq!(
        tree["entries"][2],
        json!({"path": "src/calc.py", "kind": "file", "size": 62})
    );
    assert_eq!(tree["entries"][4]["kind"], "submodule");
    let file = documented_get(
        &app,
        &document,
        "/api/git/file?repo=acme/widgets&path=src/calc.py&ref=main",
        200,
        None,
    )
    .await;
    assert_eq!(file["content"], CALC_PY);
    assert_eq!(file["ref"], "main");
    assert_eq!(file["size"], CALC_PY.len());
    let request = github.last();
    assert_eq!(request.path, "/repos/acme/widgets/contents/src/calc.py");
    assert_eq!(request.query.as_deref(), Some("ref=main"));
    assert_forge_saw_the_token_in_its_header_only(&github, GOOD_TOKEN);

    // The forge's refusals, each a documented answer.
    for (path, status, code) in [
        ("/api/git/branches?repo=acme/missing", 404, "git_not_found"),
        ("/api/git/branches?repo=acme/busy", 429, "git_rate_limited"),
        ("/api/git/repos?page=1&per_page=5", 400, "invalid_query"),
        ("/api/git/branches", 400, "invalid_query"),
        ("/api/git/branches?repo=acme", 422, "invalid_git_request"),
        (
            "/api/git/branches?repo=../../admin",
            422,
            "invalid_git_request",
        ),
        (
            "/api/git/tree?repo=acme/widgets&commit=main",
            422,
            "invalid_git_request",
        ),
        (
            "/api/git/tree?repo=acme/empty&commit=7fd1a60b01f91b314f59955a4e4d4e80d8edf11d",
            409,
            "git_conflict",
        ),
        (
            "/api/git/file?repo=acme/widgets&path=../etc/passwd&ref=main",
            422,
            "invalid_git_request",
        ),
        (
            "/api/git/file?repo=acme/widgets&path=big.bin&ref=main",
            422,
            "git_refused",
        ),
        (
            "/api/git/file?repo=acme/widgets&path=nope.py&ref=main",
            404,
            "git_not_found",
        ),
    ] {
        let body = documented_get(&app, &document, path, status, Some(code)).await;
        assert_token_absent(&body.to_string());
    }

    // Another session has no token: the first session's is its own.
    let other = new_client();
    let response = other
        .get(app.url("/api/git/repos"))
        .send()
        .await
        .expect("request sent");
    let (status, body) = assert_documented(&document, "get", "/api/git/repos", response).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("git_token_required"))
    );

    // Forgotten: gone from Redis, and browsing needs a token again.
    let response = app.delete("/api/git/token").await;
    let (status, _) = assert_documented(&document, "delete", "/api/git/token", response).await;
    assert_eq!(status, 204);
    assert!(sealed_records(&app).await.is_empty());
    documented_get(
        &app,
        &document,
        "/api/git/repos",
        401,
        Some("git_token_required"),
    )
    .await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_sealed_token_opens_only_for_its_own_session(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, git_settings()).await;
    let gitlab = apis::gitlab().await;
    let kept = set_token(
        &app,
        &app.client,
        json!({"forge": "gitlab", "base_url": gitlab.base, "token": NARROW_TOKEN}),
    )
    .await;
    let kept = json_with_status(kept, 200).await;
    assert_eq!(kept["login"], "tanuki");
    assert_eq!(kept["scopes"], json!(["read_api"]));
    let (_, sealed) = sealed_records(&app).await.pop().expect("a sealed token");

    // Another session gets the first one's sealed token copied into its own record: it does not
    // open, and is dropped.
    let other = new_client();
    let first = other
        .get(app.url("/api/git/token"))
        .send()
        .await
        .expect("request sent");
    let other_id = session_id(&first);
    assert_eq!(first.status(), 401);
    let key = format!("{}session:{other_id}:git", app.settings.redis.key_prefix);
    let mut connection = redis().await;
    let _: () = connection.set_ex(&key, &sealed, 600).await.expect("SET");
    let refused = other
        .get(app.url("/api/git/repos"))
        .send()
        .await
        .expect("request sent");
    let body = json_with_status(refused, 401).await;
    assert_eq!(body["error"]["code"], "git_token_required");
    let left: Option<String> = connection.get(&key).await.expect("GET");
    assert_eq!(left, None, "a token that does not open is dropped");

    // The owner still browses, through every page of a GitLab tree.
    let tree = json_with_status(
        app.get(&format!(
            "/api/git/tree?repo=acme/tools/widgets&commit={COMMIT}"
        ))
        .await,
        200,
    )
    .await;
    let paths: Vec<&str> = tree["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|entry| entry["path"].as_str())
        .collect();
    assert_eq!(paths, ["src", "src/calc.py", "docs"]);
    assert_forge_saw_the_token_in_its_header_only(&gitlab, NARROW_TOKEN);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn bad_tokens_and_urls_are_refused_and_nothing_is_kept(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, git_settings()).await;
    let document = fetch_document(&app).await;
    let github = apis::github().await;
    let wrong = "ghp_WrongSecret000000000000000000000";
    for (body, status, code) in [
        (
            json!({"forge": "github", "base_url": github.base, "token": wrong}),
            401,
            "git_token_rejected",
        ),
        (
            json!({"forge": "svn", "token": wrong}),
            422,
            "invalid_git_request",
        ),
        (
            json!({"forge": "github", "token": "two words"}),
            422,
            "invalid_git_token",
        ),
        (
            json!({"forge": "github", "base_url": "file:///etc/passwd", "token": wrong}),
            422,
            "invalid_forge_url",
        ),
        (
            json!({"forge": "github", "base_url": "https://user:pass@example.com", "token": wrong}),
            422,
            "invalid_forge_url",
        ),
        (
            json!({"forge": "gitlab", "base_url": "https://169.254.169.254/api/v4", "token": wrong}),
            422,
            "invalid_forge_url",
        ),
        (
            json!({"forge": "git", "token": wrong}),
            422,
            "invalid_forge_url",
        ),
        (json!({"forge": "github"}), 400, "invalid_json"),
        (
            json!({"forge": "github", "token": wrong, "scope": "all"}),
            400,
            "invalid_json",
        ),
    ] {
        let response = set_token(&app, &app.client, body.clone()).await;
        let (actual, answer) =
            assert_documented(&document, "post", "/api/git/token", response).await;
        assert_eq!(
            (actual, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
        assert!(!answer.to_string().contains(wrong), "{answer}");
    }
    assert!(
        sealed_records(&app).await.is_empty(),
        "nothing refused is kept"
    );
    documented_get(
        &app,
        &document,
        "/api/git/token",
        401,
        Some("git_token_required"),
    )
    .await;
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn loopback_forges_and_unsealable_tokens_need_configuration(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // The defaults: public forges only, and no key to seal tokens under.
    let app = spawn_app_with(pool_options, connect, test_settings(&unique_prefix())).await;
    let github = apis::github().await;
    let refused = set_token(
        &app,
        &app.client,
        json!({"forge": "github", "base_url": github.base, "token": GOOD_TOKEN}),
    )
    .await;
    let body = json_with_status(refused, 422).await;
    assert_eq!(body["error"]["code"], "invalid_forge_url");
    assert!(
        github.requests().is_empty(),
        "a refused host is never reached"
    );
    let unsealable = json_with_status(app.get("/api/git/token").await, 503).await;
    assert_eq!(unsealable["error"]["code"], "git_tokens_not_configured");
    app.stop().await;
}
