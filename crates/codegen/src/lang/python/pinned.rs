//! Pinned tests in pytest and unittest: one test per observed call, the call written with the
//! literals the explorer observed, `pytest.approx`/`assertAlmostEqual` for floats, and
//! `pytest.raises`/`assertRaises` for what was raised.

use domain::Framework;
use domain::observed::{Argument, Case, Outcome};

use crate::imports::is_identifier;
use crate::pinned::{Callee, CaseShape, PinPlan, describe, unique_names};
use crate::scaffold::{lines_to_file, upper_camel};

pub(super) fn render(plan: &PinPlan<'_>) -> String {
    let unittest = plan.target.framework == Framework::Unittest;
    let mut lines: Vec<String> = Vec::new();
    if plan.cases.iter().any(|case| case.awaited) {
        lines.push("import asyncio".to_owned());
    }
    if unittest {
        lines.push("import unittest".to_owned());
    } else if plan
        .cases
        .iter()
        .any(|case| matches!(case.outcome, Outcome::Raised { .. }) || mentions_approx(case))
    {
        lines.push("import pytest".to_owned());
    }
    let imports = plan.access.import_lines(&plan.imported_names());
    if !imports.is_empty() {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.extend(imports);
    }
    lines.push(String::new());
    lines.push(String::new());

    let base = plan.base_name();
    let names = unique_names(
        plan.cases
            .iter()
            .map(|case| format!("test_{base}_{}", describe(case)))
            .collect(),
    );
    let indent = if unittest { "        " } else { "    " };
    if unittest {
        lines.push(format!(
            "class Test{}(unittest.TestCase):",
            upper_camel(&base)
        ));
    }
    for (index, (case, name)) in plan.cases.iter().zip(&names).enumerate() {
        if index > 0 {
            lines.push(String::new());
            if !unittest {
                lines.push(String::new());
            }
        }
        if unittest {
            lines.push(format!("    def {name}(self):"));
        } else {
            lines.push(format!("def {name}():"));
        }
        for line in body(plan, case, unittest) {
            lines.push(format!("{indent}{line}"));
        }
    }
    lines_to_file(&lines)
}

fn mentions_approx(case: &Case) -> bool {
    matches!(case.outcome, Outcome::Returned { approx: true, .. })
        || matches!(&case.outcome, Outcome::ReturnedObject { fields, .. } if fields.iter().any(|field| field.approx))
        || case.receiver_after.iter().any(|field| field.approx)
        || case.arguments_after.iter().any(|after| after.approx)
}

/// Local names the tests use themselves.
const RESERVED: &[&str] = &["subject", "result", "self"];

/// The lines of one test: arrange the object and the arguments that change, make the call, assert.
fn body(plan: &PinPlan<'_>, case: &Case, unittest: bool) -> Vec<String> {
    let shape = CaseShape::of(plan.unit, case, RESERVED);
    let mut lines = Vec::new();
    if let Some(receiver) = shape.receiver {
        lines.push(format!(
            "subject = {}({})",
            receiver.class,
            arguments(&receiver.arguments, None)
        ));
        for call in &receiver.calls {
            lines.push(format!(
                "subject.{}({})",
                call.method,
                arguments(&call.arguments, None)
            ));
        }
    }
    for bound in &shape.bound {
        lines.push(format!("{} = {}", bound.name, bound.value));
    }
    let passed = arguments(&case.arguments, Some(&shape));
    let mut call = match shape.callee {
        Callee::Constructor(class) => format!("{class}({passed})"),
        Callee::Subject(method) => format!("subject.{method}({passed})"),
        Callee::OnClass(class, member) => format!("{class}.{member}({passed})"),
        Callee::Free(function) => format!("{function}({passed})"),
    };
    if case.awaited {
        call = format!("asyncio.run({call})");
    }
    if case.collect.as_deref() == Some("list") {
        call = format!("list({call})");
    }
    match &case.outcome {
        Outcome::Raised { type_name, .. } => {
            if unittest {
                lines.push(format!("with self.assertRaises({type_name}):"));
            } else {
                lines.push(format!("with pytest.raises({type_name}):"));
            }
            lines.push(format!("    {call}"));
            return lines;
        }
        Outcome::Returned { value, approx } => {
            let checks_state = !shape.receiver_after.is_empty() || !shape.bound.is_empty();
            if checks_state {
                lines.push(format!("result = {call}"));
                lines.push(equal("result", value, *approx, unittest));
            } else {
                lines.push(equal(&call, value, *approx, unittest));
            }
        }
        Outcome::ReturnedUnstable { type_name } => {
            // Varies between runs: only its type is pinned.
            if unittest {
                lines.push(format!("self.assertIsInstance({call}, {type_name})"));
            } else {
                lines.push(format!("assert isinstance({call}, {type_name})"));
            }
        }
        Outcome::ReturnedObject { type_name, fields } => {
            lines.push(format!("result = {call}"));
            lines.push(equal(
                "type(result).__name__",
                &format!("{type_name:?}"),
                false,
                unittest,
            ));
            for field in fields.iter().filter(|field| is_identifier(&field.name)) {
                lines.push(equal(
                    &format!("result.{}", field.name),
                    &field.value,
                    field.approx,
                    unittest,
                ));
            }
        }
    }
    for field in &shape.receiver_after {
        lines.push(equal(
            &format!("subject.{}", field.name),
            &field.value,
            field.approx,
            unittest,
        ));
    }
    for bound in &shape.bound {
        lines.push(equal(
            &bound.name,
            &bound.after.value,
            bound.after.approx,
            unittest,
        ));
    }
    lines
}

/// `a, width=1`, with the arguments `shape` binds passed by their names.
fn arguments(arguments: &[Argument], shape: Option<&CaseShape<'_>>) -> String {
    arguments
        .iter()
        .enumerate()
        .map(|(index, argument)| {
            let value = shape.map_or(argument.value.as_str(), |shape| {
                shape.passed(index, argument)
            });
            if argument.keyword && is_identifier(&argument.name) {
                format!("{}={value}", argument.name)
            } else {
                value.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One assertion that `actual` equals the literal `expected`.
fn equal(actual: &str, expected: &str, approx: bool, unittest: bool) -> String {
    let singleton = matches!(expected, "None" | "True" | "False");
    match (unittest, approx, singleton) {
        (false, true, _) => format!("assert {actual} == pytest.approx({expected})"),
        (false, false, true) => format!("assert {actual} is {expected}"),
        (false, false, false) => format!("assert {actual} == {expected}"),
        (true, true, _) => format!("self.assertAlmostEqual({actual}, {expected})"),
        (true, false, true) => format!("self.assertIs({actual}, {expected})"),
        (true, false, false) => format!("self.assertEqual({actual}, {expected})"),
    }
}
