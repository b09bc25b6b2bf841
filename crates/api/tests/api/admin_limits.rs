//! The limits changed at runtime through the admin routes, the daily token budgets, and the
//! tokens spent per model and day: every replica applies a change from its next request, a spent
//! budget refuses new tasks (not answers from the cache), and the spend is what the attempts
//! recorded.

use std::time::Duration;

use api::{AdminPassword, Settings};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use store::queue::{self, Lease, Success};

use crate::helpers::*;

const PASSWORD: &str = "limits-admin-password-for-tests";

fn settings() -> Settings {
    let mut settings = test_settings(&unique_prefix());
    settings.admin_password = AdminPassword::new(PASSWORD);
    settings.limits.max_queued_per_session = 5;
    settings
}

/// A logged-in admin client and its CSRF token.
struct Admin {
    client: reqwest::Client,
    csrf: String,
}

impl Admin {
    async fn login(app: &TestApp) -> Admin {
        let client = new_client();
        let response = client
            .post(app.url("/api/admin/login"))
            .json(&json!({"password": PASSWORD}))
            .send()
            .await
            .expect("sent");
        let body = json_with_status(response, 200).await;
        let csrf = body["csrf_token"]
            .as_str()
            .expect("a CSRF token")
            .to_owned();
        Admin { client, csrf }
    }

    /// `GET path`, which must answer 200.
    async fn read(&self, app: &TestApp, path: &str) -> Value {
        let response = self.client.get(app.url(path)).send().await.expect("sent");
        json_with_status(response, 200).await
    }

    async fn patch_limits(&self, app: &TestApp, body: Value) -> reqwest::Response {
        self.client
            .patch(app.url("/api/admin/limits"))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .expect("sent")
    }
}

fn task(n: u32) -> Value {
    json!({"source": python_source(n), "filename": "calc.py"})
}

/// Runs the oldest queued tasks to success as a worker would, through the store's own claim and
/// result statements, each attempt spending the given tokens.
async fn run_queued(app: &TestApp, prompt_tokens: u64, completion_tokens: u64) -> usize {
    let claimed = queue::claim_batch(&app.pool, "test-worker", Duration::from_secs(30), 10, 10)
        .await
        .expect("a claim");
    let empty = json!([]);
    let validation = serde_json::to_value(domain::Validation::syntax_only()).expect("serialisable");
    for task in &claimed {
        let lease = Lease {
            task: task.id,
            owner: "test-worker",
            attempt: task.attempt,
        };
        let success = Success {
            file_name: "test_calc.py",
            code: "def test_add():\n    assert True\n",
            units: &empty,
            warnings: &empty,
            model_used: task.model.as_str(),
            prompt_tokens,
            completion_tokens,
            retries: 0,
            total_units: 1,
            validation: &validation,
        };
        assert!(
            queue::succeed(&app.pool, lease, &success)
                .await
                .expect("stored")
        );
    }
    claimed.len()
}

