//! Rust tests run for real (`rustc --test`, LLVM's source-based coverage): verdicts, and coverage
//! figures checked against `llvm-cov`'s report of the same files, built and run by hand.

mod common;

use common::{
    assert_fails_then_does_not_build, assert_missing_module, assert_partly_covered,
    assert_passes_and_measures, by_hand, by_hand_with, corpus, framework_job, tempdir,
    toolchain_runner, write_job_files,
};
use domain::Framework;
use runner::Job;

const STACK_TESTS: &str = r#"use super::*;

#[test]
fn pushes_until_full() {
    let mut stack = Stack::with_capacity(2);
    assert_eq!(stack.push(1), Ok(()));
    assert_eq!(stack.push(2), Ok(()));
    assert_eq!(stack.push(3), Err(Full));
    assert_eq!(stack.pop(), Some(2));
}
"#;

fn rust_test<'a>(
    source_file_name: &'a str,
    source: &'a str,
    test_file_name: &'a str,
    tests: &'a str,
) -> Job<'a> {
    framework_job(
        Framework::RustBuiltin,
        source_file_name,
        source,
        test_file_name,
        tests,
    )
}

#[tokio::test]
async fn passing_tests_pass_again_and_report_the_coverage_llvm_cov_reports() {
    let runner = toolchain_runner().await;
    let source = corpus("rust/stack.rs");
    let job = rust_test("stack.rs", &source, "stack_test.rs", STACK_TESTS);
    let (output, measured) = assert_passes_and_measures(&runner, &job, 1).await;
    // The generated tests run; the source's own do not.
    assert!(
        output.contains("generated_tests::pushes_until_full ... ok")
            && !output.contains("a_full_stack_refuses"),
        "{output}"
    );
    let summary = measured.summary();

    // The same files, built, run and summed up by hand with the same tools, outside any sandbox.
    let dir = tempdir("rust-by-hand");
    let root =
        format!("{source}\n#[cfg(test)]\n#[path = \"stack_test.rs\"]\nmod generated_tests;\n");
    write_job_files(&dir, &[("stack.rs", &root), ("stack_test.rs", STACK_TESTS)]);
    by_hand(
        &dir,
        "/usr/bin/rustc",
        &[
            "--test",
            "--edition",
            "2021",
            "-C",
            "instrument-coverage",
            "-o",
            "tests",
            "stack.rs",
        ],
    );
    let binary = dir.join("tests").display().to_string();
    let profile = dir.join("tests.profraw");
    by_hand_with(
        &dir,
        &binary,
        &["generated_tests::"],
        &[("LLVM_PROFILE_FILE", profile.as_os_str())],
    );
    by_hand(
        &dir,
        "/usr/bin/llvm-profdata-22",
        &["merge", "-sparse", "tests.profraw", "-o", "tests.profdata"],
    );
    let source_path = dir.join("stack.rs").display().to_string();
    let lcov = by_hand(
        &dir,
        "/usr/bin/llvm-cov-22",
        &[
            "export",
            "-format=lcov",
            "-instr-profile=tests.profdata",
            &binary,
            &source_path,
        ],
    );
    // llvm-cov's per-line records (`DA:line,hits`). Its totals (`LF`, and the summary's line
    // count) count a line shared by two functions (a closure's) once per function, so the
    // distinct lines are compared: here 39 lines where the summary says 40.
    let records: Vec<(u32, u64)> = lcov
        .lines()
        .filter_map(|line| {
            let (number, hits) = line.strip_prefix("DA:")?.split_once(',')?;
            Some((number.parse().ok()?, hits.parse().ok()?))
        })
        .collect();
    let covered = records.iter().filter(|(_, hits)| *hits > 0).count();
    assert_eq!(usize::try_from(summary.lines_total), Ok(records.len()));
    assert_eq!(usize::try_from(summary.lines_covered), Ok(covered));
    let reported = |key: &str| {
        lcov.lines()
            .find_map(|line| line.strip_prefix(key)?.parse::<u32>().ok())
            .expect("totals")
    };
    assert_eq!(summary.lines_covered, reported("LH:"));
    assert!(summary.lines_total <= reported("LF:"));
    // Stable rustc measures no branches.
    assert_eq!(summary.branches_total, None);
    assert_partly_covered(&summary);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_wrong_expectation_fails_and_broken_code_does_not_build() {
    let runner = toolchain_runner().await;
    let source = corpus("rust/stack.rs");
    let failing = "use super::*;\n\n#[test]\nfn pops_the_last() {\n    let mut stack = Stack::with_capacity(2);\n    let _ = stack.push(1);\n    let _ = stack.push(2);\n    assert_eq!(stack.pop(), Some(1));\n}\n";
    let job = rust_test("stack.rs", &source, "stack_test.rs", failing);
    assert_fails_then_does_not_build(
        &runner,
        job,
        &["left: Some(2)", "right: Some(1)"],
        ("stack.pop()", "stack.peek()"),
        "peek",
    )
    .await;
}

#[tokio::test]
async fn a_crate_the_source_uses_and_nobody_has_is_a_missing_module() {
    let runner = toolchain_runner().await;
    let source = corpus("rust/client.rs");
    let tests = "use super::*;\n\n#[test]\nfn not_found_names_the_user() {\n    assert_eq!(ClientError::NotFound(7).to_string(), \"user 7 not found\");\n}\n";
    let job = rust_test("client.rs", &source, "client_test.rs", tests);
    assert_missing_module(&runner, &job, "serde").await;
}
