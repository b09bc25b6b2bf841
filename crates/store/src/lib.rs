//! AIunittest's storage, shared by the api and the workers: Postgres (the source of truth and the
//! task queue) and Redis (caches, the task event log; nothing there must survive a flush). The
//! names both sides meet under (`NOTIFY` channels, Redis keys) are defined here once.

pub mod admin;
pub mod batches;
pub mod cache;
pub mod db;
pub mod events;
pub mod keys;
pub mod limits;
pub mod model_keys;
pub mod models;
pub mod notify;
pub mod queue;
pub mod redis;
pub mod tasks;
pub mod workers;

pub use cache::{CachedResult, ResultCache};
pub use redis::Redis;
pub use tasks::TaskRow;
