//! The parser corpus: every source file under `tests/corpus/<language>/` sits beside a
//! `<file>.units` listing the units it must yield, one per line:
//!
//! ```text
//! <kind> <qualified name> L<first>-L<last> [async] [static] [public]
//! ```
//!
//! Kinds are `function`, `method`, `constructor`; the qualified name joins the container and the
//! name with `.` (`::` for C++ and Rust); only the flags that hold are listed. Columns may be
//! padded with spaces; blank lines and lines starting with `#` are ignored.

use std::fs;
use std::path::{Path, PathBuf};

use codegen::{Syntax, Unit, parse_units};
use domain::Language;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn separator(language: Language) -> &'static str {
    match language {
        Language::Cpp | Language::Rust => "::",
        _ => ".",
    }
}

fn format_unit(unit: &Unit, language: Language) -> String {
    let mut line = format!(
        "{} {} L{}-L{}",
        unit.kind.as_str(),
        unit.qualified_name(separator(language)),
        unit.start_line,
        unit.end_line
    );
    for (flag, holds) in [
        ("async", unit.is_async),
        ("static", unit.is_static),
        ("public", unit.is_public),
    ] {
        if holds {
            line.push(' ');
            line.push_str(flag);
        }
    }
    line
}

fn expected_lines(units_file: &Path) -> Vec<String> {
    let written = fs::read_to_string(units_file)
        .unwrap_or_else(|error| panic!("{}: {error}", units_file.display()));
    written
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// A line-by-line comparison: `  ` for agreeing lines, `- ` expected only, `+ ` parsed only.
fn diff(expected: &[String], actual: &[String]) -> String {
    let mut out = String::new();
    let (mut e, mut a) = (0, 0);
    while e < expected.len() || a < actual.len() {
        match (expected.get(e), actual.get(a)) {
            (Some(x), Some(y)) if x == y => {
                out.push_str(&format!("  {x}\n"));
                e += 1;
                a += 1;
            }
            (Some(x), Some(_)) if !actual[a..].contains(x) => {
                out.push_str(&format!("- {x}\n"));
                e += 1;
            }
            (Some(_), Some(y)) => {
                out.push_str(&format!("+ {y}\n"));
                a += 1;
            }
            (Some(x), None) => {
                out.push_str(&format!("- {x}\n"));
                e += 1;
            }
            (None, Some(y)) => {
                out.push_str(&format!("+ {y}\n"));
                a += 1;
            }
            (None, None) => break,
        }
    }
    out
}

fn sources_of(language: Language) -> Vec<PathBuf> {
    let dir = corpus_dir().join(language.id());
    let mut sources: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension != "units")
        })
        .collect();
    sources.sort();
    sources
}

#[test]
fn every_language_has_at_least_three_corpus_files() {
    for language in Language::ALL {
        let sources = sources_of(language);
        assert!(
            sources.len() >= 3,
            "{}: {} corpus files, expected at least 3",
            language.id(),
            sources.len()
        );
        for source in sources {
            let units_file = units_file_of(&source);
            assert!(units_file.exists(), "{} is missing", units_file.display());
        }
    }
}

fn units_file_of(source: &Path) -> PathBuf {
    let mut name = source.file_name().unwrap_or_default().to_os_string();
    name.push(".units");
    source.with_file_name(name)
}

#[test]
fn every_corpus_file_yields_exactly_its_units() {
    let mut failures = Vec::new();
    for language in Language::ALL {
        for source_path in sources_of(language) {
            let source = fs::read_to_string(&source_path)
                .unwrap_or_else(|error| panic!("{}: {error}", source_path.display()));
            let file_name = source_path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or_default();
            let syntax = Syntax::of(language, file_name);
            let actual: Vec<String> = parse_units(syntax, &source)
                .unwrap_or_default()
                .iter()
                .map(|unit| format_unit(unit, language))
                .collect();
            let expected = expected_lines(&units_file_of(&source_path));
            if actual != expected {
                failures.push(format!(
                    "{}/{file_name} (- expected, + parsed):\n{}",
                    language.id(),
                    diff(&expected, &actual)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
