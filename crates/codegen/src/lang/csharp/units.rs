//! C#: methods and constructors of classes, structs, records and interfaces (default methods with
//! a body), in block and file-scoped namespaces. Expression-bodied members (`=> expr`) have a body;
//! properties, operators and local functions are not units. A positional record
//! (`record Point(int X, int Y)`) gets a constructor unit spanning its header.

use tree_sitter::Node;

use crate::parse::common::{UnitDraft, doc_above, join_path, param};
use crate::text::collapse_whitespace;
use crate::tree::{
    children, end_line, field_text, is_comment_kind, named_children, start_line, text,
};
use crate::{Param, Unit, UnitKind};

pub(super) fn units(root: Node<'_>, source: &str) -> Vec<Unit> {
    let mut units = Vec::new();
    walk(root, source, &mut Vec::new(), false, &mut units);
    units
}

const TYPE_DECLARATIONS: [&str; 5] = [
    "class_declaration",
    "struct_declaration",
    "record_declaration",
    "record_struct_declaration",
    "interface_declaration",
];

fn walk(
    list: Node<'_>,
    source: &str,
    path: &mut Vec<String>,
    in_interface: bool,
    units: &mut Vec<Unit>,
) {
    // A file-scoped namespace covers the declarations after it.
    let depth = path.len();
    for member in named_children(list) {
        let kind = member.kind();
        if TYPE_DECLARATIONS.contains(&kind) {
            let Some(name) = field_text(member, "name", source) else {
                continue;
            };
            path.push(name.to_owned());
            if let Some(unit) = positional_record(member, source, path) {
                units.push(unit);
            }
            if let Some(body) = member.child_by_field_name("body") {
                walk(body, source, path, kind == "interface_declaration", units);
            }
            path.pop();
            continue;
        }
        match kind {
            "namespace_declaration" => {
                let (Some(name), Some(body)) = (
                    field_text(member, "name", source),
                    member.child_by_field_name("body"),
                ) else {
                    continue;
                };
                path.push(collapse_whitespace(name));
                walk(body, source, path, false, units);
                path.pop();
            }
            "file_scoped_namespace_declaration" => {
                if let Some(name) = field_text(member, "name", source) {
                    path.push(collapse_whitespace(name));
                }
                // Some grammar versions nest the following declarations inside it.
                walk(member, source, path, false, units);
            }
            "method_declaration" | "constructor_declaration" => {
                if let Some(unit) = callable(member, source, path, in_interface) {
                    units.push(unit);
                }
            }
            _ => {}
        }
    }
    path.truncate(depth);
}

fn modifiers<'s>(declaration: Node<'_>, source: &'s str) -> Vec<&'s str> {
    named_children(declaration)
        .into_iter()
        .filter(|child| child.kind() == "modifier")
        .map(|modifier| text(modifier, source))
        .collect()
}

fn is_public(modifiers: &[&str], in_interface: bool) -> bool {
    modifiers
        .iter()
        .any(|modifier| matches!(*modifier, "public" | "internal"))
        || (in_interface && !modifiers.contains(&"private"))
}

/// The first byte after the declaration's attributes.
fn signature_start(declaration: Node<'_>) -> usize {
    children(declaration)
        .into_iter()
        .find(|child| child.kind() != "attribute_list" && !is_comment_kind(child.kind()))
        .map_or(declaration.start_byte(), |child| child.start_byte())
}

fn callable(
    declaration: Node<'_>,
    source: &str,
    path: &[String],
    in_interface: bool,
) -> Option<Unit> {
    let body = declaration.child_by_field_name("body")?;
    let name = field_text(declaration, "name", source)?.to_owned();
    let modifiers = modifiers(declaration, source);
    let is_constructor = declaration.kind() == "constructor_declaration";
    let return_type = field_text(declaration, "returns", source)
        .or_else(|| field_text(declaration, "type", source))
        .filter(|_| !is_constructor)
        .map(collapse_whitespace);
    Some(
        UnitDraft {
            kind: if is_constructor {
                UnitKind::Constructor
            } else {
                UnitKind::Method
            },
            container: join_path(path, "."),
            first: declaration,
            outer: declaration,
            signature_start: signature_start(declaration),
            body,
            doc: doc_above(declaration, source, &[]),
            params: declaration
                .child_by_field_name("parameters")
                .map(|list| parameters(list, source))
                .unwrap_or_default(),
            return_type,
            is_async: modifiers.contains(&"async"),
            is_static: modifiers.contains(&"static"),
            is_public: is_public(&modifiers, in_interface),
            name,
        }
        .finish(source),
    )
}

