//! The units done of running tasks, written in one statement by a worker, against the real
//! Postgres of `DATABASE_URL` (a fresh database per test, from `#[sqlx::test]`): only rows the
//! worker holds under the attempt it names change.

use std::time::Duration;

use domain::{CacheKey, ModelId, RawSource, RawTaskRequest, SourceLimits, TaskId, TaskSpec};
use sqlx::PgPool;
use store::queue::{self, UnitsDone};
use store::tasks::{self, Caps, Created, NewTask};

const OPEN_CAPS: Caps = Caps {
    max_queued_per_owner: 1_000,
    max_queued_per_client: 1_000,
    max_queue_depth: 1_000,
};

async fn queue_one(pool: &PgPool, number: usize) -> TaskId {
    let spec = TaskSpec::parse(
        RawTaskRequest {
            source: RawSource::Text(format!("def f_{number}(a):\n    return a + {number}\n")),
            filename: Some("calc.py".into()),
            ..RawTaskRequest::default()
        },
        SourceLimits::default(),
        &ModelId::parse("offline").expect("a model id"),
    )
    .expect("a valid request");
    let cache_key = CacheKey::for_spec(&spec);
    let new = NewTask {
        owner: "owner",
        spec: &spec,
        cache_key: &cache_key,
        idempotency_key: None,
        max_attempts: 3,
        traceparent: None,
        create_token: None,
        client: None,
    };
    match tasks::create_task(pool, &new, None, OPEN_CAPS).await {
        Ok(Created::Queued { task, .. }) => task.task_id(),
        _ => panic!("a new source must be queued"),
    }
}

async fn progress_of(pool: &PgPool, task: TaskId) -> (i32, i32) {
    sqlx::query_as("select progress_done, progress_total from tasks where id = $1")
        .bind(task.as_uuid())
        .fetch_one(pool)
        .await
        .expect("the task's progress")
}

#[sqlx::test(migrator = "store::db::MIGRATOR")]
async fn only_the_rows_held_under_the_named_attempt_are_written(pool: PgPool) {
    let first = queue_one(&pool, 1).await;
    let second = queue_one(&pool, 2).await;
    let waiting = queue_one(&pool, 3).await;
    let claimed = queue::claim_batch(&pool, "worker-a", Duration::from_secs(60), 100, 2)
        .await
        .expect("the claim");
    let claimed: Vec<TaskId> = claimed.iter().map(|task| task.id).collect();
    assert_eq!(claimed, [first, second], "the two oldest are claimed");

    let units = |task: TaskId, attempt: i32, done: u32| UnitsDone {
        task,
        attempt,
        done,
        total: 4,
    };
    let written = queue::record_progress(
        &pool,
        "worker-a",
        &[
            units(first, 1, 2),
            // Not this attempt: a later one, or an earlier one's late write.
            units(second, 2, 3),
            // Still queued: no worker holds it.
            units(waiting, 1, 1),
        ],
    )
    .await
    .expect("the progress");
    assert_eq!(written, 1);
    assert_eq!(progress_of(&pool, first).await, (2, 4));
    assert_eq!(progress_of(&pool, second).await, (0, 0));
    assert_eq!(progress_of(&pool, waiting).await, (0, 0));

    // Another worker's write changes nothing of this one's tasks.
    let foreign = queue::record_progress(&pool, "worker-b", &[units(first, 1, 4)])
        .await
        .expect("the progress");
    assert_eq!(foreign, 0);
    assert_eq!(progress_of(&pool, first).await, (2, 4));
    assert_eq!(
        queue::record_progress(&pool, "worker-a", &[])
            .await
            .expect("nothing to write"),
        0
    );
}
