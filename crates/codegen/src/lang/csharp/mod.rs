//! C#: NUnit and xUnit.

mod assemble;
pub(crate) mod imports;
mod scaffold;
mod units;

use tree_sitter::Node;

use crate::assemble::{AssembleError, Piece};
use crate::imports::{Access, SourcePath};
use crate::lang::{LanguageSupport, Notation};
use crate::scaffold::Plan;
use crate::{Target, Unit};

pub(crate) struct Csharp;

impl LanguageSupport for Csharp {
    fn units(&self, root: Node<'_>, source: &str) -> Vec<Unit> {
        units::units(root, source)
    }

    fn scaffold(&self, plan: &Plan<'_>) -> String {
        scaffold::render(plan)
    }

    fn notation(&self) -> &'static Notation {
        &NOTATION
    }

    fn access(&self, target: &Target<'_>, _path: &SourcePath<'_>) -> Access {
        let (namespaces, source_usings) = imports::namespaces_and_usings(target.source);
        Access::Csharp {
            namespaces,
            source_usings,
        }
    }

    fn assemble(
        &self,
        pieces: &[Piece<'_>],
        test_file_name: &str,
    ) -> Result<String, AssembleError> {
        assemble::merge(pieces, test_file_name)
    }
}

const NOTATION: Notation = Notation {
    name_separator: ".",
    fence_tag: "csharp",
    fence_aliases: &["cs", "csharp", "c#", "c-sharp"],
    keywords: KEYWORDS,
    has_overloads: true,
    missing_return_type_means_nothing: true,
    assertion_markers: &["Assert.", "Throws"],
};

const KEYWORDS: &[&str] = &[
    "abstract",
    "as",
    "base",
    "bool",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "checked",
    "class",
    "const",
    "continue",
    "decimal",
    "default",
    "delegate",
    "do",
    "double",
    "else",
    "enum",
    "event",
    "explicit",
    "extern",
    "false",
    "finally",
    "fixed",
    "float",
    "for",
    "foreach",
    "goto",
    "if",
    "implicit",
    "in",
    "int",
    "interface",
    "internal",
    "is",
    "lock",
    "long",
    "namespace",
    "new",
    "null",
    "object",
    "operator",
    "out",
    "override",
    "params",
    "private",
    "protected",
    "public",
    "readonly",
    "ref",
    "return",
    "sbyte",
    "sealed",
    "short",
    "sizeof",
    "stackalloc",
    "static",
    "string",
    "struct",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "uint",
    "ulong",
    "unchecked",
    "unsafe",
    "ushort",
    "using",
    "virtual",
    "void",
    "volatile",
    "while",
    "var",
    "await",
];
