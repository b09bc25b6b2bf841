//! Java: methods and constructors of classes, interfaces (default and static methods with a
//! body), enums and records (canonical and compact constructors), nested types included. Methods
//! in an enum constant's own body belong to an anonymous class and are skipped.

use tree_sitter::Node;

use crate::parse::common::{UnitDraft, doc_above, join_path, param, type_without_name};
use crate::tree::{children, field_text, is_comment_kind, named_children};
use crate::{Param, Unit, UnitKind};

pub(super) fn units(root: Node<'_>, source: &str) -> Vec<Unit> {
    let mut units = Vec::new();
    walk(root, source, &mut Vec::new(), false, &mut units);
    units
}

const TYPE_DECLARATIONS: [&str; 5] = [
    "class_declaration",
    "interface_declaration",
    "enum_declaration",
    "record_declaration",
    "annotation_type_declaration",
];

/// The members of a program or type body. `in_interface`: members are public unless `private`.
fn walk(
    node: Node<'_>,
    source: &str,
    types: &mut Vec<String>,
    in_interface: bool,
    units: &mut Vec<Unit>,
) {
    for member in named_children(node) {
        let kind = member.kind();
        if TYPE_DECLARATIONS.contains(&kind) {
            let (Some(name), Some(body)) = (
                field_text(member, "name", source),
                member.child_by_field_name("body"),
            ) else {
                continue;
            };
            types.push(name.to_owned());
            walk(
                body,
                source,
                types,
                kind == "interface_declaration" || kind == "annotation_type_declaration",
                units,
            );
            types.pop();
            continue;
        }
        match kind {
            "enum_body_declarations" => walk(member, source, types, in_interface, units),
            "method_declaration"
            | "constructor_declaration"
            | "compact_constructor_declaration" => {
                if let Some(unit) = callable(member, source, types, in_interface) {
                    units.push(unit);
                }
            }
            _ => {}
        }
    }
}

fn callable(
    declaration: Node<'_>,
    source: &str,
    types: &[String],
    in_interface: bool,
) -> Option<Unit> {
    let body = declaration.child_by_field_name("body")?;
    let name = field_text(declaration, "name", source)?.to_owned();
    let modifiers = modifier_keywords(declaration, source);
    let kind = if declaration.kind() == "method_declaration" {
        UnitKind::Method
    } else {
        UnitKind::Constructor
    };
    let is_public =
        modifiers.contains(&"public") || (in_interface && !modifiers.contains(&"private"));
    Some(
        UnitDraft {
            kind,
            container: join_path(types, "."),
            first: declaration,
            outer: declaration,
            signature_start: signature_start(declaration),
            body,
            doc: doc_above(declaration, source, &[]),
            params: parameters(declaration, source),
            return_type: field_text(declaration, "type", source).map(str::to_owned),
            is_async: false,
            is_static: modifiers.contains(&"static"),
            is_public,
            name,
        }
        .finish(source),
    )
}

fn is_annotation(kind: &str) -> bool {
    matches!(kind, "annotation" | "marker_annotation") || is_comment_kind(kind)
}

/// The keywords among the declaration's modifiers (`public`, `static` …).
fn modifier_keywords<'s>(declaration: Node<'_>, source: &'s str) -> Vec<&'s str> {
    named_children(declaration)
        .into_iter()
        .filter(|child| child.kind() == "modifiers")
        .flat_map(children)
        .filter(|child| !child.is_named())
        .map(|child| source.get(child.byte_range()).unwrap_or_default())
        .collect()
}

/// The first byte after the declaration's annotations.
fn signature_start(declaration: Node<'_>) -> usize {
    for child in children(declaration) {
        if child.kind() == "modifiers" {
            if let Some(keyword) = children(child)
                .into_iter()
                .find(|token| !is_annotation(token.kind()))
            {
                return keyword.start_byte();
            }
            continue;
        }
        if !is_annotation(child.kind()) {
            return child.start_byte();
        }
    }
    declaration.start_byte()
}

fn parameters(declaration: Node<'_>, source: &str) -> Vec<Param> {
    // A compact constructor takes the record's components.
    let declared_by = if declaration.kind() == "compact_constructor_declaration" {
        declaration.parent().and_then(|body| body.parent())
    } else {
        Some(declaration)
    };
    let Some(list) = declared_by.and_then(|node| node.child_by_field_name("parameters")) else {
        return Vec::new();
    };
    let mut params = Vec::new();
    for parameter in named_children(list) {
        let name_node = match parameter.kind() {
            "formal_parameter" => parameter.child_by_field_name("name"),
            "spread_parameter" => named_children(parameter)
                .into_iter()
                .find(|child| child.kind() == "variable_declarator")
                .and_then(|declarator| declarator.child_by_field_name("name")),
            // `Foo this` receiver parameters are not arguments.
            _ => continue,
        };
        let Some(name_node) = name_node else {
            continue;
        };
        let name = source.get(name_node.byte_range()).unwrap_or_default();
        let type_name = type_without_name(parameter, Some(name_node), None, source)
            .map(|written| strip_annotations_and_final(&written));
        params.push(param(name, type_name));
    }
    params
}

/// `final @NonNull String` → `String`: the type a caller has to pass.
fn strip_annotations_and_final(written: &str) -> String {
    written
        .split(' ')
        .filter(|word| *word != "final" && !word.starts_with('@'))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use crate::{Syntax, parse_units};

    #[test]
    fn params_types_and_javadoc() {
        let source = r#"
package a;

public class Outer<T> {
    /**
     * Maps every element.
     * @param fn the mapping
     */
    @Override
    public <U> List<U> map(final Function<T, U> fn, int[] extra, String... rest) {
        return null;
    }
}
"#;
        let units = parse_units(Syntax::Java, source).unwrap_or_default();
        assert_eq!(units.len(), 1, "{units:#?}");
        let map = &units[0];
        assert_eq!(map.container.as_deref(), Some("Outer"));
        assert_eq!(
            map.signature,
            "public <U> List<U> map(final Function<T, U> fn, int[] extra, String... rest)"
        );
        assert_eq!(
            map.doc.as_deref(),
            Some("Maps every element.\n@param fn the mapping")
        );
        let params: Vec<(&str, Option<&str>)> = map
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.type_name.as_deref()))
            .collect();
        assert_eq!(
            params,
            [
                ("fn", Some("Function<T, U>")),
                ("extra", Some("int[]")),
                ("rest", Some("String..."))
            ]
        );
        assert_eq!(map.return_type.as_deref(), Some("List<U>"));
        assert_eq!((map.start_line, map.end_line), (9, 12));
        assert!(map.is_public && !map.is_static);
    }

    #[test]
    fn a_compact_constructor_takes_the_record_components() {
        let source = "record Range(int low, int high) { Range { assert low <= high; } }";
        let units = parse_units(Syntax::Java, source).unwrap_or_default();
        let names: Vec<&str> = units[0].params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["low", "high"]);
        assert_eq!(units[0].signature, "Range");
        assert_eq!(units[0].return_type, None);
    }
}
