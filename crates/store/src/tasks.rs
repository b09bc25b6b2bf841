//! The task table: every query the api makes on it.

use chrono::{DateTime, Utc};
use domain::{CacheKey, Progress, TaskId, TaskSpec, TaskStatus};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::cache::CachedResult;
use crate::db::{is_transient, is_transient_anyhow, retry_transient};
use crate::limits::SpendScope;
use crate::notify;

// Column lists as macros, so queries are assembled with `concat!` at compile time: every SQL string
// here is a constant, and no value ever enters one except as a bound parameter.

/// Every column of a task.
macro_rules! full_columns {
    () => {
        "id, owner_session, status, language, framework, model, file_name, source, cache_key, \
         cache_hit, cancel_requested, result_file_name, result_code, error_code, error_message, \
         attempts, max_attempts, progress_done, progress_total, prompt_tokens, completion_tokens, \
         created_at, started_at, finished_at, updated_at, result_units, model_used, \
         provider_retries, warnings, traceparent, validate, keep, validation, batch_id, test_path"
    };
}
pub(crate) use full_columns;

/// The columns a listing shows: `source` and `result_code` (which can be large) are null there.
macro_rules! summary_columns {
    () => {
        "id, owner_session, status, language, framework, model, file_name, null::text as source, \
         cache_key, cache_hit, cancel_requested, result_file_name, null::text as result_code, \
         error_code, error_message, attempts, max_attempts, progress_done, progress_total, \
         prompt_tokens, completion_tokens, created_at, started_at, finished_at, updated_at, \
         null::jsonb as result_units, model_used, provider_retries, warnings, traceparent, \
         validate, keep, null::jsonb as validation, batch_id, test_path"
    };
}

/// The place in the queue (1 = next) of the queued task `t`, null for any other task. Claims go
/// oldest first, by `(created_at, id)`, so it is one more than the queued tasks before `t` in that
/// order. `queue_place` (migration `queue_rank_counts`) reads them from the counts the triggers of
/// `tasks` keep per span of creation time, and counts only the tasks of `t`'s own millisecond from
/// the queue's index: a few hundred small rows at most, wherever `t` stands in however long a queue.
/// It sees the statement's snapshot, so the place agrees with everything else the statement reads.
macro_rules! queue_position {
    ($t:literal) => {
        concat!(
            "case when ",
            $t,
            ".status = 'queued' then queue_place(",
            $t,
            ".created_at, ",
            $t,
            ".id) end"
        )
    };
}

/// The number of queued tasks, as of the statement's snapshot: the sum of the counters the
/// triggers of `tasks` keep (migration `queue_depth_counter`), 64 rows instead of the queue.
macro_rules! queue_depth {
    () => {
        "(select coalesce(sum(queued), 0) from queue_depth)::bigint"
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: Uuid,
    pub owner_session: String,
    pub status: String,
    pub language: String,
    pub framework: String,
    pub model: String,
    pub file_name: String,
    pub source: Option<String>,
    pub cache_key: String,
    pub cache_hit: bool,
    pub cancel_requested: bool,
    pub result_file_name: Option<String>,
    pub result_code: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub progress_done: i32,
    pub progress_total: i32,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Per unit, the tests a worker wrote (absent for cache hits and in listings).
    pub result_units: Option<serde_json::Value>,
    /// The model that answered, after any fallback.
    pub model_used: Option<String>,
    pub provider_retries: i32,
    /// Units left out of the result, and why.
    pub warnings: serde_json::Value,
    /// The W3C `traceparent` of the request that made the task, whose trace the work joins.
    pub traceparent: Option<String>,
    /// `run` or `syntax`.
    pub validate: String,
    /// `covering` or `passing`.
    pub keep: String,
    /// What running the tests found ([`domain::Validation`]); absent in listings and before the
    /// task ends.
    pub validation: Option<serde_json::Value>,
    /// The batch the task belongs to, and where its tests go in the batch's repository.
    pub batch_id: Option<Uuid>,
    pub test_path: Option<String>,
}

impl TaskRow {
    pub fn task_id(&self) -> TaskId {
        TaskId::from_uuid(self.id)
    }

    /// How far the units have come. No units known yet is nothing done (`of_units` would call an
    /// empty band full).
    pub fn progress(&self) -> Progress {
        let done = u32::try_from(self.progress_done).unwrap_or(0);
        let total = u32::try_from(self.progress_total).unwrap_or(0);
        if total == 0 {
            return Progress::start();
        }
        // The same band as the events the worker publishes, so a heartbeat never moves the bar
        // past (or back from) them.
        Progress::of_task_units(done, total)
    }

    /// The row's status; the check constraint keeps it one of the five.
    pub fn status(&self) -> anyhow::Result<TaskStatus> {
        Ok(self.status.parse()?)
    }
}

/// What a create request needs besides its spec.
pub struct NewTask<'a> {
    pub owner: &'a str,
    pub spec: &'a TaskSpec,
    pub cache_key: &'a CacheKey,
    pub idempotency_key: Option<&'a str>,
    pub max_attempts: i32,
    /// The W3C `traceparent` of the request that made the task; the worker's spans join its trace.
    pub traceparent: Option<&'a str>,
    /// The front door's token for this create request, the same on each of its retries.
    pub create_token: Option<&'a str>,
    /// The client the front door limits by, when a front door says.
    pub client: Option<&'a str>,
}

