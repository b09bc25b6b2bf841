//! The queue sampler: the queue's depth into the metrics at a fixed interval.

use std::sync::Arc;
use std::time::Duration;

use store::queue;
use tokio_util::sync::CancellationToken;

use super::Shared;

pub(super) async fn sample_queue(shared: Arc<Shared>, stop: CancellationToken) {
    let every = Duration::from_secs(shared.settings.worker.queue_sample_secs.max(1));
    loop {
        match queue::depth(&shared.pool).await {
            Ok((queued, running)) => shared.metrics.queue_sampled(queued, running),
            Err(error) => tracing::debug!(error = format!("{error:#}"), "cannot sample the queue"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
