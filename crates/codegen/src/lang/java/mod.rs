//! Java: JUnit 5, with or without Mockito.

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

pub(crate) struct Java;

impl LanguageSupport for Java {
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
        let (package, source_imports) = imports::package_and_imports(target.source);
        Access::Java {
            package,
            class_name: path.stem.to_owned(),
            source_imports,
        }
    }

    fn same_package_summary(&self, access: &Access) -> Option<String> {
        let Access::Java {
            package,
            class_name,
            ..
        } = access
        else {
            return None;
        };
        Some(match package {
            Some(package) => format!(
                "package {package}; (the test is in the same package as {class_name}, no import needed)"
            ),
            None => format!("default package (the test is beside {class_name}, no import needed)"),
        })
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
    fence_tag: "java",
    fence_aliases: &["java"],
    keywords: KEYWORDS,
    has_overloads: true,
    missing_return_type_means_nothing: true,
    assertion_markers: &["assert", "fail("],
};

const KEYWORDS: &[&str] = &[
    "abstract",
    "assert",
    "boolean",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extends",
    "final",
    "finally",
    "float",
    "for",
    "goto",
    "if",
    "implements",
    "import",
    "instanceof",
    "int",
    "interface",
    "long",
    "native",
    "new",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "short",
    "static",
    "strictfp",
    "super",
    "switch",
    "synchronized",
    "this",
    "throw",
    "throws",
    "transient",
    "try",
    "void",
    "volatile",
    "while",
    "var",
    "true",
    "false",
    "null",
    "record",
    "yield",
];
