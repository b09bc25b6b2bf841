//! With no model at all: the offline generator runs the code in the sandbox, pins what it
//! observed, and delivers tests that pass when someone else runs them; without a sandbox it
//! falls back to skipped scaffolds and says why.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{StackOptions, by_hand, scratch, stack};

/// Where the runner's Node tools are installed (`crates/runner/toolchains/install`).
const TSX_LOADER: &str = "/usr/local/lib/aiunittest/node_modules/tsx/dist/loader.mjs";

const INTERVALS: &str = r#""""Interval arithmetic for schedules."""


class InvalidInterval(ValueError):
    pass


def merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merges overlapping intervals.

    >>> merge([(1, 3), (2, 6), (8, 10)])
    [(1, 6), (8, 10)]
    """
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if start > end:
            raise InvalidInterval(f"{start} > {end}")
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    """How long two intervals overlap."""
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


class Calendar:
    def __init__(self, owner: str):
        if not owner:
            raise ValueError("a calendar needs an owner")
        self.owner = owner
        self.busy: list[tuple[int, int]] = []

    def book(self, start: int, end: int) -> bool:
        for taken in self.busy:
            if overlap(taken, (start, end)) > 0:
                return False
        self.busy.append((start, end))
        return True
"#;

const JS_SOURCE: &str = r#"export class EmptyQueueError extends Error {}

export class Queue {
  constructor() {
    this.items = [];
  }

  enqueue(item) {
    this.items.push(item);
    return this.items.length;
  }

  dequeue() {
    if (this.items.length === 0) throw new EmptyQueueError('the queue is empty');
    return this.items.shift();
  }
}

export function grade(score) {
  if (score < 0 || score > 100) throw new RangeError('score out of range');
  if (score >= 90) return 'A';
  if (score >= 75) return 'B';
  if (score >= 50) return 'C';
  return 'F';
}
"#;

const TS_SOURCE: &str = r#"export function percent(part: number, whole: number): number {
  if (whole === 0) {
    throw new Error('whole must not be zero');
  }
  return Math.round((part / whole) * 1000) / 10;
}

export function initials(name: string): string {
  const words = name.split(' ').filter((word) => word.length > 0);
  if (words.length === 0) {
    return '?';
  }
  return words.map((word) => word[0].toUpperCase()).join('');
}
"#;

/// The task's delivered tests cover at least `share` of the source's lines.
fn assert_line_coverage(task: &Value, share: f64) {
    let coverage = &task["validation"]["coverage"];
    let lines = coverage["lines_covered"].as_f64().unwrap_or(0.0)
        / coverage["lines_total"].as_f64().unwrap_or(1.0);
    assert!(lines >= share, "line coverage {lines}: {coverage}");
}

/// Submits `source` to the offline model and waits for the task, which must succeed with
/// validated tests and no model call.
async fn offline_task(
    stack: &crate::helpers::Stack,
    file_name: &str,
    source: &str,
    framework: &str,
) -> Value {
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": source, "filename": file_name, "model": "offline", "framework": framework }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(180))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(stack.simulator.stats().requests, 0, "no model was asked");
    assert_eq!(task["validation"]["status"], "validated", "{task}");
    let code = task["result"]["code"].as_str().expect("the tests");
    assert!(
        code.contains("Regression tests written by AIunittest's offline generator"),
        "the file says what its tests are: {code}"
    );
    assert!(!code.contains("skip"), "no skipped scaffold: {code}");
    for test in task["validation"]["tests"].as_array().expect("verdicts") {
        if test["kept"] == true {
            assert_eq!(test["rerun_passes"], test["reruns"], "{test}");
        }
    }
    task
}

#[sqlx::test(migrations = false)]
async fn python_without_a_model_gets_passing_tests_that_pin_values_and_errors(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;
    let task = offline_task(&stack, "schedule/intervals.py", INTERVALS, "pytest").await;
    let code = task["result"]["code"].as_str().expect("the tests");
    assert!(code.contains("from schedule.intervals import"), "{code}");
    assert!(
        code.contains("pytest.raises(InvalidInterval)"),
        "the file's own error is pinned: {code}"
    );
    assert!(
        code.contains("== [(1, 6), (8, 10)]"),
        "the doctest's call: {code}"
    );
    assert!(code.contains("Calendar("), "objects built: {code}");
    assert_line_coverage(&task, 0.9);

    // Someone else runs the delivered file twice, outside the sandbox.
    let dir = scratch("python");
    std::fs::create_dir_all(dir.join("schedule")).expect("package dir");
    std::fs::write(dir.join("schedule/intervals.py"), INTERVALS).expect("source");
    let test_file = task["result"]["file_name"].as_str().expect("a file name");
    std::fs::write(dir.join(test_file), code).expect("tests");
    for _ in 0..2 {
        by_hand(
            &dir,
            "/usr/bin/python3",
            &["-m", "pytest", "-q", "-p", "no:cacheprovider", test_file],
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn javascript_and_typescript_without_a_model_get_passing_tests(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;

    let task = offline_task(&stack, "queue.mjs", JS_SOURCE, "node:test").await;
    let code = task["result"]["code"].as_str().expect("the tests");
    assert!(code.contains("EmptyQueueError"), "{code}");
    assert!(code.contains("RangeError"), "{code}");
    assert_line_coverage(&task, 0.9);
    let dir = scratch("javascript");
    std::fs::write(dir.join("queue.mjs"), JS_SOURCE).expect("source");
    let test_file = task["result"]["file_name"].as_str().expect("a file name");
    std::fs::write(dir.join(test_file), code).expect("tests");
    by_hand(&dir, "/usr/bin/node", &["--test", test_file]);

    let task = offline_task(&stack, "percent.ts", TS_SOURCE, "node:test").await;
    let code = task["result"]["code"].as_str().expect("the tests");
    assert!(code.contains("initials("), "{code}");
    assert_line_coverage(&task, 0.9);
    std::fs::write(dir.join("percent.ts"), TS_SOURCE).expect("source");
    let test_file = task["result"]["file_name"].as_str().expect("a file name");
    std::fs::write(dir.join(test_file), code).expect("tests");
    by_hand(
        &dir,
        "/usr/bin/node",
        &["--import", TSX_LOADER, "--test", test_file],
    );
    let _ = std::fs::remove_dir_all(&dir);
    stack.stop().await;
}

#[sqlx::test(migrations = false)]
async fn without_a_sandbox_the_offline_model_gives_skipped_scaffolds_and_says_why(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let options = StackOptions {
        sandbox: false,
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": INTERVALS, "filename": "intervals.py", "model": "offline" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(60))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let code = task["result"]["code"].as_str().expect("the scaffolds");
    assert!(code.contains("pytest.mark.skip"), "{code}");
    let validation = &task["validation"];
    assert_eq!(validation["status"], "not_run", "{validation}");
    let reason = validation["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no sandbox"), "{reason}");
    stack.stop().await;
}
