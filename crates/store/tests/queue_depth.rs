//! The queue's depth kept by the table's triggers, and the queue positions read from it, against
//! the real Postgres of `DATABASE_URL` (a fresh database per test, from `#[sqlx::test]`): the
//! depth equals `count(*)` after every way into and out of the queue and in every snapshot while
//! creates, claims, requeues and cancels run at once; so do the counts per span of creation time
//! the positions are read from, and positions equal the first-come count.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::{CacheKey, ModelId, RawSource, RawTaskRequest, SourceLimits, TaskId, TaskSpec};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use store::queue::{self, AfterFailure, Failure, Lease};
use store::tasks::{self, Caps, Created, NewTask};

const OPEN_CAPS: Caps = Caps {
    max_queued_per_owner: 1_000_000,
    max_queued_per_client: 1_000_000,
    max_queue_depth: 1_000_000,
};

fn spec(number: usize) -> TaskSpec {
    TaskSpec::parse(
        RawTaskRequest {
            source: RawSource::Text(format!("def f_{number}(a):\n    return a + {number}\n")),
            filename: Some("calc.py".into()),
            ..RawTaskRequest::default()
        },
        SourceLimits::default(),
        &ModelId::parse("offline").expect("a model id"),
    )
    .expect("a valid request")
}

/// Queues one task of `owner`; its id and the place the create answered.
async fn create(pool: &PgPool, owner: &str, number: usize) -> (TaskId, i64) {
    let spec = spec(number);
    let cache_key = CacheKey::for_spec(&spec);
    let new = NewTask {
        owner,
        spec: &spec,
        cache_key: &cache_key,
        idempotency_key: None,
        max_attempts: 3,
        traceparent: None,
        create_token: None,
        client: None,
    };
    match tasks::create_task(pool, &new, None, OPEN_CAPS)
        .await
        .expect("the create")
    {
        Created::Queued { task, position } => (task.task_id(), position),
        _ => panic!("a new source must be queued"),
    }
}

/// The counters' sum and `count(*)`, read in one statement, so in one snapshot.
async fn depth_and_count(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "select (select coalesce(sum(queued), 0) from queue_depth)::bigint, \
                (select count(*) from tasks where status = 'queued')",
    )
    .fetch_one(pool)
    .await
    .expect("the depth")
}

/// The buckets of `queue_rank` whose sum of rows differs from the queued tasks counted in them,
/// in one statement, so in one snapshot.
async fn rank_mismatches(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "with counted as ( \
             select level, queue_rank_micros(created_at) >> (10 + 6 * level) as bucket, \
                 count(*) as queued \
             from tasks, generate_series(0, 4) as level where status = 'queued' group by 1, 2), \
         kept as (select level, bucket, sum(queued) as queued from queue_rank group by 1, 2) \
         select count(*) from counted full join kept using (level, bucket) \
         where counted.queued is distinct from kept.queued",
    )
    .fetch_one(pool)
    .await
    .expect("the counts per bucket")
}

async fn assert_exact(pool: &PgPool, after: &str) {
    let (depth, count) = depth_and_count(pool).await;
    assert_eq!(depth, count, "the depth after {after}");
    assert_eq!(rank_mismatches(pool).await, 0, "the buckets after {after}");
}

/// Every queued task's place as `queue_place` reads it against the first-come count, in one
/// statement: the tasks whose two differ, and how many were compared.
async fn place_mismatches(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "select count(*) filter (where queue_place(t.created_at, t.id) <> \
                     (select count(*) + 1 from tasks q where q.status = 'queued' \
                      and (q.created_at, q.id) < (t.created_at, t.id))), \
                 count(*) \
         from tasks t where t.status = 'queued'",
    )
    .fetch_one(pool)
    .await
    .expect("the places")
}

