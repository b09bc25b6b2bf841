//! JavaScript tests under node:test run for real: ES modules and CommonJS, verdicts, and coverage
//! figures checked against node's own lcov report of the same files run by hand.

mod common;

use common::{
    assert_fails_saying, assert_missing_module, assert_node_test_measures_as_by_hand,
    assert_outcome, corpus, job, toolchain_runner,
};
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
    let runner = toolchain_runner().await;
    let source = corpus("javascript/cart.js");
    let job = node_test("cart.js", &source, CART_TESTS);
    assert_node_test_measures_as_by_hand(&runner, &job, 2, None).await;
}

#[tokio::test]
async fn common_js_sources_and_tests_run_as_written() {
    let runner = toolchain_runner().await;
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
    let job = node_test("api.js", &source, tests);
    let report = assert_outcome(&runner, &job, 0, Outcome::Passed).await;
    assert!(
        report
            .coverage
            .is_some_and(|measured| !measured.covered.is_empty()),
        "no lines covered:\n{}",
        report.output
    );
}

#[tokio::test]
async fn a_wrong_expectation_fails_with_the_assertion_in_the_output() {
    let runner = toolchain_runner().await;
    let source = corpus("javascript/cart.js");
    // A CommonJS test of an ES module: `require` loads it.
    let tests = r#"const { test } = require("node:test");
const assert = require("node:assert");
const { Cart } = require("./cart.js");

test("total", () => {
  assert.strictEqual(new Cart("ada").add({ price: 10 }).total(), 13);
});
"#;
    let job = node_test("cart.js", &source, tests);
    let report = assert_fails_saying(&runner, &job, 2, &["12 !== 13"]).await;
    assert!(report.coverage.is_none());
}

#[tokio::test]
async fn tests_that_do_not_load_did_not_build() {
    let runner = toolchain_runner().await;
    let source = corpus("javascript/cart.js");
    for tests in [
        "import { test } from \"node:test\";\ntest(\"x\", () => { (; });\n",
        "import { test } from \"node:test\";\nimport { noSuchExport } from \"./cart.js\";\ntest(\"x\", () => noSuchExport());\n",
    ] {
        let job = node_test("cart.js", &source, tests);
        assert_outcome(&runner, &job, 0, Outcome::BuildFailed).await;
    }
}

#[tokio::test]
async fn a_source_that_needs_an_absent_module_says_which() {
    let runner = toolchain_runner().await;
    let list = "import _ from \"lodash\";\n\nexport const first = (xs) => _.head(xs);\n";
    let dom = corpus("javascript/dom.jsx");
    for (source_file_name, source, tests, module) in [
        (
            "list.js",
            list,
            "import { test } from \"node:test\";\nimport assert from \"node:assert\";\nimport { first } from \"./list.js\";\ntest(\"first\", () => assert.equal(first([1]), 1));\n",
            "lodash",
        ),
        // JSX loads through tsx; React is not installed, and the report says so.
        (
            "dom.jsx",
            &dom,
            "import { test } from \"node:test\";\nimport { SearchBox } from \"./dom.jsx\";\ntest(\"x\", () => SearchBox);\n",
            "react",
        ),
    ] {
        let job = node_test(source_file_name, source, tests);
        assert_missing_module(&runner, &job, module).await;
    }
}
