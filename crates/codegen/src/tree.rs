//! Tree-sitter helpers every part of codegen shares: a node's text, its children, its lines.
//! Parsing, import discovery and assembly all read trees; these are the one copy they use.

use tree_sitter::Node;

/// The source text of `node`, or `""` if its range is not on a char boundary (never the case for
/// trees parsed from `source` itself).
pub(crate) fn text<'s>(node: Node<'_>, source: &'s str) -> &'s str {
    source.get(node.byte_range()).unwrap_or_default()
}

/// The text of the field `field` of `node`, if present.
pub(crate) fn field_text<'s>(node: Node<'_>, field: &str, source: &'s str) -> Option<&'s str> {
    node.child_by_field_name(field)
        .map(|child| text(child, source))
}

/// The named children of `node`, in order.
pub(crate) fn named_children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).collect()
}

/// All children of `node`, anonymous tokens included, in order.
pub(crate) fn children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.children(&mut cursor).collect()
}

/// The first named child of `node` whose kind is one of `kinds`.
pub(crate) fn named_child_of_kind<'t>(node: Node<'t>, kinds: &[&str]) -> Option<Node<'t>> {
    named_children(node)
        .into_iter()
        .find(|child| kinds.contains(&child.kind()))
}

/// Whether `node` has an anonymous child token `keyword` (`async`, `static` …).
pub(crate) fn has_token(node: Node<'_>, keyword: &str) -> bool {
    children(node)
        .iter()
        .any(|child| !child.is_named() && child.kind() == keyword)
}

/// Whether `kind` is a comment in any of the grammars: `comment` (Python, Go, C++, C#,
/// JavaScript/TypeScript), `line_comment` and `block_comment` (Java, Rust). No grammar uses these
/// names for anything else, so one test serves them all.
pub(crate) fn is_comment_kind(kind: &str) -> bool {
    matches!(kind, "comment" | "line_comment" | "block_comment")
}

/// Whether `node` is a comment (see [`is_comment_kind`]).
pub(crate) fn is_comment(node: Node<'_>) -> bool {
    is_comment_kind(node.kind())
}

/// The first line of `node`, 1-based.
pub(crate) fn start_line(node: Node<'_>) -> u32 {
    u32::try_from(node.start_position().row + 1).unwrap_or(u32::MAX)
}

/// The last line of `node`, 1-based. A node whose range ends at the start of a line (a Rust line
/// comment, a Python block ending in a newline) ends on the line before.
pub(crate) fn end_line(node: Node<'_>) -> u32 {
    let end = node.end_position();
    let row = if end.column == 0 && end.row > node.start_position().row {
        end.row - 1
    } else {
        end.row
    };
    u32::try_from(row + 1).unwrap_or(u32::MAX)
}
