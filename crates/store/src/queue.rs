//! The task queue on Postgres: claims under a lease, renewal, and every way a claim ends.
//!
//! A claim is `update … where id = (select … for update skip locked limit 1)`: concurrent workers
//! never wait on each other's rows and never take the same one. Every later write names the lease
//! owner and the attempt, so a worker whose lease ran out (and whose task another worker took) can
//! no longer change the task: its writes match no row.

use std::time::Duration;

use anyhow::Context;
use domain::{Framework, KeepPolicy, Language, ModelId, SourceFileName, TaskId, ValidationMode};
use sqlx::{PgPool, Row};

use crate::db::{is_transient, retry_transient};
use crate::limits::{record_spend, running_cap};
use crate::notify;
use crate::tasks::{TaskRow, full_columns};

/// A claimed task, with what the pipeline needs to run it.
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    pub id: TaskId,
    pub owner: String,
    pub language: Language,
    pub framework: Framework,
    pub model: ModelId,
    pub file_name: SourceFileName,
    pub source: String,
    pub cache_key: String,
    /// This claim's attempt, from 1.
    pub attempt: i32,
    pub max_attempts: i32,
    /// Set when the task was still running under an expired lease: the previous holder died.
    pub reclaimed: bool,
    /// A `DELETE` reached the task while its previous holder ran it.
    pub cancel_requested: bool,
    /// The W3C `traceparent` of the request that made the task, whose trace the work joins.
    pub traceparent: Option<String>,
    pub validate: ValidationMode,
    pub keep: KeepPolicy,
    /// The batch the task belongs to, whose repository checkout its tests run in.
    pub in_repository: Option<InRepository>,
}

/// A task of a repository batch: which batch, and where its tests go in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InRepository {
    pub batch_id: uuid::Uuid,
    pub test_path: String,
}

impl TryFrom<TaskRow> for ClaimedTask {
    type Error = anyhow::Error;

    fn try_from(row: TaskRow) -> anyhow::Result<ClaimedTask> {
        let language: Language = row.language.parse()?;
        Ok(ClaimedTask {
            id: TaskId::from_uuid(row.id),
            owner: row.owner_session,
            framework: Framework::parse_for(language, &row.framework)?,
            language,
            model: ModelId::parse(&row.model)?,
            file_name: SourceFileName::parse(&row.file_name)?,
            source: row.source.context("a claimed task's row has no source")?,
            cache_key: row.cache_key,
            attempt: row.attempts,
            max_attempts: row.max_attempts,
            reclaimed: false,
            cancel_requested: row.cancel_requested,
            traceparent: row.traceparent,
            validate: row.validate.parse()?,
            keep: row.keep.parse()?,
            in_repository: match (row.batch_id, row.test_path) {
                (Some(batch_id), Some(test_path)) => Some(InRepository {
                    batch_id,
                    test_path,
                }),
                _ => None,
            },
        })
    }
}

/// Who holds a claim: a worker and its attempt number.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    pub task: TaskId,
    pub owner: &'a str,
    pub attempt: i32,
}

/// The claim, in two statements that each walk one partial index in order and stop once they hold
/// `$4` rows they may take (so a claim costs the same with ten queued tasks or a hundred
/// thousand): first tasks still `running` under a lease that ran out, with attempts left (their
/// worker died; they have waited longest), then the oldest `queued` tasks. Neither takes a task of
/// an owner who already runs `max_running_per_owner` tasks under live leases, and of the rows a
/// statement holds it takes an owner's oldest only as far as that cap (`earlier` counts the
/// owner's rows ahead in the batch). Rows held and not taken are let go at the commit. Two
/// workers claiming for one owner at the same instant each see only the other's committed rows,
/// so [`claim`] and [`claim_batch`] then take the owners' locks and count again before they
/// commit: the cap holds however many workers claim.
macro_rules! claim_statement {
    ($claimable:literal, $order:literal, $key:literal) => {
        concat!(
            "with candidate as (
    select t.id as candidate_id, t.owner_session as candidate_owner, ",
            $key,
            " as candidate_key
    from tasks t
    where ",
            $claimable,
            "
      and (select count(*) from tasks r
           where r.owner_session = t.owner_session and r.status = 'running'
             and r.lease_expires_at >= now()) < ",
            running_cap!("$3"),
            "
    order by ",
            $order,
            "
    limit $4
    for update of t skip locked
),
taken as (
    select c.candidate_id
    from candidate c
    where (select count(*) from candidate earlier
           where earlier.candidate_owner = c.candidate_owner
             and (earlier.candidate_key, earlier.candidate_id) < (c.candidate_key, c.candidate_id))
        + (select count(*) from tasks r
           where r.owner_session = c.candidate_owner and r.status = 'running'
             and r.lease_expires_at >= now()) < ",
            running_cap!("$3"),
            "
)
update tasks
set status = 'running',
    attempts = tasks.attempts + 1,
    lease_owner = $1,
    lease_expires_at = now() + make_interval(secs => $2),
    started_at = coalesce(tasks.started_at, now()),
    updated_at = now()
from taken
where tasks.id = taken.candidate_id
returning ",
            full_columns!()
        )
    };
}

