//! Python pieces: `from __future__` imports first, then `import x`, then `from x import y`, each
//! deduplicated in first-seen order; the rest of each piece as written, two blank lines apart.

use crate::assemble::{Fate, Piece, append_suffix, file, flat_pieces, name_fate};
use crate::text::collapse_whitespace;
use crate::tree;

pub(super) fn merge(pieces: &[Piece<'_>]) -> String {
    let mut future = Vec::new();
    let mut imports: Vec<String> = Vec::new();
    let bodies = flat_pieces(
        pieces,
        |node, text| match node.kind() {
            "import_statement" | "import_from_statement" | "future_import_statement" => {
                Fate::Import
            }
            "function_definition" | "class_definition" => {
                name_fate(node.child_by_field_name("name"), text)
            }
            "decorated_definition" => name_fate(
                node.child_by_field_name("definition")
                    .and_then(|definition| definition.child_by_field_name("name")),
                text,
            ),
            _ => Fate::Keep { name: None },
        },
        |node, text| {
            let line = collapse_whitespace(tree::text(node, text));
            let list = if node.kind() == "future_import_statement" {
                &mut future
            } else {
                &mut imports
            };
            if !list.contains(&line) {
                list.push(line);
            }
        },
        append_suffix,
    );
    let mut header: Vec<String> = future;
    // `import x` lines first, then `from x import y`, each in first-seen order.
    header.extend(
        imports
            .iter()
            .filter(|line| line.starts_with("import "))
            .cloned(),
    );
    header.extend(
        imports
            .iter()
            .filter(|line| !line.starts_with("import "))
            .cloned(),
    );
    let mut blocks = vec![header.join("\n")];
    blocks.extend(bodies.into_iter().map(|piece| piece.body));
    file(&blocks, 2)
}
