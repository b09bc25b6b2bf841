//! The live workers and what they can do. A worker announces its capacity and the models it can
//! serve when it starts and at every heartbeat, each announcement holding for a time to live; it
//! retires its row when it stops, and a worker that died expires. The api reads the sum: the
//! queue's capacity, and which models are on offer.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;

/// What one worker announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement<'a> {
    pub id: &'a str,
    /// Tasks it runs at once.
    pub capacity: u32,
    /// The ids of the models it can call (it has their keys), `offline` included.
    pub models: &'a [String],
    /// How long the announcement holds without another.
    pub ttl: Duration,
}

/// Announces (or renews) a worker.
#[tracing::instrument(name = "db.announce_worker", skip_all, fields(worker = announcement.id))]
pub async fn announce(pool: &PgPool, announcement: &Announcement<'_>) -> anyhow::Result<()> {
    let capacity = i32::try_from(announcement.capacity).context("a capacity beyond i32")?;
    sqlx::query(
        "insert into workers (id, capacity, models, expires_at)
         values ($1, $2, $3, now() + make_interval(secs => $4))
         on conflict (id) do update
         set capacity = excluded.capacity, models = excluded.models,
             expires_at = excluded.expires_at",
    )
    .bind(announcement.id)
    .bind(capacity)
    .bind(announcement.models)
    .bind(announcement.ttl.as_secs_f64())
    .execute(pool)
    .await
    .context("cannot announce the worker")?;
    Ok(())
}

/// Removes a stopping worker at once, instead of letting its announcement expire.
#[tracing::instrument(name = "db.retire_worker", skip_all, fields(worker = id))]
pub async fn retire(pool: &PgPool, id: &str) -> anyhow::Result<()> {
    sqlx::query("delete from workers where id = $1")
        .bind(id)
        .execute(pool)
        .await
        .context("cannot retire the worker")?;
    Ok(())
}

/// The workers whose announcement still holds, summed up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fleet {
    pub workers: u32,
    /// Tasks they run at once, together.
    pub capacity: u32,
    /// Every model at least one of them can serve.
    pub models: BTreeSet<String>,
}

impl Fleet {
    pub fn serves(&self, model: &str) -> bool {
        self.models.contains(model)
    }
}

/// The live workers. Expired rows are left for [`forget_expired`]; they are simply not counted.
#[tracing::instrument(name = "db.live_workers", skip_all)]
pub async fn live(pool: &PgPool) -> anyhow::Result<Fleet> {
    let rows: Vec<(i32, Vec<String>)> =
        sqlx::query_as("select capacity, models from workers where expires_at > now()")
            .fetch_all(pool)
            .await
            .context("cannot read the live workers")?;
    let mut fleet = Fleet::default();
    for (capacity, models) in rows {
        fleet.workers += 1;
        fleet.capacity += u32::try_from(capacity).unwrap_or(0);
        fleet.models.extend(models);
    }
    Ok(fleet)
}

/// Deletes announcements that expired a while ago (their workers died), so the table stays the
/// size of the fleet.
pub async fn forget_expired(pool: &PgPool) -> anyhow::Result<u64> {
    let done = sqlx::query("delete from workers where expires_at < now() - interval '1 hour'")
        .execute(pool)
        .await
        .context("cannot forget expired workers")?;
    Ok(done.rows_affected())
}
