//! The Postgres pool and the schema migrations.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use service::sections::DatabaseSettings;

/// The migrations in `migrations/` at the top of the repository, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// The advisory lock that serialises migrations across replicas starting together. Any constant
/// works as long as every replica uses the same one; this is "aiut" in ASCII.
const MIGRATION_LOCK_KEY: i64 = 0x6169_7574;

pub fn pool_options(settings: &DatabaseSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout())
}

pub fn connect_options(settings: &DatabaseSettings) -> anyhow::Result<PgConnectOptions> {
    PgConnectOptions::from_str(&settings.url).context("database.url is not a Postgres URL")
}

/// Connects to Postgres, waiting up to `startup_timeout_secs` for it to come up, and creates the
/// database first when it is missing and `create_if_missing` is set.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let deadline = Instant::now() + Duration::from_secs(settings.startup_timeout_secs);
    let mut delay = Duration::from_millis(100);
    loop {
        match try_connect(settings).await {
            Ok(pool) => return Ok(pool),
            Err(error) if Instant::now() < deadline => {
                tracing::warn!(error = format!("{error:#}"), "Postgres not ready; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(error) => {
                return Err(error.context(format!(
                    "Postgres did not become reachable within {} s",
                    settings.startup_timeout_secs
                )));
            }
        }
    }
}

async fn try_connect(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    if settings.create_if_missing {
        create_database_if_missing(&settings.url).await?;
    }
    let pool = pool_options(settings)
        .connect_with(connect_options(settings)?)
        .await
        .context("cannot connect to Postgres")?;
    Ok(pool)
}

async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    if Postgres::database_exists(url)
        .await
        .context("cannot check whether the database exists")?
    {
        return Ok(());
    }
    match Postgres::create_database(url).await {
        Ok(()) => {
            tracing::info!("created the database");
            Ok(())
        }
        // Another replica created it between our check and our create.
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("42P04") => Ok(()),
        Err(error) => Err(error).context("cannot create the database"),
    }
}

/// Applies pending migrations while holding an advisory lock, so replicas that start together take
/// turns: the first migrates, the others find nothing left to do.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    let mut connection = pool
        .acquire()
        .await
        .context("cannot get a connection to migrate")?;
    sqlx::query("select pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *connection)
        .await
        .context("cannot take the migration lock")?;
    let outcome = MIGRATOR.run(&mut *connection).await;
    let unlocked = sqlx::query("select pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *connection)
        .await;
    outcome.context("migrations failed")?;
    unlocked.context("cannot release the migration lock")?;
    Ok(())
}

/// How long an operation is tried again while Postgres is briefly away (a restart, a failover):
/// well within a client's patience, and shorter than the gateway's read timeout.
const TRANSIENT_BUDGET: Duration = Duration::from_secs(8);

/// Whether an error passes by itself: the connection was lost, or the server is shutting down or
/// starting up. Such an operation did not happen, or (a lost commit answer) happened in a way its
/// caller can find again: every retried write here is keyed (create tokens, leases).
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        // Not PoolTimedOut: the pool has already spent its acquire timeout trying to connect,
        // and under load it means saturation, which retries would only deepen.
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, and class 08:
            // connection exceptions.
            matches!(code.as_ref(), "57P01" | "57P02" | "57P03") || code.starts_with("08")
        }),
        _ => false,
    }
}

/// [`is_transient`] for an error that went through `anyhow`.
pub fn is_transient_anyhow(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .is_some_and(is_transient)
    })
}

/// Runs `operation` again, with growing pauses, while it fails with an error `transient` accepts,
/// for up to [`TRANSIENT_BUDGET`]; then its last error. Each run must be a whole unit of work (a
/// query, or a transaction begun and committed inside it).
pub async fn retry_transient<T, E, F, Fut>(
    transient: fn(&E) -> bool,
    mut operation: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    // Tokio's clock, so that tests can let time pass without waiting for it.
    let deadline = tokio::time::Instant::now() + TRANSIENT_BUDGET;
    let mut pause = Duration::from_millis(50);
    loop {
        match operation().await {
            Err(error) if transient(&error) && tokio::time::Instant::now() + pause < deadline => {
                tracing::debug!(error = %error, "Postgres briefly away; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            outcome => return outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn lost_connection() -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
    }

    #[test]
    fn only_errors_that_pass_by_themselves_are_transient() {
        assert!(is_transient(&lost_connection()));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlx::Error::PoolTimedOut), "saturation");
        assert!(!is_transient(&sqlx::Error::PoolClosed), "our own shutdown");
        let wrapped = anyhow::Error::new(lost_connection()).context("cannot store the result");
        assert!(is_transient_anyhow(&wrapped));
        assert!(!is_transient_anyhow(&anyhow::anyhow!("a bad row")));
    }

    #[tokio::test]
    async fn an_operation_is_tried_again_until_postgres_is_back() {
        let calls = AtomicU32::new(0);
        let outcome = retry_transient(is_transient, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(lost_connection())
            } else {
                Ok("stored")
            }
        })
        .await;
        assert_eq!(outcome.ok(), Some("stored"));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn any_other_error_is_returned_at_once() {
        let calls = AtomicU32::new(0);
        let outcome: Result<(), sqlx::Error> = retry_transient(is_transient, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(sqlx::Error::RowNotFound)
        })
        .await;
        assert!(matches!(outcome, Err(sqlx::Error::RowNotFound)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_postgres_that_stays_away_is_given_up_on_within_the_budget() {
        let started = tokio::time::Instant::now();
        let calls = AtomicU32::new(0);
        let outcome: Result<(), sqlx::Error> = retry_transient(is_transient, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(lost_connection())
        })
        .await;
        assert!(matches!(outcome, Err(sqlx::Error::Io(_))));
        assert!(
            started.elapsed() <= TRANSIENT_BUDGET,
            "{:?}",
            started.elapsed()
        );
        assert!(calls.load(Ordering::SeqCst) > 3);
    }
}
