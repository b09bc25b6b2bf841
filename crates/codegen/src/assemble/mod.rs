//! Per-unit test code merged into one test file: one package line, deduplicated imports, one test
//! class where the framework needs one, test names kept unique.
//!
//! Each piece is parsed with tree-sitter and its top-level nodes sorted into imports (merged at the
//! top) and the rest. This module holds what every language shares; each language's merge is in
//! `lang/<language>/assemble.rs`:
//! - Python, Go, C++, JavaScript/TypeScript ([`flat_pieces`]): the rest of each piece is kept as
//!   written, pieces separated by blank lines (two for Python).
//! - Java and C# ([`members`], [`merge_members`]): the members of each piece's test class go into
//!   one test class named after the test file (`CalculatorTest`, `InvoiceTests`).
//! - Rust: the bodies of `#[cfg(test)] mod tests { … }` pieces merge into one such module.
//!
//! A later test (or other named definition) with the name of an earlier one is renamed `name_2`,
//! `name_3` … even when identical, since two units can get identical tests; other top-level
//! statements and members identical to earlier ones are dropped.

use std::collections::HashSet;
use std::ops::Range;

use tree_sitter::Node;

use crate::lang::support;
use crate::text::{collapse_whitespace, lines_without_blank_edges};
use crate::tree::{self, is_comment, named_children};
use crate::{Target, syntax_issues};

/// The merged test file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    pub file_name: String,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    #[error("no test code to assemble")]
    Empty,
    /// A piece does not parse, so its parts cannot be told apart. `piece` counts from 1.
    #[error("test piece {piece} cannot be merged: {reason}")]
    Unmergeable { piece: usize, reason: String },
}

/// Merges `pieces` (each a test file for one unit, already syntax-checked) into one file named by
/// the language's convention.
pub fn assemble(target: &Target<'_>, pieces: &[String]) -> Result<Assembled, AssembleError> {
    let pieces: Vec<&String> = pieces
        .iter()
        .filter(|piece| !piece.trim().is_empty())
        .collect();
    if pieces.is_empty() {
        return Err(AssembleError::Empty);
    }
    let syntax = target.test_syntax();
    let mut parsed = Vec::new();
    for (index, piece) in pieces.iter().enumerate() {
        let unmergeable = |reason: String| AssembleError::Unmergeable {
            piece: index + 1,
            reason,
        };
        if let Some(issue) = syntax_issues(syntax, piece).first() {
            return Err(unmergeable(format!("it does not parse ({issue})")));
        }
        let tree = syntax
            .tree(piece)
            .ok_or_else(|| unmergeable("the grammar could not be loaded".to_owned()))?;
        parsed.push(Piece { text: piece, tree });
    }
    let file_name = target.test_file_name();
    let code = support(target.language).assemble(&parsed, &file_name)?;
    Ok(Assembled { file_name, code })
}

/// One per-unit test file and its tree.
pub(crate) struct Piece<'a> {
    pub(crate) text: &'a str,
    pub(crate) tree: tree_sitter::Tree,
}

/// Names already used in the merged file; a taken name gets the first free `_2`, `_3` … suffix.
#[derive(Default)]
struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// `None` when `name` is free (and now taken), else the new name.
    fn claim(&mut self, name: &str) -> Option<String> {
        if self.taken.insert(name.to_owned()) {
            return None;
        }
        let mut suffix = 2;
        loop {
            let candidate = format!("{name}_{suffix}");
            if self.taken.insert(candidate.clone()) {
                return Some(candidate);
            }
            suffix += 1;
        }
    }
}

/// The start of the line holding `byte`.
pub(crate) fn line_start(text: &str, byte: usize) -> usize {
    text[..byte].rfind('\n').map_or(0, |at| at + 1)
}

/// Just past the newline ending the line holding `byte` (or the end of the text).
fn line_end(text: &str, byte: usize) -> usize {
    text[byte..]
        .find('\n')
        .map_or(text.len(), |at| byte + at + 1)
}

