use serde::{Deserialize, Serialize};

/// What kind of callable a unit is. Types (classes, structs, records, traits) are not units of
/// their own: they appear as the `container` of the units inside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A free function (including Python module functions, Go functions, exported arrow functions).
    Function,
    /// A function that belongs to a type: a method, a Go method with a receiver, a C++ member
    /// defined in or out of its class, a Rust function in an `impl` or `trait` block.
    Method,
    /// A constructor: Python `__init__`, Java/C# constructors, C++ `Foo::Foo`, JS/TS
    /// `constructor`, a C# positional record's parameter list.
    Constructor,
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Function => "function",
            UnitKind::Method => "method",
            UnitKind::Constructor => "constructor",
        }
    }
}

/// One parameter of a unit, as written. `type_name` is `None` where the language or the source
/// gives no type (untyped Python, JavaScript).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub type_name: Option<String>,
}

/// A testable unit of a source file: a function, method or constructor with a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub kind: UnitKind,
    pub name: String,
    /// The enclosing types and namespaces, outermost first, joined with `.` (Python, Java, C#,
    /// JavaScript, TypeScript) or `::` (C++, Rust). For a Go method, its receiver's type; for a
    /// Rust method, the type of its `impl` block (or the trait, for a trait's default method).
    pub container: Option<String>,
    /// The declaration up to its body, whitespace collapsed to single spaces.
    pub signature: String,
    /// The doc comment or docstring, without comment markers.
    pub doc: Option<String>,
    /// Parameters, without `self`/`this` receivers.
    pub params: Vec<Param>,
    pub return_type: Option<String>,
    pub is_async: bool,
    /// Callable without an instance: static methods, free functions, Python `@staticmethod` and
    /// `@classmethod`, Rust associated functions without `self`.
    pub is_static: bool,
    /// Reachable from a test in another file: exported (JS/TS), `pub` (Rust), capitalised (Go),
    /// `public`/`internal` (Java, C#), not `_`-prefixed (Python), public members (C++).
    pub is_public: bool,
    /// First and last line of the whole declaration (decorators and attributes included), 1-based.
    pub start_line: u32,
    pub end_line: u32,
}

impl Unit {
    /// `Container.name` (or `Container::name`), or just the name of a free function.
    pub fn qualified_name(&self, separator: &str) -> String {
        match &self.container {
            Some(container) => format!("{container}{separator}{}", self.name),
            None => self.name.clone(),
        }
    }

    /// What `parsing_completed` events say about the unit.
    pub fn summary(&self) -> domain::UnitSummary {
        domain::UnitSummary {
            name: self.name.clone(),
            kind: self.kind.as_str().to_owned(),
            container: self.container.clone(),
            line: self.start_line,
        }
    }
}
