//! The administrator's accounts, sessions, login failures and audit log. The api decides (hashes,
//! delays, cookies); these are only its queries. Sessions are looked up by the SHA-256 of their
//! token, which the caller computes: the token itself never reaches the database.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// An account's id and stored PHC hash.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub password_hash: String,
}

#[tracing::instrument(name = "db.admin_account", skip_all)]
pub async fn account(pool: &PgPool, name: &str) -> anyhow::Result<Option<Account>> {
    let row: Option<(i64, String, String)> =
        sqlx::query_as("select id, name, password_hash from admin_accounts where name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await
            .context("cannot read the admin account")?;
    Ok(row.map(|(id, name, password_hash)| Account {
        id,
        name,
        password_hash,
    }))
}

/// Whether any admin account exists: without one, nobody can log in.
#[tracing::instrument(name = "db.admin_account_exists", skip_all)]
pub async fn any_account(pool: &PgPool) -> anyhow::Result<bool> {
    sqlx::query_scalar("select exists (select 1 from admin_accounts)")
        .fetch_one(pool)
        .await
        .context("cannot look for an admin account")
}

/// Creates the account, or gives it `password_hash`. A new hash ends the account's sessions: they
/// were opened with a password that no longer holds.
#[tracing::instrument(name = "db.admin_set_password", skip_all)]
pub async fn set_password(pool: &PgPool, name: &str, password_hash: &str) -> anyhow::Result<()> {
    let mut transaction = pool.begin().await.context("cannot begin")?;
    let id: i64 = sqlx::query_scalar(
        "insert into admin_accounts (name, password_hash) values ($1, $2)
         on conflict (name) do update
         set password_hash = excluded.password_hash, updated_at = now()
         returning id",
    )
    .bind(name)
    .bind(password_hash)
    .fetch_one(&mut *transaction)
    .await
    .context("cannot store the admin password hash")?;
    sqlx::query("delete from admin_sessions where account_id = $1")
        .bind(id)
        .execute(&mut *transaction)
        .await
        .context("cannot end the account's sessions")?;
    transaction.commit().await.context("cannot commit")?;
    Ok(())
}

/// A session as its holder may see it.
#[derive(Debug, Clone)]
pub struct Session {
    pub account_id: i64,
    pub account: String,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

type SessionRow = (
    i64,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    DateTime<Utc>,
);

fn session_of(row: SessionRow) -> Session {
    let (account_id, account, csrf_token, created_at, last_seen_at, expires_at) = row;
    Session {
        account_id,
        account,
        csrf_token,
        created_at,
        last_seen_at,
        expires_at,
    }
}

/// Opens a session for `lifetime`, and forgets the sessions that are over (idle past `idle` or
/// past their expiry), so the table holds only live ones and a few stale.
#[tracing::instrument(name = "db.admin_open_session", skip_all)]
pub async fn open_session(
    pool: &PgPool,
    token_hash: &[u8],
    account_id: i64,
    csrf_token: &str,
    lifetime: Duration,
    idle: Duration,
) -> anyhow::Result<Session> {
    sqlx::query(
        "delete from admin_sessions
         where expires_at <= now() or last_seen_at <= now() - make_interval(secs => $1)",
    )
    .bind(idle.as_secs_f64())
    .execute(pool)
    .await
    .context("cannot forget ended admin sessions")?;
    let row: SessionRow = sqlx::query_as(
        "with opened as (
             insert into admin_sessions (token_hash, account_id, csrf_token, expires_at)
             values ($1, $2, $3, now() + make_interval(secs => $4))
             returning account_id, csrf_token, created_at, last_seen_at, expires_at
         )
         select o.account_id, a.name, o.csrf_token, o.created_at, o.last_seen_at, o.expires_at
         from opened o join admin_accounts a on a.id = o.account_id",
    )
    .bind(token_hash)
    .bind(account_id)
    .bind(csrf_token)
    .bind(lifetime.as_secs_f64())
    .fetch_one(pool)
    .await
    .context("cannot open the admin session")?;
    Ok(session_of(row))
}

/// The live session of `token_hash`, its last use moved to now; `None` when it never existed, was
/// idle longer than `idle` or is past its expiry.
#[tracing::instrument(name = "db.admin_touch_session", skip_all)]
pub async fn touch_session(
    pool: &PgPool,
    token_hash: &[u8],
    idle: Duration,
) -> anyhow::Result<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as(
        "update admin_sessions s set last_seen_at = now()
         from admin_accounts a
         where s.token_hash = $1 and a.id = s.account_id
           and s.expires_at > now()
           and s.last_seen_at > now() - make_interval(secs => $2)
         returning s.account_id, a.name, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at",
    )
    .bind(token_hash)
    .bind(idle.as_secs_f64())
    .fetch_optional(pool)
    .await
    .context("cannot read the admin session")?;
    Ok(row.map(session_of))
}

#[tracing::instrument(name = "db.admin_close_session", skip_all)]
pub async fn close_session(pool: &PgPool, token_hash: &[u8]) -> anyhow::Result<()> {
    sqlx::query("delete from admin_sessions where token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await
        .context("cannot end the admin session")?;
    Ok(())
}

/// What login failures are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKey<'a> {
    Address(&'a str),
    Account(&'a str),
}

impl FailureKey<'_> {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            FailureKey::Address(address) => ("address", address),
            FailureKey::Account(account) => ("account", account),
        }
    }
}