pub const CLAIM_EXPIRED: &str = claim_statement!(
    "t.status = 'running' and t.lease_expires_at < now() and t.attempts < t.max_attempts",
    "t.lease_expires_at",
    "t.lease_expires_at"
);
pub const CLAIM_QUEUED: &str =
    claim_statement!("t.status = 'queued'", "t.created_at, t.id", "t.created_at");

/// The owners' running tasks counted again, under their locks, in a statement that sees every
/// claim committed before it (and this one's): whether any owner is now over the cap.
const OWNERS_OVER_CAP: &str = concat!(
    "select coalesce(bool_or(running > ",
    running_cap!("$2"),
    "), false)
     from (select count(*) as running from tasks
           where owner_session = any($1) and status = 'running' and lease_expires_at >= now()
           group by owner_session) as owners"
);

/// Takes the owners' locks, always in the same (sorted) order so two claims never wait on each
/// other in a circle.
const LOCK_OWNERS: &str = "select pg_advisory_xact_lock(hashtextextended(owner, 0))
     from unnest($1::text[]) with ordinality as owners(owner, position)
     order by position";

/// Claims the next task for `worker`, if any.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
    max_running_per_owner: u32,
) -> anyhow::Result<Option<ClaimedTask>> {
    for (statement, reclaimed) in [(CLAIM_EXPIRED, true), (CLAIM_QUEUED, false)] {
        let mut transaction = pool.begin().await.context("cannot claim a task")?;
        let row: Option<TaskRow> = sqlx::query_as(statement)
            .bind(worker)
            .bind(lease.as_secs_f64())
            .bind(i64::from(max_running_per_owner))
            .bind(1_i64)
            .fetch_optional(&mut *transaction)
            .await
            .context("cannot claim a task")?;
        let Some(row) = row else {
            continue;
        };
        // One claim per owner at a time: the count is taken again under the owner's lock, in a
        // statement that sees every claim committed before it (and this one).
        sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(&row.owner_session)
            .execute(&mut *transaction)
            .await
            .context("cannot lock the task's owner")?;
        let over_cap: bool = sqlx::query_scalar(OWNERS_OVER_CAP)
            .bind(vec![row.owner_session.clone()])
            .bind(i64::from(max_running_per_owner))
            .fetch_one(&mut *transaction)
            .await
            .context("cannot count the owner's running tasks")?;
        if over_cap {
            // Another worker took the owner's last slot meanwhile: the task stays as it was.
            transaction
                .rollback()
                .await
                .context("cannot give a claim back")?;
            continue;
        }
        transaction.commit().await.context("cannot claim a task")?;
        let mut task = ClaimedTask::try_from(row)?;
        task.reclaimed = reclaimed;
        return Ok(Some(task));
    }
    Ok(None)
}

