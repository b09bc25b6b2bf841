//! C++ tests run for real (GoogleTest, gcov's counts through gcovr): verdicts, and coverage
//! figures checked against gcovr's summary of the same files, built and run by hand.

mod common;

use common::{
    assert_fails_then_does_not_build, assert_missing_module, assert_partly_covered,
    assert_passes_and_measures, by_hand, corpus, framework_job, tempdir, toolchain_runner,
    write_job_files,
};
use domain::Framework;
use runner::Job;

/// Includes the header generated tests guess for `geometry.cpp`, which has none.
const GEOMETRY_TESTS: &str = r#"#include "geometry.h"

#include <gtest/gtest.h>

TEST(Point, NormIsTheLength) {
    EXPECT_DOUBLE_EQ(Point(3, 4).norm(), 5.0);
}

TEST(Circle, AreaOfTheUnitCircleIsPi) {
    EXPECT_NEAR(Circle(1.0).area(), 3.14159, 1e-5);
}
"#;

fn gtest<'a>(
    source_file_name: &'a str,
    source: &'a str,
    test_file_name: &'a str,
    tests: &'a str,
) -> Job<'a> {
    framework_job(
        Framework::Gtest,
        source_file_name,
        source,
        test_file_name,
        tests,
    )
}

#[tokio::test]
async fn passing_tests_pass_again_and_report_the_coverage_gcovr_reports() {
    let runner = toolchain_runner().await;
    let source = corpus("cpp/geometry.cpp");
    let job = gtest("geometry.cpp", &source, "geometry_test.cpp", GEOMETRY_TESTS);
    let (output, measured) = assert_passes_and_measures(&runner, &job, 1).await;
    assert!(output.contains("[  PASSED  ] 2 tests."), "{output}");
    let summary = measured.summary();

    // The same files, built, run and summed up by hand with the same tools, outside any sandbox.
    let dir = tempdir("cpp-by-hand");
    write_job_files(
        &dir,
        &[
            ("geometry.cpp", &source),
            ("geometry.h", "#include \"geometry.cpp\"\n"),
            ("geometry_test.cpp", GEOMETRY_TESTS),
        ],
    );
    by_hand(
        &dir,
        "/usr/bin/g++",
        &[
            "-O0",
            "--coverage",
            "-Dmain=source_main",
            "geometry_test.cpp",
            "-o",
            "tests",
            "-lgtest_main",
            "-lgtest",
            "-pthread",
        ],
    );
    by_hand(&dir, &dir.join("tests").display().to_string(), &[]);
    let json = by_hand(
        &dir,
        "/usr/bin/gcovr",
        &[
            "--root",
            ".",
            "--filter",
            "geometry\\.cpp",
            "--exclude-throw-branches",
            "--json-summary",
        ],
    );
    let by_hand: serde_json::Value = serde_json::from_str(&json).expect("gcovr's summary");
    let file = &by_hand["files"][0];
    assert_eq!(file["filename"], "geometry.cpp");
    let number = |key: &str| file[key].as_u64().and_then(|n| u32::try_from(n).ok());
    assert_eq!(Some(summary.lines_total), number("line_total"));
    assert_eq!(Some(summary.lines_covered), number("line_covered"));
    assert_eq!(summary.branches_total, number("branch_total"));
    assert_eq!(summary.branches_covered, number("branch_covered"));
    assert_partly_covered(&summary);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_wrong_expectation_fails_and_broken_code_does_not_build() {
    let runner = toolchain_runner().await;
    let source = corpus("cpp/matrix.hpp");
    let failing = "#include \"matrix.hpp\"\n\n#include <gtest/gtest.h>\n\nTEST(Matrix, TraceOfIdentity) {\n    EXPECT_EQ(linalg::trace(linalg::Matrix<int>::identity(3)), 4);\n}\n";
    let job = gtest("matrix.hpp", &source, "matrix_test.cpp", failing);
    assert_fails_then_does_not_build(
        &runner,
        job,
        &["Which is: 3"],
        ("identity(3)", "identity(3, 4, 5)"),
        "matrix_test.cpp:6",
    )
    .await;
}

#[tokio::test]
async fn a_header_the_source_includes_and_nobody_has_is_a_missing_module() {
    let runner = toolchain_runner().await;
    let source = corpus("cpp/inventory.cpp");
    let tests = "#include <gtest/gtest.h>\n\n#include \"inventory.cpp\"\n\nTEST(Inventory, CountsWhatWasAdded) {\n    shop::Inventory inventory;\n    inventory.add(\"apple\", 2);\n    EXPECT_EQ(inventory.count(\"apple\"), 2);\n}\n";
    let job = gtest("inventory.cpp", &source, "inventory_test.cpp", tests);
    assert_missing_module(&runner, &job, "inventory.h").await;
}
