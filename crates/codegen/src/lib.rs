//! What AIunittest knows about code, with no IO: tree-sitter parsing into testable units, the
//! prompts sent to models, the offline scaffolds, code extraction from model answers, and the
//! assembly and syntax check of the final test file.
//!
//! The api uses [`parse_units`] to refuse a source with nothing to test; the worker uses all of it;
//! the model simulator uses [`prompt::read_facts`] and [`scaffold`] to answer like a model would.

pub mod assemble;
pub mod check;
pub mod extract;
pub mod feedback;
pub mod imports;
mod lang;
mod parse;
pub mod pinned;
pub mod prompt;
pub mod scaffold;
mod syntax;
mod text;
mod tree;
mod unit;

pub use check::{SyntaxIssue, has_assertion, syntax_issues};
pub use parse::{ParseError, parse_units};
pub use syntax::Syntax;
pub use unit::{Param, Unit, UnitKind};

use domain::{Framework, Language, SourceFileName};

/// What joins a container and a unit's name in `language`: `.` or `::`.
pub fn name_separator(language: Language) -> &'static str {
    lang::support(language).notation().name_separator
}

/// What tests are being written for: the source file, its language and name, and the framework the
/// tests use.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub language: Language,
    pub framework: Framework,
    pub file_name: &'a SourceFileName,
    pub source: &'a str,
}

impl Target<'_> {
    /// The grammar of the source file.
    pub fn source_syntax(&self) -> Syntax {
        Syntax::of(self.language, self.file_name.as_str())
    }

    /// The conventional name of the test file (`test_x.py`, `XTest.java`, `x.test.ts` …).
    pub fn test_file_name(&self) -> String {
        self.language.test_file_name(self.file_name.as_str())
    }

    /// The grammar of the test file (a `.tsx` source gets a `.test.tsx` test file).
    pub fn test_syntax(&self) -> Syntax {
        Syntax::of(self.language, &self.test_file_name())
    }
}