/// Claims up to `most` tasks for `worker` in one transaction: the tasks of dead workers first,
/// else the oldest queued ones, each owner's up to its cap. A worker with many free slots fills
/// them in a few round trips instead of eight per task. When another worker's simultaneous claim
/// took an owner's last slots, the batch is given back whole and one task is claimed as
/// [`claim`] does (so a busy owner never stalls the queue).
pub async fn claim_batch(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
    max_running_per_owner: u32,
    most: u32,
) -> anyhow::Result<Vec<ClaimedTask>> {
    let mut transaction = pool.begin().await.context("cannot claim tasks")?;
    let mut rows: Vec<TaskRow> = Vec::new();
    let mut reclaimed = false;
    for (statement, expired) in [(CLAIM_EXPIRED, true), (CLAIM_QUEUED, false)] {
        rows = sqlx::query_as(statement)
            .bind(worker)
            .bind(lease.as_secs_f64())
            .bind(i64::from(max_running_per_owner))
            .bind(i64::from(most.max(1)))
            .fetch_all(&mut *transaction)
            .await
            .context("cannot claim tasks")?;
        if !rows.is_empty() {
            reclaimed = expired;
            break;
        }
    }
    if rows.is_empty() {
        transaction.commit().await.context("cannot end a claim")?;
        return Ok(Vec::new());
    }
    let mut owners: Vec<&str> = rows.iter().map(|row| row.owner_session.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    sqlx::query(LOCK_OWNERS)
        .bind(&owners)
        .execute(&mut *transaction)
        .await
        .context("cannot lock the tasks' owners")?;
    let over_cap: bool = sqlx::query_scalar(OWNERS_OVER_CAP)
        .bind(&owners)
        .bind(i64::from(max_running_per_owner))
        .fetch_one(&mut *transaction)
        .await
        .context("cannot count the owners' running tasks")?;
    if over_cap {
        // Another worker took some owner's last slot meanwhile: the tasks stay as they were.
        transaction
            .rollback()
            .await
            .context("cannot give a claim back")?;
        return Ok(claim(pool, worker, lease, max_running_per_owner)
            .await?
            .into_iter()
            .collect());
    }
    transaction.commit().await.context("cannot claim tasks")?;
    let mut tasks = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.id;
        match ClaimedTask::try_from(row) {
            Ok(mut task) => {
                task.reclaimed = reclaimed;
                tasks.push(task);
            }
            // Its lease runs out, and it is reclaimed until its attempts are spent and the sweep
            // fails it: one unreadable row must not cost the batch's other tasks.
            Err(error) => {
                tracing::error!(task_id = %id, error = format!("{error:#}"), "a claimed task's row cannot be read");
            }
        }
    }
    Ok(tasks)
}

/// Tasks whose last attempt's lease ran out: their worker died on the last try. They fail with
/// what happened, so nothing stays `running` forever. Returns the ids it failed.
pub async fn fail_exhausted(pool: &PgPool) -> anyhow::Result<Vec<TaskId>> {
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "update tasks
         set status = 'failed', finished_at = now(), updated_at = now(),
             error_code = 'worker_lost',
             error_message = format('the worker running attempt %s of %s stopped without \
                                     finishing, and no attempt is left', attempts, max_attempts),
             lease_owner = null, lease_expires_at = null
         where status = 'running' and lease_expires_at < now() and attempts >= max_attempts
         returning id",
    )
    .fetch_all(pool)
    .await
    .context("cannot fail tasks out of attempts")?;
    Ok(ids.into_iter().map(TaskId::from_uuid).collect())
}

/// What a renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Renewed {
        cancel_requested: bool,
    },
    /// The lease is gone: another worker holds the task, or it ended.
    Lost,
}

pub async fn renew(pool: &PgPool, lease: Lease<'_>, length: Duration) -> anyhow::Result<Renewal> {
    let cancel: Option<bool> = sqlx::query_scalar(
        "update tasks set lease_expires_at = now() + make_interval(secs => $4), updated_at = now()
         where id = $1 and status = 'running' and lease_owner = $2 and attempts = $3
         returning cancel_requested",
    )
    .bind(lease.task.as_uuid())
    .bind(lease.owner)
    .bind(lease.attempt)
    .bind(length.as_secs_f64())
    .fetch_optional(pool)
    .await
    .context("cannot renew the lease")?;
    Ok(match cancel {
        Some(cancel_requested) => Renewal::Renewed { cancel_requested },
        None => Renewal::Lost,
    })
}

/// The units a running task has done, as a worker last saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitsDone {
    pub task: TaskId,
    pub attempt: i32,
    pub done: u32,
    pub total: u32,
}

