//! C++: GoogleTest.

mod assemble;
pub(crate) mod imports;
mod scaffold;
mod units;

use tree_sitter::Node;

use crate::assemble::{AssembleError, Piece};
use crate::imports::{Access, SourcePath};
use crate::lang::LanguageSupport;
use crate::scaffold::Plan;
use crate::{Target, Unit};

pub(crate) struct Cpp;

impl LanguageSupport for Cpp {
    fn units(&self, root: Node<'_>, source: &str) -> Vec<Unit> {
        units::units(root, source)
    }

    fn scaffold(&self, plan: &Plan<'_>) -> String {
        scaffold::render(plan)
    }

    fn access(&self, target: &Target<'_>, path: &SourcePath<'_>) -> Access {
        imports::access(target, path)
    }

    fn name_separator(&self) -> &'static str {
        "::"
    }

    fn fence_tag(&self) -> &'static str {
        "cpp"
    }

    fn fence_aliases(&self) -> &'static [&'static str] {
        &["cpp", "c++", "cc", "cxx", "h", "hpp", "hh", "hxx"]
    }

    fn keywords(&self) -> &'static [&'static str] {
        KEYWORDS
    }

    fn has_overloads(&self) -> bool {
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