/// The per-session and global caps a new task must fit under, as configured; an admin's override
/// in `runtime_limits` takes their place (read by the create's own checks), and so do the daily
/// token budgets, which only an admin sets.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub max_queued_per_owner: i64,
    pub max_queued_per_client: i64,
    pub max_queue_depth: i64,
}

pub enum Created {
    /// A new queued task, and its place in the queue (1 = next).
    Queued {
        task: TaskRow,
        position: i64,
    },
    /// A new task answered at once from an earlier identical one.
    FromCache(TaskRow),
    /// The task this idempotency key already made.
    Replayed(TaskRow),
    /// The task an earlier attempt of this very request made (the front door retried it after
    /// losing the first answer). It may belong to the session that attempt made.
    Resumed(TaskRow),
    /// This idempotency key was used for a different request.
    KeyReused,
    OwnerQueueFull {
        queued: i64,
        limit: i64,
    },
    ClientQueueFull {
        queued: i64,
        limit: i64,
    },
    QueueFull {
        queued: i64,
    },
    /// The session or the client spent its daily token budget.
    BudgetSpent {
        scope: SpendScope,
        spent: i64,
        budget: i64,
    },
}

/// Creates a task, all decisions taken under a per-owner lock so that concurrent requests of one
/// session cannot overshoot its cap or both pass one idempotency key.
/// Tried again while Postgres is briefly away: the create token (or the idempotency key) makes a
/// retry after a lost commit answer find the task instead of making another.
#[tracing::instrument(name = "db.create_task", skip_all)]
pub async fn create_task(
    pool: &PgPool,
    new: &NewTask<'_>,
    cached: Option<&CachedResult>,
    caps: Caps,
) -> Result<Created, sqlx::Error> {
    retry_transient(is_transient, || create_task_once(pool, new, cached, caps)).await
}

