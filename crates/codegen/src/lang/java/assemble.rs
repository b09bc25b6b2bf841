//! Java pieces: the members of each piece's test class go into one class named after the test file,
//! with the class annotations of every piece; other top-level types follow it.

use tree_sitter::Node;

use crate::assemble::{
    AssembleError, Piece, choose_test_class, file, leading_comments_start, line_start, members,
    merge_members, method_name_with_parameters, trim_blank_lines,
};
use crate::text::collapse_whitespace;
use crate::tree::{self, children, is_comment, named_child_of_kind, named_children};

pub(super) fn merge(pieces: &[Piece<'_>], file_name: &str) -> Result<String, AssembleError> {
    let class_name = file_name.strip_suffix(".java").unwrap_or(file_name);
    let mut package = None;
    let mut imports: Vec<String> = Vec::new();
    let mut annotations: Vec<String> = Vec::new();
    let mut modifiers: Option<Vec<String>> = None;
    let mut heritage: Option<String> = None;
    let mut all_members = Vec::new();
    let mut extra_types: Vec<String> = Vec::new();
    for (index, piece) in pieces.iter().enumerate() {
        let text = piece.text;
        let classes: Vec<Node<'_>> = named_children(piece.tree.root_node())
            .into_iter()
            .filter(|node| node.kind() == "class_declaration")
            .collect();
        let chosen = choose_test_class(&classes, text, class_name, "@Test").map(|node| node.id());
        let mut found_class = false;
        for node in named_children(piece.tree.root_node()) {
            match node.kind() {
                "package_declaration" => {
                    package.get_or_insert_with(|| collapse_whitespace(tree::text(node, text)));
                }
                "import_declaration" => {
                    let line = collapse_whitespace(tree::text(node, text));
                    if !imports.contains(&line) {
                        imports.push(line);
                    }
                }
                "class_declaration" if Some(node.id()) == chosen => {
                    found_class = true;
                    let mut own_modifiers = Vec::new();
                    if let Some(list) = named_child_of_kind(node, &["modifiers"]) {
                        for modifier in children(list) {
                            let modifier_text = collapse_whitespace(tree::text(modifier, text));
                            if modifier.kind().ends_with("annotation") {
                                if !annotations.contains(&modifier_text) {
                                    annotations.push(modifier_text);
                                }
                            } else {
                                own_modifiers.push(modifier_text);
                            }
                        }
                    }
                    modifiers.get_or_insert(own_modifiers);
                    if heritage.is_none() {
                        let parts: Vec<String> = ["superclass", "interfaces"]
                            .iter()
                            .filter_map(|field| node.child_by_field_name(field))
                            .map(|part| collapse_whitespace(tree::text(part, text)))
                            .collect();
                        if !parts.is_empty() {
                            heritage = Some(parts.join(" "));
                        }
                    }
                    if let Some(body) = node.child_by_field_name("body") {
                        all_members.extend(members(body, text, method_name_with_parameters));
                    }
                }
                kind if is_comment(node) || kind == "ERROR" => {}
                _ => {
                    let start = line_start(text, leading_comments_start(node, text));
                    let chunk = trim_blank_lines(&text[start..node.end_byte()]);
                    if !extra_types.contains(&chunk) {
                        extra_types.push(chunk);
                    }
                }
            }
        }
        if !found_class {
            return Err(AssembleError::Unmergeable {
                piece: index + 1,
                reason: "it has no top-level class".to_owned(),
            });
        }
    }
    let mut blocks = Vec::new();
    if let Some(package) = package {
        blocks.push(package);
    }
    let (static_imports, plain): (Vec<String>, Vec<String>) = imports
        .into_iter()
        .partition(|line| line.starts_with("import static "));
    blocks.push(plain.join("\n"));
    blocks.push(static_imports.join("\n"));
    let mut class = annotations;
    let mut header: Vec<String> = modifiers.unwrap_or_default();
    header.push(format!("class {class_name}"));
    if let Some(heritage) = heritage {
        header.push(heritage);
    }
    class.push(format!("{} {{", header.join(" ")));
    let merged = merge_members(all_members, "    ");
    for member in merged {
        class.push(String::new());
        class.push(member);
    }
    class.push("}".to_owned());
    blocks.push(class.join("\n"));
    blocks.extend(extra_types);
    Ok(file(&blocks, 1))
}
