//! The limits an admin changes at runtime (`runtime_limits`, one row) and the tokens spent per day
//! (`token_usage_daily` by model, `token_spend_daily` by session and client).
//!
//! An override is read by the very statement that applies the limit (the create's checks, the
//! workers' claim), so a change is in force on every replica and worker from its next request,
//! with no cache to invalidate. The spend is added by the statement that records an attempt's
//! tokens ([`record_spend!`]), so it cannot drift from the tasks' own figures.

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

use crate::db::{is_transient, retry_transient};

/// The overrides; `None` leaves the configuration's value in force (for the budgets: no budget).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct RuntimeLimits {
    pub max_queued_per_session: Option<i32>,
    pub max_queued_per_client: Option<i32>,
    pub max_running_per_session: Option<i32>,
    pub max_queue_depth: Option<i32>,
    pub daily_tokens_per_session: Option<i64>,
    pub daily_tokens_per_client: Option<i64>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

/// A change: `None` leaves a field as it is, `Some(None)` clears its override, `Some(Some(n))`
/// sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitsChange {
    pub max_queued_per_session: Option<Option<i32>>,
    pub max_queued_per_client: Option<Option<i32>>,
    pub max_running_per_session: Option<Option<i32>>,
    pub max_queue_depth: Option<Option<i32>>,
    pub daily_tokens_per_session: Option<Option<i64>>,
    pub daily_tokens_per_client: Option<Option<i64>>,
}

macro_rules! columns {
    () => {
        "max_queued_per_session, max_queued_per_client, max_running_per_session, \
         max_queue_depth, daily_tokens_per_session, daily_tokens_per_client, updated_at, updated_by"
    };
}

/// The running cap in force, for SQL that is handed the configured one as `$n`: the override when
/// an admin set one. An uncorrelated sub-select, evaluated once per statement.
macro_rules! running_cap {
    ($configured:literal) => {
        concat!(
            "coalesce((select max_running_per_session from runtime_limits), ",
            $configured,
            ")"
        )
    };
}

/// Adds an attempt's tokens to the day's figures, as two CTEs for a statement whose CTE `ended`
/// returns the attempt's `model`, `owner_session` and `client_key`, with the prompt and completion
/// tokens bound as the given parameters. Every ended attempt counts for its model; sessions and
/// clients are charged only for tokens spent.
macro_rules! record_spend {
    ($prompt:literal, $completion:literal) => {
        concat!(
            "usage as (
    insert into token_usage_daily as u (day, model, slot, attempts, prompt_tokens, completion_tokens)
    select (now() at time zone 'utc')::date, ended.model, (pg_backend_pid() % 8)::smallint, 1, ",
            $prompt,
            ", ",
            $completion,
            "
    from ended
    on conflict (day, model, slot) do update
    set attempts = u.attempts + 1,
        prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens
),
spend as (
    insert into token_spend_daily as s (day, scope, holder, tokens)
    select (now() at time zone 'utc')::date, holder.scope, holder.name, ",
            $prompt,
            " + ",
            $completion,
            "
    from ended
    cross join lateral (values ('session', ended.owner_session), ('client', ended.client_key))
        as holder(scope, name)
    where holder.name is not null and ",
            $prompt,
            " + ",
            $completion,
            " > 0
    on conflict (day, scope, holder) do update set tokens = s.tokens + excluded.tokens
)"
        )
    };
}

pub(crate) use {record_spend, running_cap};

pub async fn load(pool: &PgPool) -> anyhow::Result<RuntimeLimits> {
    // Read on every create and queue read: tried again while Postgres is briefly away, as the
    // task queries are.
    retry_transient(is_transient, || {
        sqlx::query_as(concat!("select ", columns!(), " from runtime_limits")).fetch_one(pool)
    })
    .await
    .context("cannot read the runtime limits")
}

/// Applies `change` and returns the limits as they are now.
pub async fn update(
    pool: &PgPool,
    change: &LimitsChange,
    account: &str,
) -> anyhow::Result<RuntimeLimits> {
    // `$n::boolean` says whether the field changes; the value next to it is the new one.
    sqlx::query_as(concat!(
        "update runtime_limits set
            max_queued_per_session = case when $1 then $2 else max_queued_per_session end,
            max_queued_per_client = case when $3 then $4 else max_queued_per_client end,
            max_running_per_session = case when $5 then $6 else max_running_per_session end,
            max_queue_depth = case when $7 then $8 else max_queue_depth end,
            daily_tokens_per_session = case when $9 then $10 else daily_tokens_per_session end,
            daily_tokens_per_client = case when $11 then $12 else daily_tokens_per_client end,
            updated_at = now(), updated_by = $13
         returning ",
        columns!()
    ))
    .bind(change.max_queued_per_session.is_some())
    .bind(change.max_queued_per_session.flatten())
    .bind(change.max_queued_per_client.is_some())
    .bind(change.max_queued_per_client.flatten())
    .bind(change.max_running_per_session.is_some())
    .bind(change.max_running_per_session.flatten())
    .bind(change.max_queue_depth.is_some())
    .bind(change.max_queue_depth.flatten())
    .bind(change.daily_tokens_per_session.is_some())
    .bind(change.daily_tokens_per_session.flatten())
    .bind(change.daily_tokens_per_client.is_some())
    .bind(change.daily_tokens_per_client.flatten())
    .bind(account)
    .fetch_one(pool)
    .await
    .context("cannot change the runtime limits")
}

/// One model's figures for one day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DailyUsage {
    pub day: NaiveDate,
    pub model: String,
    pub attempts: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// Every model's figures per day from `since` (UTC) on, newest day first.
pub async fn usage_since(pool: &PgPool, since: NaiveDate) -> anyhow::Result<Vec<DailyUsage>> {
    sqlx::query_as(
        "select day, model, sum(attempts)::bigint as attempts,
                sum(prompt_tokens)::bigint as prompt_tokens,
                sum(completion_tokens)::bigint as completion_tokens
         from token_usage_daily where day >= $1
         group by day, model order by day desc, model",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .context("cannot read the token usage")
}

/// Today's date in UTC, by the database's clock (the one the spend is recorded by).
pub async fn today(pool: &PgPool) -> anyhow::Result<NaiveDate> {
    sqlx::query_scalar("select (now() at time zone 'utc')::date")
        .fetch_one(pool)
        .await
        .context("cannot read the database's date")
}

/// Tokens a session or a client spent today (UTC).
pub async fn spent_today(pool: &PgPool, scope: SpendScope, holder: &str) -> anyhow::Result<i64> {
    retry_transient(is_transient, || {
        sqlx::query_scalar(
            "select coalesce((select tokens from token_spend_daily
                              where day = (now() at time zone 'utc')::date
                                and scope = $1 and holder = $2), 0)",
        )
        .bind(scope.as_str())
        .bind(holder)
        .fetch_one(pool)
    })
    .await
    .context("cannot read the tokens spent today")
}

/// Who a daily budget is held against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendScope {
    Session,
    Client,
}

impl SpendScope {
    pub fn as_str(self) -> &'static str {
        match self {
            SpendScope::Session => "session",
            SpendScope::Client => "client",
        }
    }
}

/// Deletes the spend of the days before yesterday: the budgets read only today's.
pub async fn prune_spend(pool: &PgPool) -> anyhow::Result<u64> {
    let deleted = sqlx::query(
        "delete from token_spend_daily where day < (now() at time zone 'utc')::date - 1",
    )
    .execute(pool)
    .await
    .context("cannot prune the daily spend")?;
    Ok(deleted.rows_affected())
}
