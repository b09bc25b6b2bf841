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
