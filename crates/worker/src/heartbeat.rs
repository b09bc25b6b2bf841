//! The worker's announcement to the api replicas: its capacity and the models it can serve (those
//! of the registry it holds a client for), renewed every `worker.heartbeat_secs`, at once when the
//! registry changes, and retired when it stops claiming. The api sums the live announcements, so it needs no provider keys and
//! no capacity setting of its own.

use std::time::Duration;

use sqlx::PgPool;
use store::workers::{self, Announcement};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::provider::Models;

pub struct Heartbeat {
    pool: PgPool,
    id: String,
    capacity: u32,
    models: watch::Receiver<Models>,
    every: Duration,
    ttl: Duration,
}

impl Heartbeat {
    pub fn new(
        settings: &Settings,
        worker_id: &str,
        pool: PgPool,
        models: watch::Receiver<Models>,
    ) -> Heartbeat {
        Heartbeat {
            pool,
            id: worker_id.to_owned(),
            capacity: settings.worker.concurrency,
            models,
            every: settings.worker.heartbeat(),
            ttl: settings.worker.announcement_ttl(),
        }
    }

    /// Announces this worker (again). A failure is logged: the next beat tries again.
    pub async fn beat(&self) {
        let models = self.models.borrow().servable();
        let announcement = Announcement {
            id: &self.id,
            capacity: self.capacity,
            models: &models,
            ttl: self.ttl,
        };
        if let Err(error) = workers::announce(&self.pool, &announcement).await {
            tracing::warn!(error = format!("{error:#}"), "cannot announce this worker");
        }
    }

    /// Beats until `stop`, then retires the announcement so the api stops counting this worker at
    /// once. Now and then it also clears long-expired announcements of workers that died.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut beats: u64 = 0;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
                changed = self.models.changed() => {
                    if changed.is_err() {
                        // The worker is going away; the ticks carry on until it stops.
                        ticks.tick().await;
                    }
                }
            }
            self.beat().await;
            beats += 1;
            if beats % 120 == 1
                && let Err(error) = workers::forget_expired(&self.pool).await
            {
                tracing::debug!(error = format!("{error:#}"), "cannot clear expired workers");
            }
        }
        if let Err(error) = workers::retire(&self.pool, &self.id).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot retire this worker's announcement"
            );
        }
    }
}
