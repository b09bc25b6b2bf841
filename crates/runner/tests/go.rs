//! Go tests run for real, with the standard `testing` package and with testify: verdicts, and
//! coverage checked against `go test -coverprofile` run by hand on the same files.

mod common;

use std::collections::BTreeSet;

use common::{
    assert_fails_saying, assert_missing_module, assert_outcome, assert_output_says,
    assert_partly_covered, assert_passes_and_measures, by_hand_with, corpus, job, tempdir,
    toolchain_runner, write_job_files,
};
use domain::{Framework, Language};
use runner::{Job, Outcome};

const STACK_TESTS: &str = r#"package collections

import "testing"

func TestPushThenPop(t *testing.T) {
	s := NewStack[int](1)
	s.Push(3)
	v, err := s.Pop()
	if err != nil || v != 3 {
		t.Fatalf("Pop() = %v, %v; want 3, nil", v, err)
	}
	if _, err := s.Pop(); err != ErrEmpty {
		t.Fatalf("Pop() of an empty stack: %v", err)
	}
}

func TestSetSorted(t *testing.T) {
	set := Set{}
	set.Add("b", "a")
	if got := set.Sorted(); len(got) != 2 || got[0] != "a" {
		t.Fatalf("Sorted() = %v", got)
	}
}
"#;

fn go<'a>(framework: Framework, source: &'a str, test_code: &'a str) -> Job<'a> {
    job(
        Language::Go,
        framework,
        "stack.go",
        source,
        "stack_test.go",
        test_code,
    )
}

/// The lines a cover profile's blocks of `file` span, and those of blocks that ran.
fn profile_lines(profile: &str, file: &str) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let (mut lines, mut covered) = (BTreeSet::new(), BTreeSet::new());
    for line in profile.lines().skip(1) {
        let (path, block) = line.split_once(':').expect("file:block");
        if !path.ends_with(&format!("/{file}")) {
            continue;
        }
        let fields: Vec<&str> = block.split([',', ' ']).collect();
        let line_of = |position: &str| -> u32 {
            position
                .split('.')
                .next()
                .expect("line")
                .parse()
                .expect("number")
        };
        for number in line_of(fields[0])..=line_of(fields[1]) {
            lines.insert(number);
            if fields[3] != "0" {
                covered.insert(number);
            }
        }
    }
    (lines, covered)
}

#[tokio::test]
async fn passing_tests_pass_again_and_report_the_coverage_go_reports() {
    let runner = toolchain_runner().await;
    let source = corpus("go/stack.go");
    let job = go(Framework::GoTesting, &source, STACK_TESTS);
    let (output, measured) = assert_passes_and_measures(&runner, &job, 2).await;

    // The same files, measured by hand with `go test`, outside any sandbox.
    let dir = tempdir("go-by-hand");
    let package = dir.join("src/collections");
    std::fs::create_dir_all(&package).expect("package dir");
    write_job_files(
        &package,
        &[("stack.go", &source), ("stack_test.go", STACK_TESTS)],
    );
    let cache = dir.join("cache");
    let printed = by_hand_with(
        &package,
        "/usr/bin/go",
        &[
            "test",
            "-covermode=set",
            "-coverprofile=../../cover.out",
            ".",
        ],
        &[
            ("GO111MODULE", "off".as_ref()),
            ("GOPATH", dir.as_os_str()),
            ("GOCACHE", cache.as_os_str()),
        ],
    );
    // go test's own figure, `coverage: 28.0% of statements`, is what the test binary printed.
    let figure = printed
        .split("coverage: ")
        .nth(1)
        .and_then(|rest| rest.split(" of statements").next())
        .expect("a coverage figure");
    assert!(
        output.contains(&format!("coverage: {figure} of statements")),
        "{figure}\n{output}"
    );
    let profile = std::fs::read_to_string(dir.join("cover.out")).expect("cover profile");
    let (lines, covered) = profile_lines(&profile, "stack.go");
    assert_eq!(measured.lines, lines, "{profile}");
    assert_eq!(measured.covered, covered, "{profile}");
    let summary = measured.summary();
    assert_partly_covered(&summary);
    assert_eq!(summary.branches_total, None, "go measures no branches");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_wrong_expectation_fails_with_the_message_in_the_output() {
    let runner = toolchain_runner().await;
    let source = corpus("go/stack.go");
    let tests = "package collections\n\nimport \"testing\"\n\nfunc TestLen(t *testing.T) {\n\ts := NewStack[string](2)\n\ts.Push(\"a\")\n\tif s.Len() != 2 {\n\t\tt.Errorf(\"Len() = %d, want 2\", s.Len())\n\t}\n}\n";
    let job = go(Framework::GoTesting, &source, tests);
    assert_fails_saying(&runner, &job, 2, &["Len() = 1, want 2"]).await;
}

#[tokio::test]
async fn a_compile_error_did_not_build() {
    let runner = toolchain_runner().await;
    let source = corpus("go/stack.go");
    let tests = "package collections\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {\n\tvar n int = \"text\"\n\t_ = n\n}\n";
    let job = go(Framework::GoTesting, &source, tests);
    let report = assert_outcome(&runner, &job, 0, Outcome::BuildFailed).await;
    assert_output_says(&report, &["cannot use"]);
}

#[tokio::test]
async fn a_source_that_needs_an_absent_package_says_which() {
    let runner = toolchain_runner().await;
    let source = "package ids\n\nimport \"github.com/google/uuid\"\n\nfunc New() string { return uuid.NewString() }\n";
    let tests = "package ids\n\nimport \"testing\"\n\nfunc TestNew(t *testing.T) {\n\tif New() == \"\" {\n\t\tt.Fatal(\"empty\")\n\t}\n}\n";
    let job = job(
        Language::Go,
        Framework::GoTesting,
        "ids.go",
        source,
        "ids_test.go",
        tests,
    );
    assert_missing_module(&runner, &job, "github.com/google/uuid").await;
}

#[tokio::test]
async fn testify_runs_from_debians_packages() {
    let runner = toolchain_runner().await;
    let source = corpus("go/stack.go");
    let passing = "package collections\n\nimport (\n\t\"testing\"\n\n\t\"github.com/stretchr/testify/assert\"\n\t\"github.com/stretchr/testify/require\"\n)\n\nfunc TestPop(t *testing.T) {\n\ts := NewStack[int](0)\n\ts.Push(7)\n\tv, err := s.Pop()\n\trequire.NoError(t, err)\n\tassert.Equal(t, 7, v)\n}\n";
    let failing = passing.replace("assert.Equal(t, 7, v)", "assert.Equal(t, 8, v)");
    // Side by side: each run builds testify afresh, as every run starts with an empty cache.
    let (passing, failing) = (
        go(Framework::Testify, &source, passing),
        go(Framework::Testify, &source, &failing),
    );
    tokio::join!(
        assert_passes_and_measures(&runner, &passing, 1),
        assert_fails_saying(&runner, &failing, 0, &["expected: 8"]),
    );
}
