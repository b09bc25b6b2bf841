//! JUnit 5, with or without Mockito. The test class is named after the test file
//! (`CalculatorTest`) and sits in the source's package; with Mockito, parameters of class types are
//! mocks.

use domain::Framework;

use crate::scaffold::{
    Expected, Plan, Twist, lines_to_file, sample_number, sample_text, strip_generics,
};
use crate::text::collapse_whitespace;

pub(super) fn render(plan: &Plan<'_>) -> String {
    let mockito = plan.target.framework == Framework::Junit5Mockito;
    let skip = plan.skip_reason();
    let mut lines: Vec<String> = Vec::new();
    if let Some(package) = plan.access.package_line() {
        lines.push(package);
        lines.push(String::new());
    }
    if skip.is_some() {
        lines.push("import org.junit.jupiter.api.Disabled;".to_owned());
    }
    lines.push("import org.junit.jupiter.api.Test;".to_owned());
    if mockito {
        lines.push("import org.junit.jupiter.api.extension.ExtendWith;".to_owned());
        lines.push("import org.mockito.junit.jupiter.MockitoExtension;".to_owned());
    }
    lines.push(String::new());
    lines.push("import static org.junit.jupiter.api.Assertions.*;".to_owned());
    if mockito {
        lines.push("import static org.mockito.Mockito.*;".to_owned());
    }
    let body = body(plan, mockito);
    let mut source_imports = plan.access.import_lines(&[]);
    if plan.samples() {
        source_imports.extend(nested_type_imports(plan, &body));
    }
    if !source_imports.is_empty() {
        lines.push(String::new());
        lines.extend(source_imports);
    }
    lines.push(String::new());
    if mockito {
        lines.push("@ExtendWith(MockitoExtension.class)".to_owned());
    }
    lines.push(format!("class {} {{", test_class_name(plan)));
    lines.push(String::new());
    lines.push("    @Test".to_owned());
    if let Some(reason) = &skip {
        lines.push(format!("    @Disabled(\"{reason}\")"));
    }
    lines.push(format!(
        "    void {}() throws Exception {{",
        method_name(plan)
    ));
    for line in body {
        if line.is_empty() {
            lines.push(line);
        } else {
            lines.push(format!("        {line}"));
        }
    }
    lines.push("    }".to_owned());
    lines.push("}".to_owned());
    lines_to_file(&lines)
}

/// Imports of the source's nested types the test names by their simple name
/// (`import com.example.bank.Money.Currency;`): the test class is in the package, not inside
/// the outer type.
fn nested_type_imports(plan: &Plan<'_>, body: &[String]) -> Vec<String> {
    let Some(package) = plan.access.package_line() else {
        return Vec::new();
    };
    let package = package
        .trim()
        .trim_start_matches("package")
        .trim()
        .trim_end_matches(';')
        .trim()
        .to_owned();
    let Ok(units) = crate::parse_units(plan.target.source_syntax(), plan.target.source) else {
        return Vec::new();
    };
    let mut nested: Vec<String> = units
        .iter()
        .filter_map(|unit| unit.container.clone())
        .filter(|container| container.contains('.'))
        .collect();
    nested.sort();
    nested.dedup();
    let text = body.join("\n");
    nested
        .into_iter()
        .filter(|path| {
            let simple = path.rsplit('.').next().unwrap_or(path);
            has_word(&text, simple) && !text.contains(&format!(".{simple}"))
        })
        .map(|path| format!("import {package}.{path};"))
        .collect()
}

