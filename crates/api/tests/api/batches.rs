//! Batches over a repository folder, against a local git server (`git http-backend`) and the
//! stand-in GitHub and GitLab APIs: the checkout is of the branch's commit, one task per testable
//! file with its conventional test path, the batch view, the archive, and the pull (or merge)
//! request on a new branch — the base branch untouched, the token never shown or stored.

use std::io::Read;

use forge::testing::apis::{self, GOOD_TOKEN};
use forge::testing::git_server::GitServer;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;
use crate::openapi::{assert_documented, fetch_document};

const CART_PY: &str = "from shop.tax import rate\n\n\ndef total(price, quantity):\n    \
    return price * quantity * (1 + rate())\n";
const TAX_PY: &str = "def rate():\n    return 0.25\n";

/// A Python project whose modules import each other, with things a batch must skip.
fn shop_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("README.md", "# shop\n"),
        ("shop/__init__.py", ""),
        ("shop/cart.py", CART_PY),
        ("shop/tax.py", TAX_PY),
        ("shop/test_tax.py", "def test_rate():\n    assert True\n"),
        ("tests/test_old.py", "def test_old():\n    assert 1 == 1\n"),
        (
            "web/app.js",
            "function hello() {\n  return 'hi';\n}\n\nmodule.exports = { hello };\n",
        ),
    ]
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .expect("request sent")
}

fn untar(bytes: &[u8]) -> Vec<(String, String)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut found = Vec::new();
    for entry in archive.entries().expect("a tar.gz") {
        let mut entry = entry.expect("an entry");
        let path = entry.path().expect("a path").display().to_string();
        let mut contents = String::new();
        entry.read_to_string(&mut contents).expect("text");
        found.push((path, contents));
    }
    found
}

