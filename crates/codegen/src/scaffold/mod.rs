//! Test code for one unit, built from the parse alone. Two flavours:
//! - [`Flavor::Scaffold`], the offline provider's answer: arrange/act/assert with typed placeholder
//!   arguments, each test skipped with a reason so it never pretends to check behaviour;
//! - [`Flavor::Simulated`], the model simulator's answer: the same shape, not skipped, with plausible
//!   assertions — what a model would send back, for tests and demos of the pipeline.
//!
//! A unit the test file cannot reach (not exported from a JavaScript module, not public in Java, C#
//! or C++) gets a skipped test in both flavours, saying why.
//!
//! Every file is checked with [`crate::syntax_issues`] before it is returned: if the types copied
//! from the signature do not parse in a declaration, the test is rebuilt with untyped placeholders,
//! and failing that, without the call.

mod cpp;
mod csharp;
mod go;
mod java;
mod js;
mod python;
mod rust;

use domain::Language;

use crate::imports::{self, Access};
use crate::{Target, Unit, UnitKind, syntax_issues};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Scaffold,
    Simulated,
}

/// A complete test file for `unit` alone (package line, imports, the test), in `target.framework`.
/// [`crate::assemble`] merges several of them into one file.
pub fn unit_tests(target: &Target<'_>, unit: &Unit, flavor: Flavor) -> String {
    let syntax = target.test_syntax();
    let access = imports::access(target);
    for detail in [Detail::Typed, Detail::Untyped, Detail::NoCall] {
        let plan = Plan::new(target, unit, flavor, detail, access.clone());
        let code = render(&plan);
        if syntax_issues(syntax, &code).is_empty() {
            return code;
        }
    }
    render(&Plan::new(target, unit, flavor, Detail::NoCall, access))
}

fn render(plan: &Plan<'_>) -> String {
    match plan.target.language {
        Language::Python => python::render(plan),
        Language::Java => java::render(plan),
        Language::Go => go::render(plan),
        Language::Cpp => cpp::render(plan),
        Language::Csharp => csharp::render(plan),
        Language::Rust => rust::render(plan),
        Language::Javascript | Language::Typescript => js::render(plan),
    }
}

/// How much of the signature goes into the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// Placeholders declared with the parameter types.
    Typed,
    /// Placeholders without types, for signatures whose types do not parse in a declaration.
    Untyped,
    /// Only the arrange section and a comment where the call would be.
    NoCall,
}

/// One argument of the call under test.
#[derive(Debug, Clone)]
struct Arg {
    /// A valid, unique local name.
    name: String,
    /// The parameter's type as written, when the detail level uses it.
    type_name: Option<String>,
}

/// Everything the per-language renderers need.
struct Plan<'a> {
    target: &'a Target<'a>,
    unit: &'a Unit,
    flavor: Flavor,
    detail: Detail,
    access: Access,
    args: Vec<Arg>,
}

/// The local names a test declares itself; parameters named like them are renamed.
const RESERVED_LOCALS: &[&str] = &["subject", "result", "err", "t", "assert", "expect", "test"];

