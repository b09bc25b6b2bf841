//! Tests run among their repository's files, for real: a Python package, a JavaScript project
//! and a Go module whose sources import their siblings; what a missing dependency is called
//! there; hostile paths in a checkout; and the languages that run beside a checkout, not in it.

mod common;

use common::{assert_outcome, toolchain_runner, work_root};
use domain::{Checkout, CheckoutFile, Framework, Language};
use runner::{Job, Outcome, RunReport, Runner};

/// A checkout of `files` (path, contents).
fn checkout(files: &[(&str, &str)]) -> Checkout {
    Checkout {
        files: files
            .iter()
            .map(|(path, contents)| CheckoutFile {
                path: (*path).to_owned(),
                contents: (*contents).to_owned(),
            })
            .collect(),
        left_out: 0,
    }
}

/// The job of the tests `test_code` at `test_path` for the checkout's file at `source_path`.
fn checkout_job<'a>(
    language: Language,
    framework: Framework,
    checkout: &'a Checkout,
    source_path: &'a str,
    test_path: &'a str,
    test_code: &'a str,
) -> Job<'a> {
    let source = checkout
        .file(source_path)
        .unwrap_or_else(|| panic!("{source_path} is in the checkout"));
    Job {
        language,
        framework,
        source_file_name: source_path,
        source: &source.contents,
        test_file_name: test_path,
        test_code,
        checkout: Some(checkout),
    }
}

/// Runs `job` with two runs again, asserts that all passed among the checkout's files, and returns
/// the source's covered and uncovered lines.
async fn assert_passes_in_checkout(runner: &Runner, job: &Job<'_>) -> (Vec<u32>, Vec<u32>) {
    let report = runner.run(job, 2).await;
    assert!(
        report.in_checkout,
        "ran in the checkout:\n{}",
        report.output
    );
    assert_eq!(report.outcome, Outcome::Passed, "{}", report.output);
    assert_eq!(
        (report.reruns, report.rerun_passes),
        (2, 2),
        "{}",
        report.output
    );
    let summary = report
        .coverage
        .unwrap_or_else(|| panic!("coverage of {}:\n{}", job.source_file_name, report.output))
        .summary();
    (summary.covered_lines, summary.uncovered_lines)
}

/// Runs `job` and asserts its outcome and that it ran in the checkout.
async fn assert_in_checkout(runner: &Runner, job: &Job<'_>, expected: Outcome) -> RunReport {
    let report = assert_outcome(runner, job, 0, expected).await;
    assert!(
        report.in_checkout,
        "ran in the checkout:\n{}",
        report.output
    );
    report
}

const CART_PY: &str = r#"from shop.pricing import price
from .tax import rate


def total(items, country="de"):
    subtotal = sum(price(cents) for cents in items)
    if subtotal == 0:
        return 0.0
    return round(subtotal * (1 + rate(country)), 2)


def is_empty(items):
    return not items
"#;

const CART_PY_TESTS: &str = r#"from shop.cart import total


def test_total_adds_the_tax():
    assert total([1000, 500], "de") == 17.85


def test_nothing_costs_nothing():
    assert total([]) == 0.0
"#;

/// A Python package whose module under test imports two of its siblings, one absolutely and one
/// relatively; its pytest and coverage settings name a plugin that is not installed.
fn python_shop(pricing: &str) -> Checkout {
    checkout(&[
        ("shop/__init__.py", ""),
        ("shop/pricing.py", pricing),
        (
            "shop/tax.py",
            "def rate(country):\n    return {\"de\": 0.19, \"fr\": 0.2}.get(country, 0.0)\n",
        ),
        ("shop/cart.py", CART_PY),
        (
            "pyproject.toml",
            "[tool.pytest.ini_options]\naddopts = \"--cov=shop\"\n\n[tool.coverage.run]\nsource = [\"shop\"]\nplugins = [\"absent_coverage_plugin\"]\n",
        ),
        ("README.md", "# shop\n"),
    ])
}

const PRICING_PY: &str = "def price(cents):\n    return cents / 100\n";