#[sqlx::test(migrations = false)]
async fn a_github_folder_becomes_a_batch_and_its_tests_a_pull_request(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, git_settings()).await;
    let document = fetch_document(&app).await;
    let git = GitServer::start("x-access-token", GOOD_TOKEN).await;
    let commits = git.create_repo("acme/widgets", &[&shop_files()]);
    let github = apis::github_with_git(&git.base).await;

    // Without a token, nothing is cloned.
    let refused = post_json(&app, "/api/batches", &json!({"repo": "acme/widgets"})).await;
    let (status, body) = assert_documented(&document, "post", "/api/batches", refused).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("git_token_required"))
    );

    let kept = set_token(
        &app,
        &app.client,
        json!({"forge": "github", "base_url": github.base, "token": GOOD_TOKEN}),
    )
    .await;
    assert_eq!(kept.status(), 200);

    let response = post_json(
        &app,
        "/api/batches",
        &json!({"repo": "acme/widgets", "path": "shop/"}),
    )
    .await;
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let (status, batch) = assert_documented(&document, "post", "/api/batches", response).await;
    assert_eq!(status, 201, "{batch}");
    let id = batch["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/batches/{id}").as_str())
    );
    assert_eq!(
        batch["commit"], commits[0],
        "the default branch's newest commit"
    );
    assert_eq!(
        (batch["branch"].as_str(), batch["path"].as_str()),
        (Some("main"), Some("shop"))
    );
    assert_eq!(batch["status"], "running");
    let files: Vec<(&str, &str)> = batch["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| {
            (
                file["path"].as_str().expect("a path"),
                file["test_path"].as_str().expect("a test path"),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("shop/cart.py", "tests/test_cart.py"),
            ("shop/tax.py", "tests/test_tax.py")
        ]
    );
    let skipped: Vec<&str> = batch["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|file| file["path"].as_str().expect("a path"))
        .collect();
    assert_eq!(skipped, ["shop/__init__.py", "shop/test_tax.py"]);

    // The tasks carry their batch and test path; the batch keeps the whole repository's text.
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "select file_name, status, test_path from tasks where batch_id = $1::uuid order by file_name",
    )
    .bind(&id)
    .fetch_all(&app.pool)
    .await
    .expect("the batch's tasks");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|(_, status, _)| status == "queued"));
    let checkout = store::batches::batch_checkout(&app.pool, id.parse().expect("a uuid"))
        .await
        .expect("readable")
        .expect("stored");
    assert_eq!(
        checkout.file("shop/tax.py").map(|f| f.contents.as_str()),
        Some(TAX_PY)
    );
    assert!(
        checkout.file("web/app.js").is_some(),
        "the files around the folder too"
    );

    // Nothing to hand over before a task succeeds, and no request while tasks run.
    let early = app.get(&format!("/api/batches/{id}/archive")).await;
    let (status, body) =
        assert_documented(&document, "get", "/api/batches/{id}/archive", early).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("batch_has_no_tests"))
    );
    let early = post_json(&app, &format!("/api/batches/{id}/pull-request"), &json!({})).await;
    let (status, body) =
        assert_documented(&document, "post", "/api/batches/{id}/pull-request", early).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("batch_not_finished"))
    );

    // One task succeeds, the other fails.
    let task_ids: Vec<String> = batch["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| file["task_id"].as_str().expect("a task id").to_owned())
        .collect();
    let cart_tests =
        "from shop.cart import total\n\n\ndef test_total():\n    assert total(2, 2) == 5.0\n";
    finish_task(&app.pool, &task_ids[0], "test_cart.py", cart_tests).await;
    sqlx::query(
        "update tasks set status = 'failed', finished_at = now(), error_code = 'no_test_passed', \
         error_message = 'no test passed' where id = $1::uuid",
    )
    .bind(&task_ids[1])
    .execute(&app.pool)
    .await
    .expect("fail the task");

    let view = app.get(&format!("/api/batches/{id}")).await;
    let (status, view) = assert_documented(&document, "get", "/api/batches/{id}", view).await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "finished");
    assert_eq!(
        (
            view["counts"]["succeeded"].as_u64(),
            view["counts"]["failed"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        view["files"][0]["validation"]["coverage"]["lines_covered"],
        2
    );

    let archive = app.get(&format!("/api/batches/{id}/archive")).await;
    assert_eq!(archive.status(), 200);
    assert_eq!(archive.headers()["content-type"], "application/gzip");
    let bytes = archive.bytes().await.expect("the archive");
    assert_eq!(
        untar(&bytes),
        [("tests/test_cart.py".to_owned(), cart_tests.to_owned())]
    );

    let listed = app.get("/api/batches").await;
    let (status, listed) = assert_documented(&document, "get", "/api/batches", listed).await;
    assert_eq!(
        (status, listed["batches"][0]["id"].as_str()),
        (200, Some(id.as_str()))
    );

    // The pull request: a new branch from the batch's commit, one commit, main untouched.
    let opened = post_json(
        &app,
        &format!("/api/batches/{id}/pull-request"),
        &json!({"title": "Tests for the shop"}),
    )
    .await;
    let (status, opened) =
        assert_documented(&document, "post", "/api/batches/{id}/pull-request", opened).await;
    assert_eq!(status, 201, "{opened}");
    let branch = format!("aiunittest/{}", &id.replace('-', "")[..8]);
    assert_eq!(opened["branch"], branch);
    assert_eq!(opened["url"], "https://github.com/acme/widgets/pull/1347");
    assert_eq!(opened["files"], json!(["tests/test_cart.py"]));
    assert_eq!(
        git.in_bare("acme/widgets", &["rev-parse", "main"]).trim(),
        commits[0],
        "the base branch is untouched"
    );
    assert_eq!(
        git.in_bare("acme/widgets", &["rev-parse", &format!("{branch}^")])
            .trim(),
        commits[0]
    );
    assert_eq!(
        git.in_bare(
            "acme/widgets",
            &["show", &format!("{branch}:tests/test_cart.py")]
        ),
        cart_tests
    );
    let pull = github
        .requests()
        .into_iter()
        .find(|request| request.method == "POST")
        .expect("a pull request was asked for");
    assert_eq!(pull.path, "/repos/acme/widgets/pulls");
    let pull_body = pull.body.expect("a JSON body");
    assert_eq!(
        (pull_body["head"].as_str(), pull_body["base"].as_str()),
        (Some(branch.as_str()), Some("main"))
    );
    assert_eq!(pull_body["title"], "Tests for the shop");
    let description = pull_body["body"].as_str().expect("a description");
    assert!(
        description
            .contains("| `shop/cart.py` | `tests/test_cart.py` | 1 passed, 1 failed | 2/4 lines"),
        "{description}"
    );
    assert!(
        description.contains("| `shop/tax.py` | none delivered | no test passed |"),
        "{description}"
    );
    assert!(
        description.contains("- `add`: passed, kept\n- `sub`: failed, left out: E   assert 1 == 0"),
        "{description}"
    );
    for request in github.requests() {
        assert_eq!(
            request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some(format!("Bearer {GOOD_TOKEN}").as_str())
        );
        assert!(
            !format!("{} {:?} {:?}", request.path, request.query, request.body)
                .contains(GOOD_TOKEN)
        );
    }
    for url in git.requested_urls() {
        assert!(!url.contains(GOOD_TOKEN), "{url}");
    }

    // Once only.
    let again = post_json(&app, &format!("/api/batches/{id}/pull-request"), &json!({})).await;
    let (status, body) =
        assert_documented(&document, "post", "/api/batches/{id}/pull-request", again).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("pull_request_exists"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("/pull/1347")
    );

    // The token is nowhere in Postgres.
    let dump: String = sqlx::query_scalar(
        "select coalesce(string_agg(b::text, ''), '') || coalesce((select string_agg(t::text, '') from tasks t), '') from batches b",
    )
    .fetch_one(&app.pool)
    .await
    .expect("the rows as text");
    assert!(!dump.contains(GOOD_TOKEN));
}

#[sqlx::test(migrations = false)]
async fn bad_batches_are_refused_with_the_reason(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, git_settings()).await;
    let document = fetch_document(&app).await;
    let git = GitServer::start("x-access-token", GOOD_TOKEN).await;
    git.create_repo("acme/widgets", &[&shop_files()]);
    let github = apis::github_with_git(&git.base).await;
    let kept = set_token(
        &app,
        &app.client,
        json!({"forge": "github", "base_url": github.base, "token": GOOD_TOKEN}),
    )
    .await;
    assert_eq!(kept.status(), 200);

    let cases = [
        (
            json!({"repo": "acme/widgets", "path": "nowhere"}),
            422,
            "invalid_batch_path",
        ),
        (
            json!({"repo": "acme/widgets", "path": "shop/test_tax.py"}),
            422,
            "nothing_to_test",
        ),
        (
            json!({"repo": "acme/widgets", "path": "README.md"}),
            422,
            "nothing_to_test",
        ),
        (
            json!({"repo": "acme/widgets", "path": "shop", "language": "go"}),
            422,
            "nothing_to_test",
        ),
        (
            json!({"repo": "acme/widgets", "model": "no such model"}),
            422,
            "invalid_model",
        ),
        (
            json!({"repo": "acme/widgets", "language": "cobol"}),
            422,
            "unknown_language",
        ),
        (
            json!({"repo": "acme/widgets", "path": "shop", "framework": "junit5"}),
            422,
            "framework_not_for_language",
        ),
        (
            json!({"repo": "acme/widgets", "branch": "nope"}),
            404,
            "git_not_found",
        ),
        (json!({"repo": "acme/missing"}), 404, "git_not_found"),
        (json!({"repo": "../etc"}), 422, "invalid_git_request"),
        (json!({}), 422, "invalid_git_request"),
        (
            json!({"repo": "acme/widgets", "extra": 1}),
            400,
            "invalid_json",
        ),
    ];
    for (body, status, code) in cases {
        let response = post_json(&app, "/api/batches", &body).await;
        let (actual, answer) = assert_documented(&document, "post", "/api/batches", response).await;
        assert_eq!(
            (actual, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
    }
    let none: i64 = sqlx::query_scalar("select count(*) from batches")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(none, 0, "nothing was kept of a refused batch");

    // A file: one task.
    let one = post_json(
        &app,
        "/api/batches",
        &json!({"repo": "acme/widgets", "path": "web/app.js"}),
    )
    .await;
    let (status, one) = assert_documented(&document, "post", "/api/batches", one).await;
    assert_eq!(status, 201, "{one}");
    assert_eq!(one["files"][0]["test_path"], "web/app.test.js");
    let id = one["id"].as_str().expect("an id");

    // Another session sees none of it; ids are checked.
    let stranger = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("a client");
    let hidden = stranger
        .get(app.url(&format!("/api/batches/{id}")))
        .send()
        .await
        .expect("sent");
    let (status, body) = assert_documented(&document, "get", "/api/batches/{id}", hidden).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("batch_not_found"))
    );
    let malformed = app.get("/api/batches/not-a-uuid").await;
    let (status, body) = assert_documented(&document, "get", "/api/batches/{id}", malformed).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_batch_id"))
    );
}