/// Whether `word` is in `text` as a whole word.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(position, _)| {
        let before = text[..position].chars().last();
        let after = text[position + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Whether `type_name` (its simple name) is an enum declared in the source.
fn is_source_enum(plan: &Plan<'_>, type_name: &str) -> bool {
    let simple = type_name.rsplit('.').next().unwrap_or(type_name);
    crate::scaffold::identifier(simple) == simple
        && !simple.is_empty()
        && has_word(plan.target.source, &format!("enum {simple}"))
}

/// `CalculatorTest`, from the test file's name.
pub(super) fn test_class_name(plan: &Plan<'_>) -> String {
    let file = plan.target.test_file_name();
    let stem = file.strip_suffix(".java").unwrap_or(&file);
    let name = crate::scaffold::identifier(stem);
    if name.is_empty() {
        "SourceTest".to_owned()
    } else {
        name
    }
}

fn method_name(plan: &Plan<'_>) -> String {
    let mut parts = plan.name_parts();
    if let Some(first) = parts.first_mut() {
        *first = lower_first(first);
    }
    let mut name = parts.join("_");
    if let Some(line) = plan.overload_line() {
        name.push_str(&format!("_line{line}"));
    }
    name
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn body(plan: &Plan<'_>, mockito: bool) -> Vec<String> {
    let mut lines = vec!["// Arrange".to_owned()];
    let container = plan.container_path();
    if plan.arranges_instance()
        && let Some(container) = &container
    {
        if plan.samples() && is_source_enum(plan, container) {
            lines.push(format!("{container} subject = {container}.values()[0];"));
        } else {
            match plan.constructor_args(|type_name, index| {
            let (declared, _, _) = placeholder(Some(type_name), mockito);
            sample(&declared, index)
        }) {
            Some(args) => lines.push(format!(
                "{container} subject = new {container}({});",
                args.join(", ")
            )),
            None => lines.push(format!(
                "{container} subject = new {container}(); // TODO: pass the constructor's arguments"
            )),
            }
        }
    }
    let mut call_args = Vec::new();
    for arg in &plan.args {
        let (declared, mut value, mut todo) = placeholder(arg.type_name.as_deref(), mockito);
        if plan.samples()
            && let Some(sample) = sample(&declared, call_args.len())
        {
            value = sample;
            todo = None;
        } else if plan.samples() && is_source_enum(plan, &declared) {
            value = format!("{declared}.values()[0]");
            todo = None;
        }
        let comment = todo
            .map(|todo| format!(" // TODO: {todo}"))
            .unwrap_or_default();
        lines.push(format!("{declared} {} = {value};{comment}", arg.name));
        call_args.push(arg.name.clone());
    }
    if plan.twist == Twist::MissingHelper && plan.calls() {
        // A helper class the model assumed: the test class does not compile.
        lines.push("var fixture = TestFixtures.create();".to_owned());
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
    let assertion = if plan.is_constructor() {
        let class = container.unwrap_or_default();
        lines.push(format!("{class} subject = new {class}({args});"));
        "assertNotNull(subject);".to_owned()
    } else {
        let callee = match &container {
            _ if plan.needs_instance() => format!("subject.{name}"),
            Some(container) => format!("{container}.{name}"),
            None => name.clone(),
        };
        let call = format!("{callee}({args})");
        if let Twist::Expect(Expected::Raises(exception)) = &plan.twist {
            let exception = if exception.is_empty() {
                "Exception".to_owned()
            } else {
                exception.replace('$', ".")
            };
            lines.push(String::new());
            lines.push("// Assert".to_owned());
            lines.push(format!("assertThrows({exception}.class, () -> {call});"));
            return lines;
        }
        if plan.returns_nothing() {
            lines.push(format!("{call};"));
            if plan.needs_instance() {
                "assertNotNull(subject);".to_owned()
            } else {
                "// The call returned without throwing.".to_owned()
            }
        } else {
            lines.push(format!("var result = {call};"));
            let return_type = plan.unit.return_type.as_deref();
            match &plan.twist {
                Twist::Guess | Twist::MissingHelper => result_assertion(return_type),
                Twist::WrongValue => wrong_assertion(return_type),
                Twist::Expect(Expected::Value(value)) => expected_assertion(return_type, value),
                _ => match return_type.map(str::trim).unwrap_or_default() {
                    "int" | "long" | "short" | "byte" | "double" | "float" | "boolean" | "char" => {
                        result_assertion(return_type)
                    }
                    _ => "assertNotNull(result);".to_owned(),
                },
            }
        }
    };
    lines.push(String::new());
    lines.push("// Assert".to_owned());
    lines.push(assertion);
    if plan.twist == Twist::Flaky {
        // Differs between runs: passes about half of them.
        lines.push("assertTrue(Math.random() < 0.5);".to_owned());
    }
    lines
}

/// A sample value for a parameter declared as `declared`, the `index`th of the call.
fn sample(declared: &str, index: usize) -> Option<String> {
    Some(match declared {
        "int" | "short" | "byte" | "Integer" => sample_number(index).to_owned(),
        "long" | "Long" => format!("{}L", sample_number(index)),
        "double" | "Double" => "2.5".to_owned(),
        "boolean" | "Boolean" => "true".to_owned(),
        "String" | "CharSequence" => format!("\"{}\"", sample_text(index)),
        _ => return None,
    })
}

/// An assertion of a value the result is unlikely to have.
fn wrong_assertion(return_type: Option<&str>) -> String {
    match return_type.map(str::trim).unwrap_or_default() {
        "String" | "CharSequence" => "assertEquals(\"\", result);".to_owned(),
        "int" | "long" | "short" | "byte" | "double" | "float" | "boolean" | "char" => {
            result_assertion(return_type)
        }
        _ => "assertNull(result);".to_owned(),
    }
}

/// `result` equals `value`, as JUnit printed it (`<5>`, `<hello-world>`, `<null>`): written as a
/// literal of the return type.
fn expected_assertion(return_type: Option<&str>, value: &str) -> String {
    let return_type = return_type.map(str::trim).unwrap_or_default();
    if value == "null" {
        return "assertNull(result);".to_owned();
    }
    let number = value.parse::<f64>().is_ok();
    let literal = match return_type {
        "String" | "CharSequence" if value.starts_with('"') => value.to_owned(),
        "String" | "CharSequence" => quoted(value),
        "char" | "Character" if value.chars().count() == 1 => {
            format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
        }
        "long" | "Long" if number => format!("{value}L"),
        "float" | "Float" if number => format!("{value}f"),
        "double" | "Double" if number => return format!("assertEquals({value}, result, 1e-9);"),
        "int" | "short" | "byte" | "Integer" | "Short" | "Byte" if number => value.to_owned(),
        "boolean" | "Boolean" if matches!(value, "true" | "false") => value.to_owned(),
        // Other types have no literal to compare with.
        _ => return "assertNotNull(result);".to_owned(),
    };
    format!("assertEquals({literal}, result);")
}

fn quoted(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

fn result_assertion(return_type: Option<&str>) -> String {
    match return_type.map(str::trim).unwrap_or_default() {
        "int" | "long" | "short" | "byte" => {
            "assertEquals(0, result); // TODO: the expected value".to_owned()
        }
        "double" | "float" => {
            "assertEquals(0.0, result, 1e-9); // TODO: the expected value".to_owned()
        }
        "boolean" => "assertFalse(result); // TODO: the expected value".to_owned(),
        "char" => "assertNotEquals('\\0', result);".to_owned(),
        _ => "assertNotNull(result);".to_owned(),
    }
}

/// The declared type, the placeholder value and a TODO where it is not a real value. Untyped
/// parameters (only when the typed version did not parse) become `Object`.
fn placeholder(type_name: Option<&str>, mockito: bool) -> (String, String, Option<String>) {
    let Some(type_name) = type_name else {
        return (
            "Object".to_owned(),
            "null".to_owned(),
            Some("a real value".to_owned()),
        );
    };
    // Annotations and `final` are not part of the type.
    let cleaned: Vec<&str> = type_name
        .split_whitespace()
        .filter(|word| !word.starts_with('@') && *word != "final")
        .collect();
    let mut declared = collapse_whitespace(&cleaned.join(" "));
    if let Some(element) = declared.strip_suffix("...") {
        declared = format!("{}[]", element.trim());
    }
    let base = strip_generics(&declared);
    let value = if let Some(element) = declared.strip_suffix("[]") {
        // `int[][]` → `new int[0][]`; the element type is what comes before the first `[]`.
        let dimensions = declared.matches("[]").count();
        let element = element.trim_end_matches("[]").trim();
        format!(
            "new {}[0]{}",
            strip_generics(element),
            "[]".repeat(dimensions.saturating_sub(1))
        )
    } else {
        let simple = match base.rsplit('.').next().unwrap_or(&base) {
            "int" | "short" | "byte" | "Integer" | "Short" | "Byte" => "0",
            "long" | "Long" => "0L",
            "double" | "Double" => "0.0",
            "float" | "Float" => "0.0f",
            "boolean" | "Boolean" => "false",
            "char" | "Character" => "'a'",
            "String" | "CharSequence" => "\"\"",
            "Object" => "new Object()",
            "List" | "Collection" | "Iterable" | "ArrayList" => "new java.util.ArrayList<>()",
            "Map" | "HashMap" => "new java.util.HashMap<>()",
            "Set" | "HashSet" => "new java.util.HashSet<>()",
            "Optional" => "java.util.Optional.empty()",
            _ => {
                let is_class_name = !declared.contains('<')
                    && declared.chars().next().is_some_and(char::is_uppercase)
                    && declared.len() > 1;
                if mockito && is_class_name {
                    return (declared.clone(), format!("mock({declared}.class)"), None);
                }
                return (
                    declared.clone(),
                    "null".to_owned(),
                    Some(format!("a real {declared}")),
                );
            }
        };
        simple.to_owned()
    };
    (declared, value, None)
}
