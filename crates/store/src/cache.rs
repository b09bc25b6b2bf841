//! The result cache: a finished task's test file, by the cache key of what produced it. Redis holds
//! it for fast answers; the task table is the fallback, so a Redis flush costs a query, not a result.

use domain::{CacheKey, TaskId};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::redis::Redis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedResult {
    pub task_id: TaskId,
    pub file_name: String,
    pub code: String,
    /// What running the tests found when they were made ([`domain::Validation`]).
    #[serde(default)]
    pub validation: Option<serde_json::Value>,
}

#[derive(Clone)]
pub struct ResultCache {
    redis: Redis,
    ttl_secs: u64,
}

impl ResultCache {
    pub fn new(redis: Redis, ttl_secs: u64) -> ResultCache {
        ResultCache { redis, ttl_secs }
    }

    fn key(&self, cache_key: &CacheKey) -> String {
        keys::result(self.redis.prefix(), cache_key)
    }

    /// The cached result, if Redis has it. A Redis failure is a miss, not an error.
    #[tracing::instrument(name = "redis.get_result", skip_all)]
    pub async fn get(&self, cache_key: &CacheKey) -> Option<CachedResult> {
        let mut connection = self.redis.connection();
        let stored: Option<String> = match connection.get(self.key(cache_key)).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(error = %error, "result cache unavailable; treating as a miss");
                return None;
            }
        };
        let stored = stored?;
        match serde_json::from_str(&stored) {
            Ok(result) => Some(result),
            Err(error) => {
                tracing::warn!(error = %error, "unreadable result cache entry; ignoring it");
                None
            }
        }
    }

    /// Stores a result. Failure is logged, not returned: the task table still has the result.
    #[tracing::instrument(name = "redis.put_result", skip_all)]
    pub async fn put(&self, cache_key: &CacheKey, result: &CachedResult) {
        let Ok(json) = serde_json::to_string(result) else {
            return;
        };
        let mut connection = self.redis.connection();
        let stored: redis::RedisResult<()> = connection
            .set_ex(self.key(cache_key), json, self.ttl_secs)
            .await;
        if let Err(error) = stored {
            tracing::warn!(error = %error, "cannot store a result in the cache");
        }
    }
}
