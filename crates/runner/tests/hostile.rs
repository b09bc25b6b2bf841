//! Hostile code, as the "generated test" and as the source: each case contained, with a clear
//! verdict, and the runner (and so the worker) still serving afterwards.

mod common;

use std::time::Duration;

use common::{assert_outcome, python, runner};
use runner::{Limit, Outcome};

const SOURCE: &str = "def identity(value):\n    return value\n";

/// The pytest tests whose one test has `body` as its body.
fn test_with_body(body: &str) -> String {
    let indented: String = body.lines().map(|line| format!("    {line}\n")).collect();
    format!(
        "import os, socket, subprocess, sys, time\nfrom subject import identity\n\n\ndef test_hostile():\n{indented}"
    )
}

/// Runs `body` as the body of a pytest test and returns the report.
async fn run_test_body(runner: &runner::Runner, body: &str) -> runner::RunReport {
    let tests = test_with_body(body);
    runner.run(&python("subject.py", SOURCE, &tests), 0).await
}

/// Runs `body` as the body of a pytest test, asserts that its outcome is `expected` (naming the
/// tests and the output otherwise), and returns the report.
async fn assert_body_outcome(
    runner: &runner::Runner,
    body: &str,
    expected: Outcome,
) -> runner::RunReport {
    let tests = test_with_body(body);
    assert_outcome(runner, &python("subject.py", SOURCE, &tests), 0, expected).await
}

#[tokio::test]
async fn the_network_is_not_there_not_even_the_stacks_own_ports() {
    let runner = runner().await;
    for port in [5432, 6379, 80, 8080] {
        let report = assert_body_outcome(
            &runner,
            &format!("s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\nassert False, 'connected'"),
            Outcome::Failed,
        )
        .await;
        assert!(
            report.output.contains("ConnectionRefusedError")
                || report.output.contains("Network is unreachable"),
            "{}",
            report.output
        );
    }
    assert_body_outcome(
        &runner,
        "socket.getaddrinfo('example.com', 443)",
        Outcome::Failed,
    )
    .await;
}

#[tokio::test]
async fn the_workers_environment_and_files_are_invisible() {
    // SAFETY of the test itself: the variable is set before any runner thread reads it.
    let runner = runner().await;
    assert_body_outcome(
        &runner,
        "assert sorted(k for k in os.environ if k not in ('PATH','HOME','TMPDIR','LANG','PWD','PYTHONPATH','PYTHONDONTWRITEBYTECODE','COVERAGE_FILE','LC_CTYPE','PYTEST_CURRENT_TEST','COV_CORE_SOURCE','COV_CORE_CONFIG','COV_CORE_DATAFILE','COVERAGE_RUN')) == []\nfor path in ['/etc/passwd', '/root', '/home', '/var/lib/postgresql', '/proc/1/environ']:\n    assert not os.path.exists(path) or path == '/proc/1/environ', path\nassert os.getuid() != 0",
        Outcome::Passed,
    )
    .await;
    // The sandbox's pid 1 is its own, not the worker: its environment is the sandbox's.
    assert_body_outcome(
        &runner,
        "assert b'DATABASE_URL' not in open('/proc/1/environ','rb').read()",
        Outcome::Passed,
    )
    .await;
}

#[tokio::test]
async fn writing_outside_the_work_directory_fails_and_tmp_is_private() {
    let runner = runner().await;
    let report = assert_body_outcome(
        &runner,
        "open('/usr/aiut-escape', 'w').write('x')",
        Outcome::Failed,
    )
    .await;
    assert!(
        report.output.contains("Read-only file system")
            || report.output.contains("Permission denied"),
        "{}",
        report.output
    );
    assert!(!std::path::Path::new("/usr/aiut-escape").exists());
    let marker = format!("aiut-private-tmp-{}", std::process::id());
    assert_body_outcome(
        &runner,
        &format!("open('/tmp/{marker}', 'w').write('x')"),
        Outcome::Passed,
    )
    .await;
    assert!(
        !std::path::Path::new("/tmp").join(&marker).exists(),
        "/tmp inside is not the host's"
    );
}

