//! C++ pieces: system includes, then the project's, each with the comments above it; then the rest
//! of each piece as written, GoogleTest tests (`TEST(Suite, Name)`) renamed on a clash.

use std::ops::Range;

use tree_sitter::Node;

use crate::assemble::{
    Fate, Piece, append_suffix, file, flat_pieces, leading_comments_start, trim_blank_lines,
};
use crate::text::collapse_whitespace;
use crate::tree::{self, named_children};

const GTEST_MACROS: &[&str] = &["TEST", "TEST_F", "TEST_P", "TYPED_TEST", "TYPED_TEST_P"];

pub(super) fn merge(pieces: &[Piece<'_>]) -> String {
    let mut includes: Vec<String> = Vec::new();
    let bodies = flat_pieces(
        pieces,
        |node, text| match node.kind() {
            "preproc_include" => Fate::Import,
            "function_definition" => Fate::Keep {
                name: gtest_name(node, text),
            },
            _ => Fate::Keep { name: None },
        },
        |node, text| {
            // The include with the comments above it, deduplicated by the include alone.
            let include = collapse_whitespace(tree::text(node, text));
            if includes
                .iter()
                .any(|seen| seen.lines().last() == Some(include.as_str()))
            {
                return;
            }
            let start = leading_comments_start(node, text);
            let comments = trim_blank_lines(&text[start..node.start_byte()]);
            if comments.is_empty() {
                includes.push(include);
            } else {
                includes.push(format!("{comments}\n{include}"));
            }
        },
        append_suffix,
    );
    // System headers (`<…>`) first, then the project's.
    let (system, local): (Vec<&String>, Vec<&String>) = includes.iter().partition(|include| {
        include
            .lines()
            .last()
            .is_some_and(|line| line.contains('<'))
    });
    let mut blocks = Vec::new();
    blocks.push(
        system
            .iter()
            .map(|include| include.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    blocks.push(
        local
            .iter()
            .map(|include| include.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    blocks.extend(bodies.into_iter().map(|piece| piece.body));
    file(&blocks, 1)
}

/// For `TEST(Suite, Name) { … }`: the range of `Name` and the key `Suite.Name`.
fn gtest_name(node: Node<'_>, text: &str) -> Option<(Range<usize>, String)> {
    let declarator = node.child_by_field_name("declarator")?;
    if declarator.kind() != "function_declarator" {
        return None;
    }
    let macro_name = tree::text(declarator.child_by_field_name("declarator")?, text);
    if !GTEST_MACROS.contains(&macro_name) {
        return None;
    }
    let parameters = named_children(declarator.child_by_field_name("parameters")?);
    let name = parameters.last()?;
    let key: Vec<&str> = parameters
        .iter()
        .map(|parameter| tree::text(*parameter, text).trim())
        .collect();
    // The rename applies to the last part of the key, the test's name.
    let suite = key[..key.len().saturating_sub(1)].join(".");
    let key = format!("{suite}.{}", tree::text(*name, text).trim());
    Some((name.byte_range(), key))
}
