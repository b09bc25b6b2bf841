//! C++: free functions, member functions defined in their class, and out-of-class definitions
//! (`int Foo::bar(int x) {…}`, `Foo::Foo()`), inside namespaces and templates. Destructors are
//! skipped (nothing to test on their own), and so are declarations without a body.
//!
//! The container of an out-of-class definition is the enclosing namespaces plus its qualifier
//! (`ns::Foo::bar` → `ns::Foo`); its visibility and `static` come from its declaration in the class
//! when the file has it. A qualified definition whose qualifier is a namespace of the file is a
//! function.

use std::collections::{HashMap, HashSet};

use tree_sitter::Node;

use crate::parse::common::{UnitDraft, doc_above, join_path, param, type_without_name};
use crate::text::collapse_whitespace;
use crate::tree::{field_text, named_children, text};
use crate::{Param, Unit, UnitKind};

pub(super) fn units(root: Node<'_>, source: &str) -> Vec<Unit> {
    let mut walker = Walker {
        source,
        namespaces: Vec::new(),
        known_namespaces: HashSet::new(),
        members: HashMap::new(),
        units: Vec::new(),
        out_of_class: Vec::new(),
    };
    walker.declarations(root);
    // Out-of-class definitions take access and `static` from the declaration in the class.
    for (index, key) in std::mem::take(&mut walker.out_of_class) {
        if let (Some(unit), Some(member)) = (walker.units.get_mut(index), walker.members.get(&key))
        {
            unit.is_public = member.is_public;
            unit.is_static = member.is_static;
        }
    }
    walker.units
}

/// What the class body says about a member function.
#[derive(Clone, Copy)]
struct Member {
    is_public: bool,
    is_static: bool,
}

/// The class whose body is being walked.
struct Class {
    /// Full container: namespaces and enclosing classes.
    path: Vec<String>,
    name: String,
}

struct Walker<'s> {
    source: &'s str,
    namespaces: Vec<String>,
    known_namespaces: HashSet<String>,
    /// `Container::name` → what its in-class declaration says.
    members: HashMap<String, Member>,
    units: Vec<Unit>,
    /// Units defined outside their class, with their `members` key.
    out_of_class: Vec<(usize, String)>,
}

