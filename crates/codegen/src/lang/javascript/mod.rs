//! JavaScript and TypeScript: Jest, Vitest and node:test. The two share one walker, one set of
//! module rules and one scaffold, which look at the target's language where TypeScript differs;
//! [`JAVASCRIPT`] and [`TYPESCRIPT`] differ only in the tags of their code blocks.

mod assemble;
mod feedback;
pub(crate) mod imports;
mod pinned;
mod scaffold;
mod units;

use tree_sitter::Node;

use crate::assemble::{AssembleError, Piece};
use crate::imports::{Access, SourcePath};
use crate::lang::{LanguageSupport, Notation};
use crate::scaffold::{Expected, Plan};
use crate::{Target, Unit};

/// JavaScript (`typescript: false`) or TypeScript.
pub(crate) struct JavaScript {
    typescript: bool,
}

pub(crate) const JAVASCRIPT: JavaScript = JavaScript { typescript: false };
pub(crate) const TYPESCRIPT: JavaScript = JavaScript { typescript: true };

impl LanguageSupport for JavaScript {
    fn units(&self, root: Node<'_>, source: &str) -> Vec<Unit> {
        units::units(root, source)
    }

    fn observed(&self, output: &str) -> Option<Expected> {
        feedback::observed(output)
    }

    fn scaffold(&self, plan: &Plan<'_>) -> String {
        scaffold::render(plan)
    }

    fn pinned(&self, plan: &crate::pinned::PinPlan<'_>) -> Option<String> {
        Some(pinned::render(plan))
    }

    fn notation(&self) -> &'static Notation {
        if self.typescript {
            &TYPESCRIPT_NOTATION
        } else {
            &JAVASCRIPT_NOTATION
        }
    }

    fn access(&self, target: &Target<'_>, path: &SourcePath<'_>) -> Access {
        imports::access(target, path)
    }

    fn imported_name(&self, unit: &Unit) -> Option<String> {
        crate::imports::outermost_name(unit)
    }

    /// Only exported units, and never `#private` members.
    fn is_reachable(&self, unit: &Unit) -> bool {
        unit.is_public && !unit.name.starts_with('#')
    }

    fn visibility(&self) -> &'static str {
        "exported from its module"
    }

    fn assemble(
        &self,
        pieces: &[Piece<'_>],
        _test_file_name: &str,
    ) -> Result<String, AssembleError> {
        Ok(assemble::merge(pieces))
    }
}

const JAVASCRIPT_NOTATION: Notation = Notation {
    name_separator: ".",
    fence_tag: "javascript",
    fence_aliases: &["js", "javascript", "jsx", "mjs", "cjs", "node"],
    keywords: KEYWORDS,
    has_overloads: false,
    missing_return_type_means_nothing: false,
    assertion_markers: &["assert", "expect(", ".throws("],
};

const TYPESCRIPT_NOTATION: Notation = Notation {
    fence_tag: "typescript",
    fence_aliases: &["ts", "typescript", "tsx", "mts", "cts"],
    ..JAVASCRIPT_NOTATION
};

/// The words of both languages: TypeScript adds none a local could be named.
const KEYWORDS: &[&str] = &[
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    "let",
    "static",
    "implements",
    "interface",
    "package",
    "private",
    "protected",
    "public",
    "arguments",
    "eval",
    "undefined",
    "as",
    "type",
];
