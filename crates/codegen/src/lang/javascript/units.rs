//! JavaScript, TypeScript and TSX (one walker: the TypeScript grammars extend the JavaScript one).
//!
//! Units: function declarations (generators and `async` ones too), functions and arrow functions
//! bound to a variable (named after the variable), `export default function`, class methods and
//! constructors, in classes and TypeScript namespaces. Overload signatures, abstract methods and
//! interface members have no body and are not units; object-literal methods are skipped. Public
//! means exported (`export`, `export { name }`, `module.exports`/`exports.x = name`), or a member
//! of an exported class that is neither `private`/`protected` nor `#private`.

use std::collections::HashSet;

use tree_sitter::Node;

use crate::parse::common::{UnitDraft, doc_above, join_path, param};
use crate::tree::{children, field_text, has_token, named_children, text};
use crate::{Param, Unit, UnitKind};

pub(super) fn units(root: Node<'_>, source: &str) -> Vec<Unit> {
    let mut walker = Walker {
        source,
        exported_names: exported_names(root, source),
        path: Vec::new(),
        reachable: true,
        units: Vec::new(),
    };
    walker.statements(root);
    walker.units
}

struct Walker<'s> {
    source: &'s str,
    /// Names exported apart from their declaration.
    exported_names: HashSet<String>,
    /// Enclosing namespaces and classes.
    path: Vec<String>,
    /// Whether the enclosing namespaces are all exported (or there are none).
    reachable: bool,
    units: Vec<Unit>,
}

/// A declaration as it sits in its statement: `outer` is the `export` statement around it, if any.
#[derive(Clone, Copy)]
struct Placed<'t> {
    outer: Node<'t>,
    exported: bool,
}

impl<'s> Walker<'s> {
    fn statements(&mut self, block: Node<'_>) {
        for statement in named_children(block) {
            self.statement(statement);
        }
    }

    fn statement(&mut self, statement: Node<'_>) {
        let placed = Placed {
            outer: statement,
            exported: false,
        };
        match statement.kind() {
            "export_statement" => {
                let placed = Placed {
                    outer: statement,
                    exported: true,
                };
                if let Some(declaration) = statement.child_by_field_name("declaration") {
                    self.declaration(declaration, placed, None);
                } else if let Some(value) = statement.child_by_field_name("value") {
                    self.declaration(value, placed, Some("default"));
                }
            }
            "expression_statement" | "ambient_declaration" => {
                for inner in named_children(statement) {
                    self.declaration(inner, placed, None);
                }
            }
            _ => self.declaration(statement, placed, None),
        }
    }

    fn declaration(&mut self, node: Node<'_>, placed: Placed<'_>, default_name: Option<&str>) {
        match node.kind() {
            "function_declaration"
            | "generator_function_declaration"
            | "function_expression"
            | "generator_function"
            | "arrow_function" => {
                let name = field_text(node, "name", self.source)
                    .or(default_name)
                    .map(str::to_owned);
                if let Some(name) = name {
                    self.function(name, node, placed);
                }
            }
            "lexical_declaration" | "variable_declaration" => {
                for declarator in named_children(node) {
                    let (Some(name), Some(value)) = (
                        declarator.child_by_field_name("name"),
                        declarator.child_by_field_name("value"),
                    ) else {
                        continue;
                    };
                    if name.kind() == "identifier" && is_function_value(value.kind()) {
                        self.function(text(name, self.source).to_owned(), value, placed);
                    }
                }
            }
            "class_declaration" | "abstract_class_declaration" | "class" => {
                let name = field_text(node, "name", self.source).or(default_name);
                if let (Some(name), Some(body)) = (name, node.child_by_field_name("body")) {
                    let exported = self.is_exported(name, placed);
                    self.path.push(name.to_owned());
                    self.class_body(body, exported);
                    self.path.pop();
                }
            }
            "internal_module" | "module" => {
                let name = field_text(node, "name", self.source);
                if let (Some(name), Some(body)) = (name, node.child_by_field_name("body")) {
                    let name = name.trim_matches(['"', '\'']).to_owned();
                    let outer_reachable = self.reachable;
                    self.reachable = outer_reachable && placed.exported;
                    self.path.push(name);
                    self.statements(body);
                    self.path.pop();
                    self.reachable = outer_reachable;
                }
            }
            _ => {}
        }
    }

