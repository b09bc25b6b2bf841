//! TypeScript tests under node:test and tsx run for real: verdicts, and coverage figures checked
//! against node's lcov report of the same files run by hand with the same loader.

mod common;

use std::process::Command;

use common::{corpus, job, lcov_totals, runner, tempdir};
use domain::{Framework, Language};
use runner::{Job, Outcome};

const TSX_LOADER: &str = "/usr/local/lib/aiunittest/node_modules/tsx/dist/loader.mjs";

const GEOMETRY_TESTS: &str = r#"import { test } from "node:test";
import assert from "node:assert/strict";
import translate, { Geometry, midpoint } from "./geometry";

test("distance is Euclidean", () => {
  const origin: Geometry.Point = { x: 0, y: 0 };
  assert.equal(Geometry.distance(origin, { x: 3, y: 4 }), 5);
});

test("translate moves a point", () => {
  assert.deepEqual(translate(1, 2)({ x: 0, y: 0 }), { x: 1, y: 2 });
});

test("midpoint", () => {
  assert.deepEqual(midpoint({ x: 0, y: 0 }, { x: 2, y: 4 }), { x: 1, y: 2 });
});
"#;

fn node_test<'a>(
    source_file_name: &'a str,
    source: &'a str,
    test_file_name: &'a str,
    test_code: &'a str,
) -> Job<'a> {
    job(
        Language::Typescript,
        Framework::NodeTest,
        source_file_name,
        source,
        test_file_name,
        test_code,
    )
}

#[tokio::test]
async fn passing_tests_pass_again_and_report_the_coverage_node_reports() {
    let runner = runner().await;
    let source = corpus("typescript/geometry.ts");
    let report = runner
        .run(
            &node_test("geometry.ts", &source, "geometry.test.ts", GEOMETRY_TESTS),
            2,
        )
        .await;
    assert_eq!(report.outcome, Outcome::Passed, "{}", report.output);
    assert_eq!((report.reruns, report.rerun_passes), (2, 2));
    let summary = report
        .coverage
        .expect("coverage of a passing run")
        .summary();

    // The same files, measured by hand with the same tools, outside any sandbox.
    let dir = tempdir("tsx-by-hand");
    std::fs::write(dir.join("geometry.ts"), &source).expect("write source");
    std::fs::write(dir.join("geometry.test.ts"), GEOMETRY_TESTS).expect("write tests");
    let status = Command::new("/usr/bin/node")
        .args([
            "--import",
            TSX_LOADER,
            "--test",
            "--experimental-test-coverage",
            "--test-reporter=lcov",
            "--test-reporter-destination=lcov.info",
            "geometry.test.ts",
        ])
        .current_dir(&dir)
        .status()
        .expect("node runs");
    assert!(status.success());
    let lcov = std::fs::read_to_string(dir.join("lcov.info")).expect("lcov report");
    let [lines, hit, branches, branches_hit] = lcov_totals(&lcov, "geometry.ts");
    assert_eq!(
        (summary.lines_total, summary.lines_covered),
        (lines, hit),
        "{lcov}"
    );
    assert_eq!(
        (summary.branches_total, summary.branches_covered),
        (Some(branches), Some(branches_hit))
    );
    // Lines of the file as written (source maps), not of the JavaScript tsx made of it.
    assert_eq!(
        summary.lines_total,
        u32::try_from(source.lines().count()).expect("lines")
    );
    assert!(summary.lines_covered > 0 && summary.lines_covered < summary.lines_total);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_wrong_expectation_fails_with_the_assertion_in_the_output() {
    let runner = runner().await;
    let source = corpus("typescript/geometry.ts");
    let tests = "import { test } from \"node:test\";\nimport assert from \"node:assert/strict\";\nimport { Geometry } from \"./geometry\";\n\ntest(\"area\", () => {\n  const circle = new Geometry.Shapes.Circle({ x: 0, y: 0 }, 1);\n  assert.equal(circle.area(), 3, \"the unit circle's area\");\n});\n";
    let report = runner
        .run(
            &node_test("geometry.ts", &source, "geometry.test.ts", tests),
            2,
        )
        .await;
    assert_eq!(report.outcome, Outcome::Failed, "{}", report.output);
    assert!(
        report.output.contains("the unit circle's area"),
        "{}",
        report.output
    );
    assert_eq!(report.reruns, 0);
}

#[tokio::test]
async fn tests_that_do_not_parse_did_not_build() {
    let runner = runner().await;
    let source = corpus("typescript/geometry.ts");
    let tests = "import { test } from \"node:test\";\nimport { midpoint } from \"./geometry\";\ntest(\"x\", () => { const p: = midpoint; });\n";
    let report = runner
        .run(
            &node_test("geometry.ts", &source, "geometry.test.ts", tests),
            0,
        )
        .await;
    assert_eq!(report.outcome, Outcome::BuildFailed, "{}", report.output);
}

#[tokio::test]
async fn sources_that_need_absent_packages_say_which() {
    let runner = runner().await;
    let source = corpus("typescript/repository.ts");
    let tests = "import { test } from \"node:test\";\nimport assert from \"node:assert\";\nimport { UserRepository } from \"./repository\";\ntest(\"x\", () => assert.ok(new UserRepository()));\n";
    let report = runner
        .run(
            &node_test("repository.ts", &source, "repository.test.ts", tests),
            0,
        )
        .await;
    assert_eq!(
        report.outcome,
        Outcome::MissingModule("@angular/core".into()),
        "{}",
        report.output
    );

    let source = corpus("typescript/TodoList.tsx");
    let tests = "import { test } from \"node:test\";\nimport * as todo from \"./TodoList\";\ntest(\"x\", () => todo);\n";
    let report = runner
        .run(
            &node_test("TodoList.tsx", &source, "TodoList.test.tsx", tests),
            0,
        )
        .await;
    assert_eq!(
        report.outcome,
        Outcome::MissingModule("react".into()),
        "{}",
        report.output
    );
}
