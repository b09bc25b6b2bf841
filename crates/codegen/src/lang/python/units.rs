//! Python: module functions, methods of (nested) classes, `__init__` as the constructor. A
//! function's doc is its docstring.

use tree_sitter::Node;

use crate::parse::common::{UnitDraft, join_path, non_empty, param};
use crate::tree::{field_text, has_token, named_children, text};
use crate::{Param, Unit, UnitKind};

pub(super) fn units(root: Node<'_>, source: &str) -> Vec<Unit> {
    let mut units = Vec::new();
    walk_block(root, source, &mut Vec::new(), &mut units);
    units
}

/// The statements of a module or class body.
fn walk_block(block: Node<'_>, source: &str, classes: &mut Vec<String>, units: &mut Vec<Unit>) {
    for statement in named_children(block) {
        let (definition, decorators) = match statement.kind() {
            "decorated_definition" => match statement.child_by_field_name("definition") {
                Some(definition) => (definition, decorator_names(statement, source)),
                None => continue,
            },
            _ => (statement, Vec::new()),
        };
        match definition.kind() {
            "function_definition" => {
                if let Some(unit) = function(statement, definition, &decorators, source, classes) {
                    units.push(unit);
                }
            }
            "class_definition" => {
                let (Some(name), Some(body)) = (
                    field_text(definition, "name", source),
                    definition.child_by_field_name("body"),
                ) else {
                    continue;
                };
                classes.push(name.to_owned());
                walk_block(body, source, classes, units);
                classes.pop();
            }
            // `if TYPE_CHECKING:` / `try: import …` blocks at module level may define functions.
            "if_statement" | "try_statement" if classes.is_empty() => {
                for child in named_children(definition) {
                    if child.kind() == "block" {
                        walk_block(child, source, classes, units);
                    } else if child.kind().ends_with("_clause") {
                        for block in named_children(child) {
                            if block.kind() == "block" {
                                walk_block(block, source, classes, units);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// The decorator names (`staticmethod`, `app.route` …) without arguments.
fn decorator_names(decorated: Node<'_>, source: &str) -> Vec<String> {
    named_children(decorated)
        .into_iter()
        .filter(|child| child.kind() == "decorator")
        .map(|decorator| {
            let written = text(decorator, source).trim_start_matches('@').trim();
            let name = written.split('(').next().unwrap_or(written);
            name.trim().to_owned()
        })
        .collect()
}

fn function(
    outer: Node<'_>,
    definition: Node<'_>,
    decorators: &[String],
    source: &str,
    classes: &[String],
) -> Option<Unit> {
    let name = field_text(definition, "name", source)?.to_owned();
    let body = definition.child_by_field_name("body")?;
    let in_class = !classes.is_empty();
    let kind = match (in_class, name.as_str()) {
        (true, "__init__") => UnitKind::Constructor,
        (true, _) => UnitKind::Method,
        (false, _) => UnitKind::Function,
    };
    let is_static = !in_class
        || decorators
            .iter()
            .any(|decorator| decorator == "staticmethod" || decorator == "classmethod");
    let mut params = parameters(definition, source);
    // The instance or class receiver is implicit for callers.
    let takes_receiver = in_class && !decorators.iter().any(|d| d == "staticmethod");
    if takes_receiver
        && params
            .first()
            .is_some_and(|first| first.name == "self" || first.name == "cls")
    {
        params.remove(0);
    }
    let is_public = !name.starts_with('_') || (name.starts_with("__") && name.ends_with("__"));
    Some(
        UnitDraft {
            kind,
            container: join_path(classes, "."),
            first: outer,
            outer,
            signature_start: definition.start_byte(),
            body,
            doc: docstring(body, source),
            params,
            return_type: field_text(definition, "return_type", source).map(str::to_owned),
            is_async: has_token(definition, "async"),
            is_static,
            is_public,
            name,
        }
        .finish(source),
    )
}

fn parameters(definition: Node<'_>, source: &str) -> Vec<Param> {
    let Some(list) = definition.child_by_field_name("parameters") else {
        return Vec::new();
    };
    let mut params = Vec::new();
    for parameter in named_children(list) {
        let type_name = field_text(parameter, "type", source).map(str::to_owned);
        let name = match parameter.kind() {
            "identifier" | "list_splat_pattern" | "dictionary_splat_pattern" => {
                text(parameter, source)
            }
            "default_parameter" | "typed_default_parameter" => {
                field_text(parameter, "name", source).unwrap_or_default()
            }
            "typed_parameter" => named_children(parameter)
                .first()
                .map(|first| text(*first, source))
                .unwrap_or_default(),
            // `*` and `/` separators are not parameters.
            _ => continue,
        };
        params.push(param(name, type_name));
    }
    params
}

/// The string literal that opens `body`, dedented like `inspect.cleandoc`.
fn docstring(body: Node<'_>, source: &str) -> Option<String> {
    let first = named_children(body).into_iter().next()?;
    if first.kind() != "expression_statement" {
        return None;
    }
    let string = named_children(first).into_iter().next()?;
    if string.kind() != "string" {
        return None;
    }
    let content: String = named_children(string)
        .into_iter()
        .filter(|part| part.kind() == "string_content")
        .map(|part| text(part, source))
        .collect();
    non_empty(&clean_doc(&content))
}

fn clean_doc(raw: &str) -> String {
    let mut lines = raw.lines();
    let first = lines.next().unwrap_or_default().trim().to_owned();
    let rest: Vec<&str> = lines.collect();
    let indent = rest
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut cleaned = vec![first];
    cleaned.extend(
        rest.iter()
            .map(|line| line.get(indent..).unwrap_or_default().trim_end().to_owned()),
    );
    cleaned.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use crate::{Syntax, parse_units};

    #[test]
    fn params_types_and_docstrings() {
        let source = r#"
class Repo:
    @classmethod
    async def load(cls, path: str, *, retries: int = 3, **options) -> "Repo":
        """Loads a repo.

        Retries on failure.
        """
        def inner():
            pass
        return cls()
"#;
        let units = parse_units(Syntax::Python, source).unwrap_or_default();
        assert_eq!(units.len(), 1, "{units:#?}");
        let load = &units[0];
        assert_eq!(load.container.as_deref(), Some("Repo"));
        assert!(load.is_async && load.is_static && load.is_public);
        assert_eq!(
            load.signature,
            "async def load(cls, path: str, *, retries: int = 3, **options) -> \"Repo\""
        );
        assert_eq!(
            load.doc.as_deref(),
            Some("Loads a repo.\n\nRetries on failure.")
        );
        let params: Vec<(&str, Option<&str>)> = load
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.type_name.as_deref()))
            .collect();
        assert_eq!(
            params,
            [
                ("path", Some("str")),
                ("retries", Some("int")),
                ("**options", None)
            ]
        );
        assert_eq!(load.return_type.as_deref(), Some("\"Repo\""));
        assert_eq!((load.start_line, load.end_line), (3, 11));
    }
}
