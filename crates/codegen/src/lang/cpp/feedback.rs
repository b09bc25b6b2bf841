//! GoogleTest's failures: `Expected equality of these values:\n  result\n    Which is: 5`,
//! `Value of: result\n  Actual: false`, and `C++ exception with description "bad" thrown in the
//! test body.` (which names no type).

use crate::scaffold::Expected;

pub(super) fn observed(output: &str) -> Option<Expected> {
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with("C++ exception with description")
            || line.starts_with("Unknown C++ exception thrown")
        {
            return Some(Expected::Raises(String::new()));
        }
        // The scaffolds put `result` first: its value is the first `Which is:` after it.
        if *line == "Expected equality of these values:"
            && lines.get(index + 1) == Some(&"result")
            && let Some(actual) = lines
                .get(index + 2)
                .and_then(|next| next.strip_prefix("Which is: "))
        {
            return Some(Expected::Value(actual.to_owned()));
        }
        if *line == "Value of: result"
            && let Some(actual) = lines
                .get(index + 1)
                .and_then(|next| next.strip_prefix("Actual: "))
        {
            return Some(Expected::Value(actual.to_owned()));
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

    // GoogleTest 1.12 (Debian's libgtest), trimmed.
    const GTEST: &str = "[ RUN      ] A.Num
t.cpp:8: Failure
Expected equality of these values:
  result
    Which is: 5
  0
[  FAILED  ] A.Num (0 ms)";

    #[test]
    fn reads_the_value_of_result() {
        assert_eq!(observed(GTEST), value("5"));
        assert_eq!(
            observed(
                "t.cpp:9: Failure\nExpected equality of these values:\n  result\n    Which is: \"hello-world\"\n  \"\""
            ),
            value("\"hello-world\"")
        );
        assert_eq!(
            observed(
                "t.cpp:11: Failure\nExpected equality of these values:\n  result\n    Which is: 2.5\n  0.0\n    Which is: 0"
            ),
            value("2.5")
        );
        assert_eq!(
            observed("t.cpp:9: Failure\nValue of: result\n  Actual: true\nExpected: false"),
            value("true")
        );
        // Another expression's value is not the result's.
        assert_eq!(
            observed("t.cpp:9: Failure\nValue of: result.empty()\n  Actual: false\nExpected: true"),
            None
        );
    }

    #[test]
    fn reads_an_exception() {
        let output = "[ RUN      ] A.Throw
unknown file: Failure
C++ exception with description \"bad\" thrown in the test body.
[  FAILED  ] A.Throw (0 ms)";
        assert_eq!(observed(output), Some(Expected::Raises(String::new())));
        assert_eq!(
            observed("t.cpp:4:20: error: 'make_test_fixture' was not declared in this scope"),
            None
        );
    }
}
