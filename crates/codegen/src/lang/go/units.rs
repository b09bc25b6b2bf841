//! Go: functions and methods. A method's container is its receiver's type, without `*` or type
//! arguments; closures are part of the function that holds them.

use tree_sitter::Node;

use crate::parse::common::{UnitDraft, doc_above, param};
use crate::tree::{field_text, named_children, text};
use crate::{Param, Unit, UnitKind};

pub(super) fn units(root: Node<'_>, source: &str) -> Vec<Unit> {
    named_children(root)
        .into_iter()
        .filter_map(|declaration| match declaration.kind() {
            "function_declaration" | "method_declaration" => callable(declaration, source),
            _ => None,
        })
        .collect()
}

fn callable(declaration: Node<'_>, source: &str) -> Option<Unit> {
    let name = field_text(declaration, "name", source)?.to_owned();
    let body = declaration.child_by_field_name("body")?;
    let receiver = declaration
        .child_by_field_name("receiver")
        .and_then(|list| receiver_type(list, source));
    let is_method = declaration.kind() == "method_declaration";
    let return_type = field_text(declaration, "result", source).map(str::to_owned);
    let params = declaration
        .child_by_field_name("parameters")
        .map(|list| parameters(list, source))
        .unwrap_or_default();
    Some(
        UnitDraft {
            kind: if is_method {
                UnitKind::Method
            } else {
                UnitKind::Function
            },
            container: receiver,
            first: declaration,
            outer: declaration,
            signature_start: declaration.start_byte(),
            body,
            doc: doc_above(declaration, source, &[]),
            params,
            return_type,
            is_async: false,
            is_static: !is_method,
            is_public: name.chars().next().is_some_and(char::is_uppercase),
            name,
        }
        .finish(source),
    )
}

/// `(s *Stack[T])` → `Stack`.
fn receiver_type(list: Node<'_>, source: &str) -> Option<String> {
    let declaration = named_children(list).into_iter().next()?;
    let mut written = declaration.child_by_field_name("type")?;
    loop {
        match written.kind() {
            "pointer_type" | "parenthesized_type" => {
                written = named_children(written).into_iter().next()?;
            }
            "generic_type" => written = written.child_by_field_name("type")?,
            _ => return Some(text(written, source).to_owned()),
        }
    }
}

/// `a, b int` gives two parameters of type `int`; an unnamed parameter is named `_`.
fn parameters(list: Node<'_>, source: &str) -> Vec<Param> {
    let mut params = Vec::new();
    for declaration in named_children(list) {
        let type_name = match declaration.kind() {
            "parameter_declaration" => field_text(declaration, "type", source).map(str::to_owned),
            "variadic_parameter_declaration" => {
                field_text(declaration, "type", source).map(|written| format!("...{written}"))
            }
            _ => continue,
        };
        let mut cursor = declaration.walk();
        let names: Vec<&str> = declaration
            .children_by_field_name("name", &mut cursor)
            .map(|name| text(name, source))
            .collect();
        if names.is_empty() {
            params.push(param("_", type_name.clone()));
        }
        for name in names {
            params.push(param(name, type_name.clone()));
        }
    }
    params
}

#[cfg(test)]
mod tests {
    use crate::{Syntax, parse_units};

    #[test]
    fn generics_receivers_and_grouped_params() {
        let source = "package a\n\n// Map applies f to every element.\n// It keeps the order.\nfunc Map[T, U any](xs []T, f func(T) U, a, b int, rest ...string) ([]U, error) {\n\treturn nil, nil\n}\n\nfunc (s *Stack[T]) push(v T) {}\n";
        let units = parse_units(Syntax::Go, source).unwrap_or_default();
        assert_eq!(units.len(), 2, "{units:#?}");
        let map = &units[0];
        assert_eq!(
            map.signature,
            "func Map[T, U any](xs []T, f func(T) U, a, b int, rest ...string) ([]U, error)"
        );
        assert_eq!(
            map.doc.as_deref(),
            Some("Map applies f to every element.\nIt keeps the order.")
        );
        let params: Vec<(&str, Option<&str>)> = map
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.type_name.as_deref()))
            .collect();
        assert_eq!(
            params,
            [
                ("xs", Some("[]T")),
                ("f", Some("func(T) U")),
                ("a", Some("int")),
                ("b", Some("int")),
                ("rest", Some("...string"))
            ]
        );
        assert_eq!(map.return_type.as_deref(), Some("([]U, error)"));
        assert!(map.is_static && map.is_public);
        let push = &units[1];
        assert_eq!(push.container.as_deref(), Some("Stack"));
        assert!(!push.is_static && !push.is_public);
        assert_eq!(push.params.len(), 1);
    }
}
