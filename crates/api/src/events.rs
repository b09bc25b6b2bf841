//! Live progress: ONE Redis subscription per api replica, fanned out to every event-stream client of
//! the replica through a broadcast channel per watched task.
//!
//! Workers number each task's events, append them to the task's log in Redis and publish them on
//! one channel. A client's stream subscribes here first, then replays the log, then follows the
//! live events, skipping any number it has already sent; after a reconnect of the subscription (or
//! when a client falls behind) it re-reads the log from its last number, so nothing is lost in
//! between.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::{Event, TaskId};
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// What a watcher of one task receives.
#[derive(Debug, Clone)]
pub enum HubMessage {
    /// A live event, parsed once for all watchers.
    Event(Arc<Event>),
    /// The subscription was re-established: events may have been missed, re-read the log.
    Resync,
}

/// Per-task queue of live events for one watcher; a watcher slower than this re-reads the log.
const WATCHER_BUFFER: usize = 256;

#[derive(Default)]
struct Inner {
    /// Thrown when the replica stops: streams end so their clients move to another replica.
    stopping: CancellationToken,
    watchers: Mutex<HashMap<TaskId, broadcast::Sender<HubMessage>>>,
    connected: AtomicBool,
    /// Messages received on the subscription since start, for tests and metrics.
    received: AtomicU64,
}

/// The replica's one subscription and its watchers. Cheap to clone.
#[derive(Clone, Default)]
pub struct EventHub {
    inner: Arc<Inner>,
}

/// A watcher of one task. Dropping it forgets the task when it was the last watcher.
pub struct Watch {
    hub: EventHub,
    task: TaskId,
    receiver: Option<broadcast::Receiver<HubMessage>>,
}

impl Watch {
    pub async fn recv(&mut self) -> Option<HubMessage> {
        let receiver = self.receiver.as_mut()?;
        match receiver.recv().await {
            Ok(message) => Some(message),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(HubMessage::Resync),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.receiver.take());
        if let Ok(mut watchers) = self.hub.inner.watchers.lock()
            && watchers
                .get(&self.task)
                .is_some_and(|sender| sender.receiver_count() == 0)
        {
            watchers.remove(&self.task);
        }
    }
}

impl EventHub {
    /// Starts the subscription in the background; it reconnects by itself until `stop`.
    pub fn start(
        redis_url: &str,
        prefix: &str,
        stop: CancellationToken,
    ) -> anyhow::Result<EventHub> {
        let client = redis::Client::open(redis_url)?;
        let hub = EventHub {
            inner: Arc::new(Inner {
                stopping: stop.clone(),
                ..Inner::default()
            }),
        };
        tokio::spawn(hub.clone().subscribe_forever(
            client,
            store::keys::event_channel(prefix),
            stop,
        ));
        Ok(hub)
    }

    /// Whether the subscription is up: without it, streams send the current state and close.
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Acquire)
    }

    /// Completes when the replica stops.
    pub async fn stopping(&self) {
        self.inner.stopping.cancelled().await;
    }

    /// Clients watching `task` on this replica.
    pub fn watchers_of(&self, task: TaskId) -> usize {
        self.inner
            .watchers
            .lock()
            .ok()
            .and_then(|watchers| watchers.get(&task).map(broadcast::Sender::receiver_count))
            .unwrap_or(0)
    }

    /// Messages received on the subscription so far.
    pub fn received(&self) -> u64 {
        self.inner.received.load(Ordering::Relaxed)
    }

    pub fn watch(&self, task: TaskId) -> Watch {
        let receiver = self.inner.watchers.lock().ok().map(|mut watchers| {
            watchers
                .entry(task)
                .or_insert_with(|| broadcast::channel(WATCHER_BUFFER).0)
                .subscribe()
        });
        Watch {
            hub: self.clone(),
            task,
            receiver,
        }
    }

    async fn subscribe_forever(
        self,
        client: redis::Client,
        channel: String,
        stop: CancellationToken,
    ) {
        let mut delay = Duration::from_millis(100);
        loop {
            let session = self.subscribe_once(&client, &channel);
            tokio::select! {
                () = stop.cancelled() => break,
                result = session => {
                    if let Err(error) = result {
                        tracing::warn!(error = %error, "event subscription lost; reconnecting");
                    } else {
                        delay = Duration::from_millis(100);
                    }
                }
            }
            self.inner.connected.store(false, Ordering::Release);
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        self.inner.connected.store(false, Ordering::Release);
    }

    async fn subscribe_once(
        &self,
        client: &redis::Client,
        channel: &str,
    ) -> redis::RedisResult<()> {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        self.inner.connected.store(true, Ordering::Release);
        tracing::info!(channel, "subscribed to task events");
        self.broadcast_resync();
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            self.inner.received.fetch_add(1, Ordering::Relaxed);
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            let event: Event = match serde_json::from_str(&payload) {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(error = %error, "unreadable event on the channel; skipped");
                    continue;
                }
            };
            let sender = self
                .inner
                .watchers
                .lock()
                .ok()
                .and_then(|watchers| watchers.get(&event.task_id).cloned());
            if let Some(sender) = sender {
                // No receivers left is fine: the last watcher just went away.
                let _ = sender.send(HubMessage::Event(Arc::new(event)));
            }
        }
        Ok(())
    }

    fn broadcast_resync(&self) {
        if let Ok(watchers) = self.inner.watchers.lock() {
            for sender in watchers.values() {
                let _ = sender.send(HubMessage::Resync);
            }
        }
    }
}
