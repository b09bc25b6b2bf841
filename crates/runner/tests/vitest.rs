//! Vitest tests run for real, offline, from the runner's Node tools: verdicts, and coverage
//! checked against Vitest's own lcov report of the same files run by hand.

mod common;

use std::process::Command;

use common::{corpus, job, lcov_totals, runner, tempdir};
use domain::{Framework, Language};
use runner::{Job, Outcome};

const VITEST: &str = "/usr/local/lib/aiunittest/node_modules/vitest/vitest.mjs";

const CART_TESTS: &str = r#"import { describe, it, expect } from "vitest";
import { Cart, roundCents } from "./cart.js";

describe("cart", () => {
  it("adds the tax", () => {
    expect(new Cart("ada").add({ price: 10 }, 2).total()).toBe(24);
  });
  it("rounds to cents", () => {
    expect(roundCents(1.234)).toBe(1.23);
  });
});
"#;

fn vitest<'a>(source: &'a str, test_code: &'a str) -> Job<'a> {
    job(
        Language::Javascript,
        Framework::Vitest,
        "cart.js",
        source,
        "cart.test.js",
        test_code,
    )
}

#[tokio::test]
async fn passing_tests_pass_again_and_report_the_coverage_vitest_reports() {
    let runner = runner().await;
    let source = corpus("javascript/cart.js");
    let report = runner.run(&vitest(&source, CART_TESTS), 1).await;
    assert_eq!(report.outcome, Outcome::Passed, "{}", report.output);
    assert_eq!((report.reruns, report.rerun_passes), (1, 1));
    let summary = report
        .coverage
        .expect("coverage of a passing run")
        .summary();

    let dir = tempdir("vitest-by-hand");
    std::fs::write(dir.join("cart.js"), &source).expect("write source");
    std::fs::write(dir.join("cart.test.js"), CART_TESTS).expect("write tests");
    // The tests import `vitest` from where they are.
    std::os::unix::fs::symlink(
        "/usr/local/lib/aiunittest/node_modules",
        dir.join("node_modules"),
    )
    .expect("node_modules");
    let status = Command::new("/usr/bin/node")
        .args([
            VITEST,
            "run",
            "--coverage.enabled",
            "--coverage.provider=v8",
            "--coverage.reporter=lcov",
            "--coverage.reportsDirectory=cov",
            "--coverage.include=cart.js",
            "cart.test.js",
        ])
        .current_dir(&dir)
        .status()
        .expect("vitest runs");
    assert!(status.success());
    let lcov = std::fs::read_to_string(dir.join("cov/lcov.info")).expect("lcov report");
    let [lines, hit, branches, branches_hit] = lcov_totals(&lcov, "cart.js");
    assert_eq!(
        (summary.lines_total, summary.lines_covered),
        (lines, hit),
        "{lcov}"
    );
    assert_eq!(
        (summary.branches_total, summary.branches_covered),
        (Some(branches), Some(branches_hit))
    );
    assert!(summary.lines_covered > 0 && summary.lines_covered < summary.lines_total);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn failures_load_errors_and_absent_modules() {
    let runner = runner().await;
    let source = corpus("javascript/cart.js");
    let failing = CART_TESTS.replace("toBe(24)", "toBe(25)");
    let report = runner.run(&vitest(&source, &failing), 0).await;
    assert_eq!(report.outcome, Outcome::Failed, "{}", report.output);
    assert!(
        report.output.contains("expected 24 to be 25"),
        "{}",
        report.output
    );

    let broken = "import { it } from \"vitest\";\nit(\"x\", () => { (; });\n";
    let report = runner.run(&vitest(&source, broken), 0).await;
    assert_eq!(report.outcome, Outcome::BuildFailed, "{}", report.output);

    let needs = "import _ from \"lodash\";\nexport const first = (xs) => _.head(xs);\n";
    let tests = "import { it, expect } from \"vitest\";\nimport { first } from \"./cart.js\";\nit(\"first\", () => expect(first([1])).toBe(1));\n";
    let report = runner.run(&vitest(needs, tests), 0).await;
    assert_eq!(
        report.outcome,
        Outcome::MissingModule("lodash".into()),
        "{}",
        report.output
    );
}
