use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{
    PYTHON_SOURCE, StackOptions, database_url, new_client, slow_simulator, stack, worker_binary,
};

#[sqlx::test(migrations = false)]
async fn a_worker_killed_mid_task_is_replaced_after_its_lease_runs_out(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Slow answers: the task is mid-generation when its worker dies.
    let options = StackOptions {
        workers: 0,
        lease_secs: 3,
        simulator: slow_simulator(300, 200.0),
        ..StackOptions::default()
    };
    let mut stack = stack(pool_options, connect.clone(), options).await;
    let client = &stack.client.clone();

    // The doomed worker is a process of its own, so it can be killed for real.
    let config_dir = std::env::temp_dir().join(format!("aiut-worker-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&config_dir).expect("a config folder");
    let config_file = config_dir.join("aiunittest.toml");
    let config = toml_config(&stack.simulator.base_url());
    std::fs::write(&config_file, config).expect("the config is written");
    let mut doomed = std::process::Command::new(worker_binary())
        .env("AIUT_CONFIG", &config_file)
        .env("AIUT_DATABASE__URL", database_url(&connect))
        .env("AIUT_REDIS__URL", crate::helpers::redis_url())
        .env("AIUT_REDIS__KEY_PREFIX", &stack.prefix)
        .env("AIUT_WORKER__ID", "doomed")
        .env("AIUT_WORKER__LEASE_SECS", "3")
        .env("AIUT_WORKER__RENEW_EVERY_SECS", "1")
        .env("AIUT_WORKER__METRICS_PORT", "0")
        .env("AIUT_WORKER__METRICS_HOST", "127.0.0.1")
        .env("AIUT_LOG__FILTER", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the worker binary starts");

    let id = stack
        .submit(
            client,
            json!({ "source": PYTHON_SOURCE, "filename": "stock.py", "model": "simulator", "validate": "syntax" }),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let owner: Option<String> =
            sqlx::query_scalar("select lease_owner from tasks where id = $1::uuid")
                .bind(&id)
                .fetch_one(&stack.pool)
                .await
                .expect("the task row");
        if owner.as_deref() == Some("doomed") && stack.simulator.stats().requests > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the doomed worker never took the task"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill().expect("SIGKILL");
    let _ = doomed.wait();
    let killed_at = Instant::now();

    stack.start_worker("survivor").await;
    let task = stack
        .wait_until_finished(client, &id, Duration::from_secs(60))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["attempts"], 2, "the lost attempt is counted: {task}");
    let waited = killed_at.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "taken over only after the lease ran out"
    );
    let stuck: i64 = sqlx::query_scalar("select count(*) from tasks where status = 'running'")
        .fetch_one(&stack.pool)
        .await
        .expect("a count");
    assert_eq!(stuck, 0);
    let _ = std::fs::remove_dir_all(&config_dir);
    stack.stop().await;
}

fn toml_config(simulator_url: &str) -> String {
    format!(
        r#"
[models]
default = "simulator"

[[models.registry]]
id = "offline"
kind = "offline"

[[models.registry]]
id = "simulator"
kind = "openai"
base_url = "{simulator_url}"
model = "aiut-sim"
"#
    )
}

#[sqlx::test(migrations = false)]
async fn two_hundred_tasks_on_two_workers_all_succeed_exactly_once(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const TASKS: usize = 200;
    const SESSIONS: usize = 10;
    let options = StackOptions {
        workers: 2,
        concurrency: 8,
        simulator: slow_simulator(500, 0.0),
        max_queued_per_session: 100,
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;

    let clients: Vec<reqwest::Client> = (0..SESSIONS).map(|_| new_client()).collect();
    let started = Instant::now();
    let mut submissions = Vec::new();
    for index in 0..TASKS {
        let client = clients[index % SESSIONS].clone();
        let body = json!({
            // One unit per task, each source distinct so none is answered from the cache.
            "source": format!("def scale_{index}(x):\n    return x * {index}\n"),
            "filename": format!("jobs/job_{index}.py"),
            "model": "simulator",
            // The queue is under test, not the runner: 200 tasks are only parsed.
            "validate": "syntax",
        });
        let stack = &stack;
        submissions.push(async move { (client.clone(), stack.submit(&client, body).await) });
    }
    let submitted = futures::future::join_all(submissions).await;
    let ids: HashSet<String> = submitted.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), TASKS);

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done: i64 = sqlx::query_scalar(
            "select count(*) from tasks where status in ('succeeded', 'failed', 'cancelled')",
        )
        .fetch_one(&stack.pool)
        .await
        .expect("a count");
        if done == TASKS as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {TASKS} tasks finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    let rows: Vec<(String, i32, Option<String>)> =
        sqlx::query_as("select status, attempts, lease_owner from tasks")
            .fetch_all(&stack.pool)
            .await
            .expect("the tasks");
    assert!(
        rows.iter()
            .all(|(status, attempts, owner)| status == "succeeded"
                && *attempts == 1
                && owner.is_none()),
        "every task succeeded on its first attempt: {rows:?}"
    );
    let stats = stack.simulator.stats();
    assert_eq!(
        stats.requests, TASKS as u64,
        "one model call per task, none twice"
    );
    let rate = TASKS as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{TASKS} tasks, 2 workers x 8, model 500 ms: {:.2} s, {rate:.1} tasks/s (limit 32/s)",
        elapsed.as_secs_f64()
    );
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn one_session_cannot_take_every_slot(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let options = StackOptions {
        concurrency: 8,
        max_running_per_session: 2,
        simulator: slow_simulator(1_000, 0.0),
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;
    let greedy = new_client();
    for index in 0..6 {
        stack
            .submit(
                &greedy,
                json!({ "source": format!("def f_{index}(x):\n    return x\n"), "filename": format!("g{index}.py"), "validate": "syntax" }),
            )
            .await;
    }
    let other = new_client();
    let polite = stack
        .submit(
            &other,
            json!({ "source": "def g(x):\n    return x\n", "filename": "p.py", "validate": "syntax" }),
        )
        .await;
    // While the greedy session's first tasks run, at most two of them run at once, and the other
    // session's task runs beside them.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen_polite_running = false;
    while Instant::now() < deadline {
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "select owner_session, count(*) from tasks where status = 'running' group by 1",
        )
        .fetch_all(&stack.pool)
        .await
        .expect("counts");
        assert!(
            counts.iter().all(|(_, running)| *running <= 2),
            "the per-session cap holds: {counts:?}"
        );
        let polite_status: String =
            sqlx::query_scalar("select status from tasks where id = $1::uuid")
                .bind(&polite)
                .fetch_one(&stack.pool)
                .await
                .expect("status");
        if polite_status != "queued" {
            seen_polite_running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seen_polite_running,
        "the other session's task was not starved"
    );
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn a_stopping_worker_hands_its_tasks_back_at_once(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let options = StackOptions {
        simulator: slow_simulator(30_000, 0.0),
        lease_secs: 60,
        ..StackOptions::default()
    };
    let mut stack = stack(pool_options, connect, options).await;
    let client = stack.client.clone();
    let id = stack
        .submit(
            &client,
            json!({ "source": "def f(x):\n    return x\n", "filename": "f.py", "validate": "syntax" }),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while stack.simulator.stats().requests == 0 {
        assert!(Instant::now() < deadline, "the task never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first worker stops (grace: 2 s); the task goes back to the queue with its attempt
    // uncounted, long before its 60 s lease would have run out, and the second worker takes it.
    stack.stop_first_worker().await;
    let row: (String, i32) =
        sqlx::query_as("select status, attempts from tasks where id = $1::uuid")
            .bind(&id)
            .fetch_one(&stack.pool)
            .await
            .expect("the row");
    assert_eq!(
        row,
        ("queued".to_owned(), 0),
        "released, attempt not counted"
    );
    stack.start_worker("second").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let owner: Option<String> =
            sqlx::query_scalar("select lease_owner from tasks where id = $1::uuid")
                .bind(&id)
                .fetch_one(&stack.pool)
                .await
                .expect("the row");
        if owner.as_deref() == Some("second") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second worker never took the task"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.stop().await;
}

/// A claim walks one index and stops at the first row it may take, however long the queue: a plan
/// that scans or sorts the table would make every claim cost as much as the queue is long.
#[sqlx::test(migrations = false)]
async fn a_claim_reads_an_index_not_the_queue(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = pool_options
        .max_connections(4)
        .connect_with(connect)
        .await
        .expect("a pool");
    store::db::migrate(&pool).await.expect("migrated");
    sqlx::query(
        "insert into tasks (id, owner_session, language, framework, model, file_name, source,
                            source_sha256, cache_key, created_at)
         select gen_random_uuid(), 'owner' || (i % 200), 'python', 'pytest', 'offline', 'a.py',
                'def f(): pass', 'x', 'k' || i, now() - make_interval(secs => i)
         from generate_series(1, 20000) i",
    )
    .execute(&pool)
    .await
    .expect("a long queue");
    sqlx::query(
        "update tasks set status = 'running', lease_owner = 'w', started_at = now(),
                          lease_expires_at = now() + interval '30 seconds'
         where id in (select id from tasks order by created_at limit 100)",
    )
    .execute(&pool)
    .await
    .expect("some running");
    sqlx::query("analyze tasks")
        .execute(&pool)
        .await
        .expect("analyzed");
    for statement in [store::queue::CLAIM_QUEUED, store::queue::CLAIM_EXPIRED] {
        let mut transaction = pool.begin().await.expect("a transaction");
        let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "explain (format json) {statement}"
        )))
        .bind("w2")
        .bind(30.0_f64)
        .bind(3_i64)
        .bind(64_i64)
        .fetch_one(&mut *transaction)
        .await
        .expect("a plan");
        // The one-row `runtime_limits` (the admin's running cap) may be read whole; the queue may not.
        assert!(!scans_tasks(&plan), "a claim scans the task table: {plan}");
        let plan = plan.to_string();
        assert!(
            !plan.contains("\"Sort\""),
            "a claim sorts the queue: {plan}"
        );
        transaction.rollback().await.expect("rolled back");
    }
}

/// Whether a JSON plan has a sequential scan of `tasks` anywhere in it.
fn scans_tasks(plan: &serde_json::Value) -> bool {
    match plan {
        serde_json::Value::Object(node) => {
            (node.get("Node Type").and_then(serde_json::Value::as_str) == Some("Seq Scan")
                && node
                    .get("Relation Name")
                    .and_then(serde_json::Value::as_str)
                    == Some("tasks"))
                || node.values().any(scans_tasks)
        }
        serde_json::Value::Array(items) => items.iter().any(scans_tasks),
        _ => false,
    }
}

/// Workers claiming at the same instant for one owner never take more than the owner's cap: the
/// count is taken again under the owner's lock before a claim commits.
#[sqlx::test(migrations = false)]
async fn simultaneous_claims_for_one_owner_keep_to_its_cap(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = pool_for_ten_workers(pool_options, connect).await;
    for round in 0..5 {
        sqlx::query("delete from tasks")
            .execute(&pool)
            .await
            .expect("an empty queue");
        queue_tasks(&pool, "greedy", 20).await;
        // Ten workers claim at once; the owner may run two tasks.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(10));
        let claims: Vec<_> = (0..10)
            .map(|worker| {
                let pool = pool.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store::queue::claim(&pool, &format!("w{worker}"), Duration::from_secs(30), 2)
                        .await
                        .expect("a claim")
                })
            })
            .collect();
        let mut claimed = 0;
        for claim in claims {
            claimed += usize::from(claim.await.expect("joined").is_some());
        }
        let running: i64 =
            sqlx::query_scalar("select count(*) from tasks where status = 'running'")
                .fetch_one(&pool)
                .await
                .expect("running");
        assert_eq!((claimed, running), (2, 2), "round {round}");
    }
}