/// Writes the units done of many running tasks of `owner` in one statement, each row only while
/// that attempt still holds it. Progress on the row is for readers who do not follow the events
/// (`GET /api/tasks/{id}`, heartbeats, clients without Redis) and is written again, whole, when the
/// attempt ends: losing the last of these writes in a crash of Postgres costs nothing but a bar
/// that lags, so they commit without waiting for the WAL to reach the disk
/// (`synchronous_commit = off`, for this transaction only; a task's result never does). Returns
/// the rows written.
pub async fn record_progress(
    pool: &PgPool,
    owner: &str,
    progress: &[UnitsDone],
) -> anyhow::Result<u64> {
    if progress.is_empty() {
        return Ok(0);
    }
    let clamp = |count: u32| i32::try_from(count).unwrap_or(i32::MAX);
    let ids: Vec<uuid::Uuid> = progress.iter().map(|row| row.task.as_uuid()).collect();
    let attempts: Vec<i32> = progress.iter().map(|row| row.attempt).collect();
    let done: Vec<i32> = progress.iter().map(|row| clamp(row.done)).collect();
    let totals: Vec<i32> = progress.iter().map(|row| clamp(row.total)).collect();
    let mut transaction = pool.begin().await.context("cannot record progress")?;
    sqlx::query("set local synchronous_commit = off")
        .execute(&mut *transaction)
        .await
        .context("cannot record progress")?;
    let written = sqlx::query(
        "update tasks
         set progress_done = p.done, progress_total = p.total, updated_at = now()
         from unnest($2::uuid[], $3::int[], $4::int[], $5::int[]) as p(id, attempt, done, total)
         where tasks.id = p.id and tasks.status = 'running' and tasks.lease_owner = $1
           and tasks.attempts = p.attempt",
    )
    .bind(owner)
    .bind(&ids)
    .bind(&attempts)
    .bind(&done)
    .bind(&totals)
    .execute(&mut *transaction)
    .await
    .context("cannot record progress")?;
    transaction
        .commit()
        .await
        .context("cannot record progress")?;
    Ok(written.rows_affected())
}

/// What a successful run stores.
#[derive(Debug, Clone)]
pub struct Success<'a> {
    pub file_name: &'a str,
    pub code: &'a str,
    pub units: &'a serde_json::Value,
    pub warnings: &'a serde_json::Value,
    pub model_used: &'a str,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub retries: u32,
    pub total_units: u32,
    /// What running the tests found ([`domain::Validation`]).
    pub validation: &'a serde_json::Value,
}

/// Stores the result. `false` when the lease was lost meanwhile (the result is then not stored:
/// the task belongs to someone else).
#[tracing::instrument(name = "db.succeed_task", skip_all)]
pub async fn succeed(
    pool: &PgPool,
    lease: Lease<'_>,
    success: &Success<'_>,
) -> anyhow::Result<bool> {
    let total = i32::try_from(success.total_units).unwrap_or(i32::MAX);
    let done = retry_transient(is_transient, || {
        sqlx::query(concat!(
            "with ended as (
             update tasks
             set status = 'succeeded', finished_at = now(), updated_at = now(),
                 result_file_name = $4, result_code = $5, result_units = $6, warnings = $7,
                 model_used = $8, prompt_tokens = prompt_tokens + $9,
                 completion_tokens = completion_tokens + $10, provider_retries = provider_retries + $11,
                 progress_done = $12, progress_total = $12, validation = $13,
                 error_code = null, error_message = null, lease_owner = null, lease_expires_at = null
             where id = $1 and status = 'running' and lease_owner = $2 and attempts = $3
             returning coalesce(model_used, model) as model, owner_session, client_key
             ), ",
            record_spend!("$9", "$10"),
            " select count(*) from ended"
        ))
        .bind(lease.task.as_uuid())
        .bind(lease.owner)
        .bind(lease.attempt)
        .bind(success.file_name)
        .bind(success.code)
        .bind(success.units)
        .bind(success.warnings)
        .bind(success.model_used)
        .bind(i64::try_from(success.prompt_tokens).unwrap_or(i64::MAX))
        .bind(i64::try_from(success.completion_tokens).unwrap_or(i64::MAX))
        .bind(i32::try_from(success.retries).unwrap_or(i32::MAX))
        .bind(total)
        .bind(success.validation)
        .fetch_one(pool)
    })
    .await
    .context("cannot store the result")?;
    Ok(done.get::<i64, _>(0) == 1)
}

/// How an attempt that did not succeed ends.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    pub code: &'a str,
    pub message: &'a str,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub retries: u32,
    /// What running the tests found, when the task failed because none passed.
    pub validation: Option<&'a serde_json::Value>,
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Back in the queue for another attempt.
    Requeued,
    Failed,
    /// The lease was lost meanwhile; nothing was written.
    LeaseLost,
}

