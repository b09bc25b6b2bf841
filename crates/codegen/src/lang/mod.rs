//! Everything codegen knows about one language, in one folder per language.
//!
//! `lang/<language>/` holds:
//! - `mod.rs` — the language's [`LanguageSupport`] and its small facts: keywords, how names are
//!   joined, the tags of its fenced code blocks, which units a test can reach;
//! - `units.rs` — the tree-sitter walker that finds the testable units (with its tests);
//! - `imports.rs` — how a test file reaches the code under test (package, module path, header …);
//! - `scaffold.rs` — test code for one unit, in each of the language's frameworks;
//! - `assemble.rs` — how per-unit test files merge into one (package line, imports, test class);
//! - `feedback.rs` — what a failed run's output says the call returned or raised;
//! - `pinned.rs` — tests asserting what the calls an explorer made returned or raised.
//!
//! JavaScript and TypeScript share `javascript/`: one walker, one set of module rules and one
//! scaffold, which look at the target's language where TypeScript differs.
//!
//! What every language shares stays with its axis: [`crate::parse`] (the entry point and the unit
//! draft), [`crate::imports`] (the public [`Access`]), [`crate::scaffold`] (the [`Plan`] and naming
//! helpers), [`crate::assemble`] (splitting and merging pieces), [`crate::tree`] and
//! [`crate::text`].

pub(crate) mod cpp;
pub(crate) mod csharp;
pub(crate) mod go;
pub(crate) mod java;
pub(crate) mod javascript;
pub(crate) mod python;
pub(crate) mod rust;

use domain::Language;
use tree_sitter::Node;

use crate::assemble::{AssembleError, Piece};
use crate::imports::{Access, SourcePath};
use crate::pinned::PinPlan;
use crate::scaffold::{Expected, Plan};
use crate::{Target, Unit};

/// One language, along every axis codegen works on. [`support`] finds the one for a [`Language`].
///
/// Running the tests (how a language's tests are built, run and measured, and how its code is
/// explored) is IO, so it lives in the runner crate, one file per language
/// (`crates/runner/src/lang/<language>.rs`, `crates/runner/explore/`); codegen stays pure.
pub(crate) trait LanguageSupport: Sync {
    // Units.

    /// The testable units under `root`, in any order ([`crate::parse_units`] sorts them).
    fn units(&self, root: Node<'_>, source: &str) -> Vec<Unit>;

    // Imports: how a test reaches the code under test.

    /// How the test file for `target`, at `path`, reaches its source.
    fn access(&self, target: &Target<'_>, path: &SourcePath<'_>) -> Access;

    /// The top-level name a test of `unit` imports, where the language imports by name.
    fn imported_name(&self, _unit: &Unit) -> Option<String> {
        None
    }

    /// Whether a test in the conventional test file can call `unit`; by default, only public
    /// units can.
    fn is_reachable(&self, unit: &Unit) -> bool {
        unit.is_public
    }

    /// What an unreachable unit is not, in a skip reason.
    fn visibility(&self) -> &'static str {
        "public"
    }

    /// For a test that shares the source's package (so imports nothing of it): the prompt's line
    /// saying so.
    fn same_package_summary(&self, _access: &Access) -> Option<String> {
        None
    }

    // Notation.

    /// The language's small facts: how names are written, its keywords, its code blocks' tags.
    fn notation(&self) -> &'static Notation;

    // Scaffolds.

    /// A complete test file for the unit of `plan`, in the target's framework.
    fn scaffold(&self, plan: &Plan<'_>) -> String;

    // Run feedback.

    /// What the first failure in the output of the language's test tool observed
    /// ([`crate::feedback::observed`]).
    fn observed(&self, _output: &str) -> Option<Expected> {
        None
    }

    // Pinned tests: the offline generator's, from calls observed in the sandbox.

    /// A test file for the unit of `plan` asserting what its observed calls did; `None` where
    /// the language has none.
    fn pinned(&self, _plan: &PinPlan<'_>) -> Option<String> {
        None
    }

    // Assembly.

    /// Per-unit test files (parsed, in order) merged into one file named `test_file_name`.
    fn assemble(&self, pieces: &[Piece<'_>], test_file_name: &str)
    -> Result<String, AssembleError>;
}

/// How a language writes names and code blocks, as data.
pub(crate) struct Notation {
    /// What joins a container and a name: `.` or `::`.
    pub(crate) name_separator: &'static str,
    /// The tag of the fenced blocks prompts show the language's code in.
    pub(crate) fence_tag: &'static str,
    /// The tags (lower-case) of a model's fenced blocks that hold the language's code.
    pub(crate) fence_aliases: &'static [&'static str],
    /// Words a local variable cannot be named.
    pub(crate) keywords: &'static [&'static str],
    /// Whether units can be overloaded, so test names need more than the unit's name.
    pub(crate) has_overloads: bool,
    /// Whether a unit without a written return type returns nothing. Not so where return types
    /// are optional (Python, JavaScript, TypeScript).
    pub(crate) missing_return_type_means_nothing: bool,
    /// What a line of a test file that checks something contains: an assertion of the
    /// language's test tools, or an expected failure.
    pub(crate) assertion_markers: &'static [&'static str],
}

/// The support for `language`: the one place that lists the languages.
pub(crate) fn support(language: Language) -> &'static dyn LanguageSupport {
    match language {
        Language::Python => &python::Python,
        Language::Java => &java::Java,
        Language::Go => &go::Go,
        Language::Cpp => &cpp::Cpp,
        Language::Csharp => &csharp::Csharp,
        Language::Rust => &rust::Rust,
        Language::Javascript => &javascript::JAVASCRIPT,
        Language::Typescript => &javascript::TYPESCRIPT,
    }
}