fn python_job<'a>(checkout: &'a Checkout, test_code: &'a str) -> Job<'a> {
    checkout_job(
        Language::Python,
        Framework::Pytest,
        checkout,
        "shop/cart.py",
        "tests/test_cart.py",
        test_code,
    )
}

#[tokio::test]
async fn a_python_module_imports_its_siblings_in_the_checkout_and_alone_it_cannot() {
    let runner = toolchain_runner().await;
    let shop = python_shop(PRICING_PY);
    let job = python_job(&shop, CART_PY_TESTS);
    let (covered, uncovered) = assert_passes_in_checkout(&runner, &job).await;
    // shop/cart.py's lines, and only its: `is_empty`'s body is the one that did not run.
    assert_eq!(covered, [1, 2, 5, 6, 7, 8, 9, 12]);
    assert_eq!(uncovered, [13]);

    let alone = Job {
        checkout: None,
        ..job
    };
    let report = assert_outcome(&runner, &alone, 0, Outcome::MissingModule("shop".into())).await;
    assert!(!report.in_checkout);
    assert!(
        report.output.contains("No module named 'shop.pricing'"),
        "{}",
        report.output
    );
}

#[tokio::test]
async fn in_a_python_checkout_a_missing_module_is_named_when_the_repository_needs_it() {
    let runner = toolchain_runner().await;
    // A sibling module, not the source, needs a package that is not installed.
    let shop = python_shop("import moneyed\n\n\ndef price(cents):\n    return cents / 100\n");
    let job = python_job(&shop, CART_PY_TESTS);
    assert_in_checkout(&runner, &job, Outcome::MissingModule("moneyed".into())).await;

    // A module only the tests import is the tests' own mistake: they do not load.
    let shop = python_shop(PRICING_PY);
    let tests = format!("import hypothesis\n{CART_PY_TESTS}");
    let job = python_job(&shop, &tests);
    let report = assert_in_checkout(&runner, &job, Outcome::BuildFailed).await;
    assert!(report.output.contains("hypothesis"), "{}", report.output);

    // So is a module of the repository that is not there.
    let tests = CART_PY_TESTS.replace("shop.cart", "shop.carts");
    let job = python_job(&shop, &tests);
    assert_in_checkout(&runner, &job, Outcome::BuildFailed).await;

    let tests = CART_PY_TESTS.replace("17.85", "17.86");
    let job = python_job(&shop, &tests);
    let report = assert_in_checkout(&runner, &job, Outcome::Failed).await;
    assert!(report.output.contains("17.85"), "{}", report.output);
}

#[tokio::test]
async fn a_src_layout_puts_src_on_the_module_path() {
    let runner = toolchain_runner().await;
    let shop = checkout(&[
        ("src/shop/__init__.py", ""),
        ("src/shop/pricing.py", PRICING_PY),
        (
            "src/shop/tax.py",
            "def rate(country):\n    return 0.19 if country == \"de\" else 0.0\n",
        ),
        ("src/shop/cart.py", CART_PY),
    ]);
    let job = checkout_job(
        Language::Python,
        Framework::Pytest,
        &shop,
        "src/shop/cart.py",
        "tests/test_cart.py",
        CART_PY_TESTS,
    );
    let (covered, _) = assert_passes_in_checkout(&runner, &job).await;
    assert!(covered.contains(&9), "{covered:?}");
}

