//! GoogleTest. Placeholders are value-initialised (`T x{};`), pointers are `nullptr`; references
//! become values passed by name, rvalue references are moved.

use crate::scaffold::{
    Expected, Plan, Twist, lines_to_file, sample_number, sample_text, upper_camel,
};

pub(super) fn render(plan: &Plan<'_>) -> String {
    let skip = plan.skip_reason();
    let body = body(plan);
    let mut lines = vec!["#include <gtest/gtest.h>".to_owned()];
    if body.iter().any(|line| line.contains("std::move(")) {
        lines.push(String::new());
        lines.push("#include <utility>".to_owned());
    }
    if body.iter().any(|line| line.contains("std::random_device")) {
        lines.push(String::new());
        lines.push("#include <random>".to_owned());
    }
    lines.push(String::new());
    lines.extend(plan.access.import_lines(&[]));
    lines.push(String::new());
    let (suite, name) = test_names(plan);
    lines.push(format!("TEST({suite}, {name}) {{"));
    if let Some(reason) = &skip {
        lines.push(format!("    GTEST_SKIP() << \"{reason}\";"));
        lines.push(String::new());
    }
    for line in body {
        if line.is_empty() {
            lines.push(line);
        } else {
            lines.push(format!("    {line}"));
        }
    }
    lines.push("}".to_owned());
    lines_to_file(&lines)
}

/// (`CalculatorTest`, `AddLine12`): the suite is the class (or the file, for free functions).
fn test_names(plan: &Plan<'_>) -> (String, String) {
    let parts = plan.name_parts();
    let suite_base = if parts.len() > 1 {
        upper_camel(&parts[parts.len() - 2])
    } else {
        let base = plan.target.file_name.base_name();
        let stem = base.split('.').next().unwrap_or(base);
        upper_camel(&crate::scaffold::identifier(stem))
    };
    let suite_base =
        if suite_base.is_empty() || suite_base.starts_with(|c: char| c.is_ascii_digit()) {
            format!("Source{suite_base}")
        } else {
            suite_base
        };
    let last = parts.last().cloned().unwrap_or_default();
    let mut name = upper_camel(&last);
    if let Some(line) = plan.overload_line() {
        name.push_str(&format!("Line{line}"));
    }
    (format!("{suite_base}Test"), name)
}

/// The declaration of a placeholder and the expression passing it.
fn placeholder(name: &str, type_name: Option<&str>) -> (String, String) {
    let Some(type_name) = type_name.map(str::trim).filter(|text| !text.is_empty()) else {
        return (
            format!("int {name}{{}}; // TODO: a value of the parameter's type"),
            name.to_owned(),
        );
    };
    let collapsed = crate::text::collapse_whitespace(type_name);
    if collapsed.ends_with('*') {
        let value = if collapsed.replace(' ', "") == "constchar*" {
            "\"\""
        } else {
            "nullptr"
        };
        return (format!("{collapsed} {name} = {value};"), name.to_owned());
    }
    let (without_reference, moved) = if let Some(rest) = collapsed.strip_suffix("&&") {
        (rest.trim().to_owned(), true)
    } else {
        (collapsed.trim_end_matches('&').trim().to_owned(), false)
    };
    let value_type: Vec<&str> = without_reference
        .split_whitespace()
        .filter(|word| !matches!(*word, "const" | "volatile" | "mutable"))
        .collect();
    let mut value_type = value_type.join(" ");
    if value_type.is_empty() || value_type == "auto" {
        value_type = "int".to_owned();
    }
    let passed = if moved {
        format!("std::move({name})")
    } else {
        name.to_owned()
    };
    (format!("{value_type} {name}{{}};"), passed)
}

/// The concrete type a simulated test gives a template's type parameter.
const TYPE_ARGUMENT: &str = "int";

/// The type parameters of the class template `name` in `source` (`template <typename T> class
/// Matrix` → [`T`]); empty for a plain class, or a template with non-type parameters.
fn template_params(source: &str, name: &str) -> Vec<String> {
    for keyword in ["class", "struct"] {
        let needle = format!("{keyword} {name}");
        for (position, _) in source.match_indices(&needle) {
            let after = source[position + needle.len()..].chars().next();
            if after.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let before = source[..position].trim_end();
            let Some(list) = before.strip_suffix('>') else {
                continue;
            };
            let Some(open) = list.rfind("template") else {
                continue;
            };
            let inner = list[open + "template".len()..]
                .trim()
                .trim_start_matches('<');
            let parts = crate::scaffold::split_top_level(inner);
            let names: Option<Vec<String>> = parts
                .iter()
                .map(|part| {
                    let words: Vec<&str> = part.split('=').next()?.split_whitespace().collect();
                    match words.as_slice() {
                        ["typename" | "class", name] => Some((*name).to_owned()),
                        _ => None,
                    }
                })
                .collect();
            return names.unwrap_or_default();
        }
    }
    Vec::new()
}

