//! pytest's and unittest's failure output: `E       AssertionError: assert 'hello-world' == 0`
//! (older pytest: `E       assert '' == 0`), `E       TypeError: …` for an exception;
//! unittest's `AssertionError: 5 != 0`.

use crate::feedback::is_type_name;
use crate::scaffold::Expected;

/// Exceptions that say the test itself is broken, not what the code under test does.
const TEST_ERRORS: &[&str] = &[
    "AssertionError",
    "ImportError",
    "ModuleNotFoundError",
    "NameError",
    "SyntaxError",
    "IndentationError",
    "fixture",
];

pub(super) fn observed(output: &str) -> Option<Expected> {
    // A module that does not load says nothing about the code's behaviour.
    if output.contains("ERROR collecting") {
        return None;
    }
    for line in output.lines() {
        let trimmed = line.trim_start();
        // pytest's explanation lines start with `E`; unittest's message is bare.
        let text = match trimmed.strip_prefix("E ") {
            Some(rest) => rest.trim(),
            None if trimmed.starts_with("AssertionError: ") => trimmed,
            // The short summary (`-rA`, `-q`): `FAILED t.py::test_x - TypeError: bad`.
            None => match trimmed
                .strip_prefix("FAILED ")
                .and_then(|rest| rest.split_once(" - "))
            {
                Some((_test, reason)) => reason.trim(),
                None => continue,
            },
        };
        if text.starts_with('+') {
            continue;
        }
        let assertion = text.strip_prefix("AssertionError: ").unwrap_or(text);
        if let Some(expression) = assertion.strip_prefix("assert ") {
            return actual_side(expression, &[" == ", " is ", " != "]).map(Expected::Value);
        }
        if text.starts_with("AssertionError: ") {
            // unittest: `5 != 0`, `True is not None`.
            return actual_side(assertion, &[" != ", " is not ", " == "]).map(Expected::Value);
        }
        if let Some((name, _message)) = text.split_once(':').or(Some((text, "")))
            && is_type_name(name)
            && name.starts_with(|c: char| c.is_uppercase() || name.contains('.'))
            && !TEST_ERRORS.contains(&name.rsplit('.').next().unwrap_or(name))
        {
            return Some(Expected::Raises(name.to_owned()));
        }
    }
    None
}

/// The left side of `expression` split at the last of `operators` it holds, when it reads as a
/// literal (not `<function …>` nor a call pytest could not evaluate).
fn actual_side(expression: &str, operators: &[&str]) -> Option<String> {
    let (left, _right) = operators
        .iter()
        .filter_map(|operator| expression.rsplit_once(operator))
        .max_by_key(|(left, _)| left.len())?;
    let left = left.trim();
    let literal = !left.is_empty()
        && !left.starts_with('<')
        && !left.starts_with('(')
        && !left.contains(" at 0x");
    literal.then(|| left.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Option<Expected> {
        Some(Expected::Value(text.to_owned()))
    }

    // Output of pytest 9.2 on Python 3, trimmed.
    const PYTEST: &str = r#"=================================== FAILURES ===================================
_________________________________ test_slugify _________________________________

    def test_slugify():
        result = slugify(text="Hello World", separator="-")
>       assert result == 0
E       AssertionError: assert 'hello-world' == 0

test_a.py:6: AssertionError
=========================== short test summary info ============================
FAILED test_a.py::test_slugify - AssertionError: assert 'hello-world' == 0
1 failed in 0.03s"#;

    #[test]
    fn reads_the_actual_value_of_an_assertion() {
        assert_eq!(observed(PYTEST), value("'hello-world'"));
        // Older pytest, as the prompt documentation shows it.
        assert_eq!(observed("E       assert '' == 0"), value("''"));
        assert_eq!(
            observed("E       AssertionError: assert 'a\\nb' == 0"),
            value("'a\\nb'")
        );
        assert_eq!(
            observed(
                "E       AssertionError: assert True is None\nE        +  where True = <function TextStats.is_blank at 0x7fcdb4a67a60>(text='  ')"
            ),
            value("True")
        );
        assert_eq!(
            observed("E       AssertionError: assert ['a == b', 2] == 0"),
            value("['a == b', 2]")
        );
        // unittest.
        assert_eq!(
            observed(
                "Traceback (most recent call last):\n  File \"t.py\", line 5\nAssertionError: 5 != 0"
            ),
            value("5")
        );
    }

    #[test]
    fn reads_the_exception_the_call_raised() {
        let output = r#"    def word_count(text):
>       return len(_WORD.findall(text))
                   ^^^^^^^^^^^^^^^^^^^
E       TypeError: expected string or bytes-like object, got 'NoneType'

text_utils.py:16: TypeError"#;
        assert_eq!(
            observed(output),
            Some(Expected::Raises("TypeError".to_owned()))
        );
        assert_eq!(
            observed("E       text_utils.ParseError: bad input"),
            Some(Expected::Raises("text_utils.ParseError".to_owned()))
        );
    }

    #[test]
    fn says_nothing_of_broken_tests() {
        assert_eq!(observed("E       assert (1 / 3) == 0"), None);
        assert_eq!(
            observed(
                "_____ ERROR collecting test_text_utils.py _____\nE   ImportError: cannot import name 'slugif' from 'text_utils'"
            ),
            None
        );
        assert_eq!(
            observed("E       NameError: name 'make_fixture' is not defined"),
            None
        );
        assert_eq!(observed("1 passed in 0.01s"), None);
    }

    #[test]
    fn reads_the_short_summary_alone() {
        assert_eq!(
            observed("FAILED test_a.py::test_slugify - AssertionError: assert 'hello-world' == 0"),
            value("'hello-world'")
        );
        assert_eq!(
            observed(
                "FAILED test_a.py::test_raise - TypeError: expected string or bytes-like objec..."
            ),
            Some(Expected::Raises("TypeError".to_owned()))
        );
    }
}
