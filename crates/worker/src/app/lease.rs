//! Lease renewal while a task runs, and the task's off switch when a cancel comes, the lease is lost
//! or the shutdown grace period runs out.

use std::sync::Arc;

use domain::TaskId;
use store::queue::{self, Lease, Renewal};
use tokio_util::sync::CancellationToken;

use crate::pipeline::{StopReason, TaskControl};

use super::Shared;

/// Renews the lease until the task finishes; stops the task when a cancel is asked for or the lease
/// is lost, and when the shutdown grace period runs out.
pub(super) async fn keep_lease(
    shared: Arc<Shared>,
    task: TaskId,
    attempt: i32,
    control: Arc<TaskControl>,
    finished: CancellationToken,
) {
    let every = shared.settings.worker.renew_every();
    let length = shared.settings.worker.lease();
    loop {
        tokio::select! {
            () = finished.cancelled() => return,
            () = shared.hard_stop.cancelled() => {
                control.stop(StopReason::Shutdown);
                return;
            }
            () = tokio::time::sleep(every) => {}
        }
        let lease = Lease {
            task,
            owner: &shared.worker_id,
            attempt,
        };
        match queue::renew(&shared.pool, lease, length).await {
            Ok(Renewal::Renewed {
                cancel_requested: true,
            }) => control.stop(StopReason::CancelRequested),
            Ok(Renewal::Renewed { .. }) => {}
            Ok(Renewal::Lost) => {
                tracing::warn!(task_id = %task, "lease lost; stopping the task");
                control.stop(StopReason::LeaseLost);
                return;
            }
            // The lease is still good for a while; the next renewal may get through.
            Err(error) => {
                tracing::warn!(task_id = %task, error = format!("{error:#}"), "cannot renew the lease")
            }
        }
    }
}
