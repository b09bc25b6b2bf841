//! Redis: sessions, the result cache and progress fan-out. Nothing kept here must survive a flush —
//! losing Redis loses caches and event logs, never a task, a result or a user's tasks (a session
//! that owns recent tasks is recorded again from the task table).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use service::sections::RedisSettings;

/// A shared, self-reconnecting connection and the key prefix of this deployment.
#[derive(Clone)]
pub struct Redis {
    connection: ConnectionManager,
    prefix: Arc<str>,
}

impl Redis {
    /// Sets up the connection without opening it, so the api starts (and reports itself not ready)
    /// while Redis is down, and recovers by itself when Redis comes back.
    pub fn new(settings: &RedisSettings) -> anyhow::Result<Redis> {
        let client =
            redis::Client::open(settings.url.as_str()).context("redis.url is not a Redis URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
            .set_response_timeout(Some(Duration::from_millis(settings.response_timeout_ms)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .context("cannot set up the Redis connection")?;
        Ok(Redis {
            connection,
            prefix: Arc::from(settings.key_prefix.as_str()),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A handle to the shared connection; cheap to clone, multiplexed.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut connection = self.connection();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await?;
        Ok(())
    }
}
