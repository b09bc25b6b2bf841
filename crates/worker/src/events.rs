//! Progress events to Redis: each event is numbered by the task's counter, appended to the task's
//! log (for replay to late joiners) and published on the one channel the api replicas subscribe
//! to. Progress is best effort: when Redis is down the task goes on and clients poll the task.

use api::redis::Redis;
use domain::{Event, EventKind, Progress, TaskId, redis_keys};

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
        let prefix = self.redis.prefix();
        let mut connection = self.redis.connection();
        let seq_key = redis_keys::seq(prefix, task);
        let log_key = redis_keys::log(prefix, task);
        let seq: u64 = redis::cmd("INCR")
            .arg(&seq_key)
            .query_async(&mut connection)
            .await?;
        let event = Event {
            task_id: task,
            seq,
            progress,
            kind,
        };
        let json = serde_json::to_string(&event)?;
        redis::pipe()
            .atomic()
            .cmd("RPUSH")
            .arg(&log_key)
            .arg(&json)
            .ignore()
            .cmd("EXPIRE")
            .arg(&log_key)
            .arg(self.ttl_secs)
            .ignore()
            .cmd("EXPIRE")
            .arg(&seq_key)
            .arg(self.ttl_secs)
            .ignore()
            .cmd("PUBLISH")
            .arg(redis_keys::channel(prefix))
            .arg(&json)
            .ignore()
            .query_async::<()>(&mut connection)
            .await?;
        Ok(())
    }
}
