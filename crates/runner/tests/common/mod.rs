//! A runner over the real sandbox, with small limits so that hostile tests end quickly, and one
//! with the default limits for the compiled languages' toolchains.

// Each test binary uses some of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use domain::{Framework, Language};
use runner::{Job, Limits, Runner, RunnerSettings};

/// The runner over this machine's bubblewrap; the test fails, naming the package, without it.
pub async fn runner() -> Runner {
    runner_with(Limits {
        cpu_secs: 5,
        wall_secs: 20,
        memory_mib: 256,
        processes: 64,
        output_bytes: 1024 * 1024,
    })
    .await
}

/// The runner with the deployment's default limits: compilers and the JVM need them.
pub async fn toolchain_runner() -> Runner {
    runner_with(Limits::default()).await
}

pub async fn runner_with(limits: Limits) -> Runner {
    let work_root = std::env::temp_dir().join(format!("aiut-runner-tests-{}", std::process::id()));
    let runner = Runner::new(RunnerSettings {
        slots: 2,
        bwrap: PathBuf::from("/usr/bin/bwrap"),
        work_root,
        limits,
    })
    .await;
    if let Err(reason) = runner.sandbox() {
        panic!("these tests need the sandbox (apt-get install bubblewrap): {reason}");
    }
    runner
}

pub fn corpus(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../codegen/tests/corpus")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|error| panic!("{}: {error}", file.display()))
}

pub fn python<'a>(source_file_name: &'a str, source: &'a str, test_code: &'a str) -> Job<'a> {
    Job {
        language: Language::Python,
        framework: Framework::Pytest,
        source_file_name,
        source,
        test_file_name: "test_subject.py",
        test_code,
    }
}

/// A job in `language` and `framework`.
pub fn job<'a>(
    language: Language,
    framework: Framework,
    source_file_name: &'a str,
    source: &'a str,
    test_file_name: &'a str,
    test_code: &'a str,
) -> Job<'a> {
    Job {
        language,
        framework,
        source_file_name,
        source,
        test_file_name,
        test_code,
    }
}

/// A job in `framework` (and its language), with the test file named as the language names it.
pub fn framework_job<'a>(
    framework: Framework,
    source_file_name: &'a str,
    source: &'a str,
    test_file_name: &'a str,
    test_code: &'a str,
) -> Job<'a> {
    let language = framework.languages()[0];
    assert_eq!(language.test_file_name(source_file_name), test_file_name);
    Job {
        language,
        framework,
        source_file_name,
        source,
        test_file_name,
        test_code,
    }
}

/// A fresh directory for running the tools by hand.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiut-runner-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// lcov's own totals (`LF`, `LH`, `BRF`, `BRH`) of `file`'s record.
pub fn lcov_totals(report: &str, file: &str) -> [u32; 4] {
    let mut totals = [0; 4];
    let mut in_file = false;
    for line in report.lines() {
        if let Some(path) = line.strip_prefix("SF:") {
            in_file = path == file;
        }
        for (index, key) in ["LF:", "LH:", "BRF:", "BRH:"].iter().enumerate() {
            if let Some(value) = line.strip_prefix(key).filter(|_| in_file) {
                totals[index] = value.parse().expect("a number");
            }
        }
    }
    totals
}

/// Runs a tool by hand, outside the sandbox, and fails the test with its output when it fails.
pub fn by_hand(dir: &std::path::Path, program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| panic!("{program}: {error}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{program} {args:?}: {text}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
