//! C# pieces: like Java, the members of each piece's test class go into one class named after the
//! test file (constructors renamed with it), inside the first namespace.

use tree_sitter::Node;

use crate::assemble::{
    AssembleError, Member, Piece, choose_test_class, file, leading_comments_start, line_start,
    members, merge_members, method_name_with_parameters, reindent, trim_blank_lines,
};
use crate::text::collapse_whitespace;
use crate::tree::{self, is_comment, named_children};

/// Every class declaration of a C# tree, through namespaces, in order.
fn csharp_classes<'a>(node: Node<'a>, out: &mut Vec<Node<'a>>) {
    for child in named_children(node) {
        match child.kind() {
            "class_declaration" => out.push(child),
            "namespace_declaration" | "declaration_list" => csharp_classes(child, out),
            _ => {}
        }
    }
}

/// What a C# piece holds, gathered through its namespaces.
#[derive(Default)]
struct CsharpParts {
    usings: Vec<String>,
    namespace: Option<String>,
    attributes: Vec<String>,
    modifiers: Option<Vec<String>>,
    bases: Option<String>,
    members: Vec<Member>,
    extra_types: Vec<String>,
}

pub(super) fn merge(pieces: &[Piece<'_>], file_name: &str) -> Result<String, AssembleError> {
    let class_name = file_name.strip_suffix(".cs").unwrap_or(file_name);
    let mut parts = CsharpParts::default();
    for (index, piece) in pieces.iter().enumerate() {
        let mut classes = Vec::new();
        csharp_classes(piece.tree.root_node(), &mut classes);
        let mut found_class = false;
        let chosen = CsharpChoice {
            class_name,
            node_id: choose_test_class(&classes, piece.text, class_name, "[").map(|node| node.id()),
        };
        collect_csharp(
            piece.tree.root_node(),
            piece.text,
            "",
            &chosen,
            &mut parts,
            &mut found_class,
        );
        if !found_class {
            return Err(AssembleError::Unmergeable {
                piece: index + 1,
                reason: "it has no class".to_owned(),
            });
        }
    }
    let mut blocks = vec![parts.usings.join("\n")];
    let (indent, open, close) = match &parts.namespace {
        Some(namespace) => ("    ", format!("namespace {namespace}\n{{"), Some("}")),
        None => ("", String::new(), None),
    };
    let mut class = Vec::new();
    for attribute in &parts.attributes {
        class.push(format!("{indent}{attribute}"));
    }
    let mut header = parts.modifiers.unwrap_or_default();
    header.push(format!("class {class_name}"));
    if let Some(bases) = &parts.bases {
        header.push(bases.clone());
    }
    class.push(format!("{indent}{}", header.join(" ")));
    class.push(format!("{indent}{{"));
    let member_indent = format!("{indent}    ");
    for (position, member) in merge_members(parts.members, &member_indent)
        .into_iter()
        .enumerate()
    {
        if position > 0 {
            class.push(String::new());
        }
        class.push(member);
    }
    class.push(format!("{indent}}}"));
    let mut inner = vec![class.join("\n")];
    for extra in &parts.extra_types {
        inner.push(reindent(extra, indent));
    }
    let inner = inner.join("\n\n");
    match close {
        Some(close) => blocks.push(format!("{open}\n{inner}\n{close}")),
        None => blocks.push(inner),
    }
    Ok(file(&blocks, 1))
}

/// The class name of the merged file and the node of this piece's test class.
struct CsharpChoice<'a> {
    class_name: &'a str,
    node_id: Option<usize>,
}

fn collect_csharp(
    node: Node<'_>,
    text: &str,
    prefix: &str,
    chosen: &CsharpChoice<'_>,
    parts: &mut CsharpParts,
    found_class: &mut bool,
) {
    let class_name = chosen.class_name;
    let mut prefix = prefix.to_owned();
    for child in named_children(node) {
        match child.kind() {
            "using_directive" => {
                let line = collapse_whitespace(tree::text(child, text));
                if !parts.usings.contains(&line) {
                    parts.usings.push(line);
                }
            }
            "namespace_declaration" | "file_scoped_namespace_declaration" => {
                let name = child
                    .child_by_field_name("name")
                    .map(|name| tree::text(name, text))
                    .unwrap_or_default();
                let full = if prefix.is_empty() {
                    name.to_owned()
                } else {
                    format!("{prefix}.{name}")
                };
                parts.namespace.get_or_insert_with(|| full.clone());
                if child.kind() == "file_scoped_namespace_declaration" {
                    // Declarations after a file-scoped namespace are its siblings or children,
                    // depending on the grammar version.
                    collect_csharp(child, text, &full, chosen, parts, found_class);
                    prefix = full;
                } else if let Some(body) = child.child_by_field_name("body") {
                    collect_csharp(body, text, &full, chosen, parts, found_class);
                }
            }
            "class_declaration" if Some(child.id()) == chosen.node_id => {
                *found_class = true;
                let mut own_modifiers = Vec::new();
                for part in named_children(child) {
                    match part.kind() {
                        "attribute_list" => {
                            let attribute = collapse_whitespace(tree::text(part, text));
                            if !parts.attributes.contains(&attribute) {
                                parts.attributes.push(attribute);
                            }
                        }
                        "modifier" => own_modifiers.push(tree::text(part, text).to_owned()),
                        "base_list" => {
                            parts
                                .bases
                                .get_or_insert_with(|| collapse_whitespace(tree::text(part, text)));
                        }
                        _ => {}
                    }
                }
                parts.modifiers.get_or_insert(own_modifiers);
                if let Some(body) = child.child_by_field_name("body") {
                    let old_name = child
                        .child_by_field_name("name")
                        .map(|name| tree::text(name, text).to_owned())
                        .unwrap_or_default();
                    for mut member in members(body, text, method_name_with_parameters) {
                        // A constructor is named after the class, which is renamed.
                        if !old_name.is_empty() && old_name != class_name {
                            member.text = rename_constructor(&member.text, &old_name, class_name);
                        }
                        parts.members.push(member);
                    }
                }
            }
            // The name of a namespace being walked.
            kind if is_comment(child)
                || matches!(kind, "ERROR" | "identifier" | "qualified_name") => {}
            "global_attribute" | "extern_alias_directive" => {
                let line = collapse_whitespace(tree::text(child, text));
                if !parts.usings.contains(&line) {
                    parts.usings.push(line);
                }
            }
            _ => {
                let start = line_start(text, leading_comments_start(child, text));
                let chunk = trim_blank_lines(&text[start..child.end_byte()]);
                if !parts.extra_types.contains(&chunk) {
                    parts.extra_types.push(chunk);
                }
            }
        }
    }
}

/// `public OldTests()` → `public NewTests()` in a constructor's text.
fn rename_constructor(member: &str, old: &str, new: &str) -> String {
    let Some(open) = member.find('(') else {
        return member.to_owned();
    };
    let head = &member[..open];
    if head.trim_end().ends_with(old) && !head.contains('=') {
        let at = head.trim_end().len() - old.len();
        let before_ok = head[..at]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if before_ok {
            return format!("{}{new}{}", &member[..at], &member[at + old.len()..]);
        }
    }
    member.to_owned()
}
