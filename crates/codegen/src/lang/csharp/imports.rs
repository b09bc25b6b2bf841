//! A C# test `using`s every namespace the source declares, plus the source's own `using`s.

use tree_sitter::Node;

use crate::Syntax;
use crate::text::collapse_whitespace;
use crate::tree::{named_children, text};

pub(super) fn namespaces_and_usings(source: &str) -> (Vec<String>, Vec<String>) {
    let mut namespaces = Vec::new();
    let mut usings = Vec::new();
    if let Some(tree) = Syntax::CSharp.tree(source) {
        collect_namespaces_and_usings(tree.root_node(), source, "", &mut namespaces, &mut usings);
    }
    (namespaces, usings)
}

fn collect_namespaces_and_usings(
    node: Node<'_>,
    source: &str,
    prefix: &str,
    namespaces: &mut Vec<String>,
    usings: &mut Vec<String>,
) {
    let mut prefix = prefix.to_owned();
    for child in named_children(node) {
        match child.kind() {
            "using_directive" => {
                let line = collapse_whitespace(text(child, source));
                if !usings.contains(&line) {
                    usings.push(line);
                }
            }
            "namespace_declaration" | "file_scoped_namespace_declaration" => {
                let Some(name) = child.child_by_field_name("name") else {
                    continue;
                };
                let name = text(name, source);
                let full = if prefix.is_empty() {
                    name.to_owned()
                } else {
                    format!("{prefix}.{name}")
                };
                if !namespaces.contains(&full) {
                    namespaces.push(full.clone());
                }
                if child.kind() == "file_scoped_namespace_declaration" {
                    // Declarations after a file-scoped namespace belong to it.
                    collect_namespaces_and_usings(child, source, &full, namespaces, usings);
                    prefix = full;
                } else if let Some(body) = child.child_by_field_name("body") {
                    collect_namespaces_and_usings(body, source, &full, namespaces, usings);
                }
            }
            _ => {}
        }
    }
}

/// The source's `using`s, then one for each namespace it declares that they do not already name.
pub(crate) fn import_lines(namespaces: &[String], source_usings: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = source_usings.to_vec();
    for namespace in namespaces {
        let line = format!("using {namespace};");
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}
