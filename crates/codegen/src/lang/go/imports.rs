//! A Go test sits in the source's package (an internal test), so unexported names are reachable
//! too; it imports those of the source's imports its placeholders name.

use tree_sitter::Node;

use crate::Syntax;
use crate::text::collapse_whitespace;
use crate::tree::{named_child_of_kind, named_children, text};

pub(super) fn package_and_imports(source: &str) -> (Option<String>, Vec<String>) {
    let Some(tree) = Syntax::Go.tree(source) else {
        return (None, Vec::new());
    };
    let mut package = None;
    let mut imports = Vec::new();
    for child in named_children(tree.root_node()) {
        match child.kind() {
            "package_clause" => {
                package = named_child_of_kind(child, &["package_identifier"])
                    .map(|name| text(name, source).to_owned());
            }
            "import_declaration" => collect_import_specs(child, source, &mut imports),
            _ => {}
        }
    }
    (package, imports)
}

/// The `import_spec`s under a Go import declaration, whitespace collapsed.
pub(super) fn collect_import_specs(node: Node<'_>, source: &str, specs: &mut Vec<String>) {
    for child in named_children(node) {
        match child.kind() {
            "import_spec" => specs.push(collapse_whitespace(text(child, source))),
            "import_spec_list" => collect_import_specs(child, source, specs),
            _ => {}
        }
    }
}
