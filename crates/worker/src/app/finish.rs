//! The end of an attempt: succeed (and cache the result), fail (requeue or fail for good), cancel
//! or release, then the watchers told.

use domain::{CacheKey, EventKind, Progress};
use store::CachedResult;
use store::queue::{self, AfterFailure, ClaimedTask, Failure, Lease, Success};

use crate::pipeline::{Halt, StopReason, TaskControl};
use crate::provider::CallReport;

use super::Shared;

/// The progress an ending event carries when no unit count goes with it: the bar full.
fn ending_progress() -> Progress {
    Progress::new(100, 0, 0).unwrap_or_else(|_| Progress::start())
}

/// Records the end of an attempt, then tells the watchers. Returns the outcome's metric label.
pub(super) async fn finish(
    shared: &Shared,
    task: &ClaimedTask,
    lease: Lease<'_>,
    outcome: Result<crate::pipeline::Generated, Halt>,
    control: &TaskControl,
    report: &CallReport,
) -> anyhow::Result<&'static str> {
    let publisher = &shared.publisher;
    let done = ending_progress();
    match outcome {
        Ok(generated) => {
            let validation = serde_json::to_value(&generated.validation)?;
            let stored = queue::succeed(
                &shared.pool,
                lease,
                &Success {
                    file_name: &generated.file_name,
                    code: &generated.code,
                    units: &generated.units,
                    warnings: &generated.warnings,
                    model_used: generated.model_used.as_str(),
                    prompt_tokens: report.prompt_tokens,
                    completion_tokens: report.completion_tokens,
                    retries: report.retries,
                    total_units: generated.total_units,
                    validation: &validation,
                },
            )
            .await?;
            if !stored {
                return Ok("lease_lost");
            }
            if let Some(key) = CacheKey::from_stored(&task.cache_key) {
                let cached = CachedResult {
                    task_id: task.id,
                    file_name: generated.file_name.clone(),
                    code: generated.code.clone(),
                    validation: Some(validation),
                };
                shared.results.put(&key, &cached).await;
            }
            let total = generated.total_units;
            let progress = Progress::new(100, total, total).unwrap_or(done);
            publisher
                .publish(
                    task.id,
                    progress,
                    EventKind::Completed {
                        file_name: generated.file_name,
                        tests: generated.tests,
                    },
                )
                .await;
            tracing::info!(task_id = %task.id, tests = generated.tests, "task succeeded");
            Ok("succeeded")
        }
        Err(Halt::Fatal { code, message }) => {
            fail(shared, task, lease, report, (code, &message, None), false).await
        }
        Err(Halt::NothingPassed {
            message,
            validation,
        }) => {
            let validation = serde_json::to_value(&*validation)?;
            let ending = ("no_passing_tests", message.as_str(), Some(&validation));
            fail(shared, task, lease, report, ending, false).await
        }
        Err(Halt::Retryable { code, message }) => {
            fail(shared, task, lease, report, (code, &message, None), true).await
        }
        Err(Halt::Stopped) => match control.reason() {
            Some(StopReason::CancelRequested) => {
                if !queue::cancel(&shared.pool, lease).await? {
                    return Ok("lease_lost");
                }
                publisher
                    .publish(
                        task.id,
                        done,
                        EventKind::Cancelled {
                            reason: "cancelled by its owner".into(),
                        },
                    )
                    .await;
                tracing::info!(task_id = %task.id, "task cancelled");
                Ok("cancelled")
            }
            Some(StopReason::LeaseLost) => Ok("lease_lost"),
            Some(StopReason::Shutdown) | None => {
                if queue::release(&shared.pool, lease).await? {
                    publisher
                        .publish(
                            task.id,
                            Progress::start(),
                            EventKind::Warning {
                                message: "the worker stopped; the task is queued again".into(),
                                unit: None,
                            },
                        )
                        .await;
                }
                Ok("released")
            }
        },
    }
}

async fn fail(
    shared: &Shared,
    task: &ClaimedTask,
    lease: Lease<'_>,
    report: &CallReport,
    (code, message, validation): (&str, &str, Option<&serde_json::Value>),
    retry: bool,
) -> anyhow::Result<&'static str> {
    let failure = Failure {
        code,
        message,
        prompt_tokens: report.prompt_tokens,
        completion_tokens: report.completion_tokens,
        retries: report.retries,
        validation,
    };
    let after = queue::fail(&shared.pool, lease, &failure, retry).await?;
    let publisher = &shared.publisher;
    match after {
        AfterFailure::Requeued => {
            publisher
                .publish(
                    task.id,
                    Progress::start(),
                    EventKind::Warning {
                        message: format!(
                            "attempt {} of {} failed ({message}); the task is queued again",
                            task.attempt, task.max_attempts
                        ),
                        unit: None,
                    },
                )
                .await;
            tracing::warn!(task_id = %task.id, code, message, "attempt failed; requeued");
            Ok("requeued")
        }
        AfterFailure::Failed => {
            publisher
                .publish(
                    task.id,
                    ending_progress(),
                    EventKind::Error {
                        code: code.to_owned(),
                        message: message.to_owned(),
                    },
                )
                .await;
            tracing::warn!(task_id = %task.id, code, message, "task failed");
            Ok("failed")
        }
        AfterFailure::LeaseLost => Ok("lease_lost"),
    }
}
