//! Go: the standard `testing` package, or testify.

mod assemble;
mod feedback;
mod imports;
mod scaffold;
mod units;

use tree_sitter::Node;

use crate::assemble::{AssembleError, Piece};
use crate::imports::{Access, SourcePath};
use crate::lang::{LanguageSupport, Notation};
use crate::scaffold::{Expected, Plan};
use crate::{Target, Unit};

pub(crate) struct Go;

impl LanguageSupport for Go {
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

    fn access(&self, target: &Target<'_>, _path: &SourcePath<'_>) -> Access {
        let (package, source_imports) = imports::package_and_imports(target.source);
        Access::Go {
            package: package.unwrap_or_else(|| "main".to_owned()),
            source_imports,
        }
    }

    /// Go tests share the package, so unexported names are reachable too.
    fn is_reachable(&self, _unit: &Unit) -> bool {
        true
    }

    fn same_package_summary(&self, access: &Access) -> Option<String> {
        let Access::Go { package, .. } = access else {
            return None;
        };
        Some(format!(
            "package {package} (the test is in the same package, no import needed)"
        ))
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
    name_separator: ".",
    fence_tag: "go",
    fence_aliases: &["go", "golang"],
    keywords: KEYWORDS,
    has_overloads: false,
    missing_return_type_means_nothing: true,
    assertion_markers: &["t.Error", "t.Fatal", "t.Fail", "assert.", "require."],
};

const KEYWORDS: &[&str] = &[
    "break",
    "case",
    "chan",
    "const",
    "continue",
    "default",
    "defer",
    "else",
    "fallthrough",
    "for",
    "func",
    "go",
    "goto",
    "if",
    "import",
    "interface",
    "map",
    "package",
    "range",
    "return",
    "select",
    "struct",
    "switch",
    "type",
    "var",
];
