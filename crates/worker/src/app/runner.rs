//! One task's runner: the pipeline run under the lease, then the end of the attempt recorded and
//! the slot given back.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;

use domain::{EventKind, Progress};
use store::queue::{ClaimedTask, Lease};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Span;

use crate::pipeline::{Halt, Pipeline, RepositoryRun, StopReason, TaskControl};
use crate::provider::CallReport;

use super::Shared;

pub(super) async fn run_task(shared: Arc<Shared>, task: ClaimedTask, permit: OwnedSemaphorePermit) {
    let started = Instant::now();
    let control = Arc::new(TaskControl::default());
    if let Ok(mut running) = shared.running.lock() {
        running.insert(task.id, control.clone());
    }
    shared.metrics.claimed(task.reclaimed);
    shared.metrics.in_flight().inc();
    tracing::info!(task_id = %task.id, attempt = task.attempt, reclaimed = task.reclaimed, "task claimed");
    if task.cancel_requested {
        control.stop(StopReason::CancelRequested);
    }
    shared
        .publisher
        .publish(
            task.id,
            Progress::start(),
            EventKind::Started {
                attempt: u32::try_from(task.attempt).unwrap_or(0),
            },
        )
        .await;

    let finished = CancellationToken::new();
    tokio::spawn(super::lease::keep_lease(
        shared.clone(),
        task.id,
        task.attempt,
        control.clone(),
        finished.clone(),
    ));

    // A model added a moment ago may not have reached this worker yet.
    let missing = shared.models.borrow().spec(&task.model).is_none();
    if missing && let Err(error) = super::models::reload(&shared).await {
        tracing::warn!(
            error = format!("{error:#}"),
            "cannot reload the model registry"
        );
    }
    let models = shared.models.borrow().clone();
    let mut report = CallReport::default();
    let checkout = match &task.in_repository {
        Some(in_repository) => checkout(&shared, in_repository.batch_id).await.map(Some),
        None => Ok(None),
    };
    let outcome = if control.token().is_cancelled() {
        Err(Halt::Stopped)
    } else if let Err(halt) = checkout {
        Err(halt)
    } else {
        let in_repository = match (&task.in_repository, checkout.ok().flatten()) {
            (Some(in_repository), Some(checkout)) => {
                Some((in_repository.test_path.clone(), checkout))
            }
            _ => None,
        };
        let pipeline = Pipeline {
            task: &task,
            unit_concurrency: usize::try_from(shared.settings.worker.unit_concurrency).unwrap_or(1),
            models: &models,
            publisher: &shared.publisher,
            metrics: &shared.metrics,
            control: &control,
            runner: &shared.runner,
            validation: &shared.settings.validation,
            progress: &shared.progress,
            in_repository: in_repository
                .as_ref()
                .map(|(test_path, checkout)| RepositoryRun {
                    test_path,
                    checkout,
                }),
        };
        supervised(task.id, pipeline.run(&mut report)).await
    };
    finished.cancel();
    // The ending writes the whole count; what the attempt noted and was not written yet goes.
    shared.progress.forget(task.id);
    let lease = Lease {
        task: task.id,
        owner: &shared.worker_id,
        attempt: task.attempt,
    };
    let ended = match super::finish::finish(&shared, &task, lease, outcome, &control, &report).await
    {
        Ok(ended) => ended,
        Err(error) => {
            // The lease runs out and another worker retries the task.
            tracing::error!(task_id = %task.id, error = format!("{error:#}"), "cannot record how the task ended");
            "unrecorded"
        }
    };
    let span = Span::current();
    span.record("outcome", ended);
    if matches!(ended, "failed" | "requeued" | "unrecorded") {
        span.record("otel.status_code", "ERROR");
    }
    shared
        .metrics
        .attempt_ended(ended, started.elapsed().as_secs_f64());
    shared.metrics.in_flight().dec();
    if let Ok(mut running) = shared.running.lock() {
        running.remove(&task.id);
    }
    drop(permit);
    shared.wake.notify_one();
}

/// A panic in the pipeline ends this task, never the worker's slot or the lease renewal: the task
/// fails with a clear error and the runner goes on to record the end as for any ending.
async fn supervised<T>(
    task: domain::TaskId,
    pipeline: impl Future<Output = Result<T, Halt>>,
) -> Result<T, Halt> {
    AssertUnwindSafe(pipeline)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic_message(panic.as_ref());
            tracing::error!(task_id = %task, panic = %what, "the pipeline panicked");
            Err(Halt::Fatal {
                code: "internal_error",
                message: format!(
                    "the worker failed on this task ({what}); it was stopped, and the failure is a bug to report"
                ),
            })
        })
}

/// What a panic said, when it said it as text.
fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
        .chars()
        .take(300)
        .collect()
}

/// Checkouts kept in memory: a batch's tasks run one after another on the same few workers.
const CHECKOUTS_KEPT: usize = 4;

/// The repository files of `batch`, from memory or from the batch's row.
async fn checkout(shared: &Shared, batch: uuid::Uuid) -> Result<Arc<domain::Checkout>, Halt> {
    let known = shared.checkouts.lock().ok().and_then(|kept| {
        kept.iter()
            .find(|(id, _)| *id == batch)
            .map(|(_, checkout)| checkout.clone())
    });
    if let Some(checkout) = known {
        return Ok(checkout);
    }
    let loaded = match store::batches::batch_checkout(&shared.pool, batch).await {
        Ok(Some(checkout)) => Arc::new(checkout),
        Ok(None) => {
            return Err(Halt::Fatal {
                code: "batch_gone",
                message: "the task's batch, and with it the repository's files, was deleted"
                    .to_owned(),
            });
        }
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), %batch, "cannot read a batch's checkout");
            return Err(Halt::Retryable {
                code: "checkout_unavailable",
                message: "the repository's files could not be read; another attempt will try again"
                    .to_owned(),
            });
        }
    };
    if let Ok(mut kept) = shared.checkouts.lock() {
        kept.retain(|(id, _)| *id != batch);
        kept.insert(0, (batch, loaded.clone()));
        kept.truncate(CHECKOUTS_KEPT);
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_pipeline_fails_its_task_with_a_clear_error() {
        let task: domain::TaskId = "0190f0a0-0000-7000-8000-000000000001"
            .parse()
            .expect("a task id");
        let panicking = async {
            let byte_count: usize = "\u{3000}x".len();
            if byte_count > 1 {
                panic!("byte index 1 is not a char boundary");
            }
            Ok::<(), Halt>(())
        };
        match supervised(task, panicking).await {
            Err(Halt::Fatal { code, message }) => {
                assert_eq!(code, "internal_error");
                assert!(message.contains("not a char boundary"), "{message}");
            }
            other => panic!("a panic must fail the task, got {other:?}"),
        }
        let calm = async { Ok::<u8, Halt>(7) };
        assert_eq!(supervised(task, calm).await, Ok(7));
        let halted = async { Err::<u8, Halt>(Halt::Stopped) };
        assert_eq!(supervised(task, halted).await, Err(Halt::Stopped));
    }
}