impl<'a> Plan<'a> {
    fn new(
        target: &'a Target<'a>,
        unit: &'a Unit,
        flavor: Flavor,
        detail: Detail,
        access: Access,
    ) -> Plan<'a> {
        let mut args: Vec<Arg> = Vec::new();
        for (index, param) in unit.params.iter().enumerate() {
            let mut name = identifier(&param.name);
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                name = format!("arg{}", index + 1);
            }
            if RESERVED_LOCALS.contains(&name.as_str())
                || keywords(target.language).contains(&name.as_str())
            {
                name.push_str("_arg");
            }
            while args.iter().any(|arg| arg.name == name) {
                name.push('_');
            }
            let type_name = match detail {
                Detail::Typed => param.type_name.clone(),
                Detail::Untyped | Detail::NoCall => None,
            };
            args.push(Arg { name, type_name });
        }
        Plan {
            target,
            unit,
            flavor,
            detail,
            access,
            args,
        }
    }

    fn language(&self) -> Language {
        self.target.language
    }

    fn reachable(&self) -> bool {
        imports::is_reachable(self.language(), self.unit)
    }

    /// Why the test is skipped, if it is. Safe inside any string literal: no quotes, backslashes
    /// or newlines.
    fn skip_reason(&self) -> Option<String> {
        let what = self.display_name();
        let reason = if !self.reachable() {
            let visibility = match self.language() {
                Language::Javascript | Language::Typescript => "exported from its module",
                _ => "public",
            };
            format!(
                "{what} is not {visibility}, so a test file cannot call it; test it through the public API"
            )
        } else {
            match self.flavor {
                Flavor::Scaffold => format!(
                    "scaffold for {what}: replace the placeholder arguments and expected values, then remove this skip"
                ),
                Flavor::Simulated => return None,
            }
        };
        Some(string_safe(&reason))
    }

    /// `Container.name` in the language's notation, safe in a line comment.
    fn display_name(&self) -> String {
        comment_safe(&self.unit.qualified_name(self.separator()))
    }

    fn separator(&self) -> &'static str {
        match self.language() {
            Language::Cpp | Language::Rust => "::",
            _ => ".",
        }
    }

    /// Whether the act section calls the unit: the unit is reachable and its name and container
    /// can be written as code.
    fn calls(&self) -> bool {
        self.detail != Detail::NoCall
            && self.reachable()
            && is_callable_name(&self.unit.name)
            && self.container_path().is_none_or(|path| {
                path.split(['.', ':'])
                    .filter(|segment| !segment.is_empty())
                    .all(imports::is_identifier)
            })
    }

    /// Whether the arrange section builds an instance to call the method on.
    fn arranges_instance(&self) -> bool {
        self.needs_instance() && self.calls()
    }

    fn is_constructor(&self) -> bool {
        self.unit.kind == UnitKind::Constructor
    }

    /// A method called on an instance arranged first.
    fn needs_instance(&self) -> bool {
        self.unit.kind == UnitKind::Method && !self.unit.is_static && self.unit.container.is_some()
    }

    /// The container's path in code, generics dropped (`Stack<T>` → `Stack`, `*Stack` → `Stack`).
    fn container_path(&self) -> Option<String> {
        let container = self.unit.container.as_deref()?;
        let without_generics = strip_generics(container);
        Some(
            without_generics
                .trim_start_matches(['*', '&'])
                .trim()
                .to_owned(),
        )
    }

    /// Name parts for the test's name: the container's segments and the unit's name, as
    /// identifiers. Constructors are named `init`/`constructor` by their kind, not `__init__`.
    fn name_parts(&self) -> Vec<String> {
        let mut parts: Vec<String> = self
            .container_path()
            .map(|path| {
                path.split(['.', ':'])
                    .filter(|part| !part.is_empty())
                    .map(identifier)
                    .filter(|part| !part.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let name = if self.is_constructor() {
            "constructor".to_owned()
        } else {
            identifier(&self.unit.name)
        };
        parts.push(if name.is_empty() {
            "unit".to_owned()
        } else {
            name
        });
        parts
            .into_iter()
            .map(|part| leading_letter(&part))
            .collect()
    }

    /// `_line12`-style suffix for languages with overloading, so overloads get distinct names.
    fn overload_line(&self) -> Option<u32> {
        matches!(
            self.language(),
            Language::Java | Language::Csharp | Language::Cpp
        )
        .then_some(self.unit.start_line)
    }

    fn returns_nothing(&self) -> bool {
        match self.unit.return_type.as_deref().map(str::trim) {
            None => !matches!(
                self.language(),
                Language::Python | Language::Javascript | Language::Typescript
            ),
            Some(return_type) => matches!(
                return_type,
                "void" | "None" | "()" | "Task" | "ValueTask" | "Promise<void>" | "" | "!"
            ),
        }
    }
}

/// Words a local variable cannot be named in `language`.
fn keywords(language: Language) -> &'static [&'static str] {
    match language {
        Language::Python => &[
            "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
            "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
            "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
            "return", "try", "while", "with", "yield",
        ],
        Language::Java => &[
            "abstract",
            "assert",
            "boolean",
            "break",
            "byte",
            "case",
            "catch",
            "char",
            "class",
            "const",
            "continue",
            "default",
            "do",
            "double",
            "else",
            "enum",
            "extends",
            "final",
            "finally",
            "float",
            "for",
            "goto",
            "if",
            "implements",
            "import",
            "instanceof",
            "int",
            "interface",
            "long",
            "native",
            "new",
            "package",
            "private",
            "protected",
            "public",
            "return",
            "short",
            "static",
            "strictfp",
            "super",
            "switch",
            "synchronized",
            "this",
            "throw",
            "throws",
            "transient",
            "try",
            "void",
            "volatile",
            "while",
            "var",
            "true",
            "false",
            "null",
            "record",
            "yield",
        ],
        Language::Go => &[
            "break",
            "case",
            "chan",
            "const",
            "continue",
            "default",
            "defer",
            "else",
            "fallthrough",
            "for",
            "func",
            "go",
            "goto",
            "if",
            "import",
            "interface",
            "map",
            "package",
            "range",
            "return",
            "select",
            "struct",
            "switch",
            "type",
            "var",
        ],
        Language::Cpp => &[
            "alignas",
            "alignof",
            "and",
            "asm",
            "auto",
            "bool",
            "break",
            "case",
            "catch",
            "char",
            "class",
            "const",
            "constexpr",
            "continue",
            "decltype",
            "default",
            "delete",
            "do",
            "double",
            "else",
            "enum",
            "explicit",
            "export",
            "extern",
            "false",
            "float",
            "for",
            "friend",
            "goto",
            "if",
            "inline",
            "int",
            "long",
            "mutable",
            "namespace",
            "new",
            "noexcept",
            "not",
            "nullptr",
            "operator",
            "or",
            "private",
            "protected",
            "public",
            "register",
            "return",
            "short",
            "signed",
            "sizeof",
            "static",
            "struct",
            "switch",
            "template",
            "this",
            "throw",
            "true",
            "try",
            "typedef",
            "typename",
            "union",
            "unsigned",
            "using",
            "virtual",
            "void",
            "volatile",
            "while",
        ],
        Language::Csharp => &[
            "abstract",
            "as",
            "base",
            "bool",
            "break",
            "byte",
            "case",
            "catch",
            "char",
            "checked",
            "class",
            "const",
            "continue",
            "decimal",
            "default",
            "delegate",
            "do",
            "double",
            "else",
            "enum",
            "event",
            "explicit",
            "extern",
            "false",
            "finally",
            "fixed",
            "float",
            "for",
            "foreach",
            "goto",
            "if",
            "implicit",
            "in",
            "int",
            "interface",
            "internal",
            "is",
            "lock",
            "long",
            "namespace",
            "new",
            "null",
            "object",
            "operator",
            "out",
            "override",
            "params",
            "private",
            "protected",
            "public",
            "readonly",
            "ref",
            "return",
            "sbyte",
            "sealed",
            "short",
            "sizeof",
            "stackalloc",
            "static",
            "string",
            "struct",
            "switch",
            "this",
            "throw",
            "true",
            "try",
            "typeof",
            "uint",
            "ulong",
            "unchecked",
            "unsafe",
            "ushort",
            "using",
            "virtual",
            "void",
            "volatile",
            "while",
            "var",
            "await",
        ],
        Language::Rust => &[
            "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
            "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod",
            "move", "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super",
            "trait", "true", "type", "unsafe", "use", "where", "while", "abstract", "become",
            "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual",
            "yield", "try", "gen",
        ],
        Language::Javascript | Language::Typescript => &[
            "await",
            "break",
            "case",
            "catch",
            "class",
            "const",
            "continue",
            "debugger",
            "default",
            "delete",
            "do",
            "else",
            "enum",
            "export",
            "extends",
            "false",
            "finally",
            "for",
            "function",
            "if",
            "import",
            "in",
            "instanceof",
            "new",
            "null",
            "return",
            "super",
            "switch",
            "this",
            "throw",
            "true",
            "try",
            "typeof",
            "var",
            "void",
            "while",
            "with",
            "yield",
            "let",
            "static",
            "implements",
            "interface",
            "package",
            "private",
            "protected",
            "public",
            "arguments",
            "eval",
            "undefined",
            "as",
            "type",
        ],
    }
}

/// Whether `name` can be written as the callee of a call (`operator+` can in C++).
fn is_callable_name(name: &str) -> bool {
    let operator = name.strip_prefix("operator").is_some_and(|symbol| {
        let symbol = symbol.trim();
        !symbol.is_empty()
            && (symbol.chars().all(|c| "+-*/%^&|~!=<>,[]()".contains(c))
                || imports::is_identifier(symbol))
    });
    operator || imports::is_identifier(name)
}

/// `name` as an ASCII identifier: symbols spelled out (`operator==` → `operator_eq_eq`), anything else
/// replaced by `_`, runs of `_` collapsed, leading and trailing `_` dropped.
fn identifier(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let word = match c {
            '+' => Some("plus"),
            '-' => Some("minus"),
            '*' if !out.is_empty() => Some("times"),
            '/' => Some("div"),
            '%' => Some("mod"),
            '=' => Some("eq"),
            '<' => Some("lt"),
            '>' => Some("gt"),
            '!' => Some("not"),
            '[' => Some("index"),
            '(' => Some("call"),
            '&' => Some("and"),
            '|' => Some("or"),
            '^' => Some("xor"),
            '~' => Some("tilde"),
            _ => None,
        };
        match word {
            Some(word) => {
                out.push('_');
                out.push_str(word);
                out.push('_');
            }
            None if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            None => out.push('_'),
        }
    }
    let mut collapsed = String::new();
    for c in out.chars() {
        if c == '_' && collapsed.ends_with('_') {
            continue;
        }
        collapsed.push(c);
    }
    collapsed.trim_matches('_').to_owned()
}

