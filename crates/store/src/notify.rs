//! The Postgres `NOTIFY` channels between the api and the workers.

/// A task was queued: idle workers claim at once instead of at their next poll.
pub const TASK_QUEUED: &str = "aiut_task_queued";

/// A running task was asked to stop: the worker running it stops its model call.
pub const TASK_CANCEL: &str = "aiut_task_cancel";

/// The model registry changed (the payload is its new version): the api and the workers re-read it.
pub const MODELS_CHANGED: &str = "aiut_models_changed";

/// The admin asked for a model test (the payload is the request's id): a worker serving the model
/// claims it.
pub const MODEL_TEST: &str = "aiut_model_test";