/// The first-come place as the api defined it before the depth was kept: one more than the
/// queued tasks before it, counted.
async fn counted_position(pool: &PgPool, id: TaskId) -> Option<i64> {
    sqlx::query_scalar(
        "select (select count(*) + 1 from tasks q where q.status = 'queued' \
                 and (q.created_at, q.id) < (t.created_at, t.id)) \
         from tasks t where t.id = $1 and t.status = 'queued'",
    )
    .bind(id.as_uuid())
    .fetch_optional(pool)
    .await
    .expect("the counted place")
}

async fn owner_of(pool: &PgPool, id: TaskId) -> String {
    sqlx::query_scalar("select owner_session from tasks where id = $1")
        .bind(id.as_uuid())
        .fetch_one(pool)
        .await
        .expect("the owner")
}

#[sqlx::test(migrator = "store::db::MIGRATOR")]
async fn the_depth_follows_every_way_into_and_out_of_the_queue(pool: PgPool) {
    assert_exact(&pool, "the migrations").await;
    let mut ids = Vec::new();
    for number in 0..6 {
        ids.push(
            create(&pool, &format!("owner-{}", number % 2), number)
                .await
                .0,
        );
    }
    assert_eq!(depth_and_count(&pool).await, (6, 6));

    let lease_length = Duration::from_secs(60);
    let claimed = queue::claim(&pool, "worker-a", lease_length, 10)
        .await
        .expect("a claim")
        .expect("a queued task");
    assert_eq!(depth_and_count(&pool).await, (5, 5), "after a claim");
    assert_exact(&pool, "after a claim").await;
    let lease = Lease {
        task: claimed.id,
        owner: "worker-a",
        attempt: claimed.attempt,
    };
    let failure = Failure {
        code: "model_error",
        message: "the model failed",
        prompt_tokens: 0,
        completion_tokens: 0,
        retries: 0,
        validation: None,
    };
    assert_eq!(
        queue::fail(&pool, lease, &failure, true)
            .await
            .expect("a requeue"),
        AfterFailure::Requeued
    );
    assert_eq!(depth_and_count(&pool).await, (6, 6), "after a requeue");
    assert_exact(&pool, "after a requeue").await;

    let claimed = queue::claim(&pool, "worker-a", lease_length, 10)
        .await
        .expect("a claim")
        .expect("a queued task");
    let lease = Lease {
        task: claimed.id,
        owner: "worker-a",
        attempt: claimed.attempt,
    };
    assert!(queue::release(&pool, lease).await.expect("a release"));
    assert_eq!(depth_and_count(&pool).await, (6, 6), "after a release");
    assert_exact(&pool, "after a release").await;

    let last = ids[5];
    let cancelled = tasks::cancel_task(&pool, &owner_of(&pool, last).await, last)
        .await
        .expect("a cancel");
    assert!(matches!(cancelled, tasks::Cancelled::Now(_)));
    assert_eq!(depth_and_count(&pool).await, (5, 5), "after a cancel");
    assert_exact(&pool, "after a cancel").await;

    // Updates that do not change the status leave the depth alone; a delete takes its task out.
    sqlx::query("update tasks set progress_total = 3, updated_at = now()")
        .execute(&pool)
        .await
        .expect("an update");
    sqlx::query("delete from tasks where id = $1")
        .bind(ids[4].as_uuid())
        .execute(&pool)
        .await
        .expect("a delete");
    assert_eq!(depth_and_count(&pool).await, (4, 4), "after a delete");
    assert_exact(&pool, "after a delete").await;

    // A rolled-back change counts for nothing, and a change rolled back to a savepoint for
    // nothing either while the rest of its transaction counts.
    let mut transaction = pool.begin().await.expect("a transaction");
    sqlx::query(
        "update tasks set status = 'cancelled', finished_at = now() where status = 'queued'",
    )
    .execute(&mut *transaction)
    .await
    .expect("an update");
    transaction.rollback().await.expect("a rollback");
    let mut transaction = pool.begin().await.expect("a transaction");
    sqlx::query(
        "update tasks set status = 'cancelled', finished_at = now() \
         where id = (select id from tasks where status = 'queued' order by id limit 1)",
    )
    .execute(&mut *transaction)
    .await
    .expect("an update");
    sqlx::query("savepoint before_delete")
        .execute(&mut *transaction)
        .await
        .expect("a savepoint");
    sqlx::query("delete from tasks where status = 'queued'")
        .execute(&mut *transaction)
        .await
        .expect("a delete");
    sqlx::query("rollback to savepoint before_delete")
        .execute(&mut *transaction)
        .await
        .expect("a rollback to the savepoint");
    transaction.commit().await.expect("a commit");
    assert_eq!(depth_and_count(&pool).await, (3, 3), "after the rollbacks");
    assert_exact(&pool, "after the rollbacks").await;

    // A bulk statement counts every row it changes.
    sqlx::query(
        "insert into tasks (id, owner_session, language, framework, model, file_name, source, \
             source_sha256, cache_key) \
         select gen_random_uuid(), 'bulk', 'python', 'pytest', 'offline', 'calc.py', 'x', 'h', \
             'k' || n from generate_series(1, 500) as n",
    )
    .execute(&pool)
    .await
    .expect("a bulk insert");
    assert_eq!(
        depth_and_count(&pool).await,
        (503, 503),
        "after a bulk insert"
    );
    assert_exact(&pool, "a bulk insert").await;
    // Tasks created at one instant (one transaction's) are told apart by their ids, and a change
    // of a queued task's creation time moves it from one bucket to another.
    assert_eq!(place_mismatches(&pool).await.0, 0, "after a bulk insert");
    sqlx::query(
        "update tasks set created_at = created_at - (get_byte(uuid_send(id), 15) % 7) \
             * interval '3 hours 1 millisecond' \
         where owner_session = 'bulk' and get_byte(uuid_send(id), 14) % 2 = 0",
    )
    .execute(&pool)
    .await
    .expect("spread");
    assert_exact(&pool, "creation times changed").await;
    assert_eq!(
        place_mismatches(&pool).await,
        (0, 503),
        "after creation times changed"
    );
    sqlx::query(
        "update tasks set status = 'cancelled', finished_at = now() \
         where owner_session = 'bulk' and get_byte(uuid_send(id), 13) % 3 <> 0",
    )
    .execute(&pool)
    .await
    .expect("a bulk cancel");
    assert_exact(&pool, "a bulk cancel").await;
    assert_eq!(place_mismatches(&pool).await.0, 0, "after a bulk cancel");

    sqlx::query("truncate tasks")
        .execute(&pool)
        .await
        .expect("a truncate");
    assert_eq!(depth_and_count(&pool).await, (0, 0), "after a truncate");
    assert_exact(&pool, "after a truncate").await;
    create(&pool, "owner-0", 100).await;
    assert_eq!(depth_and_count(&pool).await, (1, 1), "after a create");
    assert_exact(&pool, "after a create").await;
}