async fn create_task_once(
    pool: &PgPool,
    new: &NewTask<'_>,
    cached: Option<&CachedResult>,
    caps: Caps,
) -> Result<Created, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if let Some(token) = new.create_token {
        // Attempts of one request may overlap (the first one's replica is dying, not yet dead):
        // they take turns, and the later one finds what the earlier one made.
        sqlx::query("select pg_advisory_xact_lock(hashtextextended('create:' || $1, 0))")
            .bind(token)
            .execute(&mut *tx)
            .await?;
        // The look-up's snapshot follows the token's lock; the owner's lock is taken in passing.
        let existing: Option<Uuid> = sqlx::query_scalar(
            "select (select id from tasks where create_token = $1) \
             from (select pg_advisory_xact_lock(hashtextextended($2, 0))) as owner_locked",
        )
        .bind(token)
        .bind(new.owner)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(existing) = existing {
            let existing = task_by_id(&mut tx, existing).await?;
            tx.commit().await?;
            return Ok(Created::Resumed(existing));
        }
    } else {
        sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(new.owner)
            .execute(&mut *tx)
            .await?;
    }

    // Everything the decision needs, in one statement after the owner's lock: its snapshot holds
    // every task of this owner committed before.
    let checks: Checks = sqlx::query_as(concat!(
        "select \
            (select id from tasks where owner_session = $1 and idempotency_key = $2) \
                as replayed_id, \
            (select count(*) from tasks where owner_session = $1 and status = 'queued') \
                as owner_queued, \
            case when $3::text is null then 0 else \
                (select count(*) from tasks where client_key = $3 and status = 'queued') end \
                as client_queued, ",
        queue_depth!(),
        " as queued, \
            limits.max_queued_per_session as max_owner_queued, \
            limits.max_queued_per_client as max_client_queued, \
            limits.max_queue_depth as max_queued, \
            limits.daily_tokens_per_session as session_budget, \
            limits.daily_tokens_per_client as client_budget, \
            case when limits.daily_tokens_per_session is null then 0 else coalesce( \
                (select tokens from token_spend_daily where day = (now() at time zone 'utc')::date \
                 and scope = 'session' and holder = $1), 0) end as session_spent, \
            case when limits.daily_tokens_per_client is null or $3::text is null then 0 \
                else coalesce( \
                (select tokens from token_spend_daily where day = (now() at time zone 'utc')::date \
                 and scope = 'client' and holder = $3), 0) end as client_spent \
         from runtime_limits as limits"
    ))
    .bind(new.owner)
    .bind(new.idempotency_key)
    .bind(new.client)
    .fetch_one(&mut *tx)
    .await?;

    if let Some(existing) = checks.replayed_id {
        let existing = task_by_id(&mut tx, existing).await?;
        tx.commit().await?;
        return Ok(if existing.cache_key == new.cache_key.as_str() {
            Created::Replayed(existing)
        } else {
            Created::KeyReused
        });
    }

    if let Some(cached) = cached {
        let task = insert(&mut tx, new, Some(cached)).await?;
        tx.commit().await?;
        return Ok(Created::FromCache(task));
    }

    // A task answered from the cache costs no tokens; one that runs may, so a spent budget stops
    // it here (a running task may still take its holder past the budget: the last one of the day).
    for (scope, spent, budget) in [
        (
            SpendScope::Session,
            checks.session_spent,
            checks.session_budget,
        ),
        (
            SpendScope::Client,
            checks.client_spent,
            checks.client_budget,
        ),
    ] {
        if let Some(budget) = budget
            && spent >= budget
        {
            return Ok(Created::BudgetSpent {
                scope,
                spent,
                budget,
            });
        }
    }
    let max_owner_queued = checks
        .max_owner_queued
        .map_or(caps.max_queued_per_owner, i64::from);
    if checks.owner_queued >= max_owner_queued {
        return Ok(Created::OwnerQueueFull {
            queued: checks.owner_queued,
            limit: max_owner_queued,
        });
    }
    // One client with many sessions (or none: every cookie-less request gets a new one).
    // Concurrent creates of one client under different sessions may pass this together; the
    // front door's create rate bounds by how much.
    let max_client_queued = checks
        .max_client_queued
        .map_or(caps.max_queued_per_client, i64::from);
    if new.client.is_some() && checks.client_queued >= max_client_queued {
        return Ok(Created::ClientQueueFull {
            queued: checks.client_queued,
            limit: max_client_queued,
        });
    }
    if checks.queued >= checks.max_queued.map_or(caps.max_queue_depth, i64::from) {
        return Ok(Created::QueueFull {
            queued: checks.queued,
        });
    }

    let queued = insert_queued(&mut tx, new).await?;
    tx.commit().await?;
    Ok(Created::Queued {
        task: queued.task,
        position: queued.position,
    })
}

/// What the create transaction reads before deciding.
#[derive(sqlx::FromRow)]
struct Checks {
    /// The task this idempotency key already made.
    replayed_id: Option<Uuid>,
    owner_queued: i64,
    client_queued: i64,
    queued: i64,
    /// An admin's overrides of the caps, and the daily budgets.
    max_owner_queued: Option<i32>,
    max_client_queued: Option<i32>,
    max_queued: Option<i32>,
    session_budget: Option<i64>,
    client_budget: Option<i64>,
    /// Tokens spent today, read only when the budget is set.
    session_spent: i64,
    client_spent: i64,
}

async fn task_by_id(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<TaskRow, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        full_columns!(),
        " from tasks where id = $1"
    ))
    .bind(id)
    .fetch_one(&mut **tx)
    .await
}