#[sqlx::test(migrations = false)]
async fn a_batch_larger_than_the_sessions_free_places_is_refused_whole(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let mut settings = git_settings();
    settings.limits.max_queued_per_session = 1;
    let app = spawn_app_with(pool_options, connect, settings).await;
    let git = GitServer::start("oauth2", GOOD_TOKEN).await;
    git.create_repo("acme/widgets", &[&shop_files()]);
    let gitlab = apis::gitlab_with_git(&git.base).await;
    let kept = set_token(
        &app,
        &app.client,
        json!({"forge": "gitlab", "base_url": gitlab.base, "token": GOOD_TOKEN}),
    )
    .await;
    assert_eq!(kept.status(), 200);
    let response = post_json(
        &app,
        "/api/batches",
        &json!({"repo": "acme/widgets", "path": "shop"}),
    )
    .await;
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "too_many_queued_tasks");
    let tasks: i64 = sqlx::query_scalar("select count(*) from tasks")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(tasks, 0, "none of the batch was queued");
}

#[sqlx::test(migrations = false)]
async fn a_plain_git_repository_gets_a_branch_and_a_refused_push_says_why(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, git_settings()).await;
    let document = fetch_document(&app).await;
    let git = GitServer::start("git", GOOD_TOKEN).await;
    let commits = git.create_repo("team/shop", &[&shop_files()]);
    let url = git.url("team/shop");
    let kept = set_token(
        &app,
        &app.client,
        json!({"forge": "git", "base_url": url, "token": GOOD_TOKEN}),
    )
    .await;
    assert_eq!(kept.status(), 200);

    let created = post_json(&app, "/api/batches", &json!({"path": "shop"})).await;
    let (status, batch) = assert_documented(&document, "post", "/api/batches", created).await;
    assert_eq!(status, 201, "{batch}");
    assert_eq!(
        (batch["forge"].as_str(), batch["repo"].as_str()),
        (Some("git"), Some(url.as_str()))
    );
    assert_eq!(batch["commit"], commits[0]);
    let id = batch["id"].as_str().expect("an id");
    for file in batch["files"].as_array().expect("files") {
        let task = file["task_id"].as_str().expect("a task");
        finish_task(&app.pool, task, "t.py", "def test_x():\n    assert True\n").await;
    }

    // The server refuses: its reason comes back, and nothing is recorded.
    git.refuse_pushes("team/shop", "pushes to this repository need a review first");
    let refused = post_json(&app, &format!("/api/batches/{id}/pull-request"), &json!({})).await;
    let (status, body) =
        assert_documented(&document, "post", "/api/batches/{id}/pull-request", refused).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("git_forbidden")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("pushes to this repository need a review first"),
        "{body}"
    );

    std::fs::remove_file(git.bare("team/shop").join("hooks/pre-receive")).expect("the hook");
    let pushed = post_json(&app, &format!("/api/batches/{id}/pull-request"), &json!({})).await;
    let (status, pushed) =
        assert_documented(&document, "post", "/api/batches/{id}/pull-request", pushed).await;
    assert_eq!(status, 201, "{pushed}");
    assert!(
        pushed.get("url").is_none(),
        "plain git: the branch only, {pushed}"
    );
    let branch = pushed["branch"].as_str().expect("a branch");
    assert_eq!(
        git.in_bare(
            "team/shop",
            &["show", &format!("{branch}:tests/test_tax.py")]
        ),
        "def test_x():\n    assert True\n"
    );
    assert_eq!(
        git.in_bare("team/shop", &["rev-parse", "main"]).trim(),
        commits[0]
    );
}