#[sqlx::test(migrations = false)]
async fn tasks_queued_before_the_counters_existed_are_counted(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = pool_options
        .connect_with(connect)
        .await
        .expect("the test database");
    // Every migration before the counters', then tasks in every status, then the rest.
    let all = &store::db::MIGRATOR.migrations;
    let counters = all
        .iter()
        .position(|migration| migration.description.contains("queue depth counter"))
        .expect("the counters' migration");
    let mut before = sqlx::migrate::Migrator::DEFAULT;
    before.migrations = std::borrow::Cow::Borrowed(&all[..counters]);
    before.run(&pool).await.expect("the earlier migrations");
    sqlx::query(
        "insert into tasks (id, owner_session, status, language, framework, model, file_name, \
             source, source_sha256, cache_key, finished_at, lease_owner, lease_expires_at) \
         select gen_random_uuid(), 'early', s, 'python', 'pytest', 'offline', 'calc.py', 'x', \
             'h', 'k' || n, case when s = 'cancelled' then now() end, \
             case when s = 'running' then 'w' end, case when s = 'running' then now() end \
         from generate_series(1, 30) as n, \
              (values ('queued'), ('running'), ('cancelled')) as statuses(s)",
    )
    .execute(&pool)
    .await
    .expect("earlier tasks");
    store::db::migrate(&pool)
        .await
        .expect("the counters' migration");
    assert_eq!(depth_and_count(&pool).await, (30, 30));
    assert_exact(&pool, "the migrations").await;
    create(&pool, "later", 1).await;
    assert_eq!(depth_and_count(&pool).await, (31, 31));
    assert_exact(&pool, "a create").await;
    assert_eq!(place_mismatches(&pool).await, (0, 31));
}

