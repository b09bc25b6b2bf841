//! node:test's failures (TAP and spec reporters: `actual: 'hello-world'`, `5 !== 0`, an error's
//! `name: 'TypeError'` or `TypeError [Error]: bad`), Jest's `Received: "hello-world"` and Vitest's
//! `expected 'hello-world' to be +0`.

use crate::feedback::is_type_name;
use crate::scaffold::Expected;

pub(super) fn observed(output: &str) -> Option<Expected> {
    value(output)
        .map(Expected::Value)
        .or_else(|| exception(output).map(Expected::Raises))
}

fn value(output: &str) -> Option<String> {
    for line in output.lines() {
        let trimmed = line.trim();
        // node:test, both reporters; a value on more lines than one is not read.
        if let Some(actual) = trimmed.strip_prefix("actual: ") {
            let actual = actual.strip_suffix(',').unwrap_or(actual).trim();
            if !actual.is_empty() {
                return Some(actual.to_owned());
            }
        }
        // Jest.
        if let Some(received) = trimmed.strip_prefix("Received: ") {
            return Some(received.trim().to_owned());
        }
        // Vitest.
        if let Some(rest) = trimmed
            .split_once("AssertionError: expected ")
            .map(|(_, rest)| rest)
            && let Some((actual, _)) = rest.rsplit_once(" to ")
        {
            return Some(actual.to_owned());
        }
        // node's message, when the details are cut.
        if let Some((actual, _)) = trimmed.split_once(" !== ")
            && !actual.is_empty()
        {
            return Some(actual.to_owned());
        }
    }
    None
}

fn exception(output: &str) -> Option<String> {
    for line in output.lines() {
        let trimmed = line.trim();
        // TAP: `name: 'TypeError'`.
        let name = if let Some(name) = trimmed.strip_prefix("name: ") {
            name.trim_matches('\'')
        } else {
            // Spec, Jest: `TypeError [Error]: bad`, `TypeError: bad`.
            let head = trimmed.split(':').next().unwrap_or_default();
            let name = head.split(" [").next().unwrap_or(head);
            if head.len() == trimmed.len() || !name.ends_with("Error") {
                continue;
            }
            name
        };
        if is_type_name(name) && name != "AssertionError" && name != "ReferenceError" {
            return Some(name.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Option<Expected> {
        Some(Expected::Value(text.to_owned()))
    }

    // node 20's TAP reporter (`node --test`, not a terminal), trimmed.
    const TAP: &str = r#"# Subtest: str
not ok 2 - str
  ---
  duration_ms: 0.501907
  location: '/tmp/a.test.mjs:8:1'
  failureType: 'testCodeFailure'
  error: |-
    Expected values to be strictly equal:
    + actual - expected
    
    + 'hello-world'
    - 0
  code: 'ERR_ASSERTION'
  name: 'AssertionError'
  expected: 0
  actual: 'hello-world'
  operator: 'strictEqual'"#;

    // node 20's spec reporter (`--test-reporter=spec`), trimmed.
    const SPEC: &str = r#"✖ num (2.572615ms)
  AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:
  
  5 !== 0
  
      at TestContext.<anonymous> (file:///tmp/a.test.mjs:7:48)
      at Test.runInAsyncScope (node:async_hooks:206:9) {
    generatedMessage: true,
    code: 'ERR_ASSERTION',
    actual: 5,
    expected: 0,
    operator: 'strictEqual'
  }"#;

    #[test]
    fn reads_node_test_values() {
        assert_eq!(observed(TAP), value("'hello-world'"));
        assert_eq!(observed(SPEC), value("5"));
        assert_eq!(
            observed(
                "AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:\n\n5 !== 0\n"
            ),
            value("5")
        );
    }

    #[test]
    fn reads_node_test_exceptions() {
        let tap = "not ok 3 - throws\n  ---\n  failureType: 'testCodeFailure'\n  error: 'bad'\n  code: 'ERR_TEST_FAILURE'\n  name: 'TypeError'\n  stack: |-\n    h (file:///tmp/a.test.mjs:5:22)";
        assert_eq!(
            observed(tap),
            Some(Expected::Raises("TypeError".to_owned()))
        );
        let spec = "✖ throws (0.155201ms)\n  TypeError [Error]: bad\n      at h (file:///tmp/a.test.mjs:5:22)";
        assert_eq!(
            observed(spec),
            Some(Expected::Raises("TypeError".to_owned()))
        );
        // A helper that does not exist is the test's own fault.
        assert_eq!(
            observed(
                "  ReferenceError: makeFixture is not defined\n      at file:///t.test.mjs:4:19"
            ),
            None
        );
    }

    #[test]
    fn reads_jest_and_vitest_values() {
        let jest = "    expect(received).toBe(expected) // Object.is equality\n\n    Expected: 0\n    Received: \"hello-world\"";
        assert_eq!(observed(jest), value("\"hello-world\""));
        let vitest = "AssertionError: expected 'hello-world' to be +0 // Object.is equality";
        assert_eq!(observed(vitest), value("'hello-world'"));
    }
}
