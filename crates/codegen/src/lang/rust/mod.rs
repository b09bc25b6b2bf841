//! Rust: the built-in test harness. The test file is a child module of the source
//! (`#[cfg(test)] #[path = "x_test.rs"] mod tests;` in `x.rs`), so `use super::*;` reaches private
//! items too.

mod assemble;
mod feedback;
mod scaffold;
mod units;

use tree_sitter::Node;

use crate::assemble::{AssembleError, Piece};
use crate::imports::{Access, SourcePath};
use crate::lang::{LanguageSupport, Notation};
use crate::scaffold::{Expected, Plan};
use crate::{Target, Unit};

pub(crate) struct Rust;

impl LanguageSupport for Rust {
    fn units(&self, root: Node<'_>, source: &str) -> Vec<Unit> {
        units::units(root, source)
    }

    fn observed(&self, output: &str) -> Option<Expected> {
        feedback::observed(output)
    }

    fn scaffold(&self, plan: &Plan<'_>) -> String {
        scaffold::render(plan)
    }

    fn notation(&self) -> &'static Notation {
        &NOTATION
    }

    fn access(&self, _target: &Target<'_>, _path: &SourcePath<'_>) -> Access {
        Access::Rust
    }

    /// The tests are a child module of the source, so private items are reachable too.
    fn is_reachable(&self, _unit: &Unit) -> bool {
        true
    }

    fn assemble(
        &self,
        pieces: &[Piece<'_>],
        _test_file_name: &str,
    ) -> Result<String, AssembleError> {
        Ok(assemble::merge(pieces))
    }
}

const NOTATION: Notation = Notation {
    name_separator: "::",
    fence_tag: "rust",
    fence_aliases: &["rs", "rust"],
    keywords: KEYWORDS,
    has_overloads: false,
    missing_return_type_means_nothing: true,
    assertion_markers: &["assert", "#[should_panic", "panic!("],
};

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];