/// A migrated pool with room for ten workers claiming at once.
async fn pool_for_ten_workers(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) -> sqlx::PgPool {
    let pool = pool_options
        .max_connections(12)
        .connect_with(connect)
        .await
        .expect("a pool");
    store::db::migrate(&pool).await.expect("migrated");
    pool
}

/// Inserts `count` queued tasks of `owner`, the first the oldest.
async fn queue_tasks(pool: &sqlx::PgPool, owner: &str, count: i32) {
    sqlx::query(
        "insert into tasks (id, owner_session, language, framework, model, file_name, source,
                            source_sha256, cache_key, created_at)
         select gen_random_uuid(), $1, 'python', 'pytest', 'offline', 'a.py',
                'def f(): pass', 'x', $1 || i, now() - make_interval(secs => $2 - i)
         from generate_series(1, $2) i",
    )
    .bind(owner)
    .bind(count)
    .execute(pool)
    .await
    .expect("a queue");
}

/// An admin's override of the running cap (`runtime_limits`) is what the claims apply, from the
/// next claim on, on every worker, whatever cap the worker was configured with; cleared, the
/// configured cap is back.
#[sqlx::test(migrations = false)]
async fn claims_apply_the_running_cap_an_admin_set_at_runtime(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = pool_options.connect_with(connect).await.expect("a pool");
    store::db::migrate(&pool).await.expect("migrated");
    queue_tasks(&pool, "owner", 6).await;
    let lease = Duration::from_secs(30);
    let change = |cap: Option<i32>| store::limits::LimitsChange {
        max_running_per_session: Some(cap),
        ..store::limits::LimitsChange::default()
    };
    store::limits::update(&pool, &change(Some(1)), "admin")
        .await
        .expect("an override");
    let claimed = store::queue::claim_batch(&pool, "w1", lease, 4, 10)
        .await
        .expect("a claim");
    assert_eq!(
        claimed.len(),
        1,
        "the override (1), not the worker's cap (4)"
    );
    assert!(
        store::queue::claim(&pool, "w2", lease, 4)
            .await
            .expect("a claim")
            .is_none(),
        "a single claim holds the override too"
    );
    store::limits::update(&pool, &change(Some(3)), "admin")
        .await
        .expect("an override");
    let more = store::queue::claim_batch(&pool, "w2", lease, 4, 10)
        .await
        .expect("a claim");
    assert_eq!(more.len(), 2, "up to the raised cap of 3");
    store::limits::update(&pool, &change(None), "admin")
        .await
        .expect("cleared");
    let rest = store::queue::claim_batch(&pool, "w1", lease, 4, 10)
        .await
        .expect("a claim");
    assert_eq!(rest.len(), 1, "the worker's own cap of 4 again");
}