#[tokio::test]
async fn hostile_paths_in_a_checkout_write_nothing_outside_the_work_directory() {
    let runner = toolchain_runner().await;
    let pid = std::process::id();
    let outside = std::env::temp_dir().join(format!("aiut-checkout-outside-{pid}"));
    let _ = std::fs::remove_dir_all(&outside);
    let absolute = outside.join("passwd");
    let absolute = absolute.to_str().expect("a UTF-8 temp path").to_owned();
    let escaped = format!("../escaped-{pid}.txt");
    let escaped_further = format!("shop/../../../escaped-further-{pid}.txt");
    let weird = "data/we ird 'quoted' \"name\"\t\\ü\n.txt";
    let tests = format!(
        r#"import os
from shop.cart import total

WEIRD = {weird:?}


def test_the_checkout_is_inside_the_work_directory_only():
    assert open(WEIRD).read() == "weird but harmless"
    assert not os.path.islink(WEIRD)
    assert os.listdir("data") == [os.path.basename(WEIRD)]
    assert not os.path.exists(".git")
    assert not os.path.exists("docs")
    assert total([100]) == 1.19
"#
    );
    let mut files = vec![
        (escaped.as_str(), "escaped"),
        (escaped_further.as_str(), "escaped"),
        (absolute.as_str(), "root:x:0:0::/root:/bin/sh\n"),
        (".git/config", "[core]\n"),
        ("docs/.hidden/notes.md", "hidden"),
        (weird, "weird but harmless"),
        // A file where a directory is wanted.
        ("README.md/inside.txt", "cannot be"),
    ];
    let shop = python_shop(PRICING_PY);
    let shop_files: Vec<(&str, &str)> = shop
        .files
        .iter()
        .map(|file| (file.path.as_str(), file.contents.as_str()))
        .collect();
    files.extend(shop_files);
    let hostile = checkout(&files);
    let job = python_job(&hostile, &tests);
    let (covered, _) = assert_passes_in_checkout(&runner, &job).await;
    assert!(!covered.is_empty());

    let root = work_root();
    assert!(root.is_dir(), "the work directories' root is still there");
    assert!(!root.join(format!("escaped-{pid}.txt")).exists());
    let above = root.parent().expect("the temp directory");
    assert!(!above.join(format!("escaped-further-{pid}.txt")).exists());
    assert!(!outside.exists(), "{} was made", outside.display());
}

const CART_JS: &str = r#"import { price } from "./pricing.js";

export function total(items, country = "de") {
  const subtotal = items.reduce((sum, cents) => sum + price(cents), 0);
  if (subtotal === 0) {
    return 0;
  }
  return Math.round(subtotal * (country === "de" ? 119 : 100)) / 100;
}

export function isEmpty(items) {
  return items.length === 0;
}
"#;

const CART_JS_TESTS: &str = r#"import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { total } from "./cart.js";

test("total adds the tax", () => {
  assert.equal(total([1000, 500]), 17.85);
});

test("the repository's package.json is the one in force", () => {
  assert.equal(JSON.parse(readFileSync("package.json", "utf8")).name, "shop");
});
"#;

fn javascript_shop(pricing: &str) -> Checkout {
    checkout(&[
        (
            "package.json",
            "{\"name\": \"shop\", \"private\": true, \"type\": \"module\"}\n",
        ),
        ("lib/pricing.js", pricing),
        ("lib/cart.js", CART_JS),
    ])
}

const PRICING_JS: &str = "export function price(cents) {\n  return cents / 100;\n}\n";

#[tokio::test]
async fn a_javascript_module_imports_its_sibling_under_node_test_in_the_checkout() {
    let runner = toolchain_runner().await;
    let shop = javascript_shop(PRICING_JS);
    let job = checkout_job(
        Language::Javascript,
        Framework::NodeTest,
        &shop,
        "lib/cart.js",
        "lib/cart.test.js",
        CART_JS_TESTS,
    );
    let (covered, uncovered) = assert_passes_in_checkout(&runner, &job).await;
    // lib/cart.js's lines: the empty cart's branch and `isEmpty` did not run.
    assert_eq!(uncovered, [6, 7, 12, 13], "covered: {covered:?}");
    assert!(covered.contains(&8));

    // A sibling needs an npm package that is not installed.
    let shop = javascript_shop(
        "import Money from \"@shop/money-absent\";\n\nexport function price(cents) {\n  return new Money(cents).amount;\n}\n",
    );
    let job = Job {
        checkout: Some(&shop),
        ..job
    };
    assert_in_checkout(
        &runner,
        &job,
        Outcome::MissingModule("@shop/money-absent".into()),
    )
    .await;

    let shop = javascript_shop(PRICING_JS);
    let tests = CART_JS_TESTS.replace("17.85", "17.86");
    let job = checkout_job(
        Language::Javascript,
        Framework::NodeTest,
        &shop,
        "lib/cart.js",
        "lib/cart.test.js",
        &tests,
    );
    assert_in_checkout(&runner, &job, Outcome::Failed).await;
}

