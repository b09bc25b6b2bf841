//! No answer, log line (down to TRACE) or metric of the git and batch routes holds a forge token,
//! through browsing, a batch's clone and its pull request's push.
//!
//! This test has a test binary of its own: it reads the log through a subscriber set for its
//! thread, and tracing decides once per call site, for the whole process, whether anyone listens;
//! other tests setting and dropping their own subscribers at the same time could make a call site
//! look unheard and the log come out empty.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use forge::testing::apis::{self, GOOD_TOKEN};
use forge::testing::git_server::GitServer;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use telemetry::capture::CapturedLog;

use crate::helpers::*;

#[sqlx::test(migrations = false)]
async fn the_token_shows_in_no_answer_log_line_or_metric(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Everything the api and the libraries under it log, down to TRACE, on this test's thread
    // (the app's tasks run on it).
    let captured = CapturedLog::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let app = spawn_app_with(pool_options, connect, git_settings()).await;
    let git = GitServer::start("x-access-token", GOOD_TOKEN).await;
    git.create_repo(
        "acme/widgets",
        &[&[("src/calc.py", "def add(a, b):\n    return a + b\n")]],
    );
    let github = apis::github_with_git(&git.base).await;
    let wrong = "ghp_WrongSecret000000000000000000000";
    let mut answers = Vec::new();
    for token in [wrong, GOOD_TOKEN] {
        let response = set_token(
            &app,
            &app.client,
            json!({"forge": "github", "base_url": github.base, "token": token}),
        )
        .await;
        answers.push(response.text().await.expect("a body"));
    }
    for path in [
        "/api/git/token",
        "/api/git/repos",
        "/api/git/branches?repo=acme/busy",
        "/api/git/branches?repo=acme/missing",
        "/api/git/file?repo=acme/widgets&path=src/calc.py&ref=main",
        "/metrics",
    ] {
        answers.push(app.get(path).await.text().await.expect("a body"));
    }
    // A batch: the clone, then (its task finished behind the api's back) the push and the pull
    // request; and a batch of a repository the git server refuses.
    for repo in ["acme/widgets", "acme/missing"] {
        let response = app
            .client
            .post(app.url("/api/batches"))
            .json(&json!({"repo": repo}))
            .send()
            .await
            .expect("request sent");
        answers.push(response.text().await.expect("a body"));
    }
    let batch: serde_json::Value = serde_json::from_str(&answers[answers.len() - 2]).expect("JSON");
    let task = batch["files"][0]["task_id"].as_str().expect("a task");
    finish_task(
        &app.pool,
        task,
        "test_calc.py",
        "def test_add():\n    assert True\n",
    )
    .await;
    let batch = batch["id"].as_str().expect("a batch");
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url(&format!("/api/batches/{batch}/pull-request")))
            .json(&json!({}))
            .send()
            .await
            .expect("request sent");
        answers.push(response.text().await.expect("a body"));
    }
    assert!(
        answers[answers.len() - 2].contains("aiunittest/"),
        "the push went through: {}",
        answers[answers.len() - 2]
    );
    answers.push(app.get("/metrics").await.text().await.expect("a body"));
    app.stop().await;

    let logs = captured.text();
    assert!(logs.contains("/api/git/token"), "the log was captured");
    // The token, and the base64 a Basic header would carry it in.
    let base64 = |text: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(text)
    };
    for secret in [
        GOOD_TOKEN.to_owned(),
        wrong.to_owned(),
        base64(&format!("x-access-token:{GOOD_TOKEN}")),
    ] {
        assert!(!logs.contains(&secret), "a log line holds a token");
        for answer in &answers {
            assert!(
                !answer.contains(&secret),
                "an answer holds a token: {answer}"
            );
        }
    }
    let metrics = answers.last().expect("the metrics");
    assert!(
        metrics.contains("/api/git/repos"),
        "the git routes are counted"
    );
}