/// A task and its place in the queue (null when it is not queued).
#[derive(sqlx::FromRow)]
struct Positioned {
    #[sqlx(flatten)]
    task: TaskRow,
    position: Option<i64>,
}

/// A task just queued and its place in the queue.
#[derive(sqlx::FromRow)]
struct Queued {
    #[sqlx(flatten)]
    task: TaskRow,
    position: i64,
}

/// The values of a new task's row, `$1` to `$21`, in the order of the insert's column list.
macro_rules! insert_statement {
    () => {
        "insert into tasks (id, owner_session, status, language, framework, model, file_name, \
             source, source_sha256, cache_key, idempotency_key, max_attempts, cache_hit, \
             result_file_name, result_code, started_at, finished_at, traceparent, validate, keep, \
             validation, create_token, client_key) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             case when $13 then now() end, case when $13 then now() end, $16, $17, $18, $19, $20, \
             $21) \
         returning "
    };
}

fn bind_new_task<'q, O>(
    query: sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments>,
    new: &NewTask<'q>,
    cached: Option<&'q CachedResult>,
) -> sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments> {
    let status = if cached.is_some() {
        TaskStatus::Succeeded
    } else {
        TaskStatus::Queued
    };
    query
        .bind(Uuid::now_v7())
        .bind(new.owner)
        .bind(status.as_str())
        .bind(new.spec.language.id())
        .bind(new.spec.framework.id())
        .bind(new.spec.model.as_str())
        .bind(new.spec.file_name.as_str())
        .bind(new.spec.source.text())
        .bind(new.spec.source.sha256_hex())
        .bind(new.cache_key.as_str())
        .bind(new.idempotency_key)
        .bind(new.max_attempts)
        .bind(cached.is_some())
        .bind(cached.map(|result| result.file_name.as_str()))
        .bind(cached.map(|result| result.code.as_str()))
        .bind(new.traceparent)
        .bind(new.spec.validate.as_str())
        .bind(new.spec.keep.as_str())
        .bind(cached.and_then(|result| result.validation.as_ref()))
        .bind(new.create_token)
        .bind(new.client)
}

/// Inserts a queued task, wakes idle workers (the notification is delivered when the transaction
/// commits) and finds its place, in one statement. The statement does not see the row it
/// inserts, so the place is the depth it sees plus this task, less the queued tasks after it (those
/// of transactions that began later and committed already): what counting the tasks before it
/// gives, without walking the queue.
#[tracing::instrument(name = "db.insert_task", skip_all, fields(cached = false))]
async fn insert_queued(
    tx: &mut Transaction<'_, Postgres>,
    new: &NewTask<'_>,
) -> Result<Queued, sqlx::Error> {
    let query = sqlx::query_as(concat!(
        "with inserted as (",
        insert_statement!(),
        full_columns!(),
        ") select inserted.*, ",
        queue_depth!(),
        " + 1 - (select count(*) from tasks behind where behind.status = 'queued' \
             and (behind.created_at, behind.id) > (inserted.created_at, inserted.id)) \
             as position \
         from inserted, lateral (select pg_notify($22, inserted.id::text)) as notified"
    ));
    bind_new_task(query, new, None)
        .bind(notify::TASK_QUEUED)
        .fetch_one(&mut **tx)
        .await
}

#[tracing::instrument(name = "db.insert_task", skip_all, fields(cached = cached.is_some()))]
pub(crate) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    new: &NewTask<'_>,
    cached: Option<&CachedResult>,
) -> Result<TaskRow, sqlx::Error> {
    let query = sqlx::query_as(concat!(insert_statement!(), full_columns!()));
    bind_new_task(query, new, cached).fetch_one(&mut **tx).await
}

/// An earlier successful result for the same cache key, if the table has one.
#[tracing::instrument(name = "db.find_result", skip_all)]
pub async fn find_result(
    pool: &PgPool,
    cache_key: &CacheKey,
) -> Result<Option<CachedResult>, sqlx::Error> {
    let row: Option<(Uuid, String, String, Option<serde_json::Value>)> =
        retry_transient(is_transient, || {
            sqlx::query_as(
                "select id, result_file_name, result_code, validation from tasks \
         where cache_key = $1 and status = 'succeeded' order by id desc limit 1",
            )
            .bind(cache_key.as_str())
            .fetch_optional(pool)
        })
        .await?;
    Ok(row.map(|(id, file_name, code, validation)| CachedResult {
        task_id: TaskId::from_uuid(id),
        file_name,
        code,
        validation,
    }))
}

