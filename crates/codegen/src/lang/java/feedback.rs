//! The JUnit Platform console launcher's failures: `=> org.opentest4j.AssertionFailedError:
//! expected: <0> but was: <5>` and `=> java.lang.IllegalArgumentException: bad`.

use crate::feedback::{is_type_name, strip_ansi};
use crate::scaffold::Expected;

pub(super) fn observed(output: &str) -> Option<Expected> {
    let output = strip_ansi(output);
    for line in output.lines() {
        if let Some((_, actual)) = line.split_once("but was: <") {
            let actual = actual.rsplit_once('>').map_or(actual, |(actual, _)| actual);
            return Some(Expected::Value(actual.to_owned()));
        }
        let Some(thrown) = line.trim().strip_prefix("=> ") else {
            continue;
        };
        let name = thrown.split(':').next().unwrap_or(thrown).trim();
        let test_failure = name.starts_with("org.opentest4j.")
            || name.ends_with("AssertionError")
            || name.starts_with("org.junit.");
        if is_type_name(name) && !test_failure {
            return Some(Expected::Raises(name.to_owned()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // junit-platform-console-standalone 1.9 (`--details=tree`) on JDK 17, trimmed.
    const CONSOLE: &str = "\u{1b}[36m│  └─\u{1b}[0m \u{1b}[36mATest\u{1b}[0m \u{1b}[32m✔\u{1b}[0m
\u{1b}[36m│     ├─\u{1b}[0m \u{1b}[31mnum()\u{1b}[0m \u{1b}[31m✘\u{1b}[0m \u{1b}[31mexpected: <0> but was: <5>\u{1b}[0m

Failures (1):
  JUnit Jupiter:ATest:num()
    MethodSource [className = 'ATest', methodName = 'num', methodParameterTypes = '']
    => org.opentest4j.AssertionFailedError: expected: <0> but was: <5>
       org.junit.jupiter.api.AssertionFailureBuilder.build(AssertionFailureBuilder.java:151)";

    #[test]
    fn reads_the_actual_value() {
        assert_eq!(observed(CONSOLE), Some(Expected::Value("5".to_owned())));
        assert_eq!(
            observed(
                "    => org.opentest4j.AssertionFailedError: expected: <> but was: <hello-world>"
            ),
            Some(Expected::Value("hello-world".to_owned()))
        );
        assert_eq!(
            observed(
                "    => org.opentest4j.AssertionFailedError: expected: <null> but was: <a <b>>"
            ),
            Some(Expected::Value("a <b>".to_owned()))
        );
    }

    #[test]
    fn reads_the_exception_thrown() {
        let output = "  JUnit Jupiter:ATest:thr()
    MethodSource [className = 'ATest', methodName = 'thr', methodParameterTypes = '']
    => java.lang.IllegalArgumentException: bad
       ATest.h(ATest.java:6)";
        assert_eq!(
            observed(output),
            Some(Expected::Raises(
                "java.lang.IllegalArgumentException".to_owned()
            ))
        );
        assert_eq!(
            observed(
                "ATest.java:7: error: cannot find symbol\n    var fixture = TestFixtures.create();"
            ),
            None
        );
        assert_eq!(
            observed(
                "    => org.opentest4j.AssertionFailedError: expected: <true> but was: <false>"
            ),
            Some(Expected::Value("false".to_owned()))
        );
    }
}
