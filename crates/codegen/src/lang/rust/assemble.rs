//! Rust pieces: when every piece is a `#[cfg(test)] mod tests { … }`, their bodies merge into one
//! such module; otherwise every item goes to the top level (the test file is itself a child module
//! of the source).

use tree_sitter::Node;

use crate::assemble::{Member, Piece, file, line_start, merge_members, reindent};
use crate::text::collapse_whitespace;
use crate::tree::{self, is_comment, named_children};

/// Rust items with the attributes and comments above them; `mod tests` bodies flattened.
struct RustItems {
    inner_attributes: Vec<String>,
    uses: Vec<String>,
    items: Vec<Member>,
}

pub(super) fn merge(pieces: &[Piece<'_>]) -> String {
    let mut outer = RustItems {
        inner_attributes: Vec::new(),
        uses: Vec::new(),
        items: Vec::new(),
    };
    let mut module = RustItems {
        inner_attributes: Vec::new(),
        uses: Vec::new(),
        items: Vec::new(),
    };
    let mut wrapped = 0;
    for piece in pieces {
        let text = piece.text;
        let mut piece_wrapped = false;
        for (attributes_start, node) in rust_chunks(piece.tree.root_node()) {
            if let Some(body) = test_module_body(node, text, attributes_start) {
                piece_wrapped = true;
                for (start, inner) in rust_chunks(body) {
                    collect_rust_item(inner, start, text, &mut module);
                }
            } else {
                collect_rust_item(node, attributes_start, text, &mut outer);
            }
        }
        if piece_wrapped {
            wrapped += 1;
        }
    }
    let all_wrapped = wrapped == pieces.len();
    if !all_wrapped {
        // The test file is the test module itself: everything goes to the top level.
        for attribute in module.inner_attributes.drain(..) {
            if !outer.inner_attributes.contains(&attribute) {
                outer.inner_attributes.push(attribute);
            }
        }
        for line in module.uses.drain(..) {
            if !outer.uses.contains(&line) {
                outer.uses.push(line);
            }
        }
        outer.items.append(&mut module.items);
    }
    let mut blocks = vec![outer.inner_attributes.join("\n"), outer.uses.join("\n")];
    let outer_items = merge_members(outer.items, "");
    blocks.extend(outer_items);
    if all_wrapped {
        let mut lines = vec!["#[cfg(test)]".to_owned(), "mod tests {".to_owned()];
        let mut sections = Vec::new();
        if !module.inner_attributes.is_empty() {
            sections.push(reindent(&module.inner_attributes.join("\n"), "    "));
        }
        if !module.uses.is_empty() {
            sections.push(reindent(&module.uses.join("\n"), "    "));
        }
        sections.extend(merge_members(module.items, "    "));
        lines.push(sections.join("\n\n"));
        lines.push("}".to_owned());
        blocks.push(lines.join("\n"));
    }
    file(&blocks, 1)
}

/// The items of a Rust `source_file` or `declaration_list`, each with the start of the attributes
/// and comments directly above it.
fn rust_chunks(node: Node<'_>) -> Vec<(usize, Node<'_>)> {
    let mut out = Vec::new();
    let mut pending: Option<usize> = None;
    for child in named_children(node) {
        if is_comment(child) || child.kind() == "attribute_item" {
            pending.get_or_insert(child.start_byte());
            continue;
        }
        out.push((pending.take().unwrap_or(child.start_byte()), child));
    }
    out
}

/// The body of `#[cfg(test)] mod tests { … }` (any `mod` with a body under `cfg(test)`).
fn test_module_body<'a>(node: Node<'a>, text: &str, attributes_start: usize) -> Option<Node<'a>> {
    if node.kind() != "mod_item" {
        return None;
    }
    let attributes = &text[attributes_start..node.start_byte()];
    let body = node.child_by_field_name("body")?;
    let name = node
        .child_by_field_name("name")
        .map(|name| tree::text(name, text))
        .unwrap_or_default();
    (attributes.contains("cfg(test)") || name == "tests").then_some(body)
}

fn collect_rust_item(node: Node<'_>, start: usize, text: &str, into: &mut RustItems) {
    match node.kind() {
        "use_declaration" | "extern_crate_declaration" => {
            let line = collapse_whitespace(&text[start..node.end_byte()]);
            if !into.uses.contains(&line) {
                into.uses.push(line);
            }
        }
        "inner_attribute_item" => {
            let line = collapse_whitespace(tree::text(node, text));
            if !into.inner_attributes.contains(&line) {
                into.inner_attributes.push(line);
            }
        }
        _ => {
            let chunk_start = line_start(text, start);
            let name = (node.kind() == "function_item")
                .then(|| node.child_by_field_name("name"))
                .flatten()
                .map(|name| {
                    (
                        name.start_byte() - chunk_start..name.end_byte() - chunk_start,
                        tree::text(name, text).to_owned(),
                    )
                });
            into.items.push(Member {
                text: text[chunk_start..node.end_byte()].to_owned(),
                name,
            });
        }
    }
}