/// The comments directly above `node` (no blank line between), which belong to it.
pub(crate) fn leading_comments_start(node: Node<'_>, text: &str) -> usize {
    let mut start = node.start_byte();
    let mut current = node;
    while let Some(previous) = current.prev_sibling() {
        if !is_comment(previous) {
            break;
        }
        let between = &text[previous.end_byte()..start];
        if between.matches('\n').count() > 1 || !between.trim().is_empty() {
            break;
        }
        start = previous.start_byte();
        current = previous;
    }
    start
}

/// The whole lines of `node` with its leading comments: what removing it from a piece removes.
fn whole_lines(node: Node<'_>, text: &str) -> Range<usize> {
    let start = line_start(text, leading_comments_start(node, text));
    let end = line_end(
        text,
        node.end_byte().saturating_sub(1).max(node.start_byte()),
    );
    start..end
}

/// `text` with `edits` applied (ranges sorted, overlapping ones skipped).
fn apply_edits(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(range, _)| (range.start, range.end));
    let mut out = String::new();
    let mut position = 0;
    for (range, replacement) in edits {
        if range.start < position {
            continue;
        }
        out.push_str(&text[position..range.start]);
        out.push_str(&replacement);
        position = range.end;
    }
    out.push_str(&text[position..]);
    out
}