/// `type_name` with the template's parameters given the concrete type, and the class named
/// alone (`Matrix`, as the class's own code may write it) given its arguments.
fn instantiate(type_name: &str, params: &[String], class: &str, arguments: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let mut chars = type_name.chars().peekable();
    loop {
        let next = chars.next();
        if let Some(c) = next
            && (c.is_alphanumeric() || c == '_')
        {
            word.push(c);
            continue;
        }
        if params.contains(&word) {
            out.push_str(TYPE_ARGUMENT);
        } else if word == class
            && !class.is_empty()
            && chars.peek() != Some(&'<')
            && next != Some('<')
        {
            out.push_str(&word);
            out.push_str(arguments);
        } else {
            out.push_str(&word);
        }
        word.clear();
        match next {
            Some(c) => out.push(c),
            None => break,
        }
    }
    out
}

fn body(plan: &Plan<'_>) -> Vec<String> {
    let mut lines = vec!["// Arrange".to_owned()];
    let class = plan
        .container_path()
        .map(|path| path.rsplit("::").next().unwrap_or(&path).to_owned())
        .unwrap_or_default();
    let template = if plan.samples() && !class.is_empty() {
        template_params(plan.target.source, &class)
    } else {
        Vec::new()
    };
    let arguments = if template.is_empty() {
        String::new()
    } else {
        format!("<{}>", vec![TYPE_ARGUMENT; template.len()].join(", "))
    };
    let container = plan
        .container_path()
        .map(|path| format!("{path}{arguments}"));
    let instantiated: Vec<Option<String>> = plan
        .args
        .iter()
        .map(|arg| {
            arg.type_name
                .as_deref()
                .map(|type_name| instantiate(type_name, &template, &class, &arguments))
        })
        .collect();
    if plan.arranges_instance()
        && let Some(container) = &container
    {
        match plan.constructor_args(|type_name, index| {
            sample(Some(type_name), index).map(|(_, value)| value)
        }) {
            Some(args) => lines.push(format!("{container} subject{{{}}};", args.join(", "))),
            None => lines.push(format!(
                "{container} subject{{}}; // TODO: construct with real arguments"
            )),
        }
    }
    let mut call_args = Vec::new();
    for (index, arg) in plan.args.iter().enumerate() {
        let type_name = instantiated[index].as_deref();
        let (mut line, passed) = placeholder(&arg.name, type_name);
        if plan.samples()
            && let Some((value_type, value)) = sample(type_name, index)
        {
            line = format!("{value_type} {} = {value};", arg.name);
        } else if let Some(type_name) = type_name
            && let class = base_type(Some(type_name))
            && let Some(args) = plan.constructor_args_of(&class, |type_name, index| {
                sample(Some(type_name), index).map(|(_, value)| value)
            })
        {
            // A class of the source's own: built with its constructor.
            line = format!("{class} {}{{{}}};", arg.name, args.join(", "));
        }
        lines.push(line);
        call_args.push(passed);
    }
    if plan.twist == Twist::MissingHelper && plan.calls() {
        // A helper the model assumed: the test does not compile.
        lines.push("auto fixture = make_test_fixture();".to_owned());
    }
    lines.push(String::new());
    lines.push("// Act".to_owned());
    if !plan.calls() {
        lines.push(format!("// TODO: call {}", plan.display_name()));
        lines.push(String::new());
        lines.push("// Assert".to_owned());
        lines.push("SUCCEED() << \"TODO: assert on the outcome\";".to_owned());
        return lines;
    }
    let args = call_args.join(", ");
    let name = &plan.unit.name;
    let assertion = if plan.is_constructor() {
        let class = container.unwrap_or_default();
        lines.push(format!("{class} subject{{{args}}};"));
        vec!["(void)subject;".to_owned(), "SUCCEED();".to_owned()]
    } else {
        let callee = match &container {
            _ if plan.needs_instance() => format!("subject.{name}"),
            Some(container) => format!("{container}::{name}"),
            None => name.clone(),
        };
        let operator_call = if plan.needs_instance() {
            member_operator_call(name, &call_args)
        } else {
            None
        };
        let call = operator_call.unwrap_or_else(|| format!("{callee}({args})"));
        if let Twist::Expect(Expected::Raises(_)) = &plan.twist {
            // GoogleTest names no type for an exception it caught.
            lines.push(String::new());
            lines.push("// Assert".to_owned());
            lines.push(format!("EXPECT_ANY_THROW({call});"));
            return lines;
        }
        if plan.returns_nothing() {
            lines.push(format!("{call};"));
            vec!["SUCCEED(); // The call returned without throwing.".to_owned()]
        } else {
            lines.push(format!("auto result = {call};"));
            let return_type = plan.unit.return_type.as_deref();
            let base = base_type(return_type);
            let assertion = match &plan.twist {
                Twist::Expect(Expected::Value(value)) => expected_assertion(&base, value),
                // An equality shows the value in the failure, for the next answer to read.
                Twist::WrongValue | Twist::Sample | Twist::Flaky if is_string(&base) => {
                    Some("EXPECT_EQ(result, \"\");".to_owned())
                }
                _ => None,
            };
            vec![assertion.unwrap_or_else(|| result_assertion(return_type))]
        }
    };
    lines.push(String::new());
    lines.push("// Assert".to_owned());
    lines.extend(assertion);
    if plan.twist == Twist::Flaky {
        // Differs between runs: passes about half of them.
        lines.push("EXPECT_EQ(std::random_device{}() % 2, 0u);".to_owned());
    }
    lines
}

