//! C++: GoogleTest.

mod assemble;
mod feedback;
pub(crate) mod imports;
mod scaffold;
mod units;

use tree_sitter::Node;

use crate::assemble::{AssembleError, Piece};
use crate::imports::{Access, SourcePath};
use crate::lang::{LanguageSupport, Notation};
use crate::scaffold::{Expected, Plan};
use crate::{Target, Unit};

pub(crate) struct Cpp;

impl LanguageSupport for Cpp {
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

    fn access(&self, target: &Target<'_>, path: &SourcePath<'_>) -> Access {
        imports::access(target, path)
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
    fence_tag: "cpp",
    fence_aliases: &["cpp", "c++", "cc", "cxx", "h", "hpp", "hh", "hxx"],
    keywords: KEYWORDS,
    has_overloads: true,
    missing_return_type_means_nothing: true,
    assertion_markers: &["EXPECT_", "ASSERT_", "FAIL()"],
};

const KEYWORDS: &[&str] = &[
    "alignas",
    "alignof",
    "and",
    "asm",
    "auto",
    "bool",
    "break",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "constexpr",
    "continue",
    "decltype",
    "default",
    "delete",
    "do",
    "double",
    "else",
    "enum",
    "explicit",
    "export",
    "extern",
    "false",
    "float",
    "for",
    "friend",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "mutable",
    "namespace",
    "new",
    "noexcept",
    "not",
    "nullptr",
    "operator",
    "or",
    "private",
    "protected",
    "public",
    "register",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "template",
    "this",
    "throw",
    "true",
    "try",
    "typedef",
    "typename",
    "union",
    "unsigned",
    "using",
    "virtual",
    "void",
    "volatile",
    "while",
];