    /// Exported itself, from exported namespaces; or, at the top level, exported by name.
    fn is_exported(&self, name: &str, placed: Placed<'_>) -> bool {
        let exported_by_name = self.path.is_empty() && self.exported_names.contains(name);
        self.reachable && (placed.exported || exported_by_name)
    }

    fn function(&mut self, name: String, function: Node<'_>, placed: Placed<'_>) {
        let Some(body) = function.child_by_field_name("body") else {
            return;
        };
        let is_public = self.is_exported(&name, placed);
        let unit = UnitDraft {
            kind: UnitKind::Function,
            container: join_path(&self.path, "."),
            first: placed.outer,
            outer: placed.outer,
            signature_start: placed.outer.start_byte(),
            body,
            doc: doc_above(placed.outer, self.source, &[]),
            params: parameters(function, self.source),
            return_type: return_type(function, self.source),
            is_async: has_token(function, "async"),
            is_static: true,
            is_public,
            name,
        }
        .finish(self.source);
        self.units.push(unit);
    }

    fn class_body(&mut self, body: Node<'_>, class_exported: bool) {
        // TypeScript puts a member's decorators before it, as siblings.
        let mut first_decorator: Option<Node<'_>> = None;
        for member in named_children(body) {
            match member.kind() {
                "decorator" => {
                    first_decorator.get_or_insert(member);
                    continue;
                }
                "method_definition" => {
                    if let Some(unit) = self.method(member, first_decorator, class_exported) {
                        self.units.push(unit);
                    }
                }
                _ => {}
            }
            first_decorator = None;
        }
    }

    fn method(
        &self,
        method: Node<'_>,
        first_decorator: Option<Node<'_>>,
        class_exported: bool,
    ) -> Option<Unit> {
        let body = method.child_by_field_name("body")?;
        let name_node = method.child_by_field_name("name")?;
        let name = text(name_node, self.source).to_owned();
        let hidden = named_children(method).iter().any(|child| {
            child.kind() == "accessibility_modifier"
                && matches!(text(*child, self.source), "private" | "protected")
        }) || name_node.kind() == "private_property_identifier";
        let signature_start = children(method)
            .into_iter()
            .find(|child| child.kind() != "decorator" && child.kind() != "comment")
            .map_or(method.start_byte(), |child| child.start_byte());
        Some(
            UnitDraft {
                kind: if name == "constructor" {
                    UnitKind::Constructor
                } else {
                    UnitKind::Method
                },
                container: join_path(&self.path, "."),
                first: first_decorator.unwrap_or(method),
                outer: method,
                signature_start,
                body,
                doc: doc_above(first_decorator.unwrap_or(method), self.source, &[]),
                params: parameters(method, self.source),
                return_type: return_type(method, self.source),
                is_async: has_token(method, "async"),
                is_static: has_token(method, "static"),
                is_public: class_exported && !hidden,
                name,
            }
            .finish(self.source),
        )
    }
}

fn is_function_value(kind: &str) -> bool {
    matches!(
        kind,
        "arrow_function" | "function_expression" | "generator_function"
    )
}

fn return_type(function: Node<'_>, source: &str) -> Option<String> {
    field_text(function, "return_type", source).map(strip_annotation_colon)
}

/// `: number` → `number`.
fn strip_annotation_colon(annotation: &str) -> String {
    annotation.trim().trim_start_matches(':').trim().to_owned()
}

fn parameters(function: Node<'_>, source: &str) -> Vec<Param> {
    // `x => x`: a single parameter without parentheses.
    if let Some(single) = function.child_by_field_name("parameter") {
        return vec![param(text(single, source), None)];
    }
    let Some(list) = function.child_by_field_name("parameters") else {
        return Vec::new();
    };
    let mut params = Vec::new();
    for parameter in named_children(list) {
        let (pattern, type_name) = match parameter.kind() {
            "required_parameter" | "optional_parameter" => (
                parameter.child_by_field_name("pattern"),
                field_text(parameter, "type", source).map(strip_annotation_colon),
            ),
            "comment" | "decorator" => continue,
            _ => (Some(parameter), None),
        };
        let Some(pattern) = pattern else {
            continue;
        };
        let name = match pattern.kind() {
            // TypeScript's `this: Type` declares the receiver, not an argument.
            "this" => continue,
            "assignment_pattern" => field_text(pattern, "left", source).unwrap_or_default(),
            _ => text(pattern, source),
        };
        params.push(param(name, type_name));
    }
    params
}

