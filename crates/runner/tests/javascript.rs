//! JavaScript tests under node:test run for real: ES modules and CommonJS, verdicts, and coverage
//! figures checked against node's own lcov report of the same files run by hand.

mod common;

use std::process::Command;

use common::{corpus, job, lcov_totals, runner, tempdir};
use domain::{Framework, Language};
use runner::{Job, Outcome};

const CART_TESTS: &str = r#"import { test } from "node:test";
import assert from "node:assert/strict";
import checkout, { Cart, roundCents } from "./cart.js";

test("total adds the tax", () => {
  const cart = new Cart("ada").add({ price: 10 }, 2);
  assert.equal(cart.total(), 24);
});

test("roundCents keeps cents", () => {
  assert.equal(roundCents(1.234), 1.23);
});

test("checkout without a coupon", () => {
  assert.equal(checkout(new Cart("ada").add({ price: 5 })), "6.00 EUR");
});
"#;

fn node_test<'a>(source_file_name: &'a str, source: &'a str, test_code: &'a str) -> Job<'a> {
    let test_file_name: &'static str = match source_file_name {
        "cart.js" => "cart.test.js",
        "api.js" => "api.test.js",
        "dom.jsx" => "dom.test.jsx",
        _ => "subject.test.js",
    };
    job(
        Language::Javascript,
        Framework::NodeTest,
        source_file_name,
        source,
        test_file_name,
        test_code,
    )
}

#[tokio::test]
async fn passing_es_module_tests_pass_again_and_report_the_coverage_node_reports() {
    let runner = runner().await;
    let source = corpus("javascript/cart.js");
    let report = runner
        .run(&node_test("cart.js", &source, CART_TESTS), 2)
        .await;
    assert_eq!(report.outcome, Outcome::Passed, "{}", report.output);
    assert_eq!((report.reruns, report.rerun_passes), (2, 2));
    let summary = report
        .coverage
        .expect("coverage of a passing run")
        .summary();

    // The same files, measured by hand with the same tool, outside any sandbox.
    let dir = tempdir("node-by-hand");
    std::fs::write(dir.join("cart.js"), &source).expect("write source");
    std::fs::write(dir.join("cart.test.js"), CART_TESTS).expect("write tests");
    let status = Command::new("/usr/bin/node")
        .args([
            "--test",
            "--experimental-test-coverage",
            "--test-reporter=lcov",
            "--test-reporter-destination=lcov.info",
            "cart.test.js",
        ])
        .current_dir(&dir)
        .status()
        .expect("node runs");
    assert!(status.success());
    let lcov = std::fs::read_to_string(dir.join("lcov.info")).expect("lcov report");
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
async fn common_js_sources_and_tests_run_as_written() {
    let runner = runner().await;
    let source = corpus("javascript/api.js");
    let tests = r#"const { test } = require("node:test");
const assert = require("node:assert");
const { retry, RateLimiter } = require("./api.js");

test("retry gives the first success", async () => {
  let calls = 0;
  const value = await retry(async () => {
    calls += 1;
    if (calls < 2) throw new Error("not yet");
    return 5;
  });
  assert.strictEqual(value, 5);
});

test("an unlimited limiter has no interval", () => {
  assert.strictEqual(RateLimiter.unlimited().interval, 0);
});
"#;
    let report = runner.run(&node_test("api.js", &source, tests), 0).await;
    assert_eq!(report.outcome, Outcome::Passed, "{}", report.output);
    assert!(
        report
            .coverage
            .is_some_and(|measured| !measured.covered.is_empty())
    );
}

#[tokio::test]
async fn a_wrong_expectation_fails_with_the_assertion_in_the_output() {
    let runner = runner().await;
    let source = corpus("javascript/cart.js");
    // A CommonJS test of an ES module: `require` loads it.
    let tests = r#"const { test } = require("node:test");
const assert = require("node:assert");
const { Cart } = require("./cart.js");

test("total", () => {
  assert.strictEqual(new Cart("ada").add({ price: 10 }).total(), 13);
});
"#;
    let report = runner.run(&node_test("cart.js", &source, tests), 2).await;
    assert_eq!(report.outcome, Outcome::Failed, "{}", report.output);
    assert!(report.output.contains("12 !== 13"), "{}", report.output);
    assert_eq!(report.reruns, 0);
    assert!(report.coverage.is_none());
}

#[tokio::test]
async fn tests_that_do_not_load_did_not_build() {
    let runner = runner().await;
    let source = corpus("javascript/cart.js");
    for tests in [
        "import { test } from \"node:test\";\ntest(\"x\", () => { (; });\n",
        "import { test } from \"node:test\";\nimport { noSuchExport } from \"./cart.js\";\ntest(\"x\", () => noSuchExport());\n",
    ] {
        let report = runner.run(&node_test("cart.js", &source, tests), 0).await;
        assert_eq!(
            report.outcome,
            Outcome::BuildFailed,
            "{tests}\n{}",
            report.output
        );
    }
}

#[tokio::test]
async fn a_source_that_needs_an_absent_module_says_which() {
    let runner = runner().await;
    let source = "import _ from \"lodash\";\n\nexport const first = (xs) => _.head(xs);\n";
    let tests = "import { test } from \"node:test\";\nimport assert from \"node:assert\";\nimport { first } from \"./list.js\";\ntest(\"first\", () => assert.equal(first([1]), 1));\n";
    let report = runner.run(&node_test("list.js", source, tests), 0).await;
    assert_eq!(
        report.outcome,
        Outcome::MissingModule("lodash".into()),
        "{}",
        report.output
    );

    // JSX loads through tsx; React is not installed, and the report says so.
    let source = corpus("javascript/dom.jsx");
    let tests = "import { test } from \"node:test\";\nimport { SearchBox } from \"./dom.jsx\";\ntest(\"x\", () => SearchBox);\n";
    let report = runner.run(&node_test("dom.jsx", &source, tests), 0).await;
    assert_eq!(
        report.outcome,
        Outcome::MissingModule("react".into()),
        "{}",
        report.output
    );
}