impl Walker<'_> {
    fn declarations(&mut self, list: Node<'_>) {
        for node in named_children(list) {
            self.declaration(node, node, None);
        }
    }

    /// `first` is the outermost node (a `template_declaration` around `node`).
    fn declaration(&mut self, node: Node<'_>, first: Node<'_>, class: Option<&Class>) {
        match node.kind() {
            "namespace_definition" => {
                let name = field_text(node, "name", self.source).map(collapse_whitespace);
                let Some(body) = node.child_by_field_name("body") else {
                    return;
                };
                if let Some(name) = &name {
                    self.known_namespaces
                        .extend(name.split("::").map(str::to_owned));
                    self.namespaces.push(name.clone());
                }
                self.declarations(body);
                if name.is_some() {
                    self.namespaces.pop();
                }
            }
            "linkage_specification" => {
                if let Some(body) = node.child_by_field_name("body") {
                    if body.kind() == "declaration_list" {
                        self.declarations(body);
                    } else {
                        self.declaration(body, body, None);
                    }
                }
            }
            "template_declaration" => {
                for inner in named_children(node) {
                    self.declaration(inner, first, class);
                }
            }
            "function_definition" => self.function(node, first, class),
            "class_specifier" | "struct_specifier" => self.class(node, class),
            "declaration" | "type_definition" | "field_declaration" => {
                if let Some(specifier) = node.child_by_field_name("type")
                    && matches!(specifier.kind(), "class_specifier" | "struct_specifier")
                {
                    self.class(specifier, class);
                }
            }
            _ => {}
        }
    }

    fn class(&mut self, specifier: Node<'_>, outer: Option<&Class>) {
        let (Some(name), Some(body)) = (
            field_text(specifier, "name", self.source),
            specifier.child_by_field_name("body"),
        ) else {
            return;
        };
        let mut path = match outer {
            Some(outer) => outer.path.clone(),
            None => self.namespaces.clone(),
        };
        path.push(strip_template_arguments(name));
        let class = Class {
            path,
            name: strip_template_arguments(name),
        };
        let mut is_public = specifier.kind() == "struct_specifier";
        for member in named_children(body) {
            match member.kind() {
                "access_specifier" => {
                    is_public = text(member, self.source).trim_start().starts_with("public");
                }
                "function_definition" => {
                    self.member_function(member, member, &class, is_public);
                }
                "template_declaration" => {
                    for inner in named_children(member) {
                        if inner.kind() == "function_definition" {
                            self.member_function(inner, member, &class, is_public);
                        } else {
                            self.declaration(inner, member, Some(&class));
                        }
                    }
                }
                "field_declaration" | "declaration" => {
                    self.remember_prototype(member, &class, is_public);
                    self.declaration(member, member, Some(&class));
                }
                _ => self.declaration(member, member, Some(&class)),
            }
        }
    }

    /// A member function declared in the class and defined elsewhere.
    fn remember_prototype(&mut self, declaration: Node<'_>, class: &Class, is_public: bool) {
        let Some(declarator) = declaration.child_by_field_name("declarator") else {
            return;
        };
        let Some((function_declarator, _)) = function_declarator(declarator) else {
            return;
        };
        let Some(name) = function_declarator.child_by_field_name("declarator") else {
            return;
        };
        let key = format!("{}::{}", class.path.join("::"), name_of(name, self.source));
        let is_static = has_storage(declaration, "static", self.source);
        self.members.insert(
            key,
            Member {
                is_public,
                is_static,
            },
        );
    }

    fn member_function(
        &mut self,
        definition: Node<'_>,
        first: Node<'_>,
        class: &Class,
        is_public: bool,
    ) {
        let is_static = has_storage(definition, "static", self.source);
        if let Some(mut draft) = self.draft(definition, first) {
            draft.kind = if draft.name == class.name {
                UnitKind::Constructor
            } else {
                UnitKind::Method
            };
            if draft.kind == UnitKind::Constructor {
                draft.return_type = None;
            }
            draft.container = join_path(&class.path, "::");
            draft.is_public = is_public;
            draft.is_static = is_static;
            self.units.push(draft.finish(self.source));
        }
    }

    /// A free function, or a qualified definition outside its class.
    fn function(&mut self, definition: Node<'_>, first: Node<'_>, class: Option<&Class>) {
        if let Some(class) = class {
            self.member_function(definition, first, class, false);
            return;
        }
        let Some(mut draft) = self.draft(definition, first) else {
            return;
        };
        let Some(name_node) = function_declarator(
            definition
                .child_by_field_name("declarator")
                .unwrap_or(definition),
        )
        .and_then(|(declarator, _)| declarator.child_by_field_name("declarator")) else {
            return;
        };
        let scopes = scopes_of(name_node, self.source);
        let mut path = self.namespaces.clone();
        path.extend(scopes.iter().cloned());
        draft.container = join_path(&path, "::");
        let last_scope = scopes.last();
        let in_namespace = last_scope.is_none_or(|scope| self.known_namespaces.contains(scope));
        if in_namespace {
            self.units.push(draft.finish(self.source));
            return;
        }
        draft.kind = if last_scope == Some(&draft.name) {
            draft.return_type = None;
            UnitKind::Constructor
        } else {
            UnitKind::Method
        };
        draft.is_static = false;
        let key = format!("{}::{}", path.join("::"), draft.name);
        self.out_of_class.push((self.units.len(), key));
        self.units.push(draft.finish(self.source));
    }

    /// A free-function draft of `definition`; `None` without a body or for a destructor.
    fn draft<'t>(&self, definition: Node<'t>, first: Node<'t>) -> Option<UnitDraft<'t>> {
        let body = definition.child_by_field_name("body")?;
        let declarator = definition.child_by_field_name("declarator")?;
        let (function_declarator, indirection) = function_declarator(declarator)?;
        let name_node = function_declarator.child_by_field_name("declarator")?;
        let name = name_of(name_node, self.source);
        if name.starts_with('~') {
            return None;
        }
        let return_type = field_text(definition, "type", self.source)
            .map(|written| format!("{}{indirection}", collapse_whitespace(written)));
        Some(UnitDraft {
            kind: UnitKind::Function,
            name,
            container: None,
            first,
            outer: definition,
            signature_start: first.start_byte(),
            body,
            doc: doc_above(first, self.source, &[]),
            params: function_declarator
                .child_by_field_name("parameters")
                .map(|list| parameters(list, self.source))
                .unwrap_or_default(),
            return_type,
            is_async: false,
            is_static: true,
            is_public: true,
        })
    }
}

/// The `function_declarator` inside pointer and reference declarators, with the `*`/`&` they add
/// to the return type.
fn function_declarator(declarator: Node<'_>) -> Option<(Node<'_>, String)> {
    let mut current = declarator;
    let mut indirection = String::new();
    loop {
        match current.kind() {
            "function_declarator" => return Some((current, indirection)),
            "pointer_declarator" => indirection.push('*'),
            "reference_declarator" => indirection.push('&'),
            "parenthesized_declarator" | "attributed_declarator" => {}
            _ => return None,
        }
        current = current
            .child_by_field_name("declarator")
            .or_else(|| named_children(current).into_iter().next())?;
    }
}

