//! A runner over the real sandbox, with small limits so that hostile tests end quickly, and one
//! with the default limits for the compiled languages' toolchains.

// Each test binary uses some of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use domain::{FileCoverage, Framework, Language};
use runner::{Job, Limits, Measured, Outcome, RunReport, Runner, RunnerSettings};

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

/// Where the runners of this test binary make their work directories.
pub fn work_root() -> PathBuf {
    std::env::temp_dir().join(format!("aiut-runner-tests-{}", std::process::id()))
}

pub async fn runner_with(limits: Limits) -> Runner {
    let runner = Runner::new(RunnerSettings {
        slots: 2,
        bwrap: PathBuf::from("/usr/bin/bwrap"),
        work_root: work_root(),
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
        checkout: None,
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
        checkout: None,
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
    job(
        language,
        framework,
        source_file_name,
        source,
        test_file_name,
        test_code,
    )
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
pub fn by_hand(dir: &Path, program: &str, args: &[&str]) -> String {
    by_hand_with(dir, program, args, &[])
}

/// [`by_hand`], with `envs` added to the tool's environment; returns what it printed on stdout.
pub fn by_hand_with(dir: &Path, program: &str, args: &[&str], envs: &[(&str, &OsStr)]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
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

/// Writes `files` (name, contents) into `dir`, as a job's files are written for a run by hand.
pub fn write_job_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, contents) in files {
        let path = dir.join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
    }
}

/// Runs `job` and `reruns` runs again, asserts that every run passed, and returns the tools'
/// output and the coverage the first run measured.
pub async fn assert_passes_and_measures(
    runner: &Runner,
    job: &Job<'_>,
    reruns: u32,
) -> (String, Measured) {
    let report = runner.run(job, reruns).await;
    assert_eq!(
        report.outcome,
        Outcome::Passed,
        "{}:\n{}",
        job.test_file_name,
        report.output
    );
    assert_eq!(
        (report.reruns, report.rerun_passes),
        (reruns, reruns),
        "(runs again, of which passed) of {}:\n{}",
        job.test_file_name,
        report.output
    );
    let Some(measured) = report.coverage else {
        panic!(
            "no coverage of a passing run of {}:\n{}",
            job.test_file_name, report.output
        );
    };
    (report.output, measured)
}

/// Runs `job` with `reruns` runs again asked for, asserts that its outcome is `expected`, naming
/// the test file, its code and the tools' output otherwise, and returns the report.
pub async fn assert_outcome(
    runner: &Runner,
    job: &Job<'_>,
    reruns: u32,
    expected: Outcome,
) -> RunReport {
    let report = runner.run(job, reruns).await;
    assert_eq!(
        report.outcome, expected,
        "{}:\n{}\n{}",
        job.test_file_name, job.test_code, report.output
    );
    report
}

/// Runs `job` and asserts that it could not run for want of `module`, which the outcome names.
pub async fn assert_missing_module(runner: &Runner, job: &Job<'_>, module: &str) -> RunReport {
    assert_outcome(runner, job, 0, Outcome::MissingModule(module.to_owned())).await
}

/// Asserts that the tools' output says each of `needles`.
pub fn assert_output_says(report: &RunReport, needles: &[&str]) {
    for needle in needles {
        assert!(
            report.output.contains(needle),
            "{needle:?} is not in the output:\n{}",
            report.output
        );
    }
}

/// Runs `job` (asking for `reruns` runs again), asserts that it failed, that the output says each
/// of `needles`, and that the failing test was not run again; returns the report.
pub async fn assert_fails_saying(
    runner: &Runner,
    job: &Job<'_>,
    reruns: u32,
    needles: &[&str],
) -> RunReport {
    let report = assert_outcome(runner, job, reruns, Outcome::Failed).await;
    assert_output_says(&report, needles);
    assert_eq!(
        report.reruns, 0,
        "a failing test is not run again:\n{}",
        report.output
    );
    report
}

/// `job`'s tests expect a wrong value: they fail, saying `failure`, and are not run again. The
/// same tests with `broken.0` replaced by `broken.1` do not build, and the output says
/// `build_error`.
pub async fn assert_fails_then_does_not_build(
    runner: &Runner,
    job: Job<'_>,
    failure: &[&str],
    broken: (&str, &str),
    build_error: &str,
) {
    assert_fails_saying(runner, &job, 2, failure).await;
    let broken_code = job.test_code.replace(broken.0, broken.1);
    assert_ne!(broken_code, job.test_code, "{:?} is in the tests", broken.0);
    let broken_job = Job {
        test_code: &broken_code,
        ..job
    };
    let report = assert_outcome(runner, &broken_job, 0, Outcome::BuildFailed).await;
    assert_output_says(&report, &[build_error]);
}

/// Asserts that some of the lines ran, and not all: the tests exercise the measure both ways.
pub fn assert_partly_covered(summary: &FileCoverage) {
    assert!(
        summary.lines_covered > 0 && summary.lines_covered < summary.lines_total,
        "some lines but not all should have run: {summary:?}"
    );
}

/// Asserts that `summary`'s lines and branches are lcov's own totals for `file` in `lcov`.
pub fn assert_matches_lcov(summary: &FileCoverage, lcov: &str, file: &str) {
    let [lines, hit, branches, branches_hit] = lcov_totals(lcov, file);
    assert_eq!(
        (summary.lines_total, summary.lines_covered),
        (lines, hit),
        "{lcov}"
    );
    assert_eq!(
        (summary.branches_total, summary.branches_covered),
        (Some(branches), Some(branches_hit)),
        "{lcov}"
    );
}

/// Runs `test_file` in `dir` under node:test by hand, with `loader` imported first when given,
/// and returns node's lcov report.
pub fn node_test_lcov_by_hand(dir: &Path, loader: Option<&str>, test_file: &str) -> String {
    let mut args: Vec<&str> = loader.map_or_else(Vec::new, |loader| vec!["--import", loader]);
    args.extend([
        "--test",
        "--experimental-test-coverage",
        "--test-reporter=lcov",
        "--test-reporter-destination=lcov.info",
        test_file,
    ]);
    by_hand(dir, "/usr/bin/node", &args);
    std::fs::read_to_string(dir.join("lcov.info")).expect("lcov report")
}

/// Runs `job` under node:test, with `reruns` runs again, asserts that every run passed, and that
/// its coverage figures are those node reports for the same files run by hand (with `loader`
/// imported first when given) outside any sandbox; returns the figures.
pub async fn assert_node_test_measures_as_by_hand(
    runner: &Runner,
    job: &Job<'_>,
    reruns: u32,
    loader: Option<&str>,
) -> FileCoverage {
    let (_, measured) = assert_passes_and_measures(runner, job, reruns).await;
    let summary = measured.summary();

    let dir = tempdir(&format!("node-by-hand-{}", job.source_file_name));
    write_job_files(
        &dir,
        &[
            (job.source_file_name, job.source),
            (job.test_file_name, job.test_code),
        ],
    );
    let lcov = node_test_lcov_by_hand(&dir, loader, job.test_file_name);
    assert_matches_lcov(&summary, &lcov, job.source_file_name);
    assert_partly_covered(&summary);
    let _ = std::fs::remove_dir_all(&dir);
    summary
}