/// A task of this owner; another owner's task is as absent as a task that never existed.
#[tracing::instrument(name = "db.get_task", skip_all, fields(task_id = %id))]
pub async fn get_task(
    pool: &PgPool,
    owner: &str,
    id: TaskId,
) -> Result<Option<TaskRow>, sqlx::Error> {
    retry_transient(is_transient, || {
        sqlx::query_as(concat!(
            "select ",
            full_columns!(),
            " from tasks where id = $1 and owner_session = $2"
        ))
        .bind(id.as_uuid())
        .bind(owner)
        .fetch_optional(pool)
    })
    .await
}

/// [`get_task`] with the task's place in the queue while it is queued, in one statement.
#[tracing::instrument(name = "db.get_task_positioned", skip_all, fields(task_id = %id))]
pub async fn get_task_with_position(
    pool: &PgPool,
    owner: &str,
    id: TaskId,
) -> Result<Option<(TaskRow, Option<i64>)>, sqlx::Error> {
    let found: Option<Positioned> = retry_transient(is_transient, || {
        sqlx::query_as(concat!(
            "select ",
            full_columns!(),
            ", ",
            queue_position!("t"),
            " as position from tasks t where t.id = $1 and t.owner_session = $2"
        ))
        .bind(id.as_uuid())
        .bind(owner)
        .fetch_optional(pool)
    })
    .await?;
    Ok(found.map(|found| (found.task, found.position)))
}

/// One page of an owner's tasks, newest first: those older than `before` when given.
#[tracing::instrument(name = "db.list_tasks", skip_all)]
pub async fn list_tasks(
    pool: &PgPool,
    owner: &str,
    before: Option<TaskId>,
    status: Option<TaskStatus>,
    limit: i64,
) -> Result<Vec<TaskRow>, sqlx::Error> {
    retry_transient(is_transient, || {
        sqlx::query_as(concat!(
            "select ",
            summary_columns!(),
            " from tasks \
             where owner_session = $1 and ($2::uuid is null or id < $2) \
               and ($3::text is null or status = $3) \
             order by id desc limit $4"
        ))
        .bind(owner)
        .bind(before.map(|id| id.as_uuid()))
        .bind(status.map(TaskStatus::as_str))
        .bind(limit)
        .fetch_all(pool)
    })
    .await
}

pub enum Cancelled {
    /// It was queued and is now cancelled.
    Now(TaskRow),
    /// It is running; the worker was asked to stop.
    Requested(TaskRow),
    /// It had already finished.
    AlreadyFinished(TaskRow),
    NotFound,
}

/// Cancels a task: at once when queued, by asking its worker when running (the flag on the row and a
/// notification on `aiut_task_cancel`, which the worker listens to).
#[tracing::instrument(name = "db.cancel_task", skip_all, fields(task_id = %id))]
pub async fn cancel_task(pool: &PgPool, owner: &str, id: TaskId) -> anyhow::Result<Cancelled> {
    retry_transient(is_transient_anyhow, || cancel_task_once(pool, owner, id)).await
}

async fn cancel_task_once(pool: &PgPool, owner: &str, id: TaskId) -> anyhow::Result<Cancelled> {
    let mut tx = pool.begin().await?;
    let current: Option<String> = sqlx::query_scalar(
        "select status from tasks where id = $1 and owner_session = $2 for update",
    )
    .bind(id.as_uuid())
    .bind(owner)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Ok(Cancelled::NotFound);
    };
    let current: TaskStatus = current.parse()?;
    let query = match current {
        TaskStatus::Queued => {
            current.transition(TaskStatus::Cancelled)?;
            sqlx::query_as(concat!(
                "update tasks set status = 'cancelled', finished_at = now(), updated_at = now() \
                 where id = $1 returning ",
                full_columns!()
            ))
        }
        TaskStatus::Running => sqlx::query_as(concat!(
            "update tasks set cancel_requested = true, updated_at = now() where id = $1 returning ",
            full_columns!()
        )),
        TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Cancelled => sqlx::query_as(
            concat!("select ", full_columns!(), " from tasks where id = $1"),
        ),
    };
    let row: TaskRow = query.bind(id.as_uuid()).fetch_one(&mut *tx).await?;
    if current == TaskStatus::Running {
        sqlx::query("select pg_notify($1, $2)")
            .bind(notify::TASK_CANCEL)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(match current {
        TaskStatus::Queued => Cancelled::Now(row),
        TaskStatus::Running => Cancelled::Requested(row),
        _ => Cancelled::AlreadyFinished(row),
    })
}

