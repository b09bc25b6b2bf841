//! The test harness's panics: `assertion `left == right` failed\n  left: 5\n right: 0` (older
//! Rust: ``assertion failed: `(left == right)`\n  left: `5`,``), and any other panic of the call.

use crate::scaffold::Expected;

pub(super) fn observed(output: &str) -> Option<Expected> {
    // A test that does not compile says nothing about the code's behaviour.
    if output.contains("error[E") || output.contains("error: could not compile") {
        return None;
    }
    let lines: Vec<&str> = output.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if !(line.starts_with("thread '") && line.contains("panicked at")) {
            continue;
        }
        // Since Rust 1.73 the message is on the next line; before, after `panicked at '`.
        let message = lines.get(index + 1).copied().unwrap_or_default();
        if line.contains("assertion") || message.starts_with("assertion") {
            let left = lines[index..]
                .iter()
                .find_map(|line| line.trim_start().strip_prefix("left: "))?;
            let left = left.trim().trim_end_matches(',').trim_matches('`');
            return Some(Expected::Value(left.to_owned()));
        }
        return Some(Expected::Raises(String::new()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // rustc 1.9x's test harness, trimmed.
    const ASSERTION: &str = "---- num stdout ----

thread 'num' (7351) panicked at t.rs:4:38:
assertion `left == right` failed
  left: 5
 right: 0
stack backtrace:";

    #[test]
    fn reads_the_left_side() {
        assert_eq!(observed(ASSERTION), Some(Expected::Value("5".to_owned())));
        assert_eq!(
            observed(
                "thread 'st' panicked at t.rs:5:38:\nassertion `left == right` failed\n  left: \"hello-world\"\n right: \"\""
            ),
            Some(Expected::Value("\"hello-world\"".to_owned()))
        );
        // Before Rust 1.73.
        assert_eq!(
            observed(
                "thread 'num' panicked at 'assertion failed: `(left == right)`\n  left: `5`,\n right: `0`', t.rs:4:38"
            ),
            Some(Expected::Value("5".to_owned()))
        );
    }

    #[test]
    fn reads_a_panic_of_the_call() {
        let output = "---- pan stdout ----

thread 'pan' (7362) panicked at t.rs:3:23:
attempt to divide by zero
stack backtrace:";
        assert_eq!(observed(output), Some(Expected::Raises(String::new())));
        assert_eq!(
            observed("error[E0425]: cannot find function `make_test_fixture` in this scope"),
            None
        );
    }
}