/// `record Point(int X, int Y)`: the primary constructor, spanning the header.
fn positional_record(record: Node<'_>, source: &str, path: &[String]) -> Option<Unit> {
    if !record.kind().starts_with("record") {
        return None;
    }
    let list = named_children(record)
        .into_iter()
        .find(|child| child.kind() == "parameter_list")?;
    let name = path.last()?.clone();
    let modifiers = modifiers(record, source);
    let start = signature_start(record);
    Some(Unit {
        kind: UnitKind::Constructor,
        name,
        container: join_path(path, "."),
        signature: collapse_whitespace(source.get(start..list.end_byte()).unwrap_or_default()),
        doc: doc_above(record, source, &[]),
        params: parameters(list, source),
        return_type: None,
        is_async: false,
        is_static: false,
        is_public: is_public(&modifiers, false),
        start_line: start_line(record),
        end_line: end_line(list),
    })
}

/// Parameters, with `this`/`ref`/`out`/`params` modifiers kept in the type (`ref int`).
fn parameters(list: Node<'_>, source: &str) -> Vec<Param> {
    let mut params = Vec::new();
    // `params T[] rest` appears as loose `type`/`name` fields of the list itself.
    let mut loose_type: Option<String> = None;
    for (index, child) in children(list).into_iter().enumerate() {
        let field = u32::try_from(index)
            .ok()
            .and_then(|index| list.field_name_for_child(index));
        match (child.kind(), field) {
            ("parameter", _) => {
                let Some(name) = field_text(child, "name", source) else {
                    continue;
                };
                let mut type_words: Vec<String> = named_children(child)
                    .into_iter()
                    .filter(|part| part.kind() == "modifier")
                    .map(|part| text(part, source).to_owned())
                    .collect();
                type_words.extend(field_text(child, "type", source).map(collapse_whitespace));
                let type_name = (!type_words.is_empty()).then(|| type_words.join(" "));
                params.push(param(name, type_name));
            }
            (_, Some("type")) => {
                loose_type = Some(format!(
                    "params {}",
                    collapse_whitespace(text(child, source))
                ))
            }
            (_, Some("name")) => params.push(param(text(child, source), loose_type.take())),
            _ => {}
        }
    }
    params
}

#[cfg(test)]
mod tests {
    use crate::{Syntax, UnitKind, parse_units};

    #[test]
    fn params_types_docs_and_records() {
        let source = r#"
namespace Shop.Orders;

/// <summary>A point.</summary>
public record Point(int X, int Y);

public static class Extensions
{
    /// Sums the values.
    [Pure]
    public static async Task<int> Sum(this IEnumerable<int> values, ref int seed, params int[] more)
    {
        return 0;
    }

    internal static string Name(this Point p) => $"{p.X}";
}
"#;
        let units = parse_units(Syntax::CSharp, source).unwrap_or_default();
        assert_eq!(units.len(), 3, "{units:#?}");
        let point = &units[0];
        assert_eq!(point.kind, UnitKind::Constructor);
        assert_eq!(point.container.as_deref(), Some("Shop.Orders.Point"));
        assert_eq!(point.signature, "public record Point(int X, int Y)");
        assert_eq!(point.doc.as_deref(), Some("<summary>A point.</summary>"));
        assert_eq!(point.params.len(), 2);

        let sum = &units[1];
        assert_eq!(
            sum.signature,
            "public static async Task<int> Sum(this IEnumerable<int> values, ref int seed, params int[] more)"
        );
        let params: Vec<(&str, Option<&str>)> = sum
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.type_name.as_deref()))
            .collect();
        assert_eq!(
            params,
            [
                ("values", Some("this IEnumerable<int>")),
                ("seed", Some("ref int")),
                ("more", Some("params int[]"))
            ]
        );
        assert_eq!(sum.return_type.as_deref(), Some("Task<int>"));
        assert_eq!(sum.doc.as_deref(), Some("Sums the values."));
        assert_eq!((sum.start_line, sum.end_line), (10, 14));
        assert!(sum.is_async && sum.is_static && sum.is_public);
        assert_eq!(
            units[2].signature,
            "internal static string Name(this Point p)"
        );
        assert!(units[2].is_public);
    }
}
