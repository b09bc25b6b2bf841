//! Jest tests run for real, offline, from the runner's Node tools (ES modules, TypeScript and JSX
//! through the runner's esbuild transform): verdicts, and coverage checked against Jest's own lcov
//! report of the same files run by hand with the same transform.

mod common;

use std::path::Path;

use common::{
    assert_fails_saying, assert_matches_lcov, assert_missing_module, assert_outcome,
    assert_output_says, assert_partly_covered, assert_passes_and_measures, by_hand, corpus, job,
    tempdir, toolchain_runner, write_job_files,
};
use domain::{Framework, Language};
use runner::{Job, Outcome};

const JEST: &str = "/usr/local/lib/aiunittest/node_modules/jest/bin/jest.js";
const TRANSFORM: &str = "/usr/local/lib/aiunittest/jest-esbuild.cjs";

const CART_TESTS: &str = r#"import checkout, { Cart, roundCents } from "./cart.js";

describe("cart", () => {
  it("adds the tax", () => {
    expect(new Cart("ada").add({ price: 10 }, 2).total()).toBe(24);
  });
  test("rounds to cents", () => {
    expect(roundCents(1.234)).toBe(1.23);
  });
  test("mocks are Jest's", () => {
    const pay = jest.fn(() => true);
    pay(1);
    expect(pay).toHaveBeenCalledWith(1);
    expect(typeof checkout).toBe("function");
  });
});
"#;

const GEOMETRY_TESTS: &str = r#"import translate, { Geometry, midpoint } from "./geometry";

describe("geometry", () => {
  it("distance is Euclidean", () => {
    const origin: Geometry.Point = { x: 0, y: 0 };
    expect(Geometry.distance(origin, { x: 3, y: 4 })).toBe(5);
  });
  it("translate moves a point", () => {
    expect(translate(1, 2)({ x: 0, y: 0 })).toEqual({ x: 1, y: 2 });
  });
  it("midpoint", () => {
    expect(midpoint({ x: 0, y: 0 }, { x: 2, y: 4 })).toEqual({ x: 1, y: 2 });
  });
});
"#;

fn jest<'a>(
    language: Language,
    source_file_name: &'a str,
    source: &'a str,
    test_file_name: &'a str,
    test_code: &'a str,
) -> Job<'a> {
    job(
        language,
        Framework::Jest,
        source_file_name,
        source,
        test_file_name,
        test_code,
    )
}

/// Jest run by hand on the job's files, outside the sandbox, with the same transform: its lcov.
fn jest_lcov_by_hand(name: &str, job: &Job<'_>) -> String {
    let dir = tempdir(name);
    write_job_files(
        &dir,
        &[
            (job.source_file_name, job.source),
            (job.test_file_name, job.test_code),
        ],
    );
    let config = format!(
        "module.exports = {{ testEnvironment: \"node\", watchman: false, \
         transform: {{ \"\\\\.[cm]?[jt]sx?$\": \"{TRANSFORM}\" }}, \
         moduleFileExtensions: [\"js\", \"jsx\", \"ts\", \"tsx\", \"json\"], \
         cacheDirectory: \"{cache}\" }};\n",
        cache = dir.join("cache").display()
    );
    std::fs::write(dir.join("jest.config.cjs"), config).expect("config");
    by_hand(
        &dir,
        "/usr/bin/node",
        &[
            JEST,
            "--ci",
            "--runInBand",
            "--watchman=false",
            "--config=jest.config.cjs",
            "--coverage",
            "--coverageReporters=lcov",
            "--coverageDirectory=cov",
            &format!("--collectCoverageFrom={}", job.source_file_name),
            job.test_file_name,
        ],
    );
    let lcov = std::fs::read_to_string(Path::new(&dir).join("cov/lcov.info")).expect("lcov");
    let _ = std::fs::remove_dir_all(&dir);
    lcov
}