/// A name part that may start a name: `2d` → `n2d` (`fn 2d_area` would not parse).
fn leading_letter(part: &str) -> String {
    if part.starts_with(|c: char| c.is_ascii_digit()) {
        format!("n{part}")
    } else {
        part.to_owned()
    }
}

/// `Stack<T>` → `Stack`, `Map[K, V]` → `Map` (Go generics).
fn strip_generics(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '<' | '[' => depth += 1,
            '>' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// Text safe inside any of the languages' string literals.
fn string_safe(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '"' | '\'' | '\\' | '`' | '$' | '{' | '}') && !c.is_control())
        .collect()
}

/// Text safe in a line comment: one line, and no backslash (which continues a C++ comment).
fn comment_safe(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c == '\\' || c.is_control() { ' ' } else { c })
        .collect();
    crate::text::collapse_whitespace(&cleaned)
}

/// `snake_case` from `CamelCase` and mixed names.
fn snake(text: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            previous_lower = false;
        } else {
            previous_lower = c.is_lowercase() || c.is_ascii_digit();
            out.push(c);
        }
    }
    out
}

/// `UpperCamel` from `snake_case` and mixed names.
fn upper_camel(text: &str) -> String {
    text.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// The top-level comma-separated parts of `text` (commas inside brackets do not split).
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '<' | '(' | '[' | '{' => {
                depth += 1;
                current.push(c);
            }
            '>' | ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            ',' if depth == 0 => {
                parts.push(current.trim().to_owned());
                current.clear();
            }
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    parts
}

/// Lines joined with `\n`, ending with a newline.
fn lines_to_file(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    while text.ends_with("\n\n") {
        text.pop();
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests;
