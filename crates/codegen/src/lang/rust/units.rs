//! Rust: free functions, functions of `impl` blocks (inherent and trait impls) and trait default
//! methods, inside `mod` blocks too.
//!
//! The container of a method is the `impl` block's type (`impl Display for Stack<T>` → `Stack`)
//! or, for a default method, the trait; enclosing inline `mod`s are a `::`-joined prefix
//! (`geometry::Circle`, or `geometry` alone for a free function in `mod geometry`). Tests are not
//! units: `#[cfg(test)]` modules and items and `#[test]` functions (`#[tokio::test]` too) are
//! skipped. A trait impl's methods are public (they are as reachable as the trait), a trait's
//! default methods are as public as the trait.

use tree_sitter::Node;

use crate::parse::common::{UnitDraft, doc_above, join_path, param};
use crate::tree::{field_text, has_token, named_children, text};
use crate::{Param, Unit, UnitKind};

pub(super) fn units(root: Node<'_>, source: &str) -> Vec<Unit> {
    let mut units = Vec::new();
    walk_items(root, source, &mut Vec::new(), &mut units);
    units
}

/// Where a function sits, for its kind, container and visibility.
#[derive(Clone, Copy)]
enum Owner {
    Module,
    InherentImpl,
    TraitImpl,
    Trait { is_public: bool },
}

fn walk_items(items: Node<'_>, source: &str, modules: &mut Vec<String>, units: &mut Vec<Unit>) {
    for item in named_children(items) {
        if is_test_only(item, source) {
            continue;
        }
        match item.kind() {
            "function_item" => {
                if let Some(unit) = function(item, source, modules, None, Owner::Module) {
                    units.push(unit);
                }
            }
            "mod_item" => {
                let (Some(name), Some(body)) = (
                    field_text(item, "name", source),
                    item.child_by_field_name("body"),
                ) else {
                    continue;
                };
                modules.push(name.to_owned());
                walk_items(body, source, modules, units);
                modules.pop();
            }
            "impl_item" => {
                let (Some(self_type), Some(body)) = (
                    item.child_by_field_name("type"),
                    item.child_by_field_name("body"),
                ) else {
                    continue;
                };
                let owner = if item.child_by_field_name("trait").is_some() {
                    Owner::TraitImpl
                } else {
                    Owner::InherentImpl
                };
                let type_name = type_name(self_type, source);
                walk_members(body, source, modules, &type_name, owner, units);
            }
            "trait_item" => {
                let (Some(name), Some(body)) = (
                    field_text(item, "name", source),
                    item.child_by_field_name("body"),
                ) else {
                    continue;
                };
                let owner = Owner::Trait {
                    is_public: is_pub(item),
                };
                walk_members(body, source, modules, name, owner, units);
            }
            _ => {}
        }
    }
}

fn walk_members(
    body: Node<'_>,
    source: &str,
    modules: &[String],
    type_name: &str,
    owner: Owner,
    units: &mut Vec<Unit>,
) {
    for member in named_children(body) {
        if member.kind() == "function_item"
            && !is_test_only(member, source)
            && let Some(unit) = function(member, source, modules, Some(type_name), owner)
        {
            units.push(unit);
        }
    }
}

/// `Stack<T>` → `Stack`, `&'a mut Buffer` → `Buffer`, `io::Cursor<T>` → `Cursor`.
fn type_name(written: Node<'_>, source: &str) -> String {
    match written.kind() {
        "generic_type" => written
            .child_by_field_name("type")
            .map(|inner| type_name(inner, source)),
        "reference_type" | "pointer_type" => written
            .child_by_field_name("type")
            .map(|inner| type_name(inner, source)),
        "scoped_type_identifier" => field_text(written, "name", source).map(str::to_owned),
        _ => None,
    }
    .unwrap_or_else(|| text(written, source).to_owned())
}

fn is_pub(item: Node<'_>) -> bool {
    named_children(item)
        .iter()
        .any(|child| child.kind() == "visibility_modifier")
}