/// How long the longest lock among `keys` still holds; `None` when none is locked.
#[tracing::instrument(name = "db.admin_locked_for", skip_all)]
pub async fn locked_for(
    pool: &PgPool,
    keys: &[FailureKey<'_>],
) -> anyhow::Result<Option<Duration>> {
    let (kinds, names): (Vec<&str>, Vec<&str>) = keys.iter().map(FailureKey::parts).unzip();
    let seconds: Option<f64> = sqlx::query_scalar(
        "select extract(epoch from max(locked_until) - now())::float8
         from admin_login_failures
         where (kind, key) in (select * from unnest($1::text[], $2::text[]))
           and locked_until > now()",
    )
    .bind(&kinds)
    .bind(&names)
    .fetch_one(pool)
    .await
    .context("cannot read the login failures")?;
    Ok(seconds
        .filter(|seconds| *seconds > 0.0)
        .map(Duration::from_secs_f64))
}

/// A login's turn under its keys (its client address and its account): from the lock check to the
/// failure count, one login at a time per key, so guesses sent at once cannot all be checked
/// before the first is counted. The turn ends when [`LoginTurn::end`] is called or it is dropped
/// (its transaction rolls back, which frees the locks).
pub struct LoginTurn(sqlx::Transaction<'static, sqlx::Postgres>);

impl LoginTurn {
    pub async fn end(self) -> anyhow::Result<()> {
        self.0.commit().await.context("cannot end the login's turn")
    }
}

/// The login's turn under every one of `keys`, or `None` while another login holds one of them.
/// It does not wait: a waiting login would hold a connection, and a burst of them would hold them
/// all.
#[tracing::instrument(name = "db.admin_login_turn", skip_all)]
pub async fn login_turn(
    pool: &PgPool,
    keys: &[FailureKey<'_>],
) -> anyhow::Result<Option<LoginTurn>> {
    let names: Vec<String> = keys
        .iter()
        .map(|key| {
            let (kind, name) = key.parts();
            format!("admin-login:{kind}:{name}")
        })
        .collect();
    let mut transaction = pool.begin().await.context("cannot start a login's turn")?;
    let taken: bool = sqlx::query_scalar(
        "select coalesce(bool_and(pg_try_advisory_xact_lock(hashtextextended(name, 0))), true)
         from unnest($1::text[]) as turns(name)",
    )
    .bind(&names)
    .fetch_one(&mut *transaction)
    .await
    .context("cannot take the login's turn")?;
    Ok(taken.then_some(LoginTurn(transaction)))
}

/// Counts one more failure under `key` and returns the count. A count whose last failure is older
/// than `forget_after` starts again at one.
#[tracing::instrument(name = "db.admin_record_failure", skip_all)]
pub async fn record_failure(
    pool: &PgPool,
    key: FailureKey<'_>,
    forget_after: Duration,
) -> anyhow::Result<u32> {
    let (kind, name) = key.parts();
    let failures: i32 = sqlx::query_scalar(
        "insert into admin_login_failures as f (kind, key, failures) values ($1, $2, 1)
         on conflict (kind, key) do update
         set failures = case
                 when f.last_failure_at <= now() - make_interval(secs => $3) then 1
                 else f.failures + 1
             end,
             last_failure_at = now()
         returning failures",
    )
    .bind(kind)
    .bind(name)
    .bind(forget_after.as_secs_f64())
    .fetch_one(pool)
    .await
    .context("cannot count the login failure")?;
    Ok(u32::try_from(failures).unwrap_or(u32::MAX))
}

/// Refuses logins under `key` for `delay` from now.
#[tracing::instrument(name = "db.admin_lock", skip_all)]
pub async fn lock(pool: &PgPool, key: FailureKey<'_>, delay: Duration) -> anyhow::Result<()> {
    let (kind, name) = key.parts();
    sqlx::query(
        "update admin_login_failures
         set locked_until = greatest(coalesce(locked_until, now()), now() + make_interval(secs => $3))
         where kind = $1 and key = $2",
    )
    .bind(kind)
    .bind(name)
    .bind(delay.as_secs_f64())
    .execute(pool)
    .await
    .context("cannot lock the login")?;
    Ok(())
}

/// Forgets the failures under `keys`, after a successful login.
#[tracing::instrument(name = "db.admin_clear_failures", skip_all)]
pub async fn clear_failures(pool: &PgPool, keys: &[FailureKey<'_>]) -> anyhow::Result<()> {
    let (kinds, names): (Vec<&str>, Vec<&str>) = keys.iter().map(FailureKey::parts).unzip();
    sqlx::query(
        "delete from admin_login_failures
         where (kind, key) in (select * from unnest($1::text[], $2::text[]))",
    )
    .bind(&kinds)
    .bind(&names)
    .execute(pool)
    .await
    .context("cannot clear the login failures")?;
    Ok(())
}

/// One entry of the audit log, to write.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub account: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: serde_json::Value,
    pub client_address: Option<&'a str>,
}

/// One entry of the audit log, as read.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub account: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: serde_json::Value,
    pub client_address: Option<String>,
}

#[tracing::instrument(name = "db.admin_audit", skip_all, fields(action = entry.action))]
pub async fn audit(pool: &PgPool, entry: &NewAuditEntry<'_>) -> anyhow::Result<()> {
    sqlx::query(
        "insert into admin_audit (account, action, target, detail, client_address)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(entry.account)
    .bind(entry.action)
    .bind(entry.target)
    .bind(&entry.detail)
    .bind(entry.client_address)
    .execute(pool)
    .await
    .context("cannot write the audit log")?;
    Ok(())
}

/// The newest `limit` entries, newest first.
#[tracing::instrument(name = "db.admin_audit_list", skip_all)]
pub async fn audit_log(pool: &PgPool, limit: u32) -> anyhow::Result<Vec<AuditEntry>> {
    sqlx::query_as(
        "select id, at, account, action, target, detail, client_address
         from admin_audit order by at desc, id desc limit $1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .context("cannot read the audit log")
}