#[tokio::test]
async fn an_infinite_loop_hits_the_cpu_limit_and_a_sleep_the_wall_clock() {
    let with_limits = |cpu_secs, wall_secs| {
        runner::Runner::new(runner::RunnerSettings {
            limits: runner::Limits {
                cpu_secs,
                wall_secs,
                ..runner::Limits::default()
            },
            work_root: std::env::temp_dir()
                .join(format!("aiut-runner-limits-{}", std::process::id())),
            ..runner::RunnerSettings::default()
        })
    };
    // Wall-clock room enough for 2 CPU seconds on a busy machine: the CPU limit must come first.
    let runner = with_limits(2, 60).await;
    let report = run_test_body(&runner, "while True:\n    pass").await;
    assert_eq!(
        report.outcome,
        Outcome::LimitExceeded(Limit::CpuTime),
        "{}",
        report.output
    );
    let runner = with_limits(2, 6).await;
    let started = std::time::Instant::now();
    let report = run_test_body(&runner, "time.sleep(10_000)").await;
    assert_eq!(
        report.outcome,
        Outcome::LimitExceeded(Limit::WallClock),
        "{}",
        report.output
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn a_fork_bomb_a_memory_hog_and_a_flood_of_output_are_each_named() {
    let runner = runner().await;
    let report = run_test_body(
        &runner,
        "subprocess.run(['/bin/sh', '-c', 'b() { b | b & }; b'], timeout=30)",
    )
    .await;
    assert!(
        matches!(
            report.outcome,
            Outcome::LimitExceeded(Limit::Processes | Limit::WallClock)
        ),
        "{:?}\n{}",
        report.outcome,
        report.output
    );
    let report = run_test_body(
        &runner,
        "hog = bytearray(2 * 1024 * 1024 * 1024)\nhog[::4096] = b'x' * len(hog[::4096])",
    )
    .await;
    assert_eq!(
        report.outcome,
        Outcome::LimitExceeded(Limit::Memory),
        "{}",
        report.output
    );
    let report = run_test_body(&runner, "chunk = 'x' * 1_000_000\nfor _ in range(1000):\n    sys.stdout.write(chunk)\nsys.stdout.flush()\nassert False").await;
    assert_eq!(
        report.outcome,
        Outcome::LimitExceeded(Limit::Output),
        "{}",
        report.output.len()
    );
    assert!(report.output.len() <= runner::OUTPUT_KEPT + 100);
}

#[tokio::test]
async fn killing_its_parent_or_leaving_a_process_behind_leaves_nothing_running() {
    let runner = runner().await;
    let marker = format!("aiut-left-behind-{}", std::process::id());
    assert_body_outcome(
        &runner,
        &format!(
            "subprocess.Popen(['/bin/sh', '-c', 'exec -a {marker} sleep 1000'])\ntime.sleep(0.2)"
        ),
        Outcome::Passed,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !processes_named(&marker),
        "the process the test left behind is still running"
    );

    let report = run_test_body(&runner, "os.kill(os.getppid(), 9)\ntime.sleep(1)").await;
    assert_ne!(report.outcome, Outcome::Passed, "{}", report.output);
    // The runner still serves.
    assert_body_outcome(&runner, "assert identity(3) == 3", Outcome::Passed).await;
}

#[tokio::test]
async fn hostile_source_is_contained_like_hostile_tests() {
    let runner = runner().await;
    let source = "import socket\nsocket.create_connection(('127.0.0.1', 5432), timeout=2)\n\ndef identity(v):\n    return v\n";
    let tests = "from subject import identity\n\ndef test_x():\n    assert identity(1) == 1\n";
    let job = python("subject.py", source, tests);
    let report = assert_outcome(&runner, &job, 0, Outcome::BuildFailed).await;
    assert!(
        report.output.contains("ConnectionRefusedError"),
        "{}",
        report.output
    );
}

#[tokio::test]
async fn many_runs_queue_for_the_slots_and_leave_no_work_directory() {
    let root = std::env::temp_dir().join(format!("aiut-runner-queue-{}", std::process::id()));
    let runner = std::sync::Arc::new(
        runner::Runner::new(runner::RunnerSettings {
            slots: 2,
            work_root: root.clone(),
            ..runner::RunnerSettings::default()
        })
        .await,
    );
    let mut runs = Vec::new();
    for index in 0..8 {
        let runner = runner.clone();
        runs.push(tokio::spawn(async move {
            let tests = format!("from subject import identity\n\ndef test_x():\n    assert identity({index}) == {index}\n");
            runner.run(&python("subject.py", SOURCE, &tests), 1).await.outcome
        }));
    }
    // Watched for as long as the runs last, not for a fixed while: on a loaded machine the runs
    // may reach their slots later than any fixed while.
    let mut saw_waiting = false;
    while !saw_waiting && !runs.iter().all(|run| run.is_finished()) {
        saw_waiting = runner.waiting() > 0;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for run in runs {
        assert_eq!(run.await.expect("joins"), Outcome::Passed);
    }
    assert!(saw_waiting, "8 runs on 2 slots: some must wait");
    assert_eq!((runner.waiting(), runner.running()), (0, 0));
    let left: Vec<_> = std::fs::read_dir(&root)
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "work directories left behind: {left:?}");
}

fn processes_named(marker: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .any(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
}
