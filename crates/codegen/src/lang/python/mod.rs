//! Python: pytest and unittest.

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

pub(crate) struct Python;

impl LanguageSupport for Python {
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

    fn pinned(&self, plan: &crate::pinned::PinPlan<'_>) -> Option<String> {
        Some(pinned::render(plan))
    }

    fn access(&self, _target: &Target<'_>, path: &SourcePath<'_>) -> Access {
        Access::Python {
            module: imports::module_path(path.directory, path.stem),
        }
    }

    fn imported_name(&self, unit: &Unit) -> Option<String> {
        crate::imports::outermost_name(unit)
    }

    /// Python imports `_private` names like any other.
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
    name_separator: ".",
    fence_tag: "python",
    fence_aliases: &["py", "python", "python3", "py3"],
    keywords: KEYWORDS,
    has_overloads: false,
    missing_return_type_means_nothing: false,
    assertion_markers: &["assert", "pytest.raises", "self.fail("],
};

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];
