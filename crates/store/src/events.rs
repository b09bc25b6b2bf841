//! A task's progress events in Redis: each numbered by the task's counter, appended to the task's
//! log (kept for replay to late joiners and resuming clients) and published on the one channel
//! every api replica subscribes to. Workers publish through [`publish`], and so does the api for
//! a task that ends without a worker (a queued task cancelled).

use domain::{Event, TaskId};

use crate::keys;
use crate::redis::Redis;

/// A task's logged events with a number above `after`, in order. Unreadable entries are skipped.
#[tracing::instrument(name = "redis.replay_events", skip_all, fields(task_id = %task))]
pub async fn replay(redis: &Redis, task: TaskId, after: u64) -> redis::RedisResult<Vec<Event>> {
    let mut connection = redis.connection();
    let logged: Vec<String> = redis::cmd("LRANGE")
        .arg(keys::event_log(redis.prefix(), task))
        .arg(0)
        .arg(-1)
        .query_async(&mut connection)
        .await?;
    Ok(logged
        .iter()
        .filter_map(|json| serde_json::from_str::<Event>(json).ok())
        .filter(|event| event.seq > after)
        .collect())
}

/// Numbers an event with the task's counter, appends it to the task's log (kept `ttl_secs`) and
/// publishes it on the channel, the log and the channel in one transaction.
#[tracing::instrument(name = "redis.publish_event", skip_all, fields(task_id = %task))]
pub async fn publish(
    redis: &Redis,
    ttl_secs: u64,
    task: TaskId,
    progress: domain::Progress,
    kind: domain::EventKind,
) -> anyhow::Result<()> {
    let prefix = redis.prefix();
    let mut connection = redis.connection();
    let seq_key = keys::event_seq(prefix, task);
    let log_key = keys::event_log(prefix, task);
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
        .arg(ttl_secs)
        .ignore()
        .cmd("EXPIRE")
        .arg(&seq_key)
        .arg(ttl_secs)
        .ignore()
        .cmd("PUBLISH")
        .arg(keys::event_channel(prefix))
        .arg(&json)
        .ignore()
        .query_async::<()>(&mut connection)
        .await?;
    Ok(())
}
