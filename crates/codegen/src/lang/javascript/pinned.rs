//! Pinned tests in node:test, Jest and Vitest, for JavaScript and TypeScript: one test per
//! observed call, `deepStrictEqual`/`toStrictEqual` on the observed literal, closeness for
//! non-integers, `throws`/`toThrow` (or `rejects`) with the error's class.

use domain::Framework;
use domain::observed::{Argument, Case, Field, Outcome};

use crate::imports::{Access, JsStyle, is_identifier};
use crate::pinned::{PinPlan, describe, unique_names};
use crate::scaffold::{lines_to_file, string_safe};

pub(super) fn render(plan: &PinPlan<'_>) -> String {
    let framework = plan.target.framework;
    let common_js = matches!(
        plan.access,
        Access::Js {
            style: JsStyle::CommonJs,
            ..
        }
    );
    let mut lines: Vec<String> = Vec::new();
    match (framework, common_js) {
        (Framework::Vitest, _) => lines.push("import { expect, test } from 'vitest';".to_owned()),
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
    lines.extend(plan.access.import_lines(&plan.imported_names()));
    lines.push(String::new());

    let node = framework == Framework::NodeTest;
    let display = plan.unit.qualified_name(".");
    let titles = unique_names(
        plan.cases
            .iter()
            .map(|case| string_safe(&format!("{display} {}", describe(case).replace('_', " "))))
            .collect(),
    );
    for (index, (case, title)) in plan.cases.iter().zip(&titles).enumerate() {
        if index > 0 {
            lines.push(String::new());
        }
        let callback = if case.awaited { "async () =>" } else { "() =>" };
        lines.push(format!("test('{title}', {callback} {{"));
        for line in body(plan, case, node) {
            lines.push(format!("  {line}"));
        }
        lines.push("});".to_owned());
    }
    lines_to_file(&lines)
}

fn body(plan: &PinPlan<'_>, case: &Case, node: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let class = plan.class().unwrap_or_default().to_owned();
    let receiver = case.receiver.as_ref().filter(|_| !case.is_static);
    if let Some(receiver) = receiver {
        lines.push(format!(
            "const subject = new {}({});",
            receiver.class,
            arguments(&receiver.arguments, &[])
        ));
        for call in &receiver.calls {
            lines.push(format!(
                "subject.{}({});",
                call.method,
                arguments(&call.arguments, &[])
            ));
        }
    }
    let mut bound: Vec<(usize, String)> = Vec::new();
    for after in &case.arguments_after {
        let Some(argument) = case.arguments.get(after.index) else {
            continue;
        };
        let name = local_name(argument, after.index);
        lines.push(format!("const {name} = {};", argument.value));
        bound.push((after.index, name));
    }
    let passed = arguments(&case.arguments, &bound);
    let call = if plan.is_constructor() {
        format!("new {class}({passed})")
    } else if receiver.is_some() {
        format!("subject.{}({passed})", plan.unit.name)
    } else if case.is_static || plan.unit.container.is_some() {
        format!("{class}.{}({passed})", plan.unit.name)
    } else {
        format!("{}({passed})", plan.unit.name)
    };
    let awaited = if case.awaited {
        format!("await {call}")
    } else {
        call.clone()
    };
    match &case.outcome {
        Outcome::Raised { type_name, .. } => {
            let class = if is_identifier(type_name) {
                type_name.as_str()
            } else {
                "Error"
            };
            lines.push(match (node, case.awaited) {
                (true, false) => format!("assert.throws(() => {call}, {class});"),
                (true, true) => format!("await assert.rejects(async () => {call}, {class});"),
                (false, false) => format!("expect(() => {call}).toThrow({class});"),
                (false, true) => format!("await expect({call}).rejects.toThrow({class});"),
            });
            return lines;
        }
        Outcome::Returned { value, approx } => {
            lines.push(format!("const result = {awaited};"));
            lines.push(equal("result", value, *approx, node));
        }
        Outcome::ReturnedUnstable { type_name } => {
            // Varies between runs: only its type is pinned.
            lines.push(format!("const result = {awaited};"));
            lines.push(equal(
                "typeof result",
                &format!("'{}'", string_safe(type_name)),
                false,
                node,
            ));
        }
        Outcome::ReturnedObject { type_name, fields } => {
            lines.push(format!("const result = {awaited};"));
            lines.push(equal(
                "result.constructor.name",
                &format!("'{}'", string_safe(type_name)),
                false,
                node,
            ));
            for field in fields.iter().filter(|field| is_identifier(&field.name)) {
                lines.push(equal(
                    &format!("result.{}", field.name),
                    &field.value,
                    field.approx,
                    node,
                ));
            }
        }
    }
    let fields: Vec<(String, &Field)> = case
        .receiver_after
        .iter()
        .filter(|field| is_identifier(&field.name) && receiver.is_some())
        .map(|field| (format!("subject.{}", field.name), field))
        .collect();
    for (expression, field) in fields {
        lines.push(equal(&expression, &field.value, field.approx, node));
    }
    for after in &case.arguments_after {
        if let Some((_, name)) = bound.iter().find(|(index, _)| *index == after.index) {
            lines.push(equal(name, &after.value, after.approx, node));
        }
    }
    lines
}

fn arguments(arguments: &[Argument], bound: &[(usize, String)]) -> String {
    arguments
        .iter()
        .enumerate()
        .map(|(index, argument)| {
            bound
                .iter()
                .find(|(bound_index, _)| *bound_index == index)
                .map_or(argument.value.clone(), |(_, name)| name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn local_name(argument: &Argument, index: usize) -> String {
    let name = argument.name.trim_start_matches('.');
    if is_identifier(name) && !matches!(name, "subject" | "result" | "assert" | "expect" | "test") {
        name.to_owned()
    } else {
        format!("arg{}", index + 1)
    }
}

/// One assertion that `actual` equals the literal `expected`.
fn equal(actual: &str, expected: &str, approx: bool, node: bool) -> String {
    match (node, approx) {
        (true, true) => format!(
            "assert.ok(Math.abs({actual} - {expected}) <= 1e-9 * Math.max(1, Math.abs({expected})));"
        ),
        (true, false) => format!("assert.deepStrictEqual({actual}, {expected});"),
        (false, true) => format!("expect({actual}).toBeCloseTo({expected}, 9);"),
        (false, false) => format!("expect({actual}).toStrictEqual({expected});"),
    }
}
