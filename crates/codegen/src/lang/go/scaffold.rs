//! `testing`, with or without testify. The test is in the source's package; every placeholder is
//! the zero value of its type (`var x T`), which needs no knowledge of the type.

use domain::Framework;

use crate::scaffold::{
    Expected, Plan, Twist, lines_to_file, sample_number, sample_text, split_top_level, upper_camel,
};

pub(super) fn render(plan: &Plan<'_>) -> String {
    let testify = plan.target.framework == Framework::Testify;
    let skip = plan.skip_reason();
    let body = body(plan, testify);
    let body_text = body.join("\n");

    let mut specs = vec!["\"testing\"".to_owned()];
    if body_text.contains("context.Background()") {
        specs.push("\"context\"".to_owned());
    }
    if let crate::imports::Access::Go { source_imports, .. } = &plan.access {
        // Only the packages the placeholders name: Go refuses unused imports.
        for spec in source_imports {
            let package = go_import_name(spec);
            if !package.is_empty()
                && package != "_"
                && package != "."
                && body_text.contains(&format!("{package}."))
                && !specs.contains(spec)
            {
                specs.push(spec.clone());
            }
        }
    }
    if testify && body_text.contains("assert.") {
        specs.push(String::new());
        specs.push("\"github.com/stretchr/testify/assert\"".to_owned());
    }

    let mut lines: Vec<String> = Vec::new();
    if let Some(package) = plan.access.package_line() {
        lines.push(package);
        lines.push(String::new());
    }
    lines.push("import (".to_owned());
    for spec in specs {
        if spec.is_empty() {
            lines.push(String::new());
        } else {
            lines.push(format!("\t{spec}"));
        }
    }
    lines.push(")".to_owned());
    lines.push(String::new());
    lines.push(format!("func {}(t *testing.T) {{", test_name(plan)));
    if let Some(reason) = &skip {
        lines.push(format!("\tt.Skip(\"{reason}\")"));
        lines.push(String::new());
    }
    for line in body {
        if line.is_empty() {
            lines.push(line);
        } else {
            lines.push(format!("\t{line}"));
        }
    }
    lines.push("}".to_owned());
    lines_to_file(&lines)
}

/// The name an import spec binds: its alias, or the last segment of its path.
fn go_import_name(spec: &str) -> String {
    let spec = spec.trim();
    if let Some((alias, _)) = spec.split_once(char::is_whitespace) {
        return alias.to_owned();
    }
    let path = spec.trim_matches('"');
    let last = path.rsplit('/').next().unwrap_or(path);
    // `gopkg.in/yaml.v3` is package `yaml`; `github.com/x/go-foo` is usually `foo`.
    let last = last.split('.').next().unwrap_or(last);
    last.rsplit('-').next().unwrap_or(last).to_owned()
}

/// `TestStack_Push`.
fn test_name(plan: &Plan<'_>) -> String {
    let parts: Vec<String> = plan
        .name_parts()
        .iter()
        .map(|part| upper_camel(part))
        .collect();
    format!("Test{}", parts.join("_"))
}

/// The placeholder declaration for a parameter; variadic ones are slices passed with `...`.
fn declaration(name: &str, type_name: Option<&str>) -> (String, bool) {
    match type_name.map(str::trim) {
        Some("context.Context") => (format!("{name} := context.Background()"), false),
        Some(variadic) if variadic.starts_with("...") => (
            format!("var {name} []{}", variadic.trim_start_matches('.')),
            true,
        ),
        Some(type_name) => (format!("var {name} {type_name}"), false),
        None => (
            format!("var {name} any // TODO: a value of the parameter's type"),
            false,
        ),
    }
}

/// The concrete type a simulated test gives a type parameter.
const TYPE_ARGUMENT: &str = "int";

/// The names of the type parameters in `list` (`T any`, `K comparable, V any`, `T, U any`).
fn type_param_names(list: &str) -> Vec<String> {
    split_top_level(list)
        .iter()
        .filter_map(|part| part.split_whitespace().next())
        .filter(|name| crate::imports::is_identifier(name))
        .map(str::to_owned)
        .collect()
}

/// The text between `open` (which ends with `[`) and its matching `]` in `text`.
fn bracketed<'t>(text: &'t str, open: &str) -> Option<&'t str> {
    let start = text.find(open)? + open.len();
    let rest = &text[start..];
    let mut depth = 1usize;
    for (index, c) in rest.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&rest[..index]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The type parameters of the container's type declaration (`type Stack[T any] struct`).
fn container_type_params(plan: &Plan<'_>, container: &str) -> Vec<String> {
    bracketed(plan.target.source, &format!("type {container}["))
        .map(type_param_names)
        .unwrap_or_default()
}