/// The attributes right above `item`, earliest first.
fn attributes_of(item: Node<'_>) -> Vec<Node<'_>> {
    let mut attributes = Vec::new();
    let mut current = item.prev_named_sibling();
    while let Some(node) = current {
        match node.kind() {
            "attribute_item" => attributes.push(node),
            "line_comment" | "block_comment" => {}
            _ => break,
        }
        current = node.prev_named_sibling();
    }
    attributes.reverse();
    attributes
}

/// `#[test]`, `#[tokio::test]`, `#[cfg(test)]`: the item is a test or only exists for tests.
fn is_test_only(item: Node<'_>, source: &str) -> bool {
    attributes_of(item).iter().any(|attribute| {
        let written: String = text(*attribute, source)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let inner = written
            .trim_start_matches("#[")
            .trim_end_matches(']')
            .to_owned();
        inner == "test" || inner.ends_with("::test") || inner == "cfg(test)"
    })
}

fn function(
    item: Node<'_>,
    source: &str,
    modules: &[String],
    type_name: Option<&str>,
    owner: Owner,
) -> Option<Unit> {
    let name = field_text(item, "name", source)?.to_owned();
    let body = item.child_by_field_name("body")?;
    let parameters = item.child_by_field_name("parameters");
    let takes_self = parameters.is_some_and(|list| {
        named_children(list)
            .iter()
            .any(|parameter| parameter.kind() == "self_parameter")
    });
    let mut path = modules.to_vec();
    path.extend(type_name.map(str::to_owned));
    let is_public = match owner {
        Owner::Module | Owner::InherentImpl => is_pub(item),
        Owner::TraitImpl => true,
        Owner::Trait { is_public } => is_public,
    };
    let is_async = named_children(item)
        .into_iter()
        .any(|child| child.kind() == "function_modifiers" && has_token(child, "async"));
    let first = attributes_of(item).first().copied().unwrap_or(item);
    Some(
        UnitDraft {
            kind: if matches!(owner, Owner::Module) {
                UnitKind::Function
            } else {
                UnitKind::Method
            },
            container: join_path(&path, "::"),
            first,
            outer: item,
            signature_start: item.start_byte(),
            body,
            doc: doc_above(item, source, &["attribute_item"]),
            params: parameters
                .map(|list| params(list, source))
                .unwrap_or_default(),
            return_type: field_text(item, "return_type", source).map(str::to_owned),
            is_async,
            is_static: !takes_self,
            is_public,
            name,
        }
        .finish(source),
    )
}

fn params(list: Node<'_>, source: &str) -> Vec<Param> {
    named_children(list)
        .into_iter()
        .filter(|parameter| parameter.kind() == "parameter")
        .map(|parameter| {
            param(
                field_text(parameter, "pattern", source).unwrap_or_default(),
                field_text(parameter, "type", source).map(str::to_owned),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::{Syntax, parse_units};

    #[test]
    fn params_types_docs_and_attributes() {
        let source = r#"
mod geometry {
    impl<T: Clone> Stack<T> {
        /// Pushes `value`.
        ///
        /// Grows when full.
        #[inline]
        pub async fn push(&mut self, value: T, (a, b): (u8, u8)) -> Result<(), Full>
        where
            T: Send,
        {
            Ok(())
        }
    }
}
"#;
        let units = parse_units(Syntax::Rust, source).unwrap_or_default();
        assert_eq!(units.len(), 1, "{units:#?}");
        let push = &units[0];
        assert_eq!(push.container.as_deref(), Some("geometry::Stack"));
        assert_eq!(
            push.signature,
            "pub async fn push(&mut self, value: T, (a, b): (u8, u8)) -> Result<(), Full> where T: Send,"
        );
        assert_eq!(
            push.doc.as_deref(),
            Some("Pushes `value`.\n\nGrows when full.")
        );
        let params: Vec<(&str, Option<&str>)> = push
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.type_name.as_deref()))
            .collect();
        assert_eq!(params, [("value", Some("T")), ("(a, b)", Some("(u8, u8)"))]);
        assert_eq!(push.return_type.as_deref(), Some("Result<(), Full>"));
        assert!(push.is_async && push.is_public && !push.is_static);
        assert_eq!((push.start_line, push.end_line), (7, 13));
    }
}
