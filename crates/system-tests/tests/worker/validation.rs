//! Generated tests are run: a real source from the corpus, the simulator's answers built, run,
//! run again and measured in the sandbox, and what is delivered passes when someone else runs it.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{StackOptions, by_hand, scratch, stack};

fn corpus(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../codegen/tests/corpus")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|error| panic!("{}: {error}", file.display()))
}

fn work_dirs_left(stack: &crate::helpers::Stack) -> Vec<PathBuf> {
    std::fs::read_dir(&stack.worker_settings.runner.work_root)
        .map(|dir| dir.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default()
}

#[sqlx::test(migrations = false)]
async fn a_python_file_gets_tests_that_pass_when_someone_else_runs_them(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;
    let source = corpus("python/text_utils.py");
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": source, "filename": "text_utils.py", "model": "simulator" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(180))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let validation = &task["validation"];
    assert_eq!(validation["status"], "validated", "{validation}");
    assert_eq!(validation["tool"], "pytest + coverage.py");
    let tests = validation["tests"].as_array().expect("verdicts");
    assert!(
        tests.iter().any(|test| test["kept"] == true),
        "{validation}"
    );
    for test in tests {
        let verdict = test["verdict"].as_str().unwrap_or_default();
        if test["kept"] == true {
            assert!(["passed", "no_new_coverage"].contains(&verdict), "{test}");
            assert_eq!(test["rerun_passes"], test["reruns"], "{test}");
        } else {
            assert!(
                test["reason"].is_string(),
                "a test left out says why: {test}"
            );
        }
    }

    // Someone else runs the delivered file, with the same tools, outside the sandbox.
    let code = task["result"]["code"].as_str().expect("the tests");
    let test_file = task["result"]["file_name"].as_str().expect("a file name");
    let dir = scratch("python");
    std::fs::write(dir.join("text_utils.py"), &source).expect("source");
    std::fs::write(dir.join(test_file), code).expect("tests");
    by_hand(
        &dir,
        "/usr/bin/python3",
        &[
            "-m",
            "coverage",
            "run",
            "--branch",
            "--include=text_utils.py",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            test_file,
        ],
    );
    let report = by_hand(
        &dir,
        "/usr/bin/python3",
        &[
            "-m",
            "coverage",
            "json",
            "-q",
            "-o",
            "-",
            "--include=text_utils.py",
        ],
    );
    let report: Value = serde_json::from_str(report.trim()).expect("coverage's JSON");
    let coverage = &validation["coverage"];
    assert_eq!(
        coverage["lines_covered"], report["totals"]["covered_lines"],
        "{coverage}"
    );
    assert_eq!(
        coverage["lines_total"], report["totals"]["num_statements"],
        "{coverage}"
    );
    assert_eq!(
        coverage["branches_covered"], report["totals"]["covered_branches"],
        "{coverage}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        work_dirs_left(&stack).is_empty(),
        "{:?}",
        work_dirs_left(&stack)
    );
}

#[sqlx::test(migrations = false)]
async fn without_a_sandbox_nothing_is_run_and_the_task_says_so(
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
            json!({ "source": "def double(x):\n    return 2 * x\n", "filename": "d.py", "model": "simulator" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(60))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let validation = &task["validation"];
    assert_eq!(validation["status"], "not_run", "{validation}");
    assert!(
        validation["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not run: no sandbox"),
        "{validation}"
    );
    assert!(validation.get("coverage").is_none(), "{validation}");
    for unit in task["result"]["units"].as_array().expect("units") {
        assert_eq!(unit["verdict"], "not_run", "{unit}");
    }
}

#[sqlx::test(migrations = false)]
async fn syntax_only_tasks_and_languages_that_cannot_run_here_say_what_was_done(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;
    let parsed = stack
        .submit(
            &stack.client,
            json!({ "source": "def double(x):\n    return 2 * x\n", "filename": "d.py", "model": "simulator", "validate": "syntax" }),
        )
        .await;
    let csharp = stack
        .submit(
            &stack.client,
            json!({ "source": corpus("csharp/MathUtils.cs"), "filename": "MathUtils.cs", "model": "simulator" }),
        )
        .await;
    let parsed = stack
        .wait_until_finished(&stack.client, &parsed, Duration::from_secs(60))
        .await;
    assert_eq!(parsed["status"], "succeeded", "{parsed}");
    assert_eq!(parsed["validate"], "syntax");
    assert_eq!(parsed["validation"]["status"], "syntax_only", "{parsed}");
    let csharp = stack
        .wait_until_finished(&stack.client, &csharp, Duration::from_secs(60))
        .await;
    assert_eq!(csharp["status"], "succeeded", "{csharp}");
    assert_eq!(csharp["validation"]["status"], "not_run", "{csharp}");
    let reason = csharp["validation"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("not run on this deployment") && reason.contains(".NET"),
        "{reason}"
    );
}

#[sqlx::test(migrations = false)]
async fn hostile_sources_are_contained_and_the_worker_keeps_serving(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let options = StackOptions {
        runner_slots: 2,
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;
    let marker = format!("aiut-escaped-{}", uuid::Uuid::new_v4().simple());
    // Outside both the work directory and /tmp (which is the sandbox's own, in memory).
    let escape = std::path::Path::new("/var/tmp").join(&marker);
    // Each source does its harm when it is imported, so every test of it meets it.
    let hostile = [
        "import socket\nsocket.create_connection(('127.0.0.1', 5432), timeout=2)\n".to_owned(),
        format!("open({:?}, 'w').write('x')\n", escape.display().to_string()),
        "import os\nassert 'DATABASE_URL' in os.environ or 'REDIS_URL' in os.environ, 'no secrets'\n".to_owned(),
        "import os\nos.kill(os.getppid(), 9)\n".to_owned(),
        "import subprocess\nsubprocess.Popen(['/bin/sh', '-c', 'sleep 1000'])\n".to_owned(),
    ];
    let mut ids = Vec::new();
    for (index, harm) in hostile.iter().enumerate() {
        let source = format!("{harm}\n\ndef double_{index}(x):\n    return 2 * x\n");
        ids.push(
            stack
                .submit(
                    &stack.client,
                    json!({ "source": source, "filename": format!("hostile_{index}.py"), "model": "simulator" }),
                )
                .await,
        );
    }
    for (index, id) in ids.iter().enumerate() {
        let task = stack
            .wait_until_finished(&stack.client, id, Duration::from_secs(240))
            .await;
        let status = task["status"].as_str().unwrap_or_default();
        if index < 3 {
            // No network, no writing outside, no secrets: the source cannot even be imported, so
            // no test of it passes, and the task says so.
            assert_eq!(status, "failed", "{task}");
            assert_eq!(task["error"]["code"], "no_passing_tests", "{task}");
            // The verdicts stay on the failed task, each with the tool's words.
            let tests = task["validation"]["tests"]
                .as_array()
                .expect("verdicts kept");
            assert!(!tests.is_empty(), "{task}");
            for test in tests {
                assert_eq!(test["verdict"], "build_failed", "{task}");
                assert_eq!(test["kept"], false);
                assert!(test["reason"].is_string(), "{task}");
            }
        } else {
            // Killing its parent or leaving a process behind ends its own run, nothing else.
            assert!(["failed", "succeeded"].contains(&status), "{task}");
        }
    }
    let left_behind = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.starts_with(b"sleep\x001000"))
        .count();
    assert_eq!(
        left_behind, 0,
        "a process a source started outlived its run"
    );
    assert!(
        !escape.exists(),
        "a source wrote outside its work directory"
    );
    assert!(
        work_dirs_left(&stack).is_empty(),
        "{:?}",
        work_dirs_left(&stack)
    );
    // Still serving: a harmless task afterwards is validated.
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": "def double(x):\n    return 2 * x\n", "filename": "after.py", "model": "simulator" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(120))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["validation"]["status"], "validated", "{task}");
}

#[sqlx::test(migrations = false)]
async fn a_failing_answer_goes_back_with_its_error_and_the_corrected_one_is_kept(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    // Every first answer asserts a guessed value; every answer to a failure reads the value the
    // run printed.
    let options = StackOptions {
        simulator: simulator::SimulatorConfig {
            answers: simulator::AnswerMix {
                wrong_value: 1.0,
                ..simulator::AnswerMix::all_right()
            },
            ..simulator::SimulatorConfig::instant()
        },
        ..StackOptions::default()
    };
    let stack = stack(pool_options, connect, options).await;
    let source = "def double(x: int) -> int:\n    return 2 * x + 1\n";
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": source, "filename": "calc.py", "model": "simulator" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(120))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let test = &task["validation"]["tests"][0];
    assert_eq!(test["verdict"], "passed", "{task}");
    assert_eq!(
        test["rounds"], 2,
        "one failure, then the corrected answer: {task}"
    );

    let prompts = stack.simulator.recent_prompts();
    assert_eq!(prompts.len(), 2, "{prompts:?}");
    assert!(!prompts[0].contains("When it was run"), "{}", prompts[0]);
    let retry = &prompts[1];
    assert!(
        retry.contains("When it was run, the tests failed"),
        "{retry}"
    );
    assert!(retry.contains("Your previous test file:"), "{retry}");
    // pytest's own words for the failed assertion are in the second prompt.
    assert!(
        retry.contains("AssertionError") || retry.contains("assert "),
        "{retry}"
    );
    assert!(retry.contains("FAILED"), "{retry}");
}

#[sqlx::test(migrations = false)]
async fn a_source_needing_an_absent_module_gets_its_tests_marked_not_run(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let stack = stack(pool_options, connect, StackOptions::default()).await;
    let source = "import requests\n\n\ndef status(url: str) -> int:\n    return requests.get(url).status_code\n";
    let id = stack
        .submit(
            &stack.client,
            json!({ "source": source, "filename": "client.py", "model": "simulator" }),
        )
        .await;
    let task = stack
        .wait_until_finished(&stack.client, &id, Duration::from_secs(120))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let validation = &task["validation"];
    assert_eq!(validation["status"], "not_run", "{validation}");
    assert_eq!(
        validation["reason"], "could not run: missing module requests",
        "{validation}"
    );
    assert_eq!(
        validation["tests"][0]["verdict"], "missing_module",
        "{validation}"
    );
    assert_eq!(
        validation["tests"][0]["kept"], false,
        "never counted as a pass: {validation}"
    );
    // The unit says the same as its test's report.
    assert_eq!(
        task["result"]["units"][0]["verdict"], "missing_module",
        "{task}"
    );
    assert!(
        task["result"]["code"]
            .as_str()
            .unwrap_or_default()
            .contains("def test_"),
        "{task}"
    );
}