#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct QueueCounts {
    pub queued: i64,
    pub running: i64,
    pub owner_queued: i64,
    pub owner_running: i64,
}

/// The queue's counts and the owner's. Each count walks only what it counts: the depth is the
/// counters' sum, the running tasks a partial index, the owner's tasks the owner's index.
#[tracing::instrument(name = "db.queue_counts", skip_all)]
pub async fn queue_counts(pool: &PgPool, owner: &str) -> Result<QueueCounts, sqlx::Error> {
    retry_transient(is_transient, || {
        sqlx::query_as(concat!(
            "select ",
            queue_depth!(),
            " as queued, \
             (select count(*) from tasks where status = 'running') as running, \
             (select count(*) from tasks where owner_session = $1 and status = 'queued') \
                 as owner_queued, \
             (select count(*) from tasks where owner_session = $1 and status = 'running') \
                 as owner_running"
        ))
        .bind(owner)
        .fetch_one(pool)
    })
    .await
}

/// Where the owner's oldest queued task stands in the queue, if the owner has one queued.
#[tracing::instrument(name = "db.owner_position", skip_all)]
pub async fn owner_position(pool: &PgPool, owner: &str) -> Result<Option<i64>, sqlx::Error> {
    retry_transient(is_transient, || {
        sqlx::query_scalar(concat!(
            "select ",
            queue_position!("o"),
            " from tasks o where o.owner_session = $1 and o.status = 'queued' \
             order by o.created_at, o.id limit 1"
        ))
        .bind(owner)
        .fetch_optional(pool)
    })
    .await
    .map(Option::flatten)
}

/// The owner's unfinished tasks, oldest first.
#[tracing::instrument(name = "db.owner_active", skip_all)]
pub async fn owner_active(pool: &PgPool, owner: &str) -> Result<Vec<TaskRow>, sqlx::Error> {
    retry_transient(is_transient, || {
        sqlx::query_as(concat!(
            "select ",
            summary_columns!(),
            " from tasks \
             where owner_session = $1 and status in ('queued', 'running') order by id limit 50"
        ))
        .bind(owner)
        .fetch_all(pool)
    })
    .await
}

/// Whether the owner has a task created or updated (claimed, renewed, advanced, ended) within
/// `within`: proof that a session Redis no longer knows was in use that recently. Walks only the
/// owner's rows, through `tasks_owner_idx`.
#[tracing::instrument(name = "db.owner_active_within", skip_all)]
pub async fn owner_active_within(
    pool: &PgPool,
    owner: &str,
    within: std::time::Duration,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from tasks \
         where owner_session = $1 and updated_at > now() - make_interval(secs => $2))",
    )
    .bind(owner)
    .bind(within.as_secs_f64())
    .fetch_one(pool)
    .await
}

#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct RecentOutcomes {
    pub succeeded: i64,
    pub failed: i64,
    pub mean_duration_secs: f64,
}

/// Outcomes of the tasks that finished in the last 24 hours.
#[tracing::instrument(name = "db.recent_outcomes", skip_all)]
pub async fn recent_outcomes(pool: &PgPool) -> Result<RecentOutcomes, sqlx::Error> {
    retry_transient(is_transient, || {
        sqlx::query_as(
            "select count(*) filter (where status = 'succeeded') as succeeded, \
                    count(*) filter (where status = 'failed') as failed, \
                    coalesce(avg(extract(epoch from finished_at - started_at)::float8) \
                        filter (where status = 'succeeded' and not cache_hit), 0)::float8 \
                        as mean_duration_secs \
             from tasks where finished_at > now() - interval '24 hours'",
        )
        .fetch_one(pool)
    })
    .await
}
