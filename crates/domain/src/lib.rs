//! AIunittest's vocabulary: the types every service speaks, and the pure logic that goes with them.
//!
//! Nothing here does IO, blocks, awaits or reads the clock: values come in, values go out. Types
//! *parse* rather than validate — holding a [`SourceFile`] or a [`TaskSpec`] proves the checks passed.

mod cache_key;
mod event;
mod file_name;
mod framework;
mod language;
mod model;
mod request;
mod source;
mod task;

pub use cache_key::{CacheKey, PROMPT_VERSION};
pub use event::{Event, EventKind, Progress, ProgressError, UnitSummary};
pub use file_name::{FileNameError, SourceFileName};
pub use framework::{Framework, FrameworkError};
pub use language::{Language, UnknownLanguage};
pub use model::{ModelId, ModelIdError};
pub use request::{RawSource, RawTaskRequest, RequestError, TaskSpec};
pub use source::{SourceError, SourceFile, SourceLimits};
pub use task::{IllegalTransition, TaskId, TaskIdError, TaskStatus, UnknownStatus};