/// One claim fills many slots: the oldest tasks first, each owner's only up to its cap (its
/// rows past the cap are left queued for later, not lost), and the tasks of a dead worker
/// before any queued one.
#[sqlx::test(migrations = false)]
async fn a_batch_claim_takes_the_oldest_tasks_up_to_each_owners_cap(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = pool_options.connect_with(connect).await.expect("a pool");
    store::db::migrate(&pool).await.expect("migrated");
    queue_tasks(&pool, "busy", 5).await;
    queue_tasks(&pool, "calm", 3).await;
    let lease = Duration::from_secs(30);
    let claimed = store::queue::claim_batch(&pool, "w1", lease, 2, 10)
        .await
        .expect("a claim");
    let mut owners: Vec<&str> = claimed.iter().map(|task| task.owner.as_str()).collect();
    owners.sort_unstable();
    assert_eq!(
        owners,
        ["busy", "busy", "calm", "calm"],
        "two each, the cap"
    );
    assert!(
        claimed
            .iter()
            .all(|task| task.attempt == 1 && !task.reclaimed)
    );
    let oldest_busy: Vec<String> = sqlx::query_scalar(
        "select cache_key from tasks where owner_session = 'busy' and status = 'running'
         order by cache_key",
    )
    .fetch_all(&pool)
    .await
    .expect("running");
    assert_eq!(oldest_busy, ["busy1", "busy2"], "the owner's oldest first");

    // A batch never takes more than it asks for.
    sqlx::query("update tasks set status = 'queued', lease_owner = null, lease_expires_at = null, attempts = 0")
        .execute(&pool)
        .await
        .expect("all queued again");
    let claimed = store::queue::claim_batch(&pool, "w1", lease, 100, 3)
        .await
        .expect("a claim");
    assert_eq!(claimed.len(), 3);

    // A dead worker's tasks come back before the queue.
    sqlx::query(
        "update tasks set lease_expires_at = now() - interval '1 second' where status = 'running'",
    )
    .execute(&pool)
    .await
    .expect("leases run out");
    let reclaimed = store::queue::claim_batch(&pool, "w2", lease, 100, 10)
        .await
        .expect("a claim");
    assert_eq!(reclaimed.len(), 3);
    assert!(
        reclaimed
            .iter()
            .all(|task| task.reclaimed && task.attempt == 2)
    );
    let rest = store::queue::claim_batch(&pool, "w2", lease, 100, 10)
        .await
        .expect("a claim");
    assert_eq!(rest.len(), 5, "then the queued ones");
    assert!(
        store::queue::claim_batch(&pool, "w2", lease, 100, 10)
            .await
            .expect("a claim")
            .is_empty()
    );
}