/// A sample (declared type, value) for a parameter of `type_name`, the `index`th of the call.
fn sample(type_name: Option<&str>, index: usize) -> Option<(String, String)> {
    let base = base_type(type_name);
    Some(match base.as_str() {
        "int" | "long" | "short" | "unsigned" | "unsigned int" | "long long" | "size_t"
        | "std::size_t" | "int32_t" | "int64_t" | "std::int32_t" | "std::int64_t" => {
            (base.clone(), sample_number(index).to_owned())
        }
        "double" | "float" => (base.clone(), "2.5".to_owned()),
        "bool" => (base.clone(), "true".to_owned()),
        _ if is_string(&base) => (
            "std::string".to_owned(),
            format!("\"{}\"", sample_text(index)),
        ),
        _ => return None,
    })
}

fn is_string(base: &str) -> bool {
    matches!(base, "std::string" | "string" | "std::string_view")
}

/// `value`, as GoogleTest printed it (`5`, `"hello-world"`, `2.5`), compared with the result of
/// type `base`; `None` where there is no literal for it.
fn expected_assertion(base: &str, value: &str) -> Option<String> {
    let number = value.parse::<f64>().is_ok();
    match base {
        "double" | "float" if number => Some(format!("EXPECT_DOUBLE_EQ(result, {value});")),
        "bool" if matches!(value, "true" | "false") => Some(format!("EXPECT_EQ(result, {value});")),
        _ if is_string(base) && value.starts_with('"') => {
            Some(format!("EXPECT_EQ(result, {value});"))
        }
        _ if number && !is_string(base) && !base.ends_with('*') => {
            Some(format!("EXPECT_EQ(result, {value});"))
        }
        _ => None,
    }
}

/// The type without qualifiers and references: `const std::string&` → `std::string`.
fn base_type(type_name: Option<&str>) -> String {
    let collapsed = crate::text::collapse_whitespace(type_name.unwrap_or_default());
    let words: Vec<&str> = collapsed
        .trim_end_matches('&')
        .split_whitespace()
        .filter(|word| {
            !matches!(
                *word,
                "const" | "static" | "inline" | "virtual" | "constexpr" | "volatile"
            )
        })
        .collect();
    words.join(" ")
}

fn result_assertion(return_type: Option<&str>) -> String {
    let collapsed = crate::text::collapse_whitespace(return_type.unwrap_or_default());
    let base: Vec<&str> = collapsed
        .trim_end_matches('&')
        .split_whitespace()
        .filter(|word| {
            !matches!(
                *word,
                "const" | "static" | "inline" | "virtual" | "constexpr"
            )
        })
        .collect();
    let base = base.join(" ");
    if base.ends_with('*') {
        return "EXPECT_NE(result, nullptr);".to_owned();
    }
    match base.as_str() {
        "bool" => "EXPECT_FALSE(result); // TODO: the expected value".to_owned(),
        "int" | "long" | "short" | "unsigned" | "unsigned int" | "long long" | "size_t"
        | "std::size_t" | "int32_t" | "int64_t" | "uint32_t" | "uint64_t" | "std::int32_t"
        | "std::int64_t" | "std::uint32_t" | "std::uint64_t" | "char" => {
            "EXPECT_EQ(result, 0); // TODO: the expected value".to_owned()
        }
        "double" | "float" => {
            "EXPECT_DOUBLE_EQ(result, 0.0); // TODO: the expected value".to_owned()
        }
        "std::string" | "string" => {
            "EXPECT_TRUE(result.empty()); // TODO: the expected value".to_owned()
        }
        _ => "(void)result;\n    SUCCEED() << \"TODO: compare result with the expected value\";"
            .to_owned(),
    }
}

/// A member operator used as an operator (`subject == other`, `subject[i]`): the grammar does
/// not read `subject.operator==(other)`.
fn member_operator_call(name: &str, args: &[String]) -> Option<String> {
    let symbol = name.strip_prefix("operator")?.trim();
    if symbol.is_empty() {
        return None;
    }
    let call = match (symbol, args) {
        ("()", _) => format!("subject({})", args.join(", ")),
        ("[]", [index]) => format!("subject[{index}]"),
        (_, [other]) if symbol.chars().all(|c| "+-*/%^&|~!=<>,".contains(c)) => {
            format!("(subject {symbol} {other})")
        }
        (_, []) if symbol.chars().all(|c| "+-*&~!".contains(c)) => format!("({symbol}subject)"),
        ("++" | "--", []) => format!("({symbol}subject)"),
        // A conversion operator: `operator bool` → `static_cast<bool>(subject)`.
        (_, []) if symbol.chars().next().is_some_and(char::is_alphabetic) => {
            format!("static_cast<{symbol}>(subject)")
        }
        _ => return None,
    };
    Some(call)
}