/// Leading and trailing blank lines removed, and trailing whitespace of every line.
pub(crate) fn trim_blank_lines(text: &str) -> String {
    lines_without_blank_edges(text)
        .iter()
        .map(|line| line.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` moved so its least indented line starts at `indent`.
pub(crate) fn reindent(text: &str, indent: &str) -> String {
    // The leading white space every non-blank line shares, compared character by character: a
    // line may start with a multi-byte space (U+3000), so byte counts would cut a character.
    let leading = |line: &'_ str| -> usize { line.len() - line.trim_start().len() };
    let common = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| &line[..leading(line)])
        .reduce(common_prefix)
        .unwrap_or("");
    text.lines()
        .map(|line| {
            if line.trim().is_empty() {
                String::new()
            } else {
                format!("{indent}{}", line.strip_prefix(common).unwrap_or(line))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The longest start `a` and `b` share, whole characters only.
fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let end = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, left), right)| left != right)
        .map_or_else(|| a.len().min(b.len()), |((index, _), _)| index);
    &a[..end]
}

/// The file: header blocks and body blocks, blocks separated by `gap` blank lines, one trailing
/// newline.
pub(crate) fn file(blocks: &[String], gap: usize) -> String {
    let separator = "\n".repeat(gap + 1);
    let kept: Vec<&str> = blocks
        .iter()
        .map(|block| block.trim_matches('\n'))
        .filter(|block| !block.trim().is_empty())
        .collect();
    let mut code = kept.join(&separator);
    code.push('\n');
    code
}

/// Pieces whose top level is imports and free-standing definitions: imports are removed from each
/// piece and merged by the caller; the rest stays as written, minus duplicates, plus renames.
pub(crate) struct FlatPiece {
    pub(crate) body: String,
}

/// What to do with one top-level node of a flat piece.
pub(crate) enum Fate {
    /// An import: removed here, merged at the top.
    Import,
    /// A definition or statement: kept unless identical to an earlier one. `name` is the range
    /// of its name and the name's key, for renaming on a clash.
    Keep {
        name: Option<(Range<usize>, String)>,
    },
}

/// Splits each piece into its imports (handed to `take_import` in order) and its body.
pub(crate) fn flat_pieces(
    pieces: &[Piece<'_>],
    mut fate: impl FnMut(Node<'_>, &str) -> Fate,
    mut take_import: impl FnMut(Node<'_>, &str),
    rename: impl Fn(&str, &str) -> String,
) -> Vec<FlatPiece> {
    let mut names = Names::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for piece in pieces {
        let text = piece.text;
        let root = piece.tree.root_node();
        let mut edits = Vec::new();
        for node in named_children(root) {
            if is_comment(node) {
                continue;
            }
            match fate(node, text) {
                Fate::Import => {
                    take_import(node, text);
                    edits.push((whole_lines(node, text), String::new()));
                }
                Fate::Keep { name: None } => {
                    let whole = collapse_whitespace(tree::text(node, text));
                    if !seen.insert(whole) {
                        edits.push((whole_lines(node, text), String::new()));
                    }
                }
                Fate::Keep {
                    name: Some((range, key)),
                } => {
                    // Named definitions are never dropped: two units may get identical tests.
                    if let Some(new_name) = names.claim(&key) {
                        let old = &text[range.clone()];
                        let suffix = &new_name[key.len()..];
                        edits.push((range, rename(old, suffix)));
                    }
                }
            }
        }
        out.push(FlatPiece {
            body: trim_blank_lines(&apply_edits(text, edits)),
        });
    }
    out
}

/// Appends `suffix` to a plain name.
pub(crate) fn append_suffix(old: &str, suffix: &str) -> String {
    format!("{old}{suffix}")
}

pub(crate) fn name_fate(node: Option<Node<'_>>, text: &str) -> Fate {
    Fate::Keep {
        name: node.map(|name| (name.byte_range(), tree::text(name, text).to_owned())),
    }
}

/// One member (or top-level item) with the comments and attributes above it, reindented to
/// column 0, and the key that identifies it for renaming.
pub(crate) struct Member {
    pub(crate) text: String,
    /// The member's name: its range relative to `text`, and the clash key.
    pub(crate) name: Option<(Range<usize>, String)>,
}

/// The members of a class body (Java `class_body`, C# `declaration_list`), comments attached to
/// the member below them.
pub(crate) fn members(
    body: Node<'_>,
    text: &str,
    name_of: impl Fn(Node<'_>, &str) -> Option<(Range<usize>, String)>,
) -> Vec<Member> {
    let mut out = Vec::new();
    let mut pending_start: Option<usize> = None;
    for child in named_children(body) {
        if is_comment(child) {
            pending_start.get_or_insert(child.start_byte());
            continue;
        }
        let start = line_start(text, pending_start.take().unwrap_or(child.start_byte()));
        let chunk = &text[start..child.end_byte()];
        let name =
            name_of(child, text).map(|(range, key)| (range.start - start..range.end - start, key));
        out.push(Member {
            text: chunk.to_owned(),
            name,
        });
    }
    out
}

/// Members of several pieces merged: identical ones once, clashing names renamed.
pub(crate) fn merge_members(all: Vec<Member>, indent: &str) -> Vec<String> {
    let mut names = Names::default();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for member in all {
        // Unnamed members (fields, setup) once; named ones are renamed on a clash instead.
        if member.name.is_none() && !seen.insert(collapse_whitespace(&member.text)) {
            continue;
        }
        let mut text = member.text;
        if let Some((range, key)) = member.name
            && let Some(new_name) = names.claim(&key)
        {
            let suffix = &new_name[key.len()..];
            text = format!("{}{suffix}{}", &text[..range.end], &text[range.end..]);
        }
        out.push(reindent(&text, indent));
    }
    out
}

/// A Java or C# method's name and its clash key. Overloads are legal in both: only the same name
/// with the same parameters clashes.
pub(crate) fn method_name_with_parameters(
    node: Node<'_>,
    text: &str,
) -> Option<(Range<usize>, String)> {
    if node.kind() != "method_declaration" {
        return None;
    }
    let name = node.child_by_field_name("name")?;
    let parameters = node
        .child_by_field_name("parameters")
        .map(|parameters| collapse_whitespace(tree::text(parameters, text)))
        .unwrap_or_default();
    Some((
        name.byte_range(),
        format!("{}{parameters}", tree::text(name, text)),
    ))
}

/// The class whose members are the tests: the one named like the test file, else the first with
/// a test `marker` (`@Test`, `[Test`), else the first.
pub(crate) fn choose_test_class<'a>(
    classes: &[Node<'a>],
    text: &str,
    class_name: &str,
    marker: &str,
) -> Option<Node<'a>> {
    let named = |node: &Node<'a>| {
        node.child_by_field_name("name")
            .is_some_and(|name| tree::text(name, text) == class_name)
    };
    classes
        .iter()
        .find(|node| named(node))
        .or_else(|| {
            classes
                .iter()
                .find(|node| tree::text(**node, text).contains(marker))
        })
        .or_else(|| classes.first())
        .copied()
}

#[cfg(test)]
mod tests;
