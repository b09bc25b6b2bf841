//! pytest and unittest. Arguments are passed by keyword, so keyword-only parameters (after `*`)
//! work too; `*args` and `**kwargs` are left empty. Async units run under `asyncio.run`, which
//! needs no plugin.

use domain::Framework;

use crate::imports;
use crate::scaffold::{
    Expected, Plan, SampleKind, Twist, lines_to_file, sample_kind, sample_number, sample_text,
    snake, split_top_level, strip_generics, upper_camel,
};

pub(super) fn render(plan: &Plan<'_>) -> String {
    let unittest = plan.target.framework == Framework::Unittest;
    let skip = plan.skip_reason();
    let mut lines: Vec<String> = Vec::new();
    if plan.unit.is_async && plan.calls() {
        lines.push("import asyncio".to_owned());
    }
    if plan.twist == Twist::Flaky && plan.calls() {
        lines.push("import random".to_owned());
    }
    let raises = matches!(plan.twist, Twist::Expect(Expected::Raises(_))) && plan.calls();
    if unittest {
        lines.push("import unittest".to_owned());
    } else if skip.is_some() || raises {
        lines.push("import pytest".to_owned());
    }
    // Only a test that calls the unit imports it.
    let mut imported: Vec<String> = imports::imported_name(plan.language(), plan.unit)
        .filter(|_| plan.calls())
        .into_iter()
        .collect();
    if plan.twist == Twist::MissingHelper {
        // A typo in the import: the file parses, and the test module fails to load.
        for name in &mut imported {
            if name.chars().count() > 1 {
                name.pop();
            }
        }
    }
    let import_lines = plan.access.import_lines(&imported);
    if !import_lines.is_empty() {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.extend(import_lines);
    }
    if !lines.is_empty() {
        lines.push(String::new());
        lines.push(String::new());
    }

    let parts: Vec<String> = plan.name_parts().iter().map(|part| snake(part)).collect();
    let body_indent = if unittest { "        " } else { "    " };
    let body = body(plan, unittest);
    if unittest {
        let class_name = format!("Test{}", upper_camel(&parts.join("_")));
        lines.push(format!("class {class_name}(unittest.TestCase):"));
        if let Some(reason) = &skip {
            lines.push(format!("    @unittest.skip(\"{reason}\")"));
        }
        lines.push(format!("    def test_{}(self):", parts.join("_")));
    } else {
        if let Some(reason) = &skip {
            lines.push(format!("@pytest.mark.skip(reason=\"{reason}\")"));
        }
        lines.push(format!("def test_{}():", parts.join("_")));
    }
    for line in body {
        if line.is_empty() {
            lines.push(line);
        } else {
            lines.push(format!("{body_indent}{line}"));
        }
    }
    lines_to_file(&lines)
}

