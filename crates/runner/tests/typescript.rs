//! TypeScript tests under node:test and tsx run for real: verdicts, and coverage figures checked
//! against node's lcov report of the same files run by hand with the same loader.

mod common;

use common::{
    assert_fails_saying, assert_missing_module, assert_node_test_measures_as_by_hand,
    assert_outcome, corpus, job, toolchain_runner,
};
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
    let runner = toolchain_runner().await;
    let source = corpus("typescript/geometry.ts");
    let job = node_test("geometry.ts", &source, "geometry.test.ts", GEOMETRY_TESTS);
    let summary = assert_node_test_measures_as_by_hand(&runner, &job, 2, Some(TSX_LOADER)).await;
    // Lines of the file as written (source maps), not of the JavaScript tsx made of it.
    assert_eq!(
        summary.lines_total,
        u32::try_from(source.lines().count()).expect("lines")
    );
}

#[tokio::test]
async fn a_wrong_expectation_fails_with_the_assertion_in_the_output() {
    let runner = toolchain_runner().await;
    let source = corpus("typescript/geometry.ts");
    let tests = "import { test } from \"node:test\";\nimport assert from \"node:assert/strict\";\nimport { Geometry } from \"./geometry\";\n\ntest(\"area\", () => {\n  const circle = new Geometry.Shapes.Circle({ x: 0, y: 0 }, 1);\n  assert.equal(circle.area(), 3, \"the unit circle's area\");\n});\n";
    let job = node_test("geometry.ts", &source, "geometry.test.ts", tests);
    assert_fails_saying(&runner, &job, 2, &["the unit circle's area"]).await;
}

#[tokio::test]
async fn tests_that_do_not_parse_did_not_build() {
    let runner = toolchain_runner().await;
    let source = corpus("typescript/geometry.ts");
    let tests = "import { test } from \"node:test\";\nimport { midpoint } from \"./geometry\";\ntest(\"x\", () => { const p: = midpoint; });\n";
    let job = node_test("geometry.ts", &source, "geometry.test.ts", tests);
    assert_outcome(&runner, &job, 0, Outcome::BuildFailed).await;
}

#[tokio::test]
async fn sources_that_need_absent_packages_say_which() {
    let runner = toolchain_runner().await;
    let repository = corpus("typescript/repository.ts");
    let todo_list = corpus("typescript/TodoList.tsx");
    for (source_file_name, source, test_file_name, tests, module) in [
        (
            "repository.ts",
            &repository,
            "repository.test.ts",
            "import { test } from \"node:test\";\nimport assert from \"node:assert\";\nimport { UserRepository } from \"./repository\";\ntest(\"x\", () => assert.ok(new UserRepository()));\n",
            "@angular/core",
        ),
        (
            "TodoList.tsx",
            &todo_list,
            "TodoList.test.tsx",
            "import { test } from \"node:test\";\nimport * as todo from \"./TodoList\";\ntest(\"x\", () => todo);\n",
            "react",
        ),
    ] {
        let job = node_test(source_file_name, source, test_file_name, tests);
        assert_missing_module(&runner, &job, module).await;
    }
}
