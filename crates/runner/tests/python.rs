//! Python tests run for real: verdicts, and coverage figures checked against coverage.py run by
//! hand on the same files.

mod common;

use std::ffi::OsStr;

use common::{
    assert_fails_saying, assert_missing_module, assert_outcome, assert_partly_covered,
    assert_passes_and_measures, by_hand, by_hand_with, corpus, python, tempdir, toolchain_runner,
    write_job_files,
};
use runner::Outcome;

const TEXT_UTILS_TESTS: &str = r#"
from text_utils import slugify, truncate


def test_slugify_joins_lower_case_words():
    assert slugify("Hello, World") == "hello-world"


def test_truncate_keeps_short_text():
    assert truncate("abc", 5) == "abc"
"#;

#[tokio::test]
async fn passing_tests_pass_again_and_report_the_coverage_coverage_py_reports() {
    let runner = toolchain_runner().await;
    let source = corpus("python/text_utils.py");
    let job = python("text_utils.py", &source, TEXT_UTILS_TESTS);
    let (_, measured) = assert_passes_and_measures(&runner, &job, 2).await;
    let summary = measured.summary();

    // The same files, measured by hand with the same tool, outside any sandbox.
    let dir = tempdir("by-hand");
    write_job_files(
        &dir,
        &[
            ("text_utils.py", &source),
            ("test_subject.py", TEXT_UTILS_TESTS),
        ],
    );
    by_hand_with(
        &dir,
        "/usr/bin/python3",
        &[
            "-m",
            "coverage",
            "run",
            "--branch",
            "--include=text_utils.py",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_subject.py",
        ],
        &[("PYTHONDONTWRITEBYTECODE", OsStr::new("1"))],
    );
    let json = by_hand(
        &dir,
        "/usr/bin/python3",
        &[
            "-m",
            "coverage",
            "json",
            "-q",
            "-o",
            "-",
            "--include=text_utils.py",
        ],
    );
    let by_hand: serde_json::Value = serde_json::from_str(&json).expect("json report");
    let totals = &by_hand["totals"];
    assert_eq!(
        u64::from(summary.lines_covered),
        totals["covered_lines"].as_u64().expect("covered")
    );
    assert_eq!(
        u64::from(summary.lines_total),
        totals["num_statements"].as_u64().expect("statements")
    );
    assert_eq!(
        summary.branches_total.map(u64::from),
        totals["num_branches"].as_u64()
    );
    assert_eq!(
        summary.branches_covered.map(u64::from),
        totals["covered_branches"].as_u64()
    );
    assert_partly_covered(&summary);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_wrong_expectation_fails_with_the_assertion_in_the_output() {
    let runner = toolchain_runner().await;
    let source = corpus("python/text_utils.py");
    let tests = "from text_utils import word_count\n\n\ndef test_word_count():\n    assert word_count(\"one two\") == 3\n";
    let job = python("text_utils.py", &source, tests);
    let report = assert_fails_saying(&runner, &job, 2, &["assert 2 == 3"]).await;
    assert!(report.coverage.is_none());
}

#[tokio::test]
async fn tests_that_do_not_load_did_not_build() {
    let runner = toolchain_runner().await;
    let source = corpus("python/text_utils.py");
    for tests in [
        "from text_utils import no_such_function\n\ndef test_x():\n    assert no_such_function() == 1\n",
        "import pytest_nonexistent_plugin\n\ndef test_x():\n    assert True\n",
        "def test_x(:\n    pass\n",
    ] {
        let job = python("text_utils.py", &source, tests);
        assert_outcome(&runner, &job, 0, Outcome::BuildFailed).await;
    }
}

#[tokio::test]
async fn a_source_that_needs_an_absent_module_says_which() {
    let runner = toolchain_runner().await;
    let source = "import requests\n\n\ndef get(url):\n    return requests.get(url).text\n";
    let tests =
        "from client import get\n\n\ndef test_get():\n    assert get(\"http://x\") == \"\"\n";
    let job = python("client.py", source, tests);
    assert_missing_module(&runner, &job, "requests").await;
}

#[tokio::test]
async fn a_test_that_passes_only_sometimes_is_seen_in_its_reruns() {
    let runner = toolchain_runner().await;
    let source = corpus("python/text_utils.py");
    // Each run counts itself in a file of the work directory, which outlives the run's
    // commands: the first run passes, the next fails, and so on.
    let tests = "import os\nfrom text_utils import word_count\n\n\ndef test_every_other_run():\n    assert word_count('a b') == 2\n    runs = int(open('runs').read()) if os.path.exists('runs') else 0\n    open('runs', 'w').write(str(runs + 1))\n    assert runs % 2 == 0\n";
    let report = runner
        .run(&python("text_utils.py", &source, tests), 4)
        .await;
    assert_eq!(report.outcome, Outcome::Passed, "{}", report.output);
    assert_eq!(
        (report.reruns, report.rerun_passes),
        (4, 2),
        "runs 2 and 4 of 5 fail: {}",
        report.output
    );
}