#[tokio::test]
async fn vitest_and_jest_run_in_the_checkout_without_its_own_configuration() {
    let runner = toolchain_runner().await;
    let mut files = vec![
        (
            "package.json",
            "{\"name\": \"shop\", \"private\": true, \"type\": \"module\"}\n",
        ),
        ("lib/pricing.js", PRICING_JS),
        ("lib/cart.js", CART_JS),
        // Configurations of plugins and presets that are not installed.
        (
            "vite.config.js",
            "import react from \"@vitejs/plugin-react-absent\";\nexport default { plugins: [react()] };\n",
        ),
        (
            "jest.config.js",
            "export default { preset: \"absent-jest-preset\" };\n",
        ),
    ];
    let vitest_tests = "import { test, expect } from \"vitest\";\nimport { total } from \"./cart.js\";\n\ntest(\"total\", () => {\n  expect(total([1000, 500])).toBe(17.85);\n});\n";
    let jest_tests = "import { total } from \"./cart.js\";\n\ntest(\"total\", () => {\n  expect(total([1000, 500])).toBe(17.85);\n});\n";
    files.push(("lib/cart.test.js", "// the repository's own test\n"));
    let shop = checkout(&files);
    for (framework, tests) in [
        (Framework::Vitest, vitest_tests),
        (Framework::Jest, jest_tests),
    ] {
        let job = checkout_job(
            Language::Javascript,
            framework,
            &shop,
            "lib/cart.js",
            "lib/cart.test.js",
            tests,
        );
        let (_, uncovered) = assert_passes_in_checkout(&runner, &job).await;
        assert!(uncovered.contains(&12), "{framework:?}: {uncovered:?}");
    }
}

const CART_GO: &str = r#"package cart

import "example.com/shop/pricing"

// Total is the price of the items with the tax.
func Total(items []int) int {
	subtotal := 0
	for _, cents := range items {
		subtotal += pricing.Price(cents)
	}
	if subtotal == 0 {
		return 0
	}
	return subtotal * 119 / 100
}
"#;

const CART_GO_TESTS: &str = r#"package cart

import "testing"

func TestTotalAddsTheTax(t *testing.T) {
	if got := Total([]int{100, 100}); got != 238 {
		t.Fatalf("Total = %d, want 238", got)
	}
}
"#;

fn go_shop(with_go_mod: bool, pricing: &str) -> Checkout {
    let mut files = vec![("pricing/pricing.go", pricing), ("cart/cart.go", CART_GO)];
    if with_go_mod {
        files.push(("go.mod", "module example.com/shop\n\ngo 1.19\n"));
    }
    checkout(&files)
}

const PRICING_GO: &str = "package pricing\n\n// Price is a price in cents.\nfunc Price(cents int) int {\n\treturn cents\n}\n";

fn go_job<'a>(checkout: &'a Checkout, test_code: &'a str) -> Job<'a> {
    checkout_job(
        Language::Go,
        Framework::GoTesting,
        checkout,
        "cart/cart.go",
        "cart/cart_test.go",
        test_code,
    )
}

#[tokio::test]
async fn a_go_package_imports_its_sibling_by_module_path_in_the_module() {
    let runner = toolchain_runner().await;
    let shop = go_shop(true, PRICING_GO);
    let job = go_job(&shop, CART_GO_TESTS);
    let (covered, uncovered) = assert_passes_in_checkout(&runner, &job).await;
    // cart/cart.go's blocks, and only its: the empty cart's return did not run.
    assert_eq!(covered, [6, 7, 8, 9, 10, 11, 14]);
    assert_eq!(uncovered, [12, 13]);

    // Without go.mod the package builds alone, where the module path means nothing.
    let shop = go_shop(false, PRICING_GO);
    let job = go_job(&shop, CART_GO_TESTS);
    let report = assert_outcome(
        &runner,
        &job,
        0,
        Outcome::MissingModule("example.com/shop/pricing".into()),
    )
    .await;
    assert!(!report.in_checkout);

    // A sibling package needs another module, which cannot be fetched.
    let shop = go_shop(
        true,
        "package pricing\n\nimport \"github.com/shopspring/decimal\"\n\nfunc Price(cents int) int {\n\treturn int(decimal.NewFromInt(int64(cents)).IntPart())\n}\n",
    );
    let job = go_job(&shop, CART_GO_TESTS);
    assert_in_checkout(
        &runner,
        &job,
        Outcome::MissingModule("github.com/shopspring/decimal".into()),
    )
    .await;

    let shop = go_shop(true, PRICING_GO);
    let tests = CART_GO_TESTS.replace("!= 238", "!= 239");
    let job = go_job(&shop, &tests);
    assert_in_checkout(&runner, &job, Outcome::Failed).await;
}

