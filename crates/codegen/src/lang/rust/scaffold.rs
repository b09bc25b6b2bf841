//! `#[test]` functions for a test file included as a child module of the source
//! (`#[cfg(test)] #[path = "x_test.rs"] mod tests;`), so `use super::*;` reaches private items.
//! Async units are driven by a few lines of polling with a no-op waker: no runtime needed.

use crate::scaffold::{
    Expected, Plan, Twist, lines_to_file, sample_number, sample_text, snake, split_top_level,
    strip_generics,
};

pub(super) fn render(plan: &Plan<'_>) -> String {
    let skip = plan.skip_reason();
    let mut lines: Vec<String> = plan.access.import_lines(&[]);
    if plan.samples() {
        lines.extend(module_imports(plan));
    }
    lines.push(String::new());
    lines.push("#[test]".to_owned());
    if let Some(reason) = &skip {
        lines.push(format!("#[ignore = \"{reason}\"]"));
    }
    if matches!(plan.twist, Twist::Expect(Expected::Raises(_))) && plan.calls() {
        lines.push("#[should_panic]".to_owned());
    }
    let name: Vec<String> = plan.name_parts().iter().map(|part| snake(part)).collect();
    // `test_`: a test named like the function it calls would shadow it (`use super::*;`).
    lines.push(format!("fn test_{}() {{", name.join("_")));
    for line in body(plan) {
        if line.is_empty() {
            lines.push(line);
        } else {
            lines.push(format!("    {line}"));
        }
    }
    lines.push("}".to_owned());
    lines_to_file(&lines)
}

/// Glob imports of the modules around the unit (`use super::geometry::*;`), which bring their
/// traits into scope: a trait's method is called on a type only where the trait is in scope.
fn module_imports(plan: &Plan<'_>) -> Vec<String> {
    let Some(container) = plan.unit.container.as_deref() else {
        return Vec::new();
    };
    let modules: Vec<&str> = container
        .split("::")
        .take_while(|segment| segment.starts_with(|c: char| c.is_ascii_lowercase()))
        .collect();
    let mut lines = Vec::new();
    for depth in 1..=modules.len() {
        let path = modules[..depth].join("::");
        // ASCII only: `is_identifier` takes any alphanumeric, and `¼` is one that Rust refuses.
        if path.split("::").all(|segment| {
            segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        }) {
            lines.push("#[allow(unused_imports)]".to_owned());
            lines.push(format!("use super::{path}::*;"));
        }
    }
    lines
}

/// `'a`-lifetimes and `Self` out of a type, so it can be written in a test.
fn clean_type(type_name: &str, container: Option<&str>) -> String {
    let mut out = String::new();
    let mut chars = type_name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            while chars
                .peek()
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                chars.next();
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&',') {
                chars.next();
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            continue;
        }
        out.push(c);
    }
    let out = out.replace("<>", "").replace(", >", ">").replace(",>", ">");
    let out = crate::text::collapse_whitespace(&out);
    match container {
        Some(container) => replace_word(&out, "Self", container),
        None => out,
    }
}

