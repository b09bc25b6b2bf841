//! A task's progress events in Redis: each numbered by the task's counter, appended to the task's
//! log (kept for replay to late joiners and resuming clients) and published on the one channel
//! every api replica subscribes to. Workers publish through [`publish`], and so does the api for
//! a task that ends without a worker (a queued task cancelled).
//!
//! # Numbering
//!
//! A client resumes after the last number it saw and skips every live event numbered at or below
//! it, so a task's numbers must never go back, even when Redis forgets the counter (a restart, a
//! flush, the counter's key evicted) and whoever publishes next (the same worker, another that
//! reclaimed the task, the api cancelling it). An event's number is therefore the larger of one
//! more than the stored counter and the Redis server's clock in microseconds, taken by the same
//! script that stores it. While the counter is kept, numbers simply grow; once it is lost, the
//! clock has moved on past every number handed out before, since those were the clock's reading
//! at the time (or ahead of it by the events published within one microsecond, which a network
//! round trip per event rules out). Every publisher reads the same clock, Redis's own, so the
//! clocks of the api and worker hosts, however skewed, play no part; only Redis's clock stepping
//! back by more than the outage could repeat a number. The numbers are not consecutive and do not
//! start at 1: about 1.8 × 10¹⁵ today, below 2⁵³ (exact in JavaScript and in Lua's numbers) until
//! the year 2255.

use anyhow::Context;
use domain::{Event, TaskId};

use crate::keys;
use crate::redis::Redis;

/// A task's logged events with a number above `after`, in order. Unreadable entries are skipped.
/// Events logged before Redis lost the log are gone; those logged since all number above them.
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

/// Numbers an event (see the module's documentation), stores the counter, appends the event to
/// the log and publishes it, all in one script: two publishers of one task cannot interleave, so
/// the log and the channel carry its events in the order of their numbers.
///
/// KEYS: the counter, the log. ARGV: the time to live in seconds, the channel, the event's JSON
/// before its number, the JSON after it. Numbers go through `string.format('%d')`, as Lua would
/// otherwise write them with 14 significant digits. `TIME` before writes is allowed since Redis 5
/// (scripts replicate their effects).
const PUBLISH_SCRIPT: &str = r"
local clock = redis.call('TIME')
local seq = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local stored = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if stored >= seq then seq = stored + 1 end
local number = string.format('%d', seq)
redis.call('SET', KEYS[1], number, 'EX', ARGV[1])
local event = ARGV[3] .. number .. ARGV[4]
redis.call('RPUSH', KEYS[2], event)
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], event)
return number
";

/// Numbers an event, appends it to the task's log (kept `ttl_secs`, as is the counter) and
/// publishes it on the channel, atomically. Returns its number.
#[tracing::instrument(name = "redis.publish_event", skip_all, fields(task_id = %task))]
pub async fn publish(
    redis: &Redis,
    ttl_secs: u64,
    task: TaskId,
    progress: domain::Progress,
    kind: domain::EventKind,
) -> anyhow::Result<u64> {
    let prefix = redis.prefix();
    let (before, after) = split_at_number(task, progress, kind)?;
    let mut connection = redis.connection();
    let number: String = redis::cmd("EVAL")
        .arg(PUBLISH_SCRIPT)
        .arg(2)
        .arg(keys::event_seq(prefix, task))
        .arg(keys::event_log(prefix, task))
        .arg(ttl_secs.max(1))
        .arg(keys::event_channel(prefix))
        .arg(before)
        .arg(after)
        .query_async(&mut connection)
        .await?;
    number
        .parse()
        .with_context(|| format!("the event script answered {number:?}, not a number"))
}

/// The event's JSON cut where its number goes: `{"task_id":"…","seq":` and the rest. Its fields
/// are written in order, so the first `"seq":0,` is the field (a task id holds no quote).
fn split_at_number(
    task: TaskId,
    progress: domain::Progress,
    kind: domain::EventKind,
) -> anyhow::Result<(String, String)> {
    const NAME: &str = "\"seq\":";
    let json = serde_json::to_string(&Event {
        task_id: task,
        seq: 0,
        progress,
        kind,
    })?;
    let at = json
        .find(&format!("{NAME}0,"))
        .context("an event's JSON has no `seq` after its task id")?;
    let number_at = at + NAME.len();
    Ok((
        json[..number_at].to_owned(),
        json[number_at + 1..].to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use domain::{EventKind, Progress};

    use super::*;

    #[test]
    fn the_number_is_spliced_where_serde_writes_it() {
        let task = TaskId::from_uuid(uuid::Uuid::now_v7());
        let progress = Progress::new(40, 2, 5).expect("valid progress");
        let kinds = [
            EventKind::Started { attempt: 1 },
            EventKind::Warning {
                message: "\"seq\":0, in a message".into(),
                unit: Some("seq".into()),
            },
            EventKind::Heartbeat {},
        ];
        for kind in kinds {
            let (before, after) = split_at_number(task, progress, kind.clone()).expect("a split");
            for seq in [1, 1_765_432_109_876_543, u64::MAX] {
                let expected = Event {
                    task_id: task,
                    seq,
                    progress,
                    kind: kind.clone(),
                };
                assert_eq!(
                    format!("{before}{seq}{after}"),
                    serde_json::to_string(&expected).expect("serialises")
                );
            }
        }
    }
}
