//! Source → units, with one tree-sitter walker per language (`lang/<language>/units.rs`); the
//! helpers they share to build a unit are in [`common`].
//!
//! Each walker descends through the declarations that can hold units (classes, namespaces, `impl`
//! blocks, modules) and never into function bodies: nested functions, closures and local classes
//! are part of the unit that holds them.

pub(crate) mod common;

use crate::lang::support;
use crate::{Syntax, Unit};

/// Why a source yields nothing to test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(
        "no testable unit found: the source has no function, method or constructor with a body"
    )]
    NoUnits,
}

/// The testable units of `source`, in source order. Parsing is tolerant: a file with syntax errors
/// still yields the units tree-sitter could recover.
pub fn parse_units(syntax: Syntax, source: &str) -> Result<Vec<Unit>, ParseError> {
    let Some(tree) = syntax.tree(source) else {
        return Err(ParseError::NoUnits);
    };
    let root = tree.root_node();
    let mut units = support(syntax.language()).units(root, source);
    units.sort_by_key(|unit| (unit.start_line, unit.end_line));
    if units.is_empty() {
        Err(ParseError::NoUnits)
    } else {
        Ok(units)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Pieces of declarations from every language, shuffled into half-formed code.
    const FRAGMENTS: &[&str] = &[
        "def ",
        "async ",
        "class ",
        "fn ",
        "func ",
        "impl ",
        "trait ",
        "mod ",
        "namespace ",
        "record ",
        "struct ",
        "interface ",
        "export ",
        "default ",
        "static ",
        "public ",
        "private ",
        "template <typename T> ",
        "operator",
        "::",
        ".",
        "~",
        "f",
        "Foo",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        "<",
        ">",
        ":",
        ";",
        ",",
        "=>",
        "->",
        "=",
        "*",
        "&",
        "@dec\n",
        "#[test]",
        "\"\"\"doc\"\"\"",
        "/// doc\n",
        "/* c */",
        "# c\n",
        "\n",
        "    ",
        "self",
        "this",
        "return x",
        "int ",
        "void ",
        "x",
    ];

    #[test]
    fn a_source_without_callables_has_no_units() {
        assert_eq!(
            parse_units(Syntax::Python, "x = 1\n"),
            Err(ParseError::NoUnits)
        );
        assert_eq!(parse_units(Syntax::Rust, ""), Err(ParseError::NoUnits));
        assert_eq!(
            parse_units(Syntax::Java, "interface A { int f(); }"),
            Err(ParseError::NoUnits)
        );
    }

    #[test]
    fn broken_sources_still_yield_what_parses() {
        let units = parse_units(Syntax::Python, "def ok(x):\n    return x\n\ndef broken(:\n")
            .unwrap_or_default();
        assert_eq!(units.first().map(|unit| unit.name.as_str()), Some("ok"));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(source in "\\PC*") {
            for syntax in Syntax::ALL {
                let _ = parse_units(syntax, &source);
            }
        }

        #[test]
        fn code_like_text_never_panics(
            fragments in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..60)
        ) {
            let source = fragments.concat();
            for syntax in Syntax::ALL {
                let _ = parse_units(syntax, &source);
            }
        }
    }
}
