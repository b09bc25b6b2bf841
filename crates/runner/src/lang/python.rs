//! Python: pytest (which also runs unittest's test cases) under coverage.py, with branch
//! coverage of the file under test. Debian's `python3-pytest` and `python3-coverage`.
//!
//! In a checkout the tests run from the repository's root, which is on the module path (with
//! `src/` when Python files live there), so the repository's own modules import as in its own
//! tests. Its pytest settings and conftest files apply, but not its `addopts`, nor its coverage
//! configuration: they name plugins that are not installed here. A module missing there is what
//! the verdict names when the repository does not provide it and the tests are not alone in
//! importing it.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use serde::Deserialize;

use domain::Checkout;

use super::{
    Plan, Toolchain, only_the_tests_import, parent_of, relative_path, shell_quote, write_file,
};
use crate::sandbox::{Command, Execution};
use crate::{Job, Measured};

pub(crate) struct Python;

const PYTHON: &str = "/usr/bin/python3";
const REPORT: &str = ".coverage.json";

impl Python {
    fn env(command: Command) -> Command {
        Python::env_with_path(command, "/work")
    }

    fn env_with_path(command: Command, path: &str) -> Command {
        command
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONPATH", path)
            .env("COVERAGE_FILE", "/work/.coverage")
    }

    /// The commands of a run from the repository's root, for `source` and `test` (quoted).
    fn in_checkout(checkout: &Checkout, source: &str, test: &str) -> Plan {
        let path = module_path(checkout);
        let pytest = format!(
            "-m pytest -q -p no:cacheprovider -o console_output_style=classic \
             --rootdir=/work -o addopts= {test}"
        );
        let with_coverage = format!(
            "{PYTHON} -m coverage run --rcfile=/dev/null --branch --include={source} {pytest}; \
             status=$?; {PYTHON} -m coverage json --rcfile=/dev/null -q --include={source} \
             -o {REPORT} >/dev/null 2>&1; exit $status"
        );
        Plan {
            build: None,
            run_with_coverage: Python::env_with_path(Command::shell(with_coverage), path),
            run: Python::env_with_path(Command::shell(format!("{PYTHON} {pytest}")), path),
        }
    }
}

impl Toolchain for Python {
    fn tool(&self) -> &'static str {
        "pytest + coverage.py"
    }

    fn probe(&self) -> Command {
        Command::new([PYTHON, "-c", "import pytest, coverage"])
    }

    fn install_hint(&self) -> &'static str {
        "Python's tests need python3, pytest and coverage.py (Debian: python3-pytest python3-coverage)"
    }

    fn uses_checkout(&self, _job: &Job<'_>) -> bool {
        true
    }

    fn prepare(&self, job: &Job<'_>, dir: &Path) -> io::Result<Plan> {
        write_file(dir, job.source_file_name, job.source)?;
        write_file(dir, job.test_file_name, job.test_code)?;
        let source = shell_quote(&relative_path(job.source_file_name)?.display().to_string());
        let test = shell_quote(&relative_path(job.test_file_name)?.display().to_string());
        if let Some(checkout) = job.checkout {
            return Ok(Python::in_checkout(checkout, &source, &test));
        }
        let pytest =
            format!("-m pytest -q -p no:cacheprovider -o console_output_style=classic {test}");
        let with_coverage = format!(
            "{PYTHON} -m coverage run --branch --include={source} {pytest}; status=$?; \
             {PYTHON} -m coverage json -q --include={source} -o {REPORT} >/dev/null 2>&1; exit $status"
        );
        Ok(Plan {
            build: None,
            run_with_coverage: Python::env(Command::shell(with_coverage)),
            run: Python::env(Command::shell(format!("{PYTHON} {pytest}"))),
        })
    }

    fn coverage(&self, job: &Job<'_>, dir: &Path) -> Option<Measured> {
        let report = std::fs::read_to_string(dir.join(REPORT)).ok()?;
        from_coverage_json(&report, job.source_file_name)
    }

    fn missing_module(&self, job: &Job<'_>, output: &str) -> Option<String> {
        if let Some(checkout) = job.checkout {
            return missing_modules_named(output).into_iter().find(|module| {
                !provides(checkout, job, module)
                    && !only_the_tests_import(job, checkout, &[".py"], |code| imports(code, module))
            });
        }
        let module = missing_module_named(output)?;
        imports(job.source, &module).then_some(module)
    }

    fn is_load_error(&self, execution: &Execution) -> bool {
        // pytest: 2 = interrupted (errors while collecting), 3 = internal error, 4 = usage error.
        matches!(execution.exit_code, Some(2..=4))
    }
}

