//! The claim loop: takes every free slot, claims as many of the oldest claimable tasks under a
//! lease in one transaction and spawns their runners, or, with nothing to claim, waits for a
//! wake-up or the next poll; every poll interval it also sweeps the tasks whose last attempt's
//! worker died.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use domain::{EventKind, Progress};
use store::queue::{self, ClaimedTask};
use telemetry::propagation;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span};

use super::Shared;

/// The most tasks one claim takes: enough that a worker with hundreds of free slots fills them
/// in a few round trips, few enough that one worker does not take a burst another could share.
const CLAIM_BATCH: usize = 64;

pub(super) async fn claim_loop(
    shared: Arc<Shared>,
    tracker: TaskTracker,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(
        usize::try_from(shared.settings.worker.concurrency).unwrap_or(1),
    ));
    let poll = shared.settings.worker.poll_interval();
    let mut last_sweep = Instant::now() - poll;
    let mut error_delay = Duration::from_millis(100);
    loop {
        let first = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            permit = slots.clone().acquire_owned() => permit.context("the slot semaphore closed")?,
        };
        // Every slot free now is filled by the same claim.
        let mut permits = vec![first];
        while permits.len() < CLAIM_BATCH {
            match slots.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        if last_sweep.elapsed() >= poll {
            last_sweep = Instant::now();
            sweep_exhausted(&shared).await;
        }
        let settings = &shared.settings;
        let spans: Vec<ClaimSpans> = permits
            .iter()
            .map(|_| ClaimSpans::start(&shared.worker_id))
            .collect();
        match queue::claim_batch(
            &shared.pool,
            &shared.worker_id,
            settings.worker.lease(),
            settings.limits.max_running_per_session,
            u32::try_from(permits.len()).unwrap_or(1),
        )
        .await
        {
            Ok(tasks) if !tasks.is_empty() => {
                error_delay = Duration::from_millis(100);
                let mut spans = spans.into_iter();
                let mut permits = permits.into_iter();
                for task in tasks {
                    let (Some(spans), Some(permit)) = (spans.next(), permits.next()) else {
                        // Never more tasks than asked for; one past that would have no slot.
                        anyhow::bail!("a claim returned more tasks than it asked for");
                    };
                    let span = spans.claimed(&task);
                    tracker.spawn(
                        super::runner::run_task(shared.clone(), task, permit).instrument(span),
                    );
                }
                spans.for_each(ClaimSpans::unused);
                // The slots not filled are free again; the next claim finds whether the queue
                // is empty.
            }
            Ok(_) => {
                spans.into_iter().for_each(ClaimSpans::unused);
                drop(permits);
                tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    () = shared.wake.notified() => {}
                    () = tokio::time::sleep(poll) => {}
                }
            }
            Err(error) => {
                spans.into_iter().for_each(ClaimSpans::unused);
                drop(permits);
                tracing::warn!(error = format!("{error:#}"), "cannot claim; retrying");
                tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    () = tokio::time::sleep(error_delay) => {}
                }
                error_delay = (error_delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// A claim's spans, made before the claim so they time it: the task's (`worker.task`, which
/// the task runs in) and the claim's own (`worker.claim`, under it). Only once a task is
/// claimed is it known which trace they belong to: the one of the request that made the task,
/// whose `traceparent` the row keeps.
struct ClaimSpans {
    task: Span,
    claim: Span,
}

impl ClaimSpans {
    fn start(worker_id: &str) -> ClaimSpans {
        ClaimSpans {
            task: tracing::info_span!(
                parent: None,
                "worker.task",
                task_id = tracing::field::Empty,
                attempt = tracing::field::Empty,
                trace_id = tracing::field::Empty,
                outcome = tracing::field::Empty,
                "otel.status_code" = tracing::field::Empty,
            ),
            claim: tracing::info_span!(
                parent: None,
                "worker.claim",
                worker_id,
                task_id = tracing::field::Empty,
                reclaimed = tracing::field::Empty,
            ),
        }
    }

    /// Joins the spans to the task's trace (or starts a new one when the row names none), ends
    /// the claim's, and returns the task's.
    fn claimed(self, task: &ClaimedTask) -> Span {
        let ClaimSpans { task: span, claim } = self;
        if let Some(traceparent) = &task.traceparent {
            propagation::set_parent_from_traceparent(&span, traceparent);
        }
        span.record("task_id", tracing::field::display(task.id));
        span.record("attempt", task.attempt);
        propagation::record_trace_id(&span);
        propagation::set_parent_span(&claim, &span);
        claim.record("task_id", tracing::field::display(task.id));
        claim.record("reclaimed", task.reclaimed);
        drop(claim);
        span
    }

    /// Nothing was claimed: the spans are not exported.
    fn unused(self) {
        propagation::skip_export(&self.task);
        propagation::skip_export(&self.claim);
    }
}

/// Fails the tasks whose last attempt's worker died, and tells their watchers.
async fn sweep_exhausted(shared: &Shared) {
    match queue::fail_exhausted(&shared.pool).await {
        Ok(ids) => {
            for id in ids {
                shared.metrics.attempt_ended("worker_lost", 0.0);
                shared
                    .publisher
                    .publish(
                        id,
                        Progress::start(),
                        EventKind::Error {
                            code: "worker_lost".into(),
                            message:
                                "the worker running the last attempt stopped without finishing"
                                    .into(),
                        },
                    )
                    .await;
            }
        }
        Err(error) => tracing::warn!(error = format!("{error:#}"), "cannot sweep expired leases"),
    }
    // The daily budgets read today's spend only.
    if let Err(error) = store::limits::prune_spend(&shared.pool).await {
        tracing::warn!(error = format!("{error:#}"), "cannot prune the daily spend");
    }
}
