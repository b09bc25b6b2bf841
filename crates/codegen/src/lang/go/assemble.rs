//! Go pieces: the first package clause, one `import ( … )` block with the standard library first,
//! then the rest of each piece as written.

use super::imports::collect_import_specs;
use crate::assemble::{Fate, Piece, append_suffix, file, flat_pieces, name_fate};
use crate::text::collapse_whitespace;
use crate::tree;

pub(super) fn merge(pieces: &[Piece<'_>]) -> String {
    let mut package = None;
    let mut specs: Vec<String> = Vec::new();
    let bodies = flat_pieces(
        pieces,
        |node, text| match node.kind() {
            "package_clause" => {
                if package.is_none() {
                    package = Some(collapse_whitespace(tree::text(node, text)));
                }
                Fate::Import
            }
            "import_declaration" => Fate::Import,
            "function_declaration" => name_fate(node.child_by_field_name("name"), text),
            _ => Fate::Keep { name: None },
        },
        |node, text| {
            if node.kind() == "import_declaration" {
                let mut found = Vec::new();
                collect_import_specs(node, text, &mut found);
                for spec in found {
                    if !specs.contains(&spec) {
                        specs.push(spec);
                    }
                }
            }
        },
        append_suffix,
    );
    let mut blocks = vec![package.unwrap_or_else(|| "package main".to_owned())];
    if !specs.is_empty() {
        // The standard library first, as gofmt's goimports groups them.
        let (standard, others): (Vec<&String>, Vec<&String>) = specs.iter().partition(|spec| {
            let path = spec.rsplit('"').nth(1).unwrap_or(spec);
            !path.split('/').next().unwrap_or(path).contains('.')
        });
        let mut lines = vec!["import (".to_owned()];
        lines.extend(standard.iter().map(|spec| format!("\t{spec}")));
        if !standard.is_empty() && !others.is_empty() {
            lines.push(String::new());
        }
        lines.extend(others.iter().map(|spec| format!("\t{spec}")));
        lines.push(")".to_owned());
        blocks.push(lines.join("\n"));
    }
    blocks.extend(bodies.into_iter().map(|piece| piece.body));
    file(&blocks, 1)
}