/// The top-level module of the first `No module named 'x.y'` in `output`.
fn missing_module_named(output: &str) -> Option<String> {
    let start = output.find("No module named '")? + "No module named '".len();
    let rest = &output[start..];
    let name = &rest[..rest.find('\'')?];
    let top = name.split('.').next()?.trim();
    (!top.is_empty()).then(|| top.to_owned())
}

/// The top-level modules of every `No module named 'x.y'` in `output`, first seen first.
fn missing_modules_named(output: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for (at, _) in output.match_indices("No module named '") {
        if let Some(module) = missing_module_named(&output[at..])
            && !found.contains(&module)
        {
            found.push(module);
        }
    }
    found
}

/// Whether the checkout keeps Python files under `src/`, which then goes on the module path.
fn has_src_layout(checkout: &Checkout) -> bool {
    checkout
        .files
        .iter()
        .any(|file| file.path.starts_with("src/") && file.path.ends_with(".py"))
}

/// `PYTHONPATH` for a run among the checkout's files: its root, and `src/` when that holds Python.
pub(crate) fn module_path(checkout: &Checkout) -> &'static str {
    if has_src_layout(checkout) {
        "/work:/work/src"
    } else {
        "/work"
    }
}

/// Whether the repository provides the top-level module `module` where the run looks for it: at
/// the root, under `src/`, or beside the test (pytest puts the test's directory on the path).
fn provides(checkout: &Checkout, job: &Job<'_>, module: &str) -> bool {
    let mut bases = vec![String::new()];
    let test_dir = parent_of(job.test_file_name);
    if !test_dir.is_empty() {
        bases.push(format!("{test_dir}/"));
    }
    if has_src_layout(checkout) {
        bases.push("src/".to_owned());
    }
    let paths = checkout
        .files
        .iter()
        .map(|file| file.path.as_str())
        .chain([job.source_file_name, job.test_file_name]);
    paths.into_iter().any(|path| {
        bases.iter().any(|base| {
            path.strip_prefix(base.as_str()).is_some_and(|rest| {
                rest == format!("{module}.py")
                    || rest
                        .strip_prefix(module)
                        .and_then(|inside| inside.strip_prefix('/'))
                        .is_some_and(|inside| inside.ends_with(".py"))
            })
        })
    })
}

/// Whether `source` imports `module` (at any indentation: imports inside functions count).
fn imports(source: &str, module: &str) -> bool {
    source.lines().map(str::trim_start).any(|line| {
        let named = |rest: &str| {
            rest.split([',', ' ', '.'])
                .next()
                .is_some_and(|first| first == module)
        };
        if let Some(rest) = line.strip_prefix("import ") {
            rest.split(',').any(|part| named(part.trim()))
        } else if let Some(rest) = line.strip_prefix("from ") {
            named(rest.trim())
        } else {
            false
        }
    })
}

#[derive(Deserialize)]
struct CoverageJson {
    files: std::collections::BTreeMap<String, FileEntry>,
}

#[derive(Deserialize)]
struct FileEntry {
    executed_lines: Vec<u32>,
    missing_lines: Vec<u32>,
    #[serde(default)]
    executed_branches: Option<Vec<(i64, i64)>>,
    #[serde(default)]
    missing_branches: Option<Vec<(i64, i64)>>,
    summary: Summary,
}

#[derive(Deserialize)]
struct Summary {
    #[serde(default)]
    num_branches: Option<u32>,
    #[serde(default)]
    covered_branches: Option<u32>,
}

