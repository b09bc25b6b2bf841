//! The Postgres `NOTIFY` channels between the api and the workers. Each payload is a task id.

/// A task was queued: idle workers claim at once instead of at their next poll.
pub const TASK_QUEUED: &str = "aiut_task_queued";

/// A running task was asked to stop: the worker running it stops its model call.
pub const TASK_CANCEL: &str = "aiut_task_cancel";
