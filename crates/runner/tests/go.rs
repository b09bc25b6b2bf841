//! Go tests run for real, with the standard `testing` package and with testify: verdicts, and
//! coverage checked against `go test -coverprofile` run by hand on the same files.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{corpus, job, runner, tempdir};
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
    let runner = runner().await;
    let source = corpus("go/stack.go");
    let report = runner
        .run(&go(Framework::GoTesting, &source, STACK_TESTS), 2)
        .await;
    assert_eq!(report.outcome, Outcome::Passed, "{}", report.output);
    assert_eq!((report.reruns, report.rerun_passes), (2, 2));
    let measured = report.coverage.clone().expect("coverage of a passing run");

    // The same files, measured by hand with `go test`, outside any sandbox.
    let dir = tempdir("go-by-hand");
    let package = dir.join("src/collections");
    std::fs::create_dir_all(&package).expect("package dir");
    std::fs::write(package.join("stack.go"), &source).expect("write source");
    std::fs::write(package.join("stack_test.go"), STACK_TESTS).expect("write tests");
    let output = Command::new("/usr/bin/go")
        .args([
            "test",
            "-covermode=set",
            "-coverprofile=../../cover.out",
            ".",
        ])
        .current_dir(&package)
        .env("GO111MODULE", "off")
        .env("GOPATH", &dir)
        .env("GOCACHE", dir.join("cache"))
        .output()
        .expect("go test runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    // go test's own figure, `coverage: 28.0% of statements`, is what the test binary printed.
    let figure = printed
        .split("coverage: ")
        .nth(1)
        .and_then(|rest| rest.split(" of statements").next())
        .expect("a coverage figure");
    assert!(
        report
            .output
            .contains(&format!("coverage: {figure} of statements")),
        "{figure}\n{}",
        report.output
    );
    let profile = std::fs::read_to_string(dir.join("cover.out")).expect("cover profile");
    let (lines, covered) = profile_lines(&profile, "stack.go");
    assert_eq!(measured.lines, lines, "{profile}");
    assert_eq!(measured.covered, covered, "{profile}");
    let summary = measured.summary();
    assert!(summary.lines_covered > 0 && summary.lines_covered < summary.lines_total);
    assert_eq!(summary.branches_total, None, "go measures no branches");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_wrong_expectation_fails_with_the_message_in_the_output() {
    let runner = runner().await;
    let source = corpus("go/stack.go");
    let tests = "package collections\n\nimport \"testing\"\n\nfunc TestLen(t *testing.T) {\n\ts := NewStack[string](2)\n\ts.Push(\"a\")\n\tif s.Len() != 2 {\n\t\tt.Errorf(\"Len() = %d, want 2\", s.Len())\n\t}\n}\n";
    let report = runner
        .run(&go(Framework::GoTesting, &source, tests), 2)
        .await;
    assert_eq!(report.outcome, Outcome::Failed, "{}", report.output);
    assert!(
        report.output.contains("Len() = 1, want 2"),
        "{}",
        report.output
    );
    assert_eq!(report.reruns, 0);
}

#[tokio::test]
async fn a_compile_error_did_not_build() {
    let runner = runner().await;
    let source = corpus("go/stack.go");
    let tests = "package collections\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {\n\tvar n int = \"text\"\n\t_ = n\n}\n";
    let report = runner
        .run(&go(Framework::GoTesting, &source, tests), 0)
        .await;
    assert_eq!(report.outcome, Outcome::BuildFailed, "{}", report.output);
    assert!(report.output.contains("cannot use"), "{}", report.output);
}

#[tokio::test]
async fn a_source_that_needs_an_absent_package_says_which() {
    let runner = runner().await;
    let source = "package ids\n\nimport \"github.com/google/uuid\"\n\nfunc New() string { return uuid.NewString() }\n";
    let tests = "package ids\n\nimport \"testing\"\n\nfunc TestNew(t *testing.T) {\n\tif New() == \"\" {\n\t\tt.Fatal(\"empty\")\n\t}\n}\n";
    let report = runner
        .run(
            &job(
                Language::Go,
                Framework::GoTesting,
                "ids.go",
                source,
                "ids_test.go",
                tests,
            ),
            0,
        )
        .await;
    assert_eq!(
        report.outcome,
        Outcome::MissingModule("github.com/google/uuid".into()),
        "{}",
        report.output
    );
}

#[tokio::test]
async fn testify_runs_from_debians_packages() {
    let runner = runner().await;
    let source = corpus("go/stack.go");
    let passing = "package collections\n\nimport (\n\t\"testing\"\n\n\t\"github.com/stretchr/testify/assert\"\n\t\"github.com/stretchr/testify/require\"\n)\n\nfunc TestPop(t *testing.T) {\n\ts := NewStack[int](0)\n\ts.Push(7)\n\tv, err := s.Pop()\n\trequire.NoError(t, err)\n\tassert.Equal(t, 7, v)\n}\n";
    let failing = passing.replace("assert.Equal(t, 7, v)", "assert.Equal(t, 8, v)");
    // Side by side: each run builds testify afresh, as every run starts with an empty cache.
    let (passing, failing) = (
        go(Framework::Testify, &source, passing),
        go(Framework::Testify, &source, &failing),
    );
    let (passed, failed) = tokio::join!(runner.run(&passing, 1), runner.run(&failing, 0));
    assert_eq!(passed.outcome, Outcome::Passed, "{}", passed.output);
    assert_eq!((passed.reruns, passed.rerun_passes), (1, 1));
    assert!(passed.coverage.is_some());
    assert_eq!(failed.outcome, Outcome::Failed, "{}", failed.output);
    assert!(failed.output.contains("expected: 8"), "{}", failed.output);
}
