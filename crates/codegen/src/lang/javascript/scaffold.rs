//! Jest, Vitest and node:test, for JavaScript and TypeScript. Jest's globals need no import;
//! Vitest's and node:test's are imported in the module style of the test (see
//! [`crate::imports::JsStyle`]).

use domain::{Framework, Language};

use crate::imports::{self, Access, JsStyle};
use crate::scaffold::{
    Expected, Plan, SampleKind, Twist, lines_to_file, sample_kind, sample_number, sample_text,
};

pub(super) fn render(plan: &Plan<'_>) -> String {
    let framework = plan.target.framework;
    let skip = plan.skip_reason();
    let common_js = matches!(
        plan.access,
        Access::Js {
            style: JsStyle::CommonJs,
            ..
        }
    );
    let mut lines: Vec<String> = Vec::new();
    match (framework, common_js) {
        (Framework::Vitest, _) => {
            lines.push("import { expect, test } from 'vitest';".to_owned());
        }
        (Framework::NodeTest, false) => {
            lines.push("import { test } from 'node:test';".to_owned());
            lines.push("import assert from 'node:assert/strict';".to_owned());
        }
        (Framework::NodeTest, true) => {
            lines.push("const { test } = require('node:test');".to_owned());
            lines.push("const assert = require('node:assert/strict');".to_owned());
        }
        _ => {}
    }
    // Only a test that calls the unit imports it.
    if plan.calls() {
        let names: Vec<String> = imports::imported_name(plan.language(), plan.unit)
            .into_iter()
            .collect();
        lines.extend(plan.access.import_lines(&names));
    }
    if !lines.is_empty() {
        lines.push(String::new());
    }

    let title = title(plan);
    let asynchronous = plan.unit.is_async && plan.calls();
    let callback = if asynchronous { "async () =>" } else { "() =>" };
    match (&skip, framework) {
        (Some(reason), Framework::NodeTest) => {
            lines.push(format!(
                "test('{title}', {{ skip: '{reason}' }}, {callback} {{"
            ));
        }
        (Some(reason), _) => {
            lines.push(format!("// Skipped: {reason}"));
            lines.push(format!("test.skip('{title}', {callback} {{"));
        }
        (None, _) => lines.push(format!("test('{title}', {callback} {{")),
    }
    for line in body(plan, framework) {
        if line.is_empty() {
            lines.push(line);
        } else {
            lines.push(format!("  {line}"));
        }
    }
    lines.push("});".to_owned());
    lines_to_file(&lines)
}

/// `Calculator.add`: the qualified name, which is unique per unit in JavaScript.
fn title(plan: &Plan<'_>) -> String {
    let name = if plan.is_constructor() {
        match plan.unit.container.as_deref() {
            Some(container) => format!("{container} constructor"),
            None => "constructor".to_owned(),
        }
    } else {
        plan.display_name()
    };
    crate::scaffold::string_safe(&name)
}

/// The declaration of a placeholder and the expression passing it (`...rest` for rest params).
fn placeholder(plan: &Plan<'_>, index: usize) -> (String, String) {
    let arg = &plan.args[index];
    let written = plan
        .unit
        .params
        .get(index)
        .map(|param| param.name.as_str())
        .unwrap_or_default();
    let name = &arg.name;
    let passed = if written.starts_with("...") {
        format!("...{name}")
    } else {
        name.clone()
    };
    let typescript = plan.language() == Language::Typescript;
    if plan.samples()
        && let Some(value) = sample(arg.type_name.as_deref(), name, index)
    {
        return (format!("const {name} = {value};"), passed);
    }
    let Some(type_name) = arg
        .type_name
        .as_deref()
        .map(crate::text::collapse_whitespace)
    else {
        if written.starts_with("...") {
            return (format!("const {name} = [];"), passed);
        }
        return (
            format!("const {name} = undefined; // TODO: a value for {name}"),
            passed,
        );
    };
    let type_name = type_name.trim_start_matches(':').trim().to_owned();
    let alternatives: Vec<&str> = type_name.split('|').map(str::trim).collect();
    let value = if alternatives.len() > 1
        && (alternatives.contains(&"undefined") || alternatives.contains(&"null"))
    {
        "undefined"
    } else {
        match crate::scaffold::strip_generics(&type_name).as_str() {
            "number" => "0",
            "string" => "''",
            "boolean" => "false",
            "bigint" => "0n",
            "Array" | "ReadonlyArray" => "[]",
            "Map" => "new Map()",
            "Set" => "new Set()",
            "Date" => "new Date(0)",
            _ if type_name.ends_with("[]") => "[]",
            _ => {
                let line = if typescript {
                    format!(
                        "const {name} = undefined as unknown as {type_name}; // TODO: a real value"
                    )
                } else {
                    format!("const {name} = undefined; // TODO: a {type_name}")
                };
                return (line, passed);
            }
        }
    };
    if typescript && matches!(value, "[]" | "undefined") {
        return (format!("const {name}: {type_name} = {value};"), passed);
    }
    (format!("const {name} = {value};"), passed)
}

