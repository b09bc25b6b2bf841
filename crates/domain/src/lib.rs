//! AIunittest's vocabulary: the types every service speaks, and the pure logic that goes with them.
//!
//! Nothing here does IO, blocks, awaits or reads the clock: values come in, values go out. Types
//! *parse* rather than validate — holding a [`SourceFile`] or a [`TaskSpec`] proves the checks passed.

mod cache_key;
mod checkout;
mod event;
mod file_name;
mod framework;
mod language;
mod model;
pub mod observed;
mod registry;
mod request;
mod source;
mod task;
mod validation;

pub use cache_key::{CacheKey, PROMPT_VERSION};
pub use checkout::{
    Checkout, CheckoutFile, CheckoutLimits, Selection, SelectionError, SkippedFile,
    batch_test_paths, conventional_test_path, not_a_source, select_sources,
};
pub use event::{Event, EventKind, Progress, ProgressError, UnitKind, UnitSummary};
pub use file_name::{FileNameError, SourceFileName};
pub use framework::{Framework, FrameworkError};
pub use language::{Language, UnknownLanguage};
pub use model::{ModelId, ModelIdError};
pub use registry::{Availability, ModelKind, ModelRegistry, ModelSpec, RegistryError};
pub use request::{RawSource, RawTaskRequest, RequestError, TaskSpec};
pub use source::{SourceError, SourceFile, SourceLimits};
pub use task::{IllegalTransition, TaskId, TaskIdError, TaskStatus, UnknownStatus};
pub use validation::{
    FileCoverage, KeepPolicy, TestReport, UnknownKeepPolicy, UnknownValidationMode, Validation,
    ValidationMode, ValidationStatus, Verdict,
};

/// User input quoted back in an error message, cut short so a huge field cannot make a huge answer.
fn echo(input: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut chars = input.chars();
    let head: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn echoes_are_short() {
        assert_eq!(super::echo("cobol"), "cobol");
        let long = "x".repeat(10_000);
        let echoed = super::echo(&long);
        assert_eq!(echoed.chars().count(), 41);
        assert!(echoed.ends_with('…'));
        let error = "z"
            .repeat(5_000)
            .parse::<crate::Language>()
            .expect_err("unknown");
        assert!(error.to_string().len() < 200, "{error}");
    }
}