const CART_GO_TESTIFY_TESTS: &str = r#"package cart

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTotalAddsTheTax(t *testing.T) {
	require.NotPanics(t, func() { Total([]int{100}) })
	assert.Equal(t, 238, Total([]int{100, 100}))
}
"#;

/// A module as Go 1.21 and later write it (a three-part `go` line, a `toolchain` line), which
/// this machine's Go 1.19 refuses to read as it is.
const MODERN_GO_MOD: &str = "module example.com/shop

go 1.22.1

toolchain go1.22.3
";

fn go_module(go_mod: &str, pricing: &str, more: &[(&str, &str)]) -> Checkout {
    let mut files = vec![
        ("pricing/pricing.go", pricing),
        ("cart/cart.go", CART_GO),
        ("go.mod", go_mod),
    ];
    files.extend_from_slice(more);
    checkout(&files)
}

fn testify_job<'a>(checkout: &'a Checkout, test_code: &'a str) -> Job<'a> {
    Job {
        framework: Framework::Testify,
        ..go_job(checkout, test_code)
    }
}

#[tokio::test]
async fn testify_tests_run_in_a_modern_module_that_may_or_may_not_require_testify() {
    let runner = toolchain_runner().await;
    // Not required by the module: Debian's testify is vendored for the run.
    let shop = go_module(MODERN_GO_MOD, PRICING_GO, &[]);
    let job = testify_job(&shop, CART_GO_TESTIFY_TESTS);
    let (covered, _) = assert_passes_in_checkout(&runner, &job).await;
    assert!(covered.contains(&11), "{covered:?}");

    // Required at another version, beside a requirement nothing here imports, with its sums.
    let requiring = format!(
        "{MODERN_GO_MOD}\nrequire (\n\tgithub.com/stretchr/testify v1.9.0\n\tgolang.org/x/text v0.14.0 // indirect\n)\n"
    );
    let shop = go_module(
        &requiring,
        PRICING_GO,
        &[("go.sum", "github.com/stretchr/testify v1.9.0 h1:abc=\n")],
    );
    assert_passes_in_checkout(&runner, &testify_job(&shop, CART_GO_TESTIFY_TESTS)).await;

    // A sibling's module that no one vendored is still named as missing, and a failing
    // assertion still fails.
    let shop = go_module(
        &requiring,
        "package pricing\n\nimport \"golang.org/x/text/language\"\n\nfunc Price(cents int) int {\n\t_ = language.English\n\treturn cents\n}\n",
        &[],
    );
    assert_in_checkout(
        &runner,
        &testify_job(&shop, CART_GO_TESTIFY_TESTS),
        Outcome::MissingModule("golang.org/x/text/language".into()),
    )
    .await;
    // Plain `testing` tests in a package whose own tests use testify: the package builds with
    // them, so testify is there too. The repository's test is built but not run: its failure is
    // not the new tests', and the empty cart it reaches stays uncovered by them.
    let shop = go_module(
        MODERN_GO_MOD,
        PRICING_GO,
        &[(
            "cart/existing_test.go",
            "package cart\n\nimport (\n\t\"testing\"\n\n\t\"github.com/stretchr/testify/assert\"\n)\n\nfunc TestEmpty(t *testing.T) {\n\tassert.Equal(t, 1, Total(nil), \"a stale expectation\")\n}\n",
        )],
    );
    let (_, uncovered) = assert_passes_in_checkout(&runner, &go_job(&shop, CART_GO_TESTS)).await;
    assert_eq!(uncovered, [12, 13]);

    let shop = go_module(MODERN_GO_MOD, PRICING_GO, &[]);
    let failing = CART_GO_TESTIFY_TESTS.replace("238,", "239,");
    assert_in_checkout(&runner, &testify_job(&shop, &failing), Outcome::Failed).await;
}

