//! Helpers every language walker shares to build units: signatures, comment docs, parameter
//! types. Plain node helpers (text, children, lines) are in [`crate::tree`].

use tree_sitter::Node;

use crate::text::collapse_whitespace;
use crate::tree::{end_line, is_comment_kind, start_line, text};
use crate::{Param, Unit, UnitKind};

/// The declaration from byte `start` up to byte `body_start`, whitespace collapsed, without the
/// `:` (Python) or `=>` (arrow functions, expression bodies) that leads into the body.
pub(crate) fn signature(source: &str, start: usize, body_start: usize) -> String {
    let raw = source.get(start..body_start.max(start)).unwrap_or_default();
    let collapsed = collapse_whitespace(raw);
    let trimmed = collapsed
        .strip_suffix("=>")
        .or_else(|| collapsed.strip_suffix(':'))
        .unwrap_or(&collapsed);
    trimmed.trim_end().to_owned()
}

/// The comment block right above `declaration` (its previous siblings of a comment kind, each on
/// the line before the next, each alone on its line), without comment markers. `skip` names kinds
/// that may sit between the comments and the declaration (Rust attributes, TypeScript
/// decorators).
pub(crate) fn doc_above(declaration: Node<'_>, source: &str, skip: &[&str]) -> Option<String> {
    let mut next_row = declaration.start_position().row;
    let mut blocks = Vec::new();
    let mut current = declaration.prev_sibling();
    while let Some(node) = current {
        if skip.contains(&node.kind()) {
            next_row = node.start_position().row;
            current = node.prev_sibling();
            continue;
        }
        if !is_comment_kind(node.kind()) {
            break;
        }
        let end_row = (end_line(node) as usize).saturating_sub(1);
        if end_row + 1 != next_row || !starts_its_line(node, source) {
            break;
        }
        blocks.push(text(node, source));
        next_row = node.start_position().row;
        current = node.prev_sibling();
    }
    if blocks.is_empty() {
        return None;
    }
    blocks.reverse();
    let lines: Vec<String> = blocks
        .iter()
        .flat_map(|block| strip_comment_markers(block))
        .collect();
    non_empty(lines.join("\n").trim())
}

fn starts_its_line(node: Node<'_>, source: &str) -> bool {
    let start = node.start_byte();
    let before = source.get(..start).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    before
        .get(line_start..)
        .is_some_and(|prefix| prefix.trim().is_empty())
}

/// The lines of one comment without `//`, `///`, `//!`, `#`, `/*`, `/**`, `*/` or the `*` that
/// starts the lines of a block comment.
fn strip_comment_markers(comment: &str) -> Vec<String> {
    let comment = comment.trim();
    if let Some(inner) = comment.strip_prefix("/*") {
        let inner = inner.strip_prefix('*').unwrap_or(inner);
        let inner = inner.strip_suffix("*/").unwrap_or(inner);
        let lines: Vec<String> = inner
            .lines()
            .map(|line| {
                let line = line.trim();
                let line = line.strip_prefix('*').unwrap_or(line);
                line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned()
            })
            .collect();
        return lines;
    }
    comment
        .lines()
        .map(|line| {
            let line = line.trim();
            let line = ["///", "//!", "//", "#"]
                .iter()
                .find_map(|marker| line.strip_prefix(marker))
                .unwrap_or(line);
            line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned()
        })
        .collect()
}

pub(crate) fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// The type of a parameter written as `<type> <name>` (C-like languages): the parameter's text
/// without its name and default value, whitespace collapsed.
pub(crate) fn type_without_name(
    parameter: Node<'_>,
    name: Option<Node<'_>>,
    default_value: Option<Node<'_>>,
    source: &str,
) -> Option<String> {
    let start = parameter.start_byte();
    let end = match default_value {
        Some(value) => value.start_byte(),
        None => parameter.end_byte(),
    };
    let mut written = String::new();
    match name {
        Some(name) if name.start_byte() >= start && name.end_byte() <= end => {
            written.push_str(source.get(start..name.start_byte()).unwrap_or_default());
            written.push(' ');
            written.push_str(source.get(name.end_byte()..end).unwrap_or_default());
        }
        _ => written.push_str(source.get(start..end).unwrap_or_default()),
    }
    let written = collapse_whitespace(&written);
    let written = written.trim_end_matches('=').trim_end();
    non_empty(written)
}

pub(crate) fn param(name: &str, type_name: Option<String>) -> Param {
    Param {
        name: name.to_owned(),
        type_name,
    }
}

/// Everything a walker knows about one unit; turned into a [`Unit`] by [`UnitDraft::finish`].
pub(crate) struct UnitDraft<'t> {
    pub kind: UnitKind,
    pub name: String,
    pub container: Option<String>,
    /// The first node of the declaration: its first decorator, attribute or annotation, or the
    /// declaration itself.
    pub first: Node<'t>,
    /// The whole declaration: gives the last line.
    pub outer: Node<'t>,
    /// Where the signature starts (after decorators and annotations).
    pub signature_start: usize,
    pub body: Node<'t>,
    pub doc: Option<String>,
    pub params: Vec<Param>,
    pub return_type: Option<String>,
    pub is_async: bool,
    pub is_static: bool,
    pub is_public: bool,
}

impl UnitDraft<'_> {
    pub(crate) fn finish(self, source: &str) -> Unit {
        Unit {
            kind: self.kind,
            name: self.name,
            container: self.container,
            signature: signature(source, self.signature_start, self.body.start_byte()),
            doc: self.doc,
            params: self.params,
            return_type: self.return_type,
            is_async: self.is_async,
            is_static: self.is_static,
            is_public: self.is_public,
            start_line: start_line(self.first),
            end_line: end_line(self.outer).max(end_line(self.body)),
        }
    }
}

/// Joins a container path, or `None` when empty.
pub(crate) fn join_path(path: &[String], separator: &str) -> Option<String> {
    (!path.is_empty()).then(|| path.join(separator))
}