/// Workers claiming batches at the same instant never take more than an owner's cap, and take
/// every other owner's tasks meanwhile.
#[sqlx::test(migrations = false)]
async fn simultaneous_batch_claims_keep_to_each_owners_cap(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = pool_for_ten_workers(pool_options, connect).await;
    for round in 0..5 {
        sqlx::query("delete from tasks")
            .execute(&pool)
            .await
            .expect("an empty queue");
        queue_tasks(&pool, "greedy", 20).await;
        for owner in 0..10 {
            queue_tasks(&pool, &format!("one-{owner}"), 1).await;
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(10));
        let claims: Vec<_> = (0..10)
            .map(|worker| {
                let pool = pool.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let mut taken = 0;
                    // Each worker claims until the queue holds nothing it may take.
                    loop {
                        let batch = store::queue::claim_batch(
                            &pool,
                            &format!("w{worker}"),
                            Duration::from_secs(30),
                            2,
                            4,
                        )
                        .await
                        .expect("a claim");
                        if batch.is_empty() {
                            return taken;
                        }
                        taken += batch.len();
                    }
                })
            })
            .collect();
        let mut claimed = 0;
        for claim in claims {
            claimed += claim.await.expect("joined");
        }
        let greedy: i64 = sqlx::query_scalar(
            "select count(*) from tasks where status = 'running' and owner_session = 'greedy'",
        )
        .fetch_one(&pool)
        .await
        .expect("running");
        let running: i64 =
            sqlx::query_scalar("select count(*) from tasks where status = 'running'")
                .fetch_one(&pool)
                .await
                .expect("running");
        assert_eq!((greedy, running, claimed), (2, 12, 12), "round {round}");
    }
}
