//! The units done of this worker's running tasks, on their rows. Tasks note their progress here
//! as units finish; every [`WRITE_EVERY`] one statement writes what changed for every task at
//! once (`store::queue::record_progress`), instead of one commit per unit of every task. A task
//! that ends drops what it noted and not yet written: its ending writes the whole count itself.
//!
//! The row's progress is for readers who do not follow the events (`GET /api/tasks/{id}`,
//! stream heartbeats, clients without Redis); events carry each unit as it ends, so those readers
//! lag by at most this interval.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use domain::TaskId;
use sqlx::PgPool;
use store::queue::UnitsDone;
use tokio_util::sync::CancellationToken;

/// How often the progress noted is written.
pub const WRITE_EVERY: Duration = Duration::from_millis(250);

/// The progress noted and not yet written, one entry per task (the latest wins).
#[derive(Default)]
pub struct ProgressBook {
    pending: Mutex<HashMap<TaskId, UnitsDone>>,
}

impl ProgressBook {
    /// Notes a task's units done, to be written with the next batch.
    pub fn note(&self, units: UnitsDone) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(units.task, units);
        }
    }

    /// Drops what a task noted and was not written yet: its attempt is over.
    pub fn forget(&self, task: TaskId) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&task);
        }
    }

    fn take(&self) -> Vec<UnitsDone> {
        self.pending
            .lock()
            .map(|mut pending| pending.drain().map(|(_, units)| units).collect())
            .unwrap_or_default()
    }

    /// Writes what was noted every [`WRITE_EVERY`], under `owner`'s leases, until `stop`; then once
    /// more. Best effort, like the events: a failed write is logged and its batch dropped (the
    /// next notes, and each task's ending, write the counts again).
    pub async fn write_until(&self, pool: &PgPool, owner: &str, stop: CancellationToken) {
        let mut every = tokio::time::interval(WRITE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                () = stop.cancelled() => true,
                _ = every.tick() => false,
            };
            let batch = self.take();
            if let Err(error) = store::queue::record_progress(pool, owner, &batch).await {
                tracing::warn!(
                    tasks = batch.len(),
                    error = format!("{error:#}"),
                    "cannot record progress"
                );
            }
            if stopping {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(task: &str, done: u32) -> UnitsDone {
        UnitsDone {
            task: task.parse().expect("a task id"),
            attempt: 1,
            done,
            total: 4,
        }
    }

    #[test]
    fn the_latest_note_of_a_task_wins_and_an_ended_task_is_dropped() {
        let book = ProgressBook::default();
        let first = "0190f0a0-0000-7000-8000-000000000001";
        let second = "0190f0a0-0000-7000-8000-000000000002";
        book.note(units(first, 1));
        book.note(units(first, 2));
        book.note(units(second, 1));
        book.forget(second.parse().expect("a task id"));
        assert_eq!(book.take(), vec![units(first, 2)]);
        assert!(
            book.take().is_empty(),
            "what was taken is not written twice"
        );
    }
}
