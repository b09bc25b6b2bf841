//! A runner over the real sandbox, with small limits so that hostile tests end quickly.
// Each test crate uses some of these helpers.
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

/// A job whose test file has the language's conventional name (`cart.js` → `cart.test.js`).
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

/// A fresh directory for running a tool by hand, outside the sandbox.
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
