//! The web UI in a real browser: this test starts the real stack (three api replicas, a worker,
//! the model simulators, and the gateway in front, see `stack.rs`), then runs the browser tests of
//! `ui-tests/` (`node --test`, playwright-core driving Debian's Chromium) against the gateway's
//! address, streams their output, and fails with it when they fail.
//!
//! What they need is never skipped silently: without `node`, `ui-tests/node_modules` or Chromium
//! the test fails and names the fix (`bash .ci/run` installs all three).
//!
//! Screenshots of the main states are written to `<target>/ui-artifacts/`.
//!
//! `AIUT_UI_TESTS` (names separated by commas, e.g. `admin,errors`) runs only the files whose
//! name starts with one of them; every file runs when it is unset.
//!
//! `traces.rs`, which shares this binary (and its link), follows one task through the gateway,
//! an api replica and a worker, each a process of its own, as one OTLP trace.

mod stack;
mod traces;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The whole browser suite's budget; it normally takes a few minutes, most of them the
/// repository batch's sandboxed test runs.
const NODE_TIMEOUT: Duration = Duration::from_secs(480);

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

fn chromium() -> PathBuf {
    std::env::var_os("AIUT_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// `<target>/ui-artifacts`: next to this build's `tmp` folder, wherever the target folder is.
fn artifacts_folder() -> PathBuf {
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    target_tmp
        .parent()
        .unwrap_or(target_tmp)
        .join("ui-artifacts")
}

/// What the suite needs, each with the way to get it; empty when all is there.
fn missing_prerequisites(ui_tests: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let node = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    if !node.is_ok_and(|output| output.status.success()) {
        missing.push("`node` is not on PATH: `apt-get install nodejs npm`".to_owned());
    }
    for package in ["playwright-core", "axe-core"] {
        if !ui_tests
            .join("node_modules")
            .join(package)
            .join("package.json")
            .is_file()
        {
            missing.push(format!(
                "{package} is not installed in ui-tests/node_modules: `cd ui-tests && npm ci`"
            ));
        }
    }
    let chromium = chromium();
    if !chromium.is_file() {
        missing.push(format!(
            "Chromium is not at {}: `apt-get install --no-install-recommends chromium`",
            chromium.display()
        ));
    }
    missing
}

/// The test files, in name order: all of them, or those `AIUT_UI_TESTS` names.
fn test_files(ui_tests: &Path) -> Vec<String> {
    let wanted: Vec<String> = std::env::var("AIUT_UI_TESTS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    let mut files: Vec<String> = std::fs::read_dir(ui_tests.join("tests"))
        .expect("ui-tests/tests")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.mjs"))
        .filter(|name| wanted.is_empty() || wanted.iter().any(|start| name.starts_with(start)))
        .map(|name| format!("tests/{name}"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "ui-tests/tests holds no *.test.mjs (of AIUT_UI_TESTS={wanted:?})"
    );
    files
}

/// Runs node with the suite, echoing its output line by line as it comes; returns whether it
/// passed and everything it printed.
fn run_node(ui_tests: &Path, env: &[(&str, String)]) -> (bool, String) {
    let mut command = Command::new("node");
    command
        .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(test_files(ui_tests))
        .current_dir(ui_tests)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start node");
    let output = Arc::new(Mutex::new(String::new()));
    let echo = |stream: Box<dyn Read + Send>| {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                eprintln!("[ui-tests] {line}");
                if let Ok(mut output) = output.lock() {
                    output.push_str(&line);
                    output.push('\n');
                }
            }
        })
    };
    let readers = [
        echo(Box::new(child.stdout.take().expect("node's stdout"))),
        echo(Box::new(child.stderr.take().expect("node's stderr"))),
    ];
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("node's status") {
            break Some(status);
        }
        if started.elapsed() > NODE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for reader in readers {
        let _ = reader.join();
    }
    let output = output.lock().map(|text| text.clone()).unwrap_or_default();
    match status {
        Some(status) => (status.success(), output),
        None => (
            false,
            format!("{output}\nnode was stopped after {NODE_TIMEOUT:?}"),
        ),
    }
}

#[sqlx::test(migrations = false)]
async fn the_web_ui_works_in_a_real_browser(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let ui_tests = repository_root().join("ui-tests");
    let missing = missing_prerequisites(&ui_tests);
    assert!(
        missing.is_empty(),
        "the browser tests cannot run; `bash .ci/run` installs what they need, or:\n  - {}",
        missing.join("\n  - ")
    );
    let artifacts = artifacts_folder();
    std::fs::create_dir_all(&artifacts).expect("create the artifacts folder");

    let stack = stack::Stack::start(pool_options, connect).await;
    let env = [
        ("AIUT_UI_URL", stack.gateway.url("")),
        ("AIUT_UI_LIMITED_URL", stack.limited.url("")),
        ("AIUT_UI_ARTIFACTS", artifacts.display().to_string()),
        (
            "AIUT_UI_MAX_SOURCE_BYTES",
            stack.settings.limits.max_source_bytes.to_string(),
        ),
        ("AIUT_UI_SLOW_MODEL", "simulator-slow".to_owned()),
        ("AIUT_UI_UNAVAILABLE_MODEL", "hosted".to_owned()),
        ("AIUT_CHROMIUM", chromium().display().to_string()),
        ("AIUT_UI_ADMIN_PASSWORD", stack::ADMIN_PASSWORD.to_owned()),
        ("AIUT_UI_NEW_ENDPOINT_URL", stack.new_endpoint.clone()),
        (
            "AIUT_UI_NEW_ENDPOINT_KEY",
            stack::NEW_ENDPOINT_KEY.to_owned(),
        ),
        ("AIUT_UI_GITHUB_URL", stack.github.base.clone()),
        ("AIUT_UI_FORGE_TOKEN", stack::FORGE_TOKEN.to_owned()),
        ("AIUT_UI_REPOSITORY", stack::REPOSITORY.to_owned()),
    ];
    eprintln!("browser tests against {}", stack.gateway.url("/"));
    let ui_tests_for_node = ui_tests.clone();
    let (passed, output) = tokio::task::spawn_blocking(move || run_node(&ui_tests_for_node, &env))
        .await
        .expect("the node runner");

    // For a person debugging the page: the stack stays up this many seconds after the run.
    if let Some(hold) = std::env::var("AIUT_UI_HOLD_SECS")
        .ok()
        .and_then(|secs| secs.parse::<u64>().ok())
    {
        eprintln!(
            "holding the stack at {} for {hold} s",
            stack.gateway.url("/")
        );
        tokio::time::sleep(Duration::from_secs(hold)).await;
    }
    let gateway_log = stack.gateway.log();
    stack.stop().await;
    assert!(
        passed,
        "the browser tests failed (screenshots in {}):\n{output}\n--- gateway log\n{gateway_log}",
        artifacts.display()
    );
}