#[sqlx::test(migrations = false)]
async fn a_limit_changed_on_one_replica_applies_on_every_replica_at_once_and_clears_back(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let one = spawn_app_with(pool_options, connect, settings()).await;
    let two = spawn_on_pool(one.pool.clone(), settings()).await;
    let admin = Admin::login(&one).await;

    let limits = admin.read(&one, "/api/admin/limits").await;
    assert_eq!(limits["in_force"], limits["configured"]);
    assert_eq!(limits["in_force"]["max_queued_per_session"], 5);
    assert_eq!(limits["overrides"], json!({}));
    assert!(limits["in_force"].get("daily_tokens_per_session").is_none());

    // Refused without an admin session, and without the CSRF token.
    assert_error(
        one.get("/api/admin/limits").await,
        401,
        "admin_login_required",
    )
    .await;
    let no_csrf = admin
        .client
        .patch(one.url("/api/admin/limits"))
        .json(&json!({"max_queued_per_session": 1}))
        .send()
        .await
        .expect("sent");
    assert_error(no_csrf, 403, "csrf_token_invalid").await;

    let changed = json_with_status(
        admin
            .patch_limits(&one, json!({"max_queued_per_session": 1}))
            .await,
        200,
    )
    .await;
    assert_eq!(changed["in_force"]["max_queued_per_session"], 1);
    assert_eq!(changed["configured"]["max_queued_per_session"], 5);
    assert_eq!(changed["overrides"], json!({"max_queued_per_session": 1}));
    assert_eq!(changed["updated_by"], "admin");
    // A replica started afterwards (a restart) finds the override in force.
    let restarted = spawn_on_pool(one.pool.clone(), settings()).await;
    let queue = json_with_status(restarted.get("/api/queue").await, 200).await;
    assert_eq!(queue["yours"]["max_queued"], 1);

    // The other replica holds a session to the new cap from its next request.
    json_with_status(two.post_task(&task(1)).await, 202).await;
    let refused = assert_error(two.post_task(&task(2)).await, 429, "too_many_queued_tasks").await;
    let message = refused["error"]["message"].as_str().expect("a message");
    assert!(message.contains("the limit is 1"), "{message}");
    let queue = json_with_status(two.get("/api/queue").await, 200).await;
    assert_eq!(queue["yours"]["max_queued"], 1);

    // `null` gives the configuration back.
    let cleared = json_with_status(
        admin
            .patch_limits(&one, json!({"max_queued_per_session": null}))
            .await,
        200,
    )
    .await;
    assert_eq!(cleared["overrides"], json!({}));
    assert_eq!(cleared["in_force"]["max_queued_per_session"], 5);
    json_with_status(two.post_task(&task(2)).await, 202).await;

    // Bad values are refused by name and change nothing.
    for (body, status, code) in [
        (json!({"max_queue_depth": 0}), 422, "invalid_limits"),
        (
            json!({"max_running_per_session": 4_000_000_000_u64}),
            422,
            "invalid_limits",
        ),
        (
            json!({"daily_tokens_per_client": -1}),
            422,
            "invalid_limits",
        ),
        (json!({"max_queue_depth": "ten"}), 400, "invalid_json"),
        (json!({"queue": 3}), 400, "invalid_json"),
    ] {
        let answer = assert_error(admin.patch_limits(&one, body.clone()).await, status, code).await;
        {
            let field = body
                .as_object()
                .and_then(|body| body.keys().next())
                .expect("a field");
            let message = answer["error"]["message"].as_str().expect("a message");
            assert!(message.contains(field.as_str()), "{message}");
        }
    }
    let after = admin.read(&one, "/api/admin/limits").await;
    assert_eq!(after["overrides"], json!({}));

    // Each change is in the audit log, with what changed.
    let audit = admin.read(&one, "/api/admin/audit").await;
    let changes: Vec<&Value> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|entry| entry["action"] == "limits_changed")
        .collect();
    assert_eq!(changes.len(), 2, "{audit}");
    assert_eq!(changes[1]["detail"], json!({"max_queued_per_session": 1}));
    assert_eq!(
        changes[0]["detail"],
        json!({"max_queued_per_session": null})
    );

    restarted.stop().await;
    two.stop().await;
    one.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_spent_daily_budget_refuses_new_tasks_but_not_cached_answers_and_the_usage_adds_up(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let app = spawn_app_with(pool_options, connect, settings()).await;
    let admin = Admin::login(&app).await;
    json_with_status(
        admin
            .patch_limits(&app, json!({"daily_tokens_per_session": 100}))
            .await,
        200,
    )
    .await;

    // Under the budget: two tasks run, spending 80 + 30 and 5 + 5 tokens.
    json_with_status(app.post_task(&task(1)).await, 202).await;
    assert_eq!(run_queued(&app, 80, 30).await, 1);
    let queue = json_with_status(app.get("/api/queue").await, 200).await;
    assert_eq!(queue["yours"]["tokens_today"], 110);
    assert_eq!(queue["yours"]["daily_token_budget"], 100);

    // Spent: a new task is refused until midnight UTC...
    let response = app.post_task(&task(2)).await;
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After");
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    let refused = assert_error(response, 429, "daily_token_budget_spent").await;
    let message = refused["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("110") && message.contains("100"),
        "{message}"
    );
    // ...but the same request as the first is answered from the cache, at no cost.
    let cached = json_with_status(app.post_task(&task(1)).await, 200).await;
    assert_eq!(cached["cache_hit"], true);
    // Another session has a budget of its own.
    let other = new_client();
    json_with_status(app.post_task_as(&other, &task(3)).await, 202).await;
    assert_eq!(run_queued(&app, 5, 5).await, 1);

    // A per-client budget holds every session of one address together.
    json_with_status(
        admin
            .patch_limits(
                &app,
                json!({"daily_tokens_per_session": null, "daily_tokens_per_client": 50}),
            )
            .await,
        200,
    )
    .await;
    let from_address = |client: &reqwest::Client, n: u32| {
        client
            .post(app.url("/api/tasks"))
            .header("x-aiut-client", "192.0.2.7")
            .json(&task(n))
            .send()
    };
    let first = new_client();
    json_with_status(from_address(&first, 4).await.expect("sent"), 202).await;
    assert_eq!(run_queued(&app, 40, 20).await, 1);
    let second = new_client();
    let refused = assert_error(
        from_address(&second, 5).await.expect("sent"),
        429,
        "daily_token_budget_spent",
    )
    .await;
    let message = refused["error"]["message"].as_str().expect("a message");
    assert!(message.contains("your address"), "{message}");
    // The first session's own budget was cleared, and no front door named its address here: its
    // next task is taken again.
    json_with_status(app.post_task(&task(6)).await, 202).await;

    // The usage: three attempts of the model, their tokens added up.
    let usage = admin.read(&app, "/api/admin/usage?days=1").await;
    assert_eq!(usage["since"], usage["today"]);
    let days = usage["days"].as_array().expect("days");
    assert_eq!(days.len(), 1, "{usage}");
    assert_eq!(days[0]["day"], usage["today"]);
    assert_eq!(days[0]["attempts"], 3);
    assert_eq!(days[0]["prompt_tokens"], 80 + 5 + 40);
    assert_eq!(days[0]["completion_tokens"], 30 + 5 + 20);
    assert_eq!(usage["totals"][0]["prompt_tokens"], 125);
    for bad in ["days=0", "days=367", "days=two", "from=yesterday"] {
        let answer = admin
            .client
            .get(app.url(&format!("/api/admin/usage?{bad}")))
            .send()
            .await
            .expect("sent");
        assert_error(answer, 400, "invalid_query").await;
    }
    assert_error(
        app.get("/api/admin/usage").await,
        401,
        "admin_login_required",
    )
    .await;
    app.stop().await;
}