/// The unqualified name: `ns::Foo::bar` → `bar`, `operator +` → `operator+`.
fn name_of(name: Node<'_>, source: &str) -> String {
    let mut current = name;
    while current.kind() == "qualified_identifier" {
        match current.child_by_field_name("name") {
            Some(inner) => current = inner,
            None => break,
        }
    }
    let written = collapse_whitespace(text(current, source));
    match written.strip_prefix("operator ") {
        Some(rest) if !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_') => {
            format!("operator{rest}")
        }
        _ if written.starts_with("operator") => written,
        _ => strip_template_arguments(&written),
    }
}

/// The qualifiers of a qualified name, without template arguments: `ns::Foo<T>::bar` →
/// `["ns", "Foo"]`.
fn scopes_of(name: Node<'_>, source: &str) -> Vec<String> {
    let mut scopes = Vec::new();
    let mut current = name;
    while current.kind() == "qualified_identifier" {
        if let Some(scope) = current.child_by_field_name("scope") {
            scopes.push(strip_template_arguments(text(scope, source)));
        }
        match current.child_by_field_name("name") {
            Some(inner) => current = inner,
            None => break,
        }
    }
    scopes
}

fn strip_template_arguments(name: &str) -> String {
    name.split('<').next().unwrap_or(name).trim().to_owned()
}

fn has_storage(declaration: Node<'_>, keyword: &str, source: &str) -> bool {
    named_children(declaration)
        .iter()
        .any(|child| child.kind() == "storage_class_specifier" && text(*child, source) == keyword)
}

fn parameters(list: Node<'_>, source: &str) -> Vec<Param> {
    let mut params = Vec::new();
    for parameter in named_children(list) {
        match parameter.kind() {
            "parameter_declaration"
            | "optional_parameter_declaration"
            | "variadic_parameter_declaration" => {}
            "variadic_parameter" => {
                params.push(param("...", None));
                continue;
            }
            _ => continue,
        }
        let name = parameter
            .child_by_field_name("declarator")
            .and_then(innermost_identifier);
        let type_name = type_without_name(
            parameter,
            name,
            parameter.child_by_field_name("default_value"),
            source,
        );
        // `f(void)` takes nothing.
        if name.is_none() && type_name.as_deref() == Some("void") {
            continue;
        }
        let name = name.map_or("_", |name| text(name, source));
        params.push(param(name, type_name));
    }
    params
}

fn innermost_identifier(declarator: Node<'_>) -> Option<Node<'_>> {
    let mut current = declarator;
    loop {
        if current.kind() == "identifier" {
            return Some(current);
        }
        current = current
            .child_by_field_name("declarator")
            .or_else(|| named_children(current).into_iter().next())?;
    }
}

#[cfg(test)]
mod tests {
    use crate::{Syntax, UnitKind, parse_units};

    #[test]
    fn members_prototypes_and_params() {
        let source = r#"
namespace ns {
class Foo {
public:
    Foo(int x) : x_(x) {}
    ~Foo() {}
    static int* make(const std::string& name, int n = 3);
    Foo& operator+=(const Foo& other) { return *this; }
private:
    int helper(int[] values, ...) { return 0; }
    int x_;
};
}

/// Makes a pointer.
int* ns::Foo::make(const std::string& name, int n) { return nullptr; }
"#;
        let units = parse_units(Syntax::Cpp, source).unwrap_or_default();
        let names: Vec<String> = units.iter().map(|u| u.qualified_name("::")).collect();
        assert_eq!(
            names,
            [
                "ns::Foo::Foo",
                "ns::Foo::operator+=",
                "ns::Foo::helper",
                "ns::Foo::make"
            ]
        );
        assert_eq!(units[0].kind, UnitKind::Constructor);
        assert_eq!(units[0].signature, "Foo(int x) : x_(x)");
        assert!(!units[2].is_public);
        assert_eq!(units[1].return_type.as_deref(), Some("Foo&"));
        let make = &units[3];
        assert!(make.is_static && make.is_public);
        assert_eq!(make.return_type.as_deref(), Some("int*"));
        assert_eq!(make.doc.as_deref(), Some("Makes a pointer."));
        let params: Vec<(&str, Option<&str>)> = make
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.type_name.as_deref()))
            .collect();
        assert_eq!(
            params,
            [("name", Some("const std::string&")), ("n", Some("int"))]
        );
    }
}
