//! Progress events to Redis: each event is numbered by the task's counter (which never goes back,
//! even when Redis has lost it: see `store::events`), appended to the task's log (for replay to late
//! joiners) and published on the one channel the api replicas subscribe to. Progress is best
//! effort: when Redis is down the task goes on and clients poll the task.

use domain::{EventKind, Progress, TaskId};
use store::Redis;

use crate::metrics::Metrics;

/// Publishes one task's events.
#[derive(Clone)]
pub struct Publisher {
    redis: Redis,
    ttl_secs: u64,
    metrics: Metrics,
}

impl Publisher {
    pub fn new(redis: Redis, ttl_secs: u64, metrics: Metrics) -> Publisher {
        Publisher {
            redis,
            ttl_secs,
            metrics,
        }
    }

    /// Numbers, logs and publishes an event. Failures are logged and counted, never raised.
    pub async fn publish(&self, task: TaskId, progress: Progress, kind: EventKind) {
        if let Err(error) = self.try_publish(task, progress, kind).await {
            self.metrics.redis_error();
            tracing::warn!(task_id = %task, error = %error, "cannot publish a progress event");
        }
    }

    async fn try_publish(
        &self,
        task: TaskId,
        progress: Progress,
        kind: EventKind,
    ) -> anyhow::Result<()> {
        store::events::publish(&self.redis, self.ttl_secs, task, progress, kind).await?;
        Ok(())
    }
}