/// The unit's own type parameters (`func Sum[N Number](…)`).
fn own_type_params(plan: &Plan<'_>) -> Vec<String> {
    let signature = &plan.unit.signature;
    let Some(after) = signature.find(&format!("{}[", plan.unit.name)) else {
        return Vec::new();
    };
    // Only when the brackets come before the parameter list.
    let rest = &signature[after..];
    if rest
        .find('(')
        .is_some_and(|paren| paren < plan.unit.name.len() + 1)
    {
        return Vec::new();
    }
    bracketed(rest, &format!("{}[", plan.unit.name))
        .map(type_param_names)
        .unwrap_or_default()
}

/// `type_name` with each of `params` replaced by the concrete type argument.
fn instantiate(type_name: &str, params: &[String]) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if params.contains(word) {
            out.push_str(TYPE_ARGUMENT);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in type_name.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `[int, int]` for `count` type parameters.
fn type_arguments(count: usize) -> String {
    format!("[{}]", vec![TYPE_ARGUMENT; count].join(", "))
}

fn body(plan: &Plan<'_>, testify: bool) -> Vec<String> {
    let mut lines = vec!["// Arrange".to_owned()];
    let container = plan.container_path();
    let (container_params, own_params) = if plan.samples() {
        (
            container
                .as_deref()
                .map(|container| container_type_params(plan, container))
                .unwrap_or_default(),
            own_type_params(plan),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let generics: Vec<String> = container_params
        .iter()
        .chain(&own_params)
        .cloned()
        .collect();
    let declares_subject = (plan.needs_instance() || plan.is_constructor()) && plan.calls();
    if declares_subject && let Some(container) = &container {
        let arguments = if container_params.is_empty() {
            String::new()
        } else {
            type_arguments(container_params.len())
        };
        lines.push(format!(
            "var subject {container}{arguments} // TODO: construct with real field values"
        ));
    }
    let mut call_args = Vec::new();
    for (index, arg) in plan.args.iter().enumerate() {
        let type_name = arg
            .type_name
            .as_deref()
            .map(|type_name| instantiate(type_name, &generics));
        let (mut line, spread) = declaration(&arg.name, type_name.as_deref());
        if plan.samples()
            && let Some(type_name) = type_name.as_deref().map(str::trim)
            && let Some(value) = sample(type_name, index)
        {
            line = format!("var {} {type_name} = {value}", arg.name);
        }
        lines.push(line);
        call_args.push(if spread {
            format!("{}...", arg.name)
        } else {
            arg.name.clone()
        });
    }
    if plan.twist == Twist::MissingHelper && plan.calls() {
        // A helper the model assumed: the package does not build.
        lines.push("_ = newTestFixture()".to_owned());
    }
    lines.push(String::new());
    lines.push("// Act".to_owned());
    if !plan.calls() || plan.is_constructor() {
        lines.push(format!("// TODO: call {}", plan.display_name()));
        for arg in &plan.args {
            lines.push(format!("_ = {}", arg.name));
        }
        lines.push(String::new());
        lines.push("// Assert".to_owned());
        if declares_subject {
            lines.push("_ = subject".to_owned());
        }
        lines.push("// TODO: assert on the outcome".to_owned());
        return lines;
    }
    let args = call_args.join(", ");
    let name = &plan.unit.name;
    let callee = if plan.needs_instance() {
        format!("subject.{name}")
    } else if own_params.is_empty() {
        name.clone()
    } else {
        format!("{name}{}", type_arguments(own_params.len()))
    };
    let call = format!("{callee}({args})");
    if let Twist::Expect(Expected::Raises(_)) = &plan.twist {
        lines.push("defer func() {".to_owned());
        lines.push("\tif recover() == nil {".to_owned());
        lines.push("\t\tt.Errorf(\"expected a panic\")".to_owned());
        lines.push("\t}".to_owned());
        lines.push("}()".to_owned());
        lines.push(call);
        return lines;
    }
    let return_type = plan
        .unit
        .return_type
        .as_deref()
        .map(|type_name| instantiate(type_name, &generics));
    let results = result_types(return_type.as_deref());
    if results.is_empty() {
        if testify {
            lines.push(format!("assert.NotPanics(t, func() {{ {call} }})"));
            lines.push(String::new());
            lines.push("// Assert".to_owned());
            lines.push("// The call returned without panicking.".to_owned());
        } else {
            lines.push(call);
            lines.push(String::new());
            lines.push("// Assert".to_owned());
            lines.push("// The call returned without panicking.".to_owned());
        }
        return lines;
    }
    let names: Vec<String> = results
        .iter()
        .enumerate()
        .map(|(index, type_name)| {
            if type_name == "error" {
                "err".to_owned()
            } else if index == 0 {
                "result".to_owned()
            } else {
                format!("result{}", index + 1)
            }
        })
        .collect();
    lines.push(format!("{} := {call}", names.join(", ")));
    lines.push(String::new());
    lines.push("// Assert".to_owned());
    for (name, type_name) in names.iter().zip(&results) {
        let expected = match &plan.twist {
            Twist::Expect(Expected::Value(value)) if name == "result" => literal(type_name, value),
            _ => None,
        };
        match expected {
            Some(value) if testify => lines.push(format!("assert.Equal(t, {value}, {name})")),
            Some(value) => {
                lines.push(format!("if {name} != {value} {{"));
                lines.push(format!(
                    "\tt.Errorf(\"got %#v, want %#v\", {name}, {value})"
                ));
                lines.push("}".to_owned());
            }
            None => lines.extend(assertion(name, type_name, testify)),
        }
    }
    if plan.twist == Twist::Flaky {
        // Go randomises map iteration: the first key differs between runs.
        lines.push("for key := range map[string]int{\"a\": 1, \"b\": 2, \"c\": 3} {".to_owned());
        lines.push("\tif key != \"a\" {".to_owned());
        lines.push("\t\tt.Errorf(\"first key %q, want \\\"a\\\"\", key)".to_owned());
        lines.push("\t}".to_owned());
        lines.push("\tbreak".to_owned());
        lines.push("}".to_owned());
    }
    lines
}

/// A sample value for a parameter of the basic type `type_name`, the `index`th of the call.
fn sample(type_name: &str, index: usize) -> Option<String> {
    Some(match type_name {
        "string" => format!("\"{}\"", sample_text(index)),
        "int" | "int8" | "int16" | "int32" | "int64" | "uint" | "uint8" | "uint16" | "uint32"
        | "uint64" => sample_number(index).to_owned(),
        "float32" | "float64" => "2.5".to_owned(),
        "bool" => "true".to_owned(),
        _ => return None,
    })
}

/// `value`, as a test printed it (`%#v`, `%q`, `%v`), as a Go literal comparable with a result of
/// `type_name`; `None` for values with no literal (structs, pointers).
fn literal(type_name: &str, value: &str) -> Option<String> {
    let value = value.trim();
    match type_name {
        "string" if value.starts_with('"') || value.starts_with('`') => Some(value.to_owned()),
        "string" => Some(format!("{value:?}")),
        "bool" if matches!(value, "true" | "false") => Some(value.to_owned()),
        _ if value.parse::<f64>().is_ok() => Some(value.to_owned()),
        _ => None,
    }
}

/// `(int, error)` → [`int`, `error`]; `(n int, err error)` → [`int`, `error`].
fn result_types(return_type: Option<&str>) -> Vec<String> {
    let Some(return_type) = return_type.map(str::trim).filter(|text| !text.is_empty()) else {
        return Vec::new();
    };
    let inner = return_type
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(return_type);
    split_top_level(inner)
        .into_iter()
        .map(|part| match part.split_once(char::is_whitespace) {
            // A named result: the type follows the name.
            Some((first, rest))
                if first.chars().all(|c| c.is_alphanumeric() || c == '_')
                    && !first.is_empty()
                    && !matches!(first, "map" | "chan" | "func" | "struct" | "interface") =>
            {
                rest.trim().to_owned()
            }
            _ => part,
        })
        .collect()
}

fn assertion(name: &str, type_name: &str, testify: bool) -> Vec<String> {
    let numeric = matches!(
        type_name,
        "int"
            | "int8"
            | "int16"
            | "int32"
            | "int64"
            | "uint"
            | "uint8"
            | "uint16"
            | "uint32"
            | "uint64"
            | "uintptr"
            | "byte"
            | "rune"
            | "float32"
            | "float64"
    );
    let nilable = type_name.starts_with('*')
        || type_name.starts_with("[]")
        || type_name.starts_with("map[")
        || type_name.starts_with("chan ")
        || type_name.starts_with("func")
        || type_name == "any"
        || type_name.starts_with("interface");
    if testify {
        let line = match type_name {
            "error" => format!("assert.NoError(t, {name})"),
            "bool" => format!("assert.False(t, {name}) // TODO: the expected value"),
            "string" => format!("assert.Empty(t, {name}) // TODO: the expected value"),
            _ if numeric => format!("assert.Zero(t, {name}) // TODO: the expected value"),
            _ => format!("assert.NotNil(t, {name})"),
        };
        return vec![line];
    }
    let (condition, message) = match type_name {
        "error" => (format!("{name} != nil"), "unexpected error: %v"),
        "bool" => (name.to_owned(), "got %v, want false"),
        "string" => (format!("{name} != \"\""), "got %q, want empty"),
        _ if numeric => (format!("{name} != 0"), "got %v, want 0"),
        // vet refuses a func value printed with %v.
        _ if type_name.starts_with("func") => {
            return vec![
                format!("if {name} == nil {{"),
                "\tt.Errorf(\"got nil, want a function\")".to_owned(),
                "}".to_owned(),
            ];
        }
        _ if nilable => (format!("{name} == nil"), "got %v, want non-nil"),
        _ => {
            return vec![format!(
                "t.Logf(\"{name}: %+v\", {name}) // TODO: compare with the expected value"
            )];
        }
    };
    vec![
        format!("if {condition} {{"),
        format!("\tt.Errorf(\"{message}\", {name})"),
        "}".to_owned(),
    ]
}
