//! Reading a test run's output back: what the call under test returned or raised, as a failed
//! assertion or an uncaught exception shows it. The model simulator answers run feedback with it;
//! each language's parsing lives in `lang/<language>/feedback.rs`, next to its scaffolds, whose
//! assertions it reads.

use domain::Language;

use crate::lang::support;
pub use crate::scaffold::Expected as Observed;

/// What the first failure in `output` (the output of `language`'s test tool) observed: the
/// value the assertion's actual side held, or the exception the call raised. `None` when the
/// output shows neither (a build error, a timeout, an assertion on something else).
pub fn observed(language: Language, output: &str) -> Option<Observed> {
    support(language).observed(output)
}

/// Whether `name` is a dotted name of identifiers (`TypeError`, `java.lang.Error`, `a.B$C`).
pub(crate) fn is_type_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|segment| {
            segment.starts_with(|c: char| c.is_alphabetic() || c == '_')
                && segment
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        })
}

/// `text` without ANSI colour sequences (`\u{1b}[31m`), which test launchers print.
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_dropped() {
        assert_eq!(
            strip_ansi("\u{1b}[31mnum()\u{1b}[0m \u{1b}[31m✘\u{1b}[0m"),
            "num() ✘"
        );
        assert!(is_type_name("java.lang.IllegalArgumentException"));
        assert!(is_type_name("Outer$Inner"));
        assert!(!is_type_name("expected: <0>"));
        assert!(!is_type_name(""));
    }
}