/// Names exported by `export { a, b as c }`, `export default name`, `module.exports = { a, b }`,
/// `module.exports = a` and `exports.x = a`.
fn exported_names(root: Node<'_>, source: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    for statement in named_children(root) {
        match statement.kind() {
            "export_statement" => {
                if let Some(value) = statement.child_by_field_name("value")
                    && value.kind() == "identifier"
                {
                    names.insert(text(value, source).to_owned());
                }
                for clause in named_children(statement) {
                    if clause.kind() == "export_clause" {
                        for specifier in named_children(clause) {
                            if let Some(name) = field_text(specifier, "name", source) {
                                names.insert(name.to_owned());
                            }
                        }
                    }
                }
            }
            "expression_statement" => {
                for assignment in named_children(statement) {
                    if assignment.kind() != "assignment_expression" {
                        continue;
                    }
                    let (Some(left), Some(right)) = (
                        field_text(assignment, "left", source),
                        assignment.child_by_field_name("right"),
                    ) else {
                        continue;
                    };
                    if left.starts_with("module.exports") || left.starts_with("exports.") {
                        collect_exported_values(right, source, &mut names);
                    }
                }
            }
            _ => {}
        }
    }
    names
}

fn collect_exported_values(value: Node<'_>, source: &str, names: &mut HashSet<String>) {
    match value.kind() {
        "identifier" => {
            names.insert(text(value, source).to_owned());
        }
        "object" => {
            for entry in named_children(value) {
                match entry.kind() {
                    "shorthand_property_identifier" => {
                        names.insert(text(entry, source).to_owned());
                    }
                    "pair" => {
                        if let Some(inner) = entry.child_by_field_name("value") {
                            collect_exported_values(inner, source, names);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::{Syntax, parse_units};

    fn params(unit: &crate::Unit) -> Vec<(&str, Option<&str>)> {
        unit.params
            .iter()
            .map(|p| (p.name.as_str(), p.type_name.as_deref()))
            .collect()
    }

    #[test]
    fn typescript_params_types_and_docs() {
        let source = r#"
export namespace Geo {
  /** Scales a vector. */
  export const scale = async <T,>(v: Vec<T>, by: number = 2, ...rest: T[]): Promise<Vec<T>> => v;
}
export class Repo {
  constructor(private readonly db: Db, name?: string) {}
  // Loads by id.
  @cached()
  static async load(this: Repo, id: string): Promise<Row | null> { return null; }
  private hidden(): void {}
}
"#;
        let units = parse_units(Syntax::TypeScript, source).unwrap_or_default();
        assert_eq!(units.len(), 4, "{units:#?}");
        let scale = &units[0];
        assert_eq!(scale.container.as_deref(), Some("Geo"));
        assert_eq!(
            scale.signature,
            "export const scale = async <T,>(v: Vec<T>, by: number = 2, ...rest: T[]): Promise<Vec<T>>"
        );
        assert_eq!(scale.doc.as_deref(), Some("Scales a vector."));
        assert_eq!(
            params(scale),
            [
                ("v", Some("Vec<T>")),
                ("by", Some("number")),
                ("...rest", Some("T[]"))
            ]
        );
        assert_eq!(scale.return_type.as_deref(), Some("Promise<Vec<T>>"));
        assert!(scale.is_async && scale.is_public);

        let constructor = &units[1];
        assert_eq!(
            params(constructor),
            [("db", Some("Db")), ("name", Some("string"))]
        );
        let load = &units[2];
        assert_eq!(load.doc.as_deref(), Some("Loads by id."));
        assert_eq!(
            load.signature,
            "static async load(this: Repo, id: string): Promise<Row | null>"
        );
        assert_eq!(params(load), [("id", Some("string"))]);
        assert_eq!((load.start_line, load.end_line), (9, 10));
        assert!(load.is_static && load.is_async && load.is_public);
        assert!(!units[3].is_public);
    }

    #[test]
    fn javascript_params_and_module_exports() {
        let source = "function add(a, b = 1, { c }, ...rest) { return a }\nconst twice = x => x * 2;\nmodule.exports = { add };\n";
        let units = parse_units(Syntax::JavaScript, source).unwrap_or_default();
        assert_eq!(units.len(), 2, "{units:#?}");
        assert_eq!(
            params(&units[0]),
            [("a", None), ("b", None), ("{ c }", None), ("...rest", None)]
        );
        assert!(units[0].is_public && !units[1].is_public);
        assert_eq!(units[1].signature, "const twice = x");
        assert_eq!(units[1].return_type, None);
    }
}