/// A value a model would pass for a parameter typed `type_name` (or untyped) named `name`.
fn sample(type_name: Option<&str>, name: &str, index: usize) -> Option<String> {
    let kind = match type_name.map(|type_name| type_name.trim_start_matches(':').trim()) {
        Some("string") => SampleKind::Text,
        Some("number") => SampleKind::Number,
        Some(_) => return None,
        None => sample_kind(name)?,
    };
    Some(match kind {
        SampleKind::Text => format!("'{}'", sample_text(index)),
        SampleKind::Number => sample_number(index).to_owned(),
    })
}

fn body(plan: &Plan<'_>, framework: Framework) -> Vec<String> {
    let node = framework == Framework::NodeTest;
    let mut lines = vec!["// Arrange".to_owned()];
    let container = plan.container_path();
    if plan.arranges_instance()
        && let Some(container) = &container
    {
        lines.push(format!(
            "const subject = new {container}(); // TODO: pass the constructor's arguments"
        ));
    }
    let mut call_args = Vec::new();
    for index in 0..plan.args.len() {
        let (line, passed) = placeholder(plan, index);
        lines.push(line);
        call_args.push(passed);
    }
    if plan.twist == Twist::MissingHelper && plan.calls() {
        // A helper the model assumed: a ReferenceError, or a TypeScript compile error.
        lines.push("const fixture = makeFixture();".to_owned());
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
        lines.push(format!("const subject = new {class}({args});"));
        if node {
            format!("assert.ok(subject instanceof {class});")
        } else {
            format!("expect(subject).toBeInstanceOf({class});")
        }
    } else {
        let callee = match &container {
            _ if plan.needs_instance() => format!("subject.{name}"),
            Some(container) => format!("{container}.{name}"),
            None => name.clone(),
        };
        let plain_call = format!("{callee}({args})");
        let mut call = plain_call.clone();
        if plan.unit.is_async {
            call = format!("await {call}");
        }
        if let Twist::Expect(Expected::Raises(exception)) = &plan.twist {
            lines.push(String::new());
            lines.push("// Assert".to_owned());
            lines.push(throws(&plain_call, exception, plan.unit.is_async, node));
            return lines;
        }
        if plan.returns_nothing() {
            lines.push(format!("{call};"));
            "// The call returned without throwing.".to_owned()
        } else {
            lines.push(format!("const result = {call};"));
            match (&plan.twist, node) {
                (Twist::WrongValue, true) => "assert.strictEqual(result, 0);".to_owned(),
                (Twist::WrongValue, false) => "expect(result).toBe(0);".to_owned(),
                (Twist::Expect(Expected::Value(value)), true) => {
                    format!("assert.deepStrictEqual(result, {value});")
                }
                (Twist::Expect(Expected::Value(value)), false) => {
                    format!("expect(result).toEqual({value});")
                }
                (_, true) => "assert.notStrictEqual(result, undefined);".to_owned(),
                (_, false) => "expect(result).toBeDefined();".to_owned(),
            }
        }
    };
    lines.push(String::new());
    lines.push("// Assert".to_owned());
    lines.push(assertion);
    if plan.twist == Twist::Flaky {
        // Differs between runs: passes about half of them.
        if node {
            lines.push("assert.ok(Math.random() < 0.5);".to_owned());
        } else {
            lines.push("expect(Math.random()).toBeLessThan(0.5);".to_owned());
        }
    }
    lines
}

/// The check that `call` throws (or, async, rejects with) `exception`; an error class of the
/// code under test is matched by `Error`, which needs no import.
fn throws(call: &str, exception: &str, asynchronous: bool, node: bool) -> String {
    const BUILTIN: &[&str] = &[
        "Error",
        "TypeError",
        "RangeError",
        "ReferenceError",
        "SyntaxError",
        "URIError",
        "EvalError",
    ];
    let class = if BUILTIN.contains(&exception) {
        exception
    } else {
        "Error"
    };
    match (asynchronous, node) {
        (false, true) => format!("assert.throws(() => {call}, {class});"),
        (true, true) => format!("await assert.rejects(() => {call}, {class});"),
        (false, false) => format!("expect(() => {call}).toThrow({class});"),
        (true, false) => format!("await expect({call}).rejects.toThrow({class});"),
    }
}