#[sqlx::test(migrator = "store::db::MIGRATOR")]
async fn the_depth_and_the_places_are_exact_in_every_snapshot_while_everything_runs_at_once(
    pool: PgPool,
) {
    let creators: Vec<_> = (0..8)
        .map(|creator| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for number in 0..40 {
                    let owner = format!("owner-{creator}");
                    let (id, _) = create(&pool, &owner, creator * 1000 + number).await;
                    if number % 7 == 0 {
                        tasks::cancel_task(&pool, &owner, id)
                            .await
                            .expect("a cancel");
                    }
                }
            })
        })
        .collect();
    let creating = Arc::new(AtomicBool::new(true));
    let sent_back = Arc::new(Mutex::new(HashSet::new()));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let pool = pool.clone();
            let creating = Arc::clone(&creating);
            let sent_back = Arc::clone(&sent_back);
            tokio::spawn(async move {
                let name = format!("worker-{worker}");
                let mut batch = Vec::new();
                loop {
                    // Half the workers claim one task at a time, the others up to three at once
                    // (one commit taking tasks out of several buckets).
                    if batch.is_empty() {
                        batch = if worker % 2 == 0 {
                            queue::claim(&pool, &name, Duration::from_secs(60), 100)
                                .await
                                .expect("a claim")
                                .into_iter()
                                .collect()
                        } else {
                            queue::claim_batch(&pool, &name, Duration::from_secs(60), 100, 3)
                                .await
                                .expect("a claim")
                        };
                    }
                    let Some(claimed) = batch.pop() else {
                        if !creating.load(Ordering::SeqCst) {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    };
                    let lease = Lease {
                        task: claimed.id,
                        owner: &name,
                        attempt: claimed.attempt,
                    };
                    // Each task goes back to the queue once, through one door or the other.
                    let first_time = sent_back
                        .lock()
                        .expect("the set of tasks sent back")
                        .insert(claimed.id);
                    if first_time && claimed.id.as_uuid().as_u128() % 2 == 0 {
                        let failure = Failure {
                            code: "model_error",
                            message: "try again",
                            prompt_tokens: 0,
                            completion_tokens: 0,
                            retries: 0,
                            validation: None,
                        };
                        queue::fail(&pool, lease, &failure, true)
                            .await
                            .expect("a requeue");
                    } else if first_time {
                        queue::release(&pool, lease).await.expect("a release");
                    } else {
                        queue::cancel(&pool, lease).await.expect("an end");
                    }
                }
            })
        })
        .collect();
    let watcher = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut snapshots = 0;
            loop {
                let (depth, count) = depth_and_count(&pool).await;
                assert_eq!(depth, count, "in snapshot {snapshots}");
                assert_eq!(rank_mismatches(&pool).await, 0, "in snapshot {snapshots}");
                let (wrong, _) = place_mismatches(&pool).await;
                assert_eq!(wrong, 0, "places in snapshot {snapshots}");
                snapshots += 1;
                if snapshots >= 200 {
                    return snapshots;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    for creator in creators {
        creator.await.expect("a creator");
    }
    creating.store(false, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("a worker");
    }
    assert_eq!(watcher.await.expect("the watcher"), 200);
    let (depth, count) = depth_and_count(&pool).await;
    assert_eq!(depth, count);
    assert_exact(&pool, "everything ran at once").await;
    let total: i64 = sqlx::query_scalar("select count(*) from tasks")
        .fetch_one(&pool)
        .await
        .expect("the tasks");
    assert_eq!(total, 320, "every create made one task");
}

#[sqlx::test(migrator = "store::db::MIGRATOR")]
async fn positions_are_the_first_come_count_wherever_the_task_stands(pool: PgPool) {
    let mut ids = Vec::new();
    for number in 0..40 {
        let owner = format!("owner-{}", number % 5);
        let (id, position) = create(&pool, &owner, number).await;
        assert_eq!(
            Some(position),
            counted_position(&pool, id).await,
            "at create"
        );
        ids.push(id);
    }
    // Claims, cancels and tasks spread over the day (some made "earlier" than others), so the
    // places are not the creation order and the counts of every span are read.
    for _ in 0..6 {
        queue::claim(&pool, "worker", Duration::from_secs(60), 100)
            .await
            .expect("a claim");
    }
    for id in ids.iter().step_by(9) {
        tasks::cancel_task(&pool, &owner_of(&pool, *id).await, *id)
            .await
            .expect("a cancel");
    }
    sqlx::query(
        "update tasks set created_at = created_at - (get_byte(uuid_send(id), 15) % 24) * interval '1 hour'",
    )
    .execute(&pool)
    .await
    .expect("spread");
    let mut queued = 0;
    for id in &ids {
        let owner = owner_of(&pool, *id).await;
        let (_, position) = tasks::get_task_with_position(&pool, &owner, *id)
            .await
            .expect("a read")
            .expect("the task");
        let counted = counted_position(&pool, *id).await;
        assert_eq!(position, counted, "task {id}");
        queued += usize::from(counted.is_some());
    }
    assert!(queued > 20, "{queued} queued tasks compared");
    assert_exact(&pool, "spreading the tasks over a day").await;

    // Tasks on either side of the edges of the spans the counts are kept by (a microsecond
    // before, at and after the start of a millisecond, of the level above it, and of the top
    // level), three at each instant so ties are told apart by id.
    sqlx::query(
        "with now_micros as (select queue_rank_micros(now()) as m), \
         edges as (select shift, m - ((m >> shift) << shift) as since_edge \
                   from now_micros, unnest(array[10, 16, 22, 28, 34]) as shift) \
         insert into tasks (id, owner_session, language, framework, model, file_name, source, \
             source_sha256, cache_key, created_at) \
         select gen_random_uuid(), 'edges', 'python', 'pytest', 'offline', 'calc.py', 'x', 'h', \
             'edge', now() - (since_edge - offset_micros) * interval '1 microsecond' \
         from edges, unnest(array[-1025, -1024, -1, 0, 1, 1023, 1024]) as offset_micros, \
             generate_series(1, 3)",
    )
    .execute(&pool)
    .await
    .expect("tasks at the edges");
    assert_exact(&pool, "tasks at the edges").await;
    let (wrong, compared) = place_mismatches(&pool).await;
    assert_eq!(wrong, 0, "places of {compared} queued tasks");
    assert!(compared > 120, "{compared} queued tasks compared");
    for owner in 0..5 {
        let owner = format!("owner-{owner}");
        let oldest: Option<i64> = sqlx::query_scalar(
            "select (select count(*) + 1 from tasks q where q.status = 'queued' \
                     and (q.created_at, q.id) < (o.created_at, o.id)) \
             from tasks o where o.owner_session = $1 and o.status = 'queued' \
             order by o.created_at, o.id limit 1",
        )
        .bind(&owner)
        .fetch_optional(&pool)
        .await
        .expect("the counted place");
        assert_eq!(
            tasks::owner_position(&pool, &owner).await.expect("a place"),
            oldest,
            "{owner}"
        );
    }
    let counts = tasks::queue_counts(&pool, "owner-1").await.expect("counts");
    let (depth, _) = depth_and_count(&pool).await;
    assert_eq!(counts.queued, depth);
    assert_eq!(counts.running, 6);
}