/// Ends the attempt: back to the queue when `retry` and attempts are left, else failed. The error is
/// kept on the row either way, so the last one is what a failed task reports.
#[tracing::instrument(name = "db.fail_task", skip_all)]
pub async fn fail(
    pool: &PgPool,
    lease: Lease<'_>,
    failure: &Failure<'_>,
    retry: bool,
) -> anyhow::Result<AfterFailure> {
    let status: Option<String> = retry_transient(is_transient, || {
        sqlx::query_scalar(concat!(
            "with ended as (
             update tasks
             set status = case when $4 and attempts < max_attempts then 'queued' else 'failed' end,
                 finished_at = case when $4 and attempts < max_attempts then null else now() end,
                 updated_at = now(), error_code = $5, error_message = $6,
                 prompt_tokens = prompt_tokens + $7, completion_tokens = completion_tokens + $8,
                 provider_retries = provider_retries + $9,
                 validation = coalesce($10, validation),
                 lease_owner = null, lease_expires_at = null
             where id = $1 and status = 'running' and lease_owner = $2 and attempts = $3
             returning status, model, owner_session, client_key
             ), ",
            record_spend!("$7", "$8"),
            " select status from ended"
        ))
        .bind(lease.task.as_uuid())
        .bind(lease.owner)
        .bind(lease.attempt)
        .bind(retry)
        .bind(failure.code)
        .bind(failure.message)
        .bind(i64::try_from(failure.prompt_tokens).unwrap_or(i64::MAX))
        .bind(i64::try_from(failure.completion_tokens).unwrap_or(i64::MAX))
        .bind(i32::try_from(failure.retries).unwrap_or(i32::MAX))
        .bind(failure.validation)
        .fetch_optional(pool)
    })
    .await
    .context("cannot record the failure")?;
    Ok(match status.as_deref() {
        Some("queued") => AfterFailure::Requeued,
        Some(_) => AfterFailure::Failed,
        None => AfterFailure::LeaseLost,
    })
}

/// Ends the attempt as cancelled (a `DELETE` asked for it).
#[tracing::instrument(name = "db.cancel_task", skip_all)]
pub async fn cancel(pool: &PgPool, lease: Lease<'_>) -> anyhow::Result<bool> {
    let done = retry_transient(is_transient, || {
        sqlx::query(
            "update tasks
             set status = 'cancelled', finished_at = now(), updated_at = now(),
                 lease_owner = null, lease_expires_at = null
             where id = $1 and status = 'running' and lease_owner = $2 and attempts = $3",
        )
        .bind(lease.task.as_uuid())
        .bind(lease.owner)
        .bind(lease.attempt)
        .execute(pool)
    })
    .await
    .context("cannot mark the task cancelled")?;
    Ok(done.rows_affected() == 1)
}

/// Gives the task back at shutdown: queued again at once, and the attempt does not count, since
/// nothing went wrong with the task.
#[tracing::instrument(name = "db.release_task", skip_all)]
pub async fn release(pool: &PgPool, lease: Lease<'_>) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "update tasks
         set status = 'queued', attempts = greatest(attempts - 1, 0), updated_at = now(),
             lease_owner = null, lease_expires_at = null
         where id = $1 and status = 'running' and lease_owner = $2 and attempts = $3",
    )
    .bind(lease.task.as_uuid())
    .bind(lease.owner)
    .bind(lease.attempt)
    .execute(pool)
    .await
    .context("cannot release the task")?;
    if done.rows_affected() == 1 {
        // Wake the other workers: the task is theirs to take now.
        sqlx::query("select pg_notify($1, $2)")
            .bind(notify::TASK_QUEUED)
            .bind(lease.task.to_string())
            .execute(pool)
            .await
            .context("cannot announce the released task")?;
    }
    Ok(done.rows_affected() == 1)
}

/// Queued tasks and running tasks, for the queue-depth gauges: the queued ones from the counters
/// the triggers keep (migration `queue_depth_counter`), not by counting a long queue; the running
/// ones are few (the workers' slots) and counted.
pub async fn depth(pool: &PgPool) -> anyhow::Result<(i64, i64)> {
    let (queued, running): (i64, i64) = sqlx::query_as(
        "select (select coalesce(sum(queued), 0) from queue_depth)::bigint,
                (select count(*) from tasks where status = 'running')",
    )
    .fetch_one(pool)
    .await
    .context("cannot count the queue")?;
    Ok((queued, running))
}