/// coverage.py's JSON report (`coverage json`), for the file named `file_name`.
fn from_coverage_json(report: &str, file_name: &str) -> Option<Measured> {
    let parsed: CoverageJson = serde_json::from_str(report).ok()?;
    let entry = parsed
        .files
        .iter()
        .find(|(path, _)| crate::coverage::path_matches(path, file_name))
        .map(|(_, entry)| entry)?;
    let covered: BTreeSet<u32> = entry.executed_lines.iter().copied().collect();
    let mut lines = covered.clone();
    lines.extend(entry.missing_lines.iter().copied());
    let id = |(from, to): &(i64, i64)| format!("{from}->{to}");
    let branches = match (&entry.executed_branches, &entry.missing_branches) {
        (Some(executed), Some(missing)) => {
            Some(executed.iter().chain(missing.iter()).map(id).collect())
        }
        _ => None,
    };
    let covered_branches = entry.executed_branches.iter().flatten().map(id).collect();
    Some(Measured {
        lines,
        covered,
        branches,
        covered_branches,
        reported_branches: entry
            .summary
            .num_branches
            .zip(entry.summary.covered_branches),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_module_is_the_sources_only_when_the_source_imports_it() {
        let output = "E   ModuleNotFoundError: No module named 'requests.adapters'\n";
        assert_eq!(missing_module_named(output).as_deref(), Some("requests"));
        assert!(imports("import os\nimport requests\n", "requests"));
        assert!(imports(
            "from requests.adapters import HTTPAdapter",
            "requests"
        ));
        assert!(imports(
            "def f():\n    import json, requests as r\n",
            "requests"
        ));
        assert!(!imports("import requests_mock\n", "requests"));
        assert!(!imports("# import requests\n", "requests"));
        assert_eq!(missing_module_named("AssertionError"), None);
    }

    #[test]
    fn coverage_json_gives_lines_and_branches() {
        let report = r#"{"meta": {}, "files": {"text_utils.py": {
            "executed_lines": [1, 2, 4], "missing_lines": [5],
            "executed_branches": [[4, 5], [4, -1]], "missing_branches": [[4, 6]],
            "summary": {"num_branches": 3, "covered_branches": 2}}}}"#;
        let measured = from_coverage_json(report, "text_utils.py").expect("file in report");
        let summary = measured.summary();
        assert_eq!((summary.lines_covered, summary.lines_total), (3, 4));
        assert_eq!(summary.uncovered_lines, vec![5]);
        assert_eq!(
            (summary.branches_covered, summary.branches_total),
            (Some(2), Some(3))
        );
        assert!(from_coverage_json(report, "other.py").is_none());
        assert!(from_coverage_json("not json", "text_utils.py").is_none());
    }

    #[test]
    fn in_a_checkout_the_missing_module_is_one_the_repository_lacks() {
        use domain::{CheckoutFile, Framework, Language};
        let file = |path: &str, contents: &str| CheckoutFile {
            path: path.to_owned(),
            contents: contents.to_owned(),
        };
        let checkout = Checkout {
            files: vec![
                file("shop/__init__.py", ""),
                file("shop/pricing.py", "import requests\n"),
                file("src/helpers/text.py", ""),
                file("tests/fixtures.py", ""),
                file("yaml.txt", ""),
            ],
            left_out: 0,
        };
        let job = Job {
            language: Language::Python,
            framework: Framework::Pytest,
            source_file_name: "shop/cart.py",
            source: "from shop.pricing import price\n",
            test_file_name: "tests/test_cart.py",
            test_code: "import hypothesis\nimport yaml\nfrom shop.cart import total\n",
            checkout: Some(&checkout),
        };
        // `src` too: the root is on the path, and `src/` is a namespace package there.
        for provided in ["shop", "helpers", "fixtures", "test_cart", "src"] {
            assert!(provides(&checkout, &job, provided), "{provided}");
        }
        for absent in ["requests", "yaml", "sho"] {
            assert!(!provides(&checkout, &job, absent), "{absent}");
        }
        let missing = |output: &str| Python.missing_module(&job, output);
        // A sibling module's import, not the source's, is named.
        assert_eq!(
            missing("E   ModuleNotFoundError: No module named 'requests'").as_deref(),
            Some("requests")
        );
        // The repository's own modules, and modules only the tests import, are not.
        assert_eq!(missing("No module named 'shop.absent'"), None);
        assert_eq!(missing("No module named 'hypothesis'"), None);
        assert_eq!(
            missing("No module named 'shop.absent'\nNo module named 'requests.adapters'")
                .as_deref(),
            Some("requests")
        );
        assert_eq!(
            missing_modules_named("No module named 'a.b' No module named 'c' No module named 'a'"),
            vec!["a".to_owned(), "c".to_owned()]
        );
    }
}
