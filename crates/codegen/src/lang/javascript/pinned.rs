//! Pinned tests in node:test, Jest and Vitest, for JavaScript and TypeScript: one test per
//! observed call, `deepStrictEqual`/`toStrictEqual` on the observed literal, closeness for
//! non-integers, `throws`/`toThrow` (or `rejects`) with the error's class.

use domain::Framework;
use domain::observed::{Argument, Case, Outcome};

use crate::imports::{Access, JsStyle, is_identifier};
use crate::pinned::{Callee, CaseShape, PinPlan, describe, unique_names};
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

/// Local names the tests use themselves.
const RESERVED: &[&str] = &["subject", "result", "assert", "expect", "test"];

fn body(plan: &PinPlan<'_>, case: &Case, node: bool) -> Vec<String> {
    let shape = CaseShape::of(plan.unit, case, RESERVED);
    let mut lines = Vec::new();
    if let Some(receiver) = shape.receiver {
        lines.push(format!(
            "const subject = new {}({});",
            receiver.class,
            arguments(&receiver.arguments, None)
        ));
        for call in &receiver.calls {
            lines.push(format!(
                "subject.{}({});",
                call.method,
                arguments(&call.arguments, None)
            ));
        }
    }
    for bound in &shape.bound {
        lines.push(format!("const {} = {};", bound.name, bound.value));
    }
    let passed = arguments(&case.arguments, Some(&shape));
    let call = match shape.callee {
        Callee::Constructor(class) => format!("new {class}({passed})"),
        Callee::Subject(method) => format!("subject.{method}({passed})"),
        Callee::OnClass(class, member) => format!("{class}.{member}({passed})"),
        Callee::Free(function) => format!("{function}({passed})"),
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
    for field in &shape.receiver_after {
        lines.push(equal(
            &format!("subject.{}", field.name),
            &field.value,
            field.approx,
            node,
        ));
    }
    for bound in &shape.bound {
        lines.push(equal(
            &bound.name,
            &bound.after.value,
            bound.after.approx,
            node,
        ));
    }
    lines
}

/// The arguments of a call, with those `shape` binds passed by their names.
fn arguments(arguments: &[Argument], shape: Option<&CaseShape<'_>>) -> String {
    arguments
        .iter()
        .enumerate()
        .map(|(index, argument)| {
            shape.map_or(argument.value.as_str(), |shape| {
                shape.passed(index, argument)
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
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
