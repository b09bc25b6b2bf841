//! Every Redis key and channel the api and the workers share, under a deployment's prefix (so
//! several deployments, or tests, can share one Redis). Nothing kept under them must survive a
//! flush.

use domain::{CacheKey, TaskId};

/// The one channel every progress event is published on; each api replica subscribes to it once.
pub fn event_channel(prefix: &str) -> String {
    format!("{prefix}events")
}

/// A task's event log, for replay to late joiners.
pub fn event_log(prefix: &str, task: TaskId) -> String {
    format!("{prefix}events:{task}")
}

/// A task's event counter, which numbers its events across attempts and publishers; when it is
/// lost, Redis's clock keeps the numbers going up (`events::publish`).
pub fn event_seq(prefix: &str, task: TaskId) -> String {
    format!("{prefix}events:{task}:seq")
}

/// A finished task's test file, by the cache key of what produced it.
pub fn result(prefix: &str, cache_key: &CacheKey) -> String {
    format!("{prefix}result:{cache_key}")
}

/// An anonymous session's record. When it is lost, a session that owns recent tasks is recorded
/// again from the task table (the api's `session.rs`).
pub fn session(prefix: &str, session_id: &str) -> String {
    format!("{prefix}session:{session_id}")
}

/// A session's forge token, sealed, beside the session's record and living as long as it (the
/// api's `git_token.rs`). When it is lost the user gives the token again.
pub fn session_git_token(prefix: &str, session_id: &str) -> String {
    format!("{prefix}session:{session_id}:git")
}
