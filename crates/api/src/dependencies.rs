//! The checks of Postgres and Redis that `/readyz` answers with, and the background sampler that
//! exports them as `aiut_dependency_up`, with the database pool's connection counts.

use std::time::Duration;

use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;
use store::Redis;

/// How often the sampler checks the dependencies.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// How long the sampler waits for each dependency: well inside the interval, so a hanging one
/// reads as down before the next sample is due.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(1);

/// `select 1` on the pool, given up after `timeout`.
pub async fn check_postgres(pool: &PgPool, timeout: Duration) -> Result<(), String> {
    let query = async { sqlx::query("select 1").execute(pool).await.map(|_| ()) };
    flatten(tokio::time::timeout(timeout, query).await, timeout)
}

/// `PING`, given up after `timeout`.
pub async fn check_redis(redis: &Redis, timeout: Duration) -> Result<(), String> {
    flatten(tokio::time::timeout(timeout, redis.ping()).await, timeout)
}

fn flatten<E: std::fmt::Display>(
    result: Result<Result<(), E>, tokio::time::error::Elapsed>,
    timeout: Duration,
) -> Result<(), String> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Records the pool's open, idle and maximum connections; cheap, no IO.
pub fn sample_pool(state: &AppState) {
    state.metrics.pool_sampled(
        state.pool.size(),
        state.pool.num_idle(),
        state.pool.options().get_max_connections(),
    );
}

/// Checks both dependencies side by side and records the verdicts and the pool.
pub async fn sample(state: &AppState) {
    let (postgres, redis) = tokio::join!(
        check_postgres(&state.pool, SAMPLE_TIMEOUT),
        check_redis(&state.redis, SAMPLE_TIMEOUT),
    );
    state
        .metrics
        .dependency_sampled("postgres", postgres.is_ok());
    state.metrics.dependency_sampled("redis", redis.is_ok());
    sample_pool(state);
}

/// Samples every [`SAMPLE_INTERVAL`] (the first one an interval from now) until `stopping`.
pub fn spawn_sampler(state: AppState, stopping: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker =
            tokio::time::interval_at(Instant::now() + SAMPLE_INTERVAL, SAMPLE_INTERVAL);
        // A slow sample must not be followed by a burst of catch-up ones.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stopping.cancelled() => break,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                () = stopping.cancelled() => break,
                () = sample(&state) => {}
            }
        }
    })
}