#[tokio::test]
async fn a_module_that_vendors_its_dependencies_builds_from_its_vendor_directory() {
    let runner = toolchain_runner().await;
    let go_mod = "module example.com/shop\n\ngo 1.19\n\nrequire example.com/money v1.0.0\n";
    let shop = go_module(
        go_mod,
        "package pricing\n\nimport \"example.com/money\"\n\nfunc Price(cents int) int {\n\treturn money.Cents(cents)\n}\n",
        &[
            (
                "vendor/modules.txt",
                "# example.com/money v1.0.0\n## explicit; go 1.19\nexample.com/money\n",
            ),
            (
                "vendor/example.com/money/money.go",
                "package money\n\n// Cents is an amount as it is.\nfunc Cents(amount int) int {\n\treturn amount\n}\n",
            ),
        ],
    );
    assert_passes_in_checkout(&runner, &go_job(&shop, CART_GO_TESTS)).await;
}

#[tokio::test]
async fn compiled_languages_run_side_by_side_beside_a_checkout_with_a_tests_directory() {
    let runner = toolchain_runner().await;
    let rust = checkout(&[
        (
            "Cargo.toml",
            "[package]\nname = \"shop\"\nversion = \"0.1.0\"\n",
        ),
        ("src/lib.rs", "pub mod cart;\n"),
        (
            "src/cart.rs",
            "pub fn total(items: &[u32]) -> u32 {\n    if items.is_empty() {\n        return 0;\n    }\n    items.iter().sum::<u32>() * 119 / 100\n}\n",
        ),
        ("tests/integration.rs", "#[test]\nfn works() {}\n"),
    ]);
    let tests = "use super::*;\n\n#[test]\nfn total_adds_the_tax() {\n    assert_eq!(total(&[100, 100]), 238);\n}\n";
    let job = checkout_job(
        Language::Rust,
        Framework::RustBuiltin,
        &rust,
        "src/cart.rs",
        "src/cart_test.rs",
        tests,
    );
    assert_side_by_side_passes(&runner, &job, [3]).await;

    let cpp = checkout(&[
        ("CMakeLists.txt", "project(shop)\n"),
        (
            "src/cart.cpp",
            "int total(int cents) {\n    if (cents == 0) {\n        return 0;\n    }\n    return cents * 119 / 100;\n}\n",
        ),
        ("tests/old_test.cpp", "// the repository's own tests\n"),
    ]);
    let tests = "#include <gtest/gtest.h>\n\nint total(int cents);\n\nTEST(Cart, AddsTheTax) {\n    EXPECT_EQ(total(200), 238);\n}\n";
    let job = checkout_job(
        Language::Cpp,
        Framework::Gtest,
        &cpp,
        "src/cart.cpp",
        "tests/cart_test.cpp",
        tests,
    );
    assert_side_by_side_passes(&runner, &job, [3]).await;
}

/// Runs `job` with a run again, asserts that it passed, side by side rather than in the
/// checkout, and that of the source only the lines `uncovered` did not run.
async fn assert_side_by_side_passes<const N: usize>(
    runner: &Runner,
    job: &Job<'_>,
    uncovered: [u32; N],
) {
    let report = runner.run(job, 1).await;
    assert_eq!(report.outcome, Outcome::Passed, "{}", report.output);
    assert_eq!(report.rerun_passes, 1, "{}", report.output);
    assert!(!report.in_checkout);
    let summary = report
        .coverage
        .unwrap_or_else(|| panic!("coverage of {}", job.source_file_name))
        .summary();
    assert_eq!(summary.uncovered_lines, uncovered, "{summary:?}");
}
