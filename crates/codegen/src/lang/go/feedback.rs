//! `go test`'s failures: a test's own message (`m_test.go:8: got 5, want 0`, `F() = "x", want ""`,
//! as the scaffolds word them), testify's `actual  : 5` and `Should be zero, but was 5`, and
//! `panic: runtime error: integer divide by zero [recovered]`.

use crate::scaffold::Expected;

pub(super) fn observed(output: &str) -> Option<Expected> {
    // A package that does not build says nothing about the code's behaviour.
    if output.contains("[build failed]") || output.contains("[setup failed]") {
        return None;
    }
    for line in output.lines() {
        let trimmed = line.trim();
        if let Some(panic) = trimmed.strip_prefix("panic: ") {
            let panic = panic.strip_suffix(" [recovered]").unwrap_or(panic);
            return Some(Expected::Raises(panic.to_owned()));
        }
        // testify.
        if let Some(actual) = trimmed.strip_prefix("actual  : ") {
            return Some(Expected::Value(actual.trim().to_owned()));
        }
        for marker in ["Should be zero, but was ", "Should be empty, but was "] {
            if let Some((_, actual)) = trimmed.split_once(marker) {
                return Some(Expected::Value(actual.trim().to_owned()));
            }
        }
        if trimmed.ends_with("Should be false") {
            return Some(Expected::Value("true".to_owned()));
        }
        // `t.Errorf` in the `file_test.go:12: message` lines.
        let Some((location, message)) = trimmed.split_once(": ") else {
            continue;
        };
        if !location.contains("_test.go:") {
            continue;
        }
        let Some((head, _want)) = message.rsplit_once(", want ") else {
            continue;
        };
        let actual = head
            .strip_prefix("got ")
            .or_else(|| head.split_once(") = ").map(|(_, actual)| actual));
        if let Some(actual) = actual {
            return Some(Expected::Value(actual.trim().to_owned()));
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

    // `go test ./...` with Go 1.19, trimmed.
    const GO_TEST: &str = "--- FAIL: TestF (0.00s)
    m_test.go:8: F() = 5, want 0
--- FAIL: TestG (0.00s)
    m_test.go:14: got \"hello-world\", want empty
FAIL
FAIL\texample.com/m\t0.005s";

    #[test]
    fn reads_the_tests_messages() {
        assert_eq!(observed(GO_TEST), value("5"));
        assert_eq!(
            observed("--- FAIL: TestG (0.00s)\n    m_test.go:14: got \"hello-world\", want empty"),
            value("\"hello-world\"")
        );
        assert_eq!(
            observed("    stack_test.go:20: got true, want false"),
            value("true")
        );
    }

    #[test]
    fn reads_panics() {
        let output = "--- FAIL: TestH (0.00s)
panic: runtime error: integer divide by zero [recovered]
\tpanic: runtime error: integer divide by zero

goroutine 8 [running]:";
        assert_eq!(
            observed(output),
            Some(Expected::Raises(
                "runtime error: integer divide by zero".to_owned()
            ))
        );
    }

    #[test]
    fn build_failures_say_nothing() {
        let output = "# example.com/m [example.com/m.test]
./bad_test.go:3:32: undefined: newFixture
FAIL\texample.com/m [build failed]
FAIL";
        assert_eq!(observed(output), None);
    }

    #[test]
    fn reads_testify() {
        let output = "    m_test.go:9: \n        \tError Trace:\tm_test.go:9\n        \tError:      \tNot equal: \n        \t            \texpected: 0\n        \t            \tactual  : 5\n        \tTest:       \tTestF";
        assert_eq!(observed(output), value("5"));
        assert_eq!(
            observed("        \tError:      \tShould be zero, but was 5"),
            value("5")
        );
    }
}
