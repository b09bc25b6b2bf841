//! NUnit and xUnit. The test class is named after the test file (`InvoiceTests`) inside
//! `<first namespace of the source>.Tests`; placeholders are `default` where no better value is
//! known, which fits every type.

use domain::Framework;

use crate::imports::Access;
use crate::scaffold::{Plan, Twist, lines_to_file, upper_camel};
use crate::text::collapse_whitespace;

pub(super) fn render(plan: &Plan<'_>) -> String {
    let xunit = plan.target.framework == Framework::Xunit;
    let skip = plan.skip_reason();
    let asynchronous = plan.unit.is_async && plan.calls();
    let mut lines: Vec<String> = Vec::new();
    lines.push(
        if xunit {
            "using Xunit;"
        } else {
            "using NUnit.Framework;"
        }
        .to_owned(),
    );
    if asynchronous {
        lines.push("using System.Threading.Tasks;".to_owned());
    }
    for line in plan.access.import_lines(&[]) {
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines.push(String::new());
    lines.push(format!("namespace {}", test_namespace(plan)));
    lines.push("{".to_owned());
    if !xunit {
        lines.push("    [TestFixture]".to_owned());
    }
    lines.push(format!("    public class {}", test_class_name(plan)));
    lines.push("    {".to_owned());
    match (&skip, xunit) {
        (Some(reason), true) => lines.push(format!("        [Fact(Skip = \"{reason}\")]")),
        (None, true) => lines.push("        [Fact]".to_owned()),
        (Some(reason), false) => {
            lines.push("        [Test]".to_owned());
            lines.push(format!("        [Ignore(\"{reason}\")]"));
        }
        (None, false) => lines.push("        [Test]".to_owned()),
    }
    let signature = if asynchronous {
        "public async Task"
    } else {
        "public void"
    };
    lines.push(format!("        {signature} {}()", method_name(plan)));
    lines.push("        {".to_owned());
    for line in body(plan, xunit) {
        if line.is_empty() {
            lines.push(line);
        } else {
            lines.push(format!("            {line}"));
        }
    }
    lines.push("        }".to_owned());
    lines.push("    }".to_owned());
    lines.push("}".to_owned());
    lines_to_file(&lines)
}

pub(super) fn test_namespace(plan: &Plan<'_>) -> String {
    match &plan.access {
        Access::Csharp { namespaces, .. } if !namespaces.is_empty() => {
            format!("{}.Tests", namespaces[0])
        }
        _ => "Tests".to_owned(),
    }
}

pub(super) fn test_class_name(plan: &Plan<'_>) -> String {
    let file = plan.target.test_file_name();
    let stem = file.strip_suffix(".cs").unwrap_or(&file);
    let name = crate::scaffold::identifier(stem);
    if name.is_empty() {
        "SourceTests".to_owned()
    } else {
        name
    }
}

/// `Invoice_Total_Line12`, the namespaces of the container left out.
fn method_name(plan: &Plan<'_>) -> String {
    let namespaces = match &plan.access {
        Access::Csharp { namespaces, .. } => namespaces.clone(),
        _ => Vec::new(),
    };
    let mut container = plan.container_path().unwrap_or_default();
    // The longest namespace that prefixes the container is not part of the name.
    let mut longest = 0;
    for namespace in &namespaces {
        if container.starts_with(&format!("{namespace}.")) && namespace.len() > longest {
            longest = namespace.len();
        }
    }
    if longest > 0 {
        container = container[longest + 1..].to_owned();
    }
    let mut parts: Vec<String> = container
        .split('.')
        .map(crate::scaffold::identifier)
        .filter(|part| !part.is_empty())
        .map(|part| crate::scaffold::leading_letter(&part))
        .collect();
    if let Some(last) = plan.name_parts().last() {
        parts.push(last.clone());
    }
    let mut name = parts
        .iter()
        .map(|part| upper_camel(part))
        .collect::<Vec<_>>()
        .join("_");
    if let Some(line) = plan.overload_line() {
        name.push_str(&format!("_Line{line}"));
    }
    name
}

/// The declaration of a placeholder and the expression passing it (`ref x`, `out x`).
fn placeholder(name: &str, type_name: Option<&str>) -> (String, String) {
    let Some(type_name) = type_name.map(collapse_whitespace) else {
        return (
            format!("object {name} = null; // TODO: a value of the parameter's type"),
            name.to_owned(),
        );
    };
    let mut words: Vec<&str> = type_name.split_whitespace().collect();
    let mut modifier = None;
    while let Some(first) = words.first().copied() {
        match first {
            "ref" | "out" | "in" => {
                modifier = Some(first);
                words.remove(0);
            }
            "params" | "this" | "scoped" | "readonly" => {
                words.remove(0);
            }
            _ => break,
        }
    }
    let declared = words.join(" ");
    let base = crate::scaffold::strip_generics(&declared);
    let value = if declared.ends_with("[]") {
        let element = declared.trim_end_matches("[]");
        format!("System.Array.Empty<{element}>()")
    } else if declared.ends_with('?') {
        "null".to_owned()
    } else {
        match base.as_str() {
            "int" | "long" | "short" | "byte" | "sbyte" | "uint" | "ulong" | "ushort" => {
                "0".to_owned()
            }
            "double" => "0.0".to_owned(),
            "float" => "0f".to_owned(),
            "decimal" => "0m".to_owned(),
            "bool" => "false".to_owned(),
            "char" => "'a'".to_owned(),
            "string" | "String" => "\"\"".to_owned(),
            "IEnumerable" | "IReadOnlyList" | "IReadOnlyCollection" | "IList" | "ICollection" => {
                match declared.find('<') {
                    Some(start) => format!(
                        "System.Array.Empty<{}>()",
                        declared[start + 1..].trim_end_matches('>')
                    ),
                    None => "default".to_owned(),
                }
            }
            "List" | "Dictionary" | "HashSet" | "Queue" | "Stack" | "SortedDictionary" => {
                "new()".to_owned()
            }
            _ => {
                let passed = match modifier {
                    Some(modifier) => format!("{modifier} {name}"),
                    None => name.to_owned(),
                };
                return (
                    format!("{declared} {name} = default; // TODO: a real {declared}"),
                    passed,
                );
            }
        }
    };
    let passed = match modifier {
        Some(modifier) => format!("{modifier} {name}"),
        None => name.to_owned(),
    };
    (format!("{declared} {name} = {value};"), passed)
}

fn body(plan: &Plan<'_>, xunit: bool) -> Vec<String> {
    let mut lines = vec!["// Arrange".to_owned()];
    let container = plan.container_path();
    if plan.arranges_instance()
        && let Some(container) = &container
    {
        lines.push(format!(
            "var subject = new {container}(); // TODO: pass the constructor's arguments"
        ));
    }
    let mut call_args = Vec::new();
    for arg in &plan.args {
        let (line, passed) = placeholder(&arg.name, arg.type_name.as_deref());
        lines.push(line);
        call_args.push(passed);
    }
    if plan.twist == Twist::MissingHelper && plan.calls() {
        // A helper class the model assumed: the test project does not build.
        lines.push("var fixture = TestFixtures.Create();".to_owned());
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
    let not_null = |what: &str| {
        if xunit {
            format!("Assert.NotNull({what});")
        } else {
            format!("Assert.That({what}, Is.Not.Null);")
        }
    };
    let assertion = if plan.is_constructor() {
        let class = container.unwrap_or_default();
        lines.push(format!("var subject = new {class}({args});"));
        not_null("subject")
    } else {
        let callee = match &container {
            _ if plan.needs_instance() => format!("subject.{name}"),
            Some(container) => format!("{container}.{name}"),
            None => name.clone(),
        };
        let mut call = format!("{callee}({args})");
        let awaited =
            plan.unit.is_async && plan.unit.return_type.as_deref().map(str::trim) != Some("void");
        if awaited {
            call = format!("await {call}");
        }
        if plan.returns_nothing() {
            lines.push(format!("{call};"));
            if plan.needs_instance() {
                not_null("subject")
            } else {
                "// The call returned without throwing.".to_owned()
            }
        } else {
            lines.push(format!("var result = {call};"));
            result_assertion(plan.unit.return_type.as_deref(), xunit)
        }
    };
    lines.push(String::new());
    lines.push("// Assert".to_owned());
    lines.push(assertion);
    if plan.twist == Twist::Flaky {
        // Differs between runs: passes about half of them.
        if xunit {
            lines.push("Assert.True(System.Random.Shared.Next(2) == 0);".to_owned());
        } else {
            lines.push("Assert.That(System.Random.Shared.Next(2), Is.EqualTo(0));".to_owned());
        }
    }
    lines
}

fn result_assertion(return_type: Option<&str>, xunit: bool) -> String {
    let mut base = collapse_whitespace(return_type.unwrap_or_default());
    for wrapper in ["Task<", "ValueTask<"] {
        if let Some(inner) = base
            .strip_prefix(wrapper)
            .and_then(|rest| rest.strip_suffix('>'))
        {
            base = inner.to_owned();
        }
    }
    let numeric = matches!(
        base.as_str(),
        "int" | "long" | "short" | "byte" | "uint" | "ulong" | "double" | "float" | "decimal"
    );
    match (base.as_str(), xunit) {
        ("bool", true) => "Assert.False(result); // TODO: the expected value".to_owned(),
        ("bool", false) => "Assert.That(result, Is.False); // TODO: the expected value".to_owned(),
        (_, true) if numeric => "Assert.Equal(0, result); // TODO: the expected value".to_owned(),
        (_, false) if numeric => {
            "Assert.That(result, Is.EqualTo(0)); // TODO: the expected value".to_owned()
        }
        (_, true) => "Assert.NotNull(result);".to_owned(),
        (_, false) => "Assert.That(result, Is.Not.Null);".to_owned(),
    }
}