fn replace_word(text: &str, word: &str, replacement: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(position) = rest.find(word) {
        let before_ok = rest[..position]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after = &rest[position + word.len()..];
        let after_ok = after
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        out.push_str(&rest[..position]);
        out.push_str(if before_ok && after_ok {
            replacement
        } else {
            word
        });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The declaration of a placeholder and the expression passing it.
fn placeholder(name: &str, type_name: Option<&str>, container: Option<&str>) -> (String, String) {
    let Some(type_name) = type_name else {
        return (
            format!("let {name} = Default::default(); // TODO: a value of the parameter's type"),
            name.to_owned(),
        );
    };
    let cleaned = clean_type(type_name, container);
    if let Some(inner) = cleaned.strip_prefix("&mut ") {
        let (line, _) = owned_placeholder(name, inner.trim(), true);
        return (line, format!("&mut {name}"));
    }
    if let Some(inner) = cleaned.strip_prefix('&') {
        let inner = inner.trim();
        if inner == "str" {
            return (format!("let {name} = \"\";"), name.to_owned());
        }
        if inner.starts_with('[') {
            return (format!("let {name}: &{inner} = &[];"), name.to_owned());
        }
        if inner.starts_with("dyn ") {
            return (
                format!("let {name}: &{inner} = todo!(\"a value for {name}\");"),
                name.to_owned(),
            );
        }
        let (line, _) = owned_placeholder(name, inner, false);
        return (line, format!("&{name}"));
    }
    owned_placeholder(name, &cleaned, false)
}

fn owned_placeholder(name: &str, type_name: &str, mutable: bool) -> (String, String) {
    let binding = if mutable {
        format!("mut {name}")
    } else {
        name.to_owned()
    };
    let base = type_name.split('<').next().unwrap_or(type_name).trim();
    let base = base.rsplit("::").next().unwrap_or(base);
    let value = match base {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => "0",
        "f32" | "f64" => "0.0",
        "bool" => "false",
        "char" => "'a'",
        "String" => "String::new()",
        "Vec" => "Vec::new()",
        "Option" => "None",
        _ if type_name.starts_with("impl ") || type_name.starts_with("dyn ") => {
            return (
                format!("let {binding} = todo!(\"a value that is {type_name}\");"),
                name.to_owned(),
            );
        }
        _ => {
            return (
                format!(
                    "let {binding}: {type_name} = Default::default(); // TODO: a real {type_name}"
                ),
                name.to_owned(),
            );
        }
    };
    (
        format!("let {binding}: {type_name} = {value};"),
        name.to_owned(),
    )
}

/// The type parameters of the struct, enum or trait `name` declared in `source` (lifetimes and
/// const parameters left out): `struct Stack<T>` → [`T`].
fn type_params(source: &str, name: &str) -> Vec<String> {
    for keyword in ["struct", "enum", "trait", "union"] {
        let needle = format!("{keyword} {name}<");
        let Some(start) = source.find(&needle) else {
            continue;
        };
        let rest = &source[start + needle.len()..];
        let mut depth = 1usize;
        let mut end = rest.len();
        for (index, c) in rest.char_indices() {
            match c {
                '<' => depth += 1,
                '>' => {
                    depth -= 1;
                    if depth == 0 {
                        end = index;
                        break;
                    }
                }
                _ => {}
            }
        }
        return split_top_level(&rest[..end])
            .iter()
            .map(|part| part.split([':', '=']).next().unwrap_or_default().trim())
            .filter(|part| {
                !part.is_empty() && !part.starts_with('\'') && !part.starts_with("const ")
            })
            .map(str::to_owned)
            .collect();
    }
    Vec::new()
}

/// Whether the struct or enum `name` in `source` derives `Debug`.
fn derives_debug(source: &str, name: &str) -> bool {
    ["struct", "enum"].iter().any(|keyword| {
        [" ", "<", "(", ";"].iter().any(|after| {
            source
                .find(&format!("{keyword} {name}{after}"))
                .is_some_and(|position| {
                    let before = &source[..position];
                    let item_start = before.rfind(['}', ';']).map_or(0, |end| end + 1);
                    let attributes = &before[item_start..];
                    attributes.contains("derive(") && attributes.contains("Debug")
                })
        })
    })
}

/// The concrete type a test gives a generic parameter.
const GENERIC_ARGUMENT: &str = "i32";

/// The simulated answer's view of the unit's container: its path with the generic parameters
/// given a concrete type (`Stack<i32>`), and those parameters.
struct Instance {
    /// `Stack<i32>`, for a declaration.
    type_name: String,
    /// `Stack::<i32>`, for a path to an associated function.
    path: String,
    params: Vec<String>,
}

fn instance(plan: &Plan<'_>, container: &str) -> Instance {
    let name = container.rsplit("::").next().unwrap_or(container);
    let params = if plan.samples() {
        type_params(plan.target.source, name)
    } else {
        Vec::new()
    };
    if params.is_empty() {
        return Instance {
            type_name: container.to_owned(),
            path: container.to_owned(),
            params,
        };
    }
    let arguments = vec![GENERIC_ARGUMENT; params.len()].join(", ");
    Instance {
        type_name: format!("{container}<{arguments}>"),
        path: format!("{container}::<{arguments}>"),
        params,
    }
}

/// `type_name` with the container's generic parameters replaced by the concrete type.
fn instantiate(type_name: &str, params: &[String]) -> String {
    params.iter().fold(type_name.to_owned(), |text, param| {
        replace_word(&text, param, GENERIC_ARGUMENT)
    })
}

/// An instance built the way its type's own code builds one: a public associated function of
/// the container returning `Self` whose arguments all have sample values (`Circle::new(2.5)`).
fn constructed_subject(plan: &Plan<'_>, instance: &Instance) -> Option<String> {
    let units = crate::parse_units(plan.target.source_syntax(), plan.target.source).ok()?;
    let container = plan.unit.container.as_deref()?;
    let name = container.rsplit("::").next().unwrap_or(container);
    let mut candidates: Vec<(String, Vec<String>)> = units
        .iter()
        .filter(|unit| {
            unit.container.as_deref() == Some(container)
                && unit.is_static
                && unit.is_public
                && !unit.is_async
                && unit
                    .return_type
                    .as_deref()
                    .map(str::trim)
                    .is_some_and(|returned| returned == "Self" || strip_generics(returned) == name)
        })
        .filter_map(|unit| {
            let args: Option<Vec<String>> = unit
                .params
                .iter()
                .enumerate()
                .map(|(index, param)| {
                    let type_name = param.type_name.as_deref()?;
                    sample(Some(&instantiate(type_name, &instance.params)), index)
                })
                .collect();
            Some((unit.name.clone(), args?))
        })
        .collect();
    // `new` first, then the fewest arguments.
    candidates.sort_by_key(|(name, args)| (name != "new", args.len()));
    let (function, args) = candidates.into_iter().next()?;
    Some(format!(
        "let mut subject = {}::{function}({});",
        instance.path,
        args.join(", ")
    ))
}

fn body(plan: &Plan<'_>) -> Vec<String> {
    let mut lines = vec!["// Arrange".to_owned()];
    let container = plan.container_path();
    let instance = container
        .as_deref()
        .map(|container| instance(plan, container));
    let generics: &[String] = instance.as_ref().map_or(&[], |instance| &instance.params);
    if plan.arranges_instance()
        && let Some(instance) = &instance
    {
        let constructed = if plan.samples() {
            constructed_subject(plan, instance)
        } else {
            None
        };
        lines.push(constructed.unwrap_or_else(|| {
            format!(
                "let mut subject: {} = Default::default(); // TODO: construct with real values",
                instance.type_name
            )
        }));
    }
    let mut call_args = Vec::new();
    for (index, arg) in plan.args.iter().enumerate() {
        let type_name = arg
            .type_name
            .as_deref()
            .map(|type_name| instantiate(type_name, generics));
        let (mut line, passed) = placeholder(&arg.name, type_name.as_deref(), container.as_deref());
        if plan.samples()
            && let Some(value) = sample(type_name.as_deref(), index)
        {
            // Only owned and `&str` parameters, which are passed by name.
            if passed == arg.name {
                line = format!("let {} = {value};", arg.name);
            }
        }
        lines.push(line);
        call_args.push(passed);
    }
    if plan.twist == Twist::MissingHelper && plan.calls() {
        // A helper the model assumed: the test does not compile.
        lines.push("let _fixture = make_test_fixture();".to_owned());
    }
    if plan.unit.is_async && plan.calls() {
        lines.extend(block_on());
    }
    lines.push(String::new());
    lines.push("// Act".to_owned());
    if !plan.calls() {
        lines.push(format!("// TODO: call {}", plan.display_name()));
        lines.push(String::new());
        lines.push("// Assert".to_owned());
        lines.push("// TODO: assert on the outcome".to_owned());
        return lines;
    }
    let args = call_args.join(", ");
    let name = &plan.unit.name;
    let callee = match &instance {
        _ if plan.needs_instance() => format!("subject.{name}"),
        Some(instance) => format!("{}::{name}", instance.path),
        None => name.clone(),
    };
    let mut call = format!("{callee}({args})");
    if plan.unit.is_async {
        call = format!("block_on({call})");
    }
    if plan.unit.signature.contains("unsafe ") {
        call = format!("unsafe {{ {call} }}");
    }
    if let Twist::Expect(Expected::Raises(_)) = &plan.twist {
        lines.push(format!("let _result = {call};"));
        lines.push(String::new());
        lines.push("// Assert: the call panics (`#[should_panic]`).".to_owned());
        return lines;
    }
    let assertion = if plan.returns_nothing() {
        lines.push(format!("{call};"));
        "// The call returned without panicking.".to_owned()
    } else {
        lines.push(format!("let result = {call};"));
        let return_type = plan.unit.return_type.as_deref();
        let textual = matches!(head_type(return_type).as_str(), "str" | "String");
        match &plan.twist {
            Twist::Expect(Expected::Value(value)) if is_literal(value) => {
                format!("assert_eq!(result, {value});")
            }
            // An equality shows the value in the failure, for the next answer to read.
            Twist::WrongValue | Twist::Sample | Twist::Flaky if textual => {
                "assert_eq!(result, \"\");".to_owned()
            }
            // An equality shows the value in the failure, for the next answer to read.
            Twist::WrongValue | Twist::Sample | Twist::Flaky
                if option_guess(return_type, generics).is_some() =>
            {
                format!(
                    "assert_eq!(result, {});",
                    option_guess(return_type, generics).unwrap_or_default()
                )
            }
            _ if plan.samples() && !shows_debug(plan, return_type) => {
                // No `Debug` to show it by: the call returning is what is checked.
                "let _ = &result; // The call returned without panicking.".to_owned()
            }
            _ => result_assertion(return_type),
        }
    };
    lines.push(String::new());
    lines.push("// Assert".to_owned());
    lines.push(assertion);
    if plan.twist == Twist::Flaky {
        // A HashMap's order is seeded per process: the first key differs between runs.
        lines.push(
            "let keys: Vec<&str> = std::collections::HashMap::from([(\"a\", 1), (\"b\", 2), (\"c\", 3)]).into_keys().collect();"
                .to_owned(),
        );
        lines.push("assert_eq!(keys[0], \"a\");".to_owned());
    }
    lines
}

/// A guess at an `Option` of a number (`Some(0)`), which an equality can compare and print.
fn option_guess(return_type: Option<&str>, generics: &[String]) -> Option<String> {
    let text = instantiate(
        &crate::text::collapse_whitespace(return_type.unwrap_or_default()),
        generics,
    );
    let inner = text.strip_prefix("Option<")?.strip_suffix('>')?.trim();
    match inner {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => Some("Some(0)".to_owned()),
        "f32" | "f64" => Some("Some(0.0)".to_owned()),
        _ => None,
    }
}

/// Whether a result of `return_type` can be printed with `{:?}`: the types `result_assertion`
/// checks otherwise, and the source's own types that derive `Debug`.
fn shows_debug(plan: &Plan<'_>, return_type: Option<&str>) -> bool {
    let head = head_type(return_type);
    let head = if head == "Self" {
        plan.container_path()
            .map(|path| path.rsplit("::").next().unwrap_or(&path).to_owned())
            .unwrap_or(head)
    } else {
        head
    };
    let known = [
        "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
        "f32", "f64", "bool", "str", "String", "Vec", "Option", "Result",
    ];
    known.contains(&head.as_str()) || derives_debug(plan.target.source, &head)
}

/// A sample value for a parameter of `type_name` (owned basic types and `&str`).
fn sample(type_name: Option<&str>, index: usize) -> Option<String> {
    Some(match type_name?.trim() {
        "&str" | "& str" => format!("\"{}\"", sample_text(index)),
        "String" => format!("String::from(\"{}\")", sample_text(index)),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => sample_number(index).to_owned(),
        "f32" | "f64" => "2.5".to_owned(),
        "bool" => "true".to_owned(),
        _ => return None,
    })
}

/// Whether `value`, as `{:?}` printed it, is also Rust source comparable with the result:
/// numbers, strings, booleans, and options of them.
fn is_literal(value: &str) -> bool {
    let inner = value
        .strip_prefix("Some(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(value);
    inner.parse::<f64>().is_ok()
        || matches!(inner, "true" | "false" | "None")
        || (inner.len() >= 2 && inner.starts_with('"') && inner.ends_with('"'))
}

/// The return type's name without references and generics: `&'a str` → `str`.
fn head_type(return_type: Option<&str>) -> String {
    let text = crate::text::collapse_whitespace(return_type.unwrap_or_default());
    let base = text
        .trim_start_matches('&')
        .trim_start_matches("'a ")
        .trim_start_matches("mut ")
        .trim();
    let head = base.split('<').next().unwrap_or(base).trim();
    head.rsplit("::").next().unwrap_or(head).to_owned()
}

fn block_on() -> Vec<String> {
    [
        "// Polls the future to completion with a no-op waker: no async runtime needed.",
        "fn block_on<F: std::future::Future>(future: F) -> F::Output {",
        "    let mut future = std::pin::pin!(future);",
        "    let mut context = std::task::Context::from_waker(std::task::Waker::noop());",
        "    loop {",
        "        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {",
        "            return output;",
        "        }",
        "        std::thread::yield_now();",
        "    }",
        "}",
    ]
    .iter()
    .map(|line| (*line).to_owned())
    .collect()
}

fn result_assertion(return_type: Option<&str>) -> String {
    let text = crate::text::collapse_whitespace(return_type.unwrap_or_default());
    let base = text
        .trim_start_matches('&')
        .trim_start_matches("mut ")
        .trim();
    let head = base.split('<').next().unwrap_or(base).trim();
    let head = head.rsplit("::").next().unwrap_or(head);
    match head {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => "assert_eq!(result, 0); // TODO: the expected value".to_owned(),
        "f32" | "f64" => "assert_eq!(result, 0.0); // TODO: the expected value".to_owned(),
        "bool" => "assert!(!result); // TODO: the expected value".to_owned(),
        "str" | "String" | "Vec" => {
            "assert!(result.is_empty()); // TODO: the expected value".to_owned()
        }
        "Option" => "assert!(result.is_some());".to_owned(),
        "Result" => "assert!(result.is_ok());".to_owned(),
        _ => {
            "assert!(!format!(\"{result:?}\").is_empty()); // TODO: compare with the expected value"
                .to_owned()
        }
    }
}
