//! Vitest tests run for real, offline, from the runner's Node tools: verdicts, and coverage
//! checked against Vitest's own lcov report of the same files run by hand.

mod common;

use common::{
    assert_fails_saying, assert_matches_lcov, assert_missing_module, assert_outcome,
    assert_partly_covered, assert_passes_and_measures, by_hand, corpus, job, tempdir,
    toolchain_runner, write_job_files,
};
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
    let runner = toolchain_runner().await;
    let source = corpus("javascript/cart.js");
    let (_, measured) = assert_passes_and_measures(&runner, &vitest(&source, CART_TESTS), 1).await;
    let summary = measured.summary();

    let dir = tempdir("vitest-by-hand");
    write_job_files(&dir, &[("cart.js", &source), ("cart.test.js", CART_TESTS)]);
    // The tests import `vitest` from where they are.
    std::os::unix::fs::symlink(
        "/usr/local/lib/aiunittest/node_modules",
        dir.join("node_modules"),
    )
    .expect("node_modules");
    by_hand(
        &dir,
        "/usr/bin/node",
        &[
            VITEST,
            "run",
            "--coverage.enabled",
            "--coverage.provider=v8",
            "--coverage.reporter=lcov",
            "--coverage.reportsDirectory=cov",
            "--coverage.include=cart.js",
            "cart.test.js",
        ],
    );
    let lcov = std::fs::read_to_string(dir.join("cov/lcov.info")).expect("lcov report");
    assert_matches_lcov(&summary, &lcov, "cart.js");
    assert_partly_covered(&summary);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn failures_load_errors_and_absent_modules() {
    let runner = toolchain_runner().await;
    let source = corpus("javascript/cart.js");
    let failing = CART_TESTS.replace("toBe(24)", "toBe(25)");
    assert_fails_saying(
        &runner,
        &vitest(&source, &failing),
        0,
        &["expected 24 to be 25"],
    )
    .await;

    let broken = "import { it } from \"vitest\";\nit(\"x\", () => { (; });\n";
    assert_outcome(&runner, &vitest(&source, broken), 0, Outcome::BuildFailed).await;

    let needs = "import _ from \"lodash\";\nexport const first = (xs) => _.head(xs);\n";
    let tests = "import { it, expect } from \"vitest\";\nimport { first } from \"./cart.js\";\nit(\"first\", () => expect(first([1])).toBe(1));\n";
    assert_missing_module(&runner, &vitest(needs, tests), "lodash").await;
}