fn body(plan: &Plan<'_>, unittest: bool) -> Vec<String> {
    let mut lines = vec!["# Arrange".to_owned()];
    let container = plan.container_path();
    if plan.arranges_instance()
        && let Some(container) = &container
    {
        lines.push(format!(
            "subject = {container}()  # TODO: pass the constructor's arguments"
        ));
    }
    let mut call_args = Vec::new();
    let is_static = plan.unit.is_static;
    for (index, arg) in plan.args.iter().enumerate() {
        let written = plan.unit.params.get(index).map(|param| param.name.as_str());
        // `cls` of a classmethod is bound by the call.
        if is_static && index == 0 && written == Some("cls") {
            continue;
        }
        if written.is_some_and(|name| name.starts_with("**")) {
            continue;
        }
        if written.is_some_and(|name| name.starts_with('*')) {
            continue;
        }
        let (value, todo) = if plan.samples() {
            sample(arg.type_name.as_deref(), &arg.name, index)
        } else {
            placeholder(arg.type_name.as_deref(), &arg.name)
        };
        let comment = todo
            .map(|todo| format!("  # TODO: {todo}"))
            .unwrap_or_default();
        lines.push(format!("{} = {value}{comment}", arg.name));
        let parameter_name = written
            .filter(|name| imports::is_identifier(name))
            .unwrap_or(&arg.name);
        call_args.push(format!("{parameter_name}={}", arg.name));
    }
    if !plan.calls() {
        lines.push(String::new());
        lines.push("# Act".to_owned());
        lines.push(format!("# TODO: call {}", plan.display_name()));
        lines.push(String::new());
        lines.push("# Assert".to_owned());
        lines.push("# TODO: assert on the outcome".to_owned());
        if !unittest {
            lines.push("pass".to_owned());
        } else {
            lines.push("self.skipTest(\"nothing to call\")".to_owned());
        }
        return lines;
    }
    let args = call_args.join(", ");
    let name = &plan.unit.name;
    let callee = match (&container, plan.is_constructor(), plan.needs_instance()) {
        (Some(container), true, _) => container.clone(),
        (_, _, true) => format!("subject.{name}"),
        (Some(container), false, false) => format!("{container}.{name}"),
        (None, _, _) => name.clone(),
    };
    let mut call = format!("{callee}({args})");
    if plan.unit.is_async {
        call = format!("asyncio.run({call})");
    }
    if plan.twist == Twist::MissingHelper
        && imports::imported_name(plan.language(), plan.unit).is_none()
    {
        // Nothing imported to misspell: a helper that does not exist.
        lines.push("fixture = make_fixture()".to_owned());
    }
    lines.push(String::new());
    lines.push("# Act".to_owned());
    if let Twist::Expect(Expected::Raises(exception)) = &plan.twist {
        // Builtins are named bare; a module's own exception is matched by its base.
        let exception = if exception.contains('.') || exception.is_empty() {
            "Exception"
        } else {
            exception.as_str()
        };
        if unittest {
            lines.push(format!("with self.assertRaises({exception}):"));
        } else {
            lines.push(format!("with pytest.raises({exception}):"));
        }
        lines.push(format!("    {call}"));
        return lines;
    }
    let assertion = if plan.is_constructor() {
        lines.push(format!("subject = {call}"));
        let class = container.unwrap_or_default();
        if unittest {
            format!("self.assertIsInstance(subject, {class})")
        } else {
            format!("assert isinstance(subject, {class})")
        }
    } else if plan.returns_nothing() {
        lines.push(call);
        if plan.needs_instance() {
            if unittest {
                "self.assertIsNotNone(subject)".to_owned()
            } else {
                "assert subject is not None".to_owned()
            }
        } else {
            "# The call returned without raising.".to_owned()
        }
    } else {
        lines.push(format!("result = {call}"));
        match &plan.twist {
            Twist::Guess | Twist::MissingHelper => {
                result_assertion(plan.unit.return_type.as_deref(), unittest)
            }
            Twist::Sample | Twist::Flaky => {
                if unittest {
                    "self.assertIsNotNone(result)".to_owned()
                } else {
                    "assert result is not None".to_owned()
                }
            }
            Twist::WrongValue => {
                let guess =
                    if base_type(plan.unit.return_type.as_deref().unwrap_or_default()) == "bool" {
                        // `False == 0` holds in Python.
                        "None"
                    } else {
                        "0"
                    };
                equality(guess, unittest)
            }
            Twist::Expect(Expected::Value(value)) => equality(value, unittest),
            Twist::Expect(Expected::Raises(_)) => String::new(),
        }
    };
    lines.push(String::new());
    lines.push("# Assert".to_owned());
    lines.push(assertion);
    if plan.twist == Twist::Flaky {
        // Differs between runs: passes about half of them.
        if unittest {
            lines.push("self.assertLess(random.random(), 0.5)".to_owned());
        } else {
            lines.push("assert random.random() < 0.5".to_owned());
        }
    }
    lines
}

/// `result` equals `value`, a Python literal (as pytest prints values); singletons by identity.
fn equality(value: &str, unittest: bool) -> String {
    let singleton = matches!(value, "None" | "True" | "False");
    match (singleton, unittest) {
        (true, false) => format!("assert result is {value}"),
        (false, false) => format!("assert result == {value}"),
        (true, true) => format!("self.assertIs(result, {value})"),
        (false, true) => format!("self.assertEqual(result, {value})"),
    }
}

