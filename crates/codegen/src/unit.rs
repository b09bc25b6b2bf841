use serde::{Deserialize, Serialize};

/// The unit kinds are the domain's: events and task results name them too.
pub use domain::UnitKind;

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
