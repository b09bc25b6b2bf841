//! A Java test sits in the source's package, so the class under test needs no import; the source's
//! own imports are repeated so the types in the signatures resolve.

use crate::Syntax;
use crate::text::collapse_whitespace;
use crate::tree::{named_child_of_kind, named_children, text};

pub(super) fn package_and_imports(source: &str) -> (Option<String>, Vec<String>) {
    let Some(tree) = Syntax::Java.tree(source) else {
        return (None, Vec::new());
    };
    let mut package = None;
    let mut imports = Vec::new();
    for child in named_children(tree.root_node()) {
        match child.kind() {
            "package_declaration" => {
                package = named_child_of_kind(child, &["scoped_identifier", "identifier"])
                    .map(|name| text(name, source).to_owned());
            }
            "import_declaration" => imports.push(collapse_whitespace(text(child, source))),
            _ => {}
        }
    }
    (package, imports)
}