#[tokio::test]
async fn javascript_tests_pass_again_and_report_the_coverage_jest_reports() {
    let runner = toolchain_runner().await;
    let source = corpus("javascript/cart.js");
    let job = jest(
        Language::Javascript,
        "cart.js",
        &source,
        "cart.test.js",
        CART_TESTS,
    );
    let (output, measured) = assert_passes_and_measures(&runner, &job, 2).await;
    assert!(output.contains("Tests:       3 passed"), "{output}");
    let summary = measured.summary();
    assert_matches_lcov(&summary, &jest_lcov_by_hand("jest-cart", &job), "cart.js");
    assert_partly_covered(&summary);
}

#[tokio::test]
async fn typescript_tests_pass_again_and_report_the_coverage_jest_reports() {
    let runner = toolchain_runner().await;
    let source = corpus("typescript/geometry.ts");
    let job = jest(
        Language::Typescript,
        "geometry.ts",
        &source,
        "geometry.test.ts",
        GEOMETRY_TESTS,
    );
    let (_, measured) = assert_passes_and_measures(&runner, &job, 1).await;
    let summary = measured.summary();
    assert_matches_lcov(
        &summary,
        &jest_lcov_by_hand("jest-geometry", &job),
        "geometry.ts",
    );
    assert_partly_covered(&summary);
}

#[tokio::test]
async fn failures_load_errors_and_absent_modules() {
    let runner = toolchain_runner().await;
    let source = corpus("javascript/cart.js");
    let failing = CART_TESTS.replace("toBe(24)", "toBe(25)");
    assert_fails_saying(
        &runner,
        &jest(
            Language::Javascript,
            "cart.js",
            &source,
            "cart.test.js",
            &failing,
        ),
        2,
        &["Expected: 25", "Received: 24"],
    )
    .await;

    let broken = "it(\"x\", () => { (; });\n";
    let report = assert_outcome(
        &runner,
        &jest(
            Language::Javascript,
            "cart.js",
            &source,
            "cart.test.js",
            broken,
        ),
        0,
        Outcome::BuildFailed,
    )
    .await;
    assert_output_says(&report, &["Test suite failed to run"]);

    let typo =
        "import { Geometry } from \"./geometry\";\nit(\"x\", () => { const n: number = ; });\n";
    let geometry = corpus("typescript/geometry.ts");
    assert_outcome(
        &runner,
        &jest(
            Language::Typescript,
            "geometry.ts",
            &geometry,
            "geometry.test.ts",
            typo,
        ),
        0,
        Outcome::BuildFailed,
    )
    .await;

    let absent =
        "import { nothing } from \"./nowhere.js\";\nit(\"x\", () => expect(nothing).toBe(1));\n";
    assert_outcome(
        &runner,
        &jest(
            Language::Javascript,
            "cart.js",
            &source,
            "cart.test.js",
            absent,
        ),
        0,
        Outcome::BuildFailed,
    )
    .await;

    let needs = "import _ from \"lodash\";\nexport const first = (xs) => _.head(xs);\n";
    let tests =
        "import { first } from \"./cart.js\";\nit(\"first\", () => expect(first([1])).toBe(1));\n";
    assert_missing_module(
        &runner,
        &jest(
            Language::Javascript,
            "cart.js",
            needs,
            "cart.test.js",
            tests,
        ),
        "lodash",
    )
    .await;
}

#[tokio::test]
async fn jest_mock_calls_are_hoisted_above_the_imports() {
    let runner = toolchain_runner().await;
    let source = "import { readFileSync } from \"node:fs\";\nexport const size = (path) => readFileSync(path, \"utf8\").length;\n";
    let tests = r#"import { size } from "./size.js";
import { readFileSync } from "node:fs";

jest.mock("node:fs", () => ({ readFileSync: jest.fn(() => "four") }));

test("reads through the mock", () => {
  expect(size("/nowhere")).toBe(4);
  expect(readFileSync).toHaveBeenCalledWith("/nowhere", "utf8");
});
"#;
    let job = jest(
        Language::Javascript,
        "size.js",
        source,
        "size.test.js",
        tests,
    );
    assert_passes_and_measures(&runner, &job, 0).await;
}
