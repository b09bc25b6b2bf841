//! The `LISTEN` connection: queued tasks wake the claim loop, cancels stop running tasks at once;
//! it reconnects with backoff.

use std::sync::Arc;
use std::time::Duration;

use domain::TaskId;
use sqlx::postgres::PgListener;
use store::notify::{MODEL_TEST, MODELS_CHANGED, TASK_CANCEL, TASK_QUEUED};
use tokio_util::sync::CancellationToken;

use crate::pipeline::StopReason;

use super::Shared;

/// One `LISTEN` connection: queued tasks wake the claim loop, cancels stop running tasks at once.
pub(super) async fn listen(shared: Arc<Shared>, stop: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    loop {
        let session = async {
            let mut listener = PgListener::connect_with(&shared.pool).await?;
            listener
                .listen_all([TASK_QUEUED, TASK_CANCEL, MODELS_CHANGED, MODEL_TEST])
                .await?;
            // Anything queued, changed or asked while we were not listening is found now.
            shared.wake.notify_one();
            shared.models_changed.notify_one();
            shared.tests_waiting.notify_one();
            loop {
                let notification = listener.recv().await?;
                match notification.channel() {
                    TASK_QUEUED => shared.wake.notify_one(),
                    MODELS_CHANGED => shared.models_changed.notify_one(),
                    MODEL_TEST => shared.tests_waiting.notify_one(),
                    TASK_CANCEL => {
                        if let Ok(id) = notification.payload().parse::<TaskId>()
                            && let Some(control) = shared
                                .running
                                .lock()
                                .ok()
                                .and_then(|running| running.get(&id).cloned())
                        {
                            tracing::info!(task_id = %id, "cancel requested");
                            control.stop(StopReason::CancelRequested);
                        }
                    }
                    _ => {}
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            () = stop.cancelled() => return,
            result = session => {
                if let Err(error) = result {
                    tracing::warn!(error = %error, "LISTEN connection lost; reconnecting");
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