/// A value a model would pass for a parameter of `type_name` named `name`, the `index`th of the
/// call; untyped parameters are guessed from their names.
fn sample(type_name: Option<&str>, name: &str, index: usize) -> (String, Option<String>) {
    let base = match type_name {
        Some(type_name) => base_type(type_name.trim().trim_matches(['"', '\''])),
        None => match sample_kind(name) {
            Some(SampleKind::Text) => "str".to_owned(),
            Some(SampleKind::Number) => "int".to_owned(),
            None => return placeholder(type_name, name),
        },
    };
    let value = match base.as_str() {
        "str" => format!("\"{}\"", sample_text(index)),
        "int" => sample_number(index).to_owned(),
        "float" => "2.5".to_owned(),
        "bool" => "True".to_owned(),
        "list" | "List" | "Sequence" | "Iterable" | "Collection" => "[1, 2, 3]".to_owned(),
        "dict" | "Dict" | "Mapping" => "{\"a\": 1}".to_owned(),
        _ => return placeholder(type_name, name),
    };
    (value, None)
}

fn result_assertion(return_type: Option<&str>, unittest: bool) -> String {
    let base = return_type.map(base_type).unwrap_or_default();
    match (base.as_str(), unittest) {
        ("int" | "float", false) => "assert result == 0  # TODO: the expected value".to_owned(),
        ("int" | "float", true) => {
            "self.assertEqual(result, 0)  # TODO: the expected value".to_owned()
        }
        ("bool", false) => "assert result is False  # TODO: the expected value".to_owned(),
        ("bool", true) => "self.assertFalse(result)  # TODO: the expected value".to_owned(),
        (_, false) => "assert result is not None".to_owned(),
        (_, true) => "self.assertIsNotNone(result)".to_owned(),
    }
}

/// `typing.List[int]` → `List`, `"Repo"` → `Repo`.
fn base_type(type_name: &str) -> String {
    let unquoted = type_name.trim().trim_matches(['"', '\'']);
    let base = unquoted.split('[').next().unwrap_or(unquoted).trim();
    base.rsplit('.').next().unwrap_or(base).to_owned()
}

/// The placeholder for a parameter of `type_name`, and a TODO where it is not a real value.
fn placeholder(type_name: Option<&str>, name: &str) -> (String, Option<String>) {
    let Some(type_name) = type_name else {
        return ("None".to_owned(), Some(format!("a value for {name}")));
    };
    let trimmed = type_name.trim().trim_matches(['"', '\'']);
    let alternatives: Vec<&str> = trimmed.split('|').map(str::trim).collect();
    if alternatives.len() > 1 && alternatives.contains(&"None") {
        return ("None".to_owned(), None);
    }
    let base = base_type(trimmed);
    let value = match base.as_str() {
        "int" => "0",
        "float" => "0.0",
        "complex" => "0j",
        "str" => "\"\"",
        "bool" => "False",
        "bytes" => "b\"\"",
        "bytearray" => "bytearray()",
        "list" | "List" | "Sequence" | "MutableSequence" | "Iterable" | "Collection"
        | "Iterator" => "[]",
        "dict" | "Dict" | "Mapping" | "MutableMapping" => "{}",
        "set" | "Set" | "frozenset" | "FrozenSet" | "AbstractSet" => "set()",
        "tuple" | "Tuple" => "()",
        "Optional" | "None" | "NoneType" => "None",
        "Callable" => "lambda *args, **kwargs: None",
        _ => {
            let shown = strip_generics(trimmed);
            let shown = if shown.is_empty() {
                trimmed.to_owned()
            } else {
                shown
            };
            let shown = crate::text::collapse_whitespace(&split_top_level(&shown).join(" "));
            return ("None".to_owned(), Some(format!("a {shown}")));
        }
    };
    (value.to_owned(), None)
}
