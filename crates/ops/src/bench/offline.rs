//! `cargo xtask bench offline`: the offline generator over its corpus (`crates/ops/corpus/offline`),
//! as the worker runs it — explore in the sandbox, pin the calls, keep each unit's tests only when
//! they pass every run, assemble, run the file and measure it — and, for Python, Pynguin and
//! CrossHair's `crosshair cover` on the same files with the same time budget, in the same run
//! (`offline_peers.py` installs them into a virtual environment of the bench's own).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use codegen::Target;
use domain::{FileCoverage, Language, SourceFileName};
use runner::{Bubblewrap, ExploreJob, Job, Outcome, Runner, RunnerSettings, Sandbox};
use serde::{Deserialize, Serialize};

use super::{count_argument, unix_stamp};
use crate::{project_root, target_dir};

const CORPUS: &str = "crates/ops/corpus/offline";
const PEERS_SCRIPT: &str = "crates/ops/src/bench/offline_peers.py";
const LANGUAGES: [(&str, Language); 3] = [
    ("python", Language::Python),
    ("javascript", Language::Javascript),
    ("typescript", Language::Typescript),
];

#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct OfflineBenchArgs {
    /// only this language's corpus (python, javascript, typescript)
    #[arg(long, value_name = "LANGUAGE", value_parser = language_argument)]
    language: Option<Language>,
    /// seconds each generator may spend on one file
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = count_argument)]
    budget_secs: usize,
    /// runs after a first pass, as the worker's `validation.reruns`
    #[arg(long, value_name = "N", default_value_t = 2)]
    reruns: u32,
    /// measure only the offline generator, not Pynguin and CrossHair
    #[arg(long)]
    no_peers: bool,
    /// also write the results as JSON to this file
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

fn language_argument(value: &str) -> Result<Language, String> {
    let language = value
        .parse::<Language>()
        .map_err(|error| error.to_string())?;
    if LANGUAGES.iter().any(|(_, known)| *known == language) {
        Ok(language)
    } else {
        Err(format!(
            "the offline corpus has no {} files",
            language.display_name()
        ))
    }
}

/// One generator on one file.
#[derive(Debug, Clone, Serialize)]
struct Row {
    tool: String,
    language: String,
    file: String,
    units: usize,
    /// Units with at least one delivered test.
    units_tested: usize,
    tests: usize,
    passed: usize,
    line_coverage: Option<f64>,
    branch_coverage: Option<f64>,
    seconds: f64,
    error: Option<String>,
}

impl Row {
    /// A row with nothing measured yet.
    fn empty(tool: &str, language: Language, file: &str) -> Row {
        Row {
            tool: tool.to_owned(),
            language: language.id().to_owned(),
            file: file.to_owned(),
            units: 0,
            units_tested: 0,
            tests: 0,
            passed: 0,
            line_coverage: None,
            branch_coverage: None,
            seconds: 0.0,
            error: None,
        }
    }
}

/// What `offline_peers.py run` prints.
#[derive(Debug, Deserialize)]
struct PeerLine {
    seconds: Option<f64>,
    tests: Option<usize>,
    passed: Option<usize>,
    line_coverage: Option<f64>,
    branch_coverage: Option<f64>,
    error: Option<String>,
}

pub fn run(options: &OfflineBenchArgs) -> anyhow::Result<bool> {
    let root = project_root();
    let bench_dir = target_dir(&root)
        .join("bench")
        .join(format!("offline-{}", unix_stamp()?));
    std::fs::create_dir_all(&bench_dir)
        .with_context(|| format!("cannot create {}", bench_dir.display()))?;
    let files = corpus_files(&root, options.language)?;
    anyhow::ensure!(!files.is_empty(), "no corpus files under {CORPUS}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("no async runtime")?;
    let mut rows = runtime.block_on(ours(&bench_dir, &files, options))?;

    let python: Vec<&(Language, PathBuf)> = files
        .iter()
        .filter(|(language, _)| *language == Language::Python)
        .collect();
    if !options.no_peers && !python.is_empty() {
        rows.extend(peers(&root, &bench_dir, &python, options)?);
    }
    print_report(&rows, options);
    if let Some(path) = &options.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let ours_ok = rows
        .iter()
        .filter(|row| row.tool == "aiunittest")
        .all(|row| row.error.is_none());
    Ok(ours_ok)
}

fn corpus_files(root: &Path, only: Option<Language>) -> anyhow::Result<Vec<(Language, PathBuf)>> {
    let mut files = Vec::new();
    for (folder, language) in LANGUAGES {
        if only.is_some_and(|only| only != language) {
            continue;
        }
        let dir = root.join(CORPUS).join(folder);
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_file())
            .collect();
        found.sort();
        files.extend(found.into_iter().map(|path| (language, path)));
    }
    Ok(files)
}

/// The offline generator on every file, one after the other (each run uses the machine alone).
async fn ours(
    bench_dir: &Path,
    files: &[(Language, PathBuf)],
    options: &OfflineBenchArgs,
) -> anyhow::Result<Vec<Row>> {
    let settings = RunnerSettings {
        slots: 1,
        work_root: bench_dir.join("runs"),
        ..RunnerSettings::default()
    };
    let sandbox = Bubblewrap::detect(&settings.bwrap).await.context(
        "the offline generator runs code only in the sandbox (apt-get install bubblewrap)",
    )?;
    let sandbox: Arc<dyn Sandbox> = Arc::new(sandbox);
    let runner = Runner::with_sandbox(settings, Ok(sandbox));
    let mut rows = Vec::new();
    for (language, path) in files {
        eprintln!("==> aiunittest offline: {}", path.display());
        rows.push(one_file(&runner, *language, path, bench_dir, options).await);
    }
    Ok(rows)
}

async fn one_file(
    runner: &Runner,
    language: Language,
    path: &Path,
    bench_dir: &Path,
    options: &OfflineBenchArgs,
) -> Row {
    let started = Instant::now();
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut row = Row::empty("aiunittest", language, &file);
    let kept_dir = bench_dir.join("aiunittest").join(&file);
    let outcome = generate(runner, language, path, &file, &kept_dir, options, &mut row).await;
    row.seconds = started.elapsed().as_secs_f64();
    if let Err(error) = outcome {
        row.error = Some(format!("{error:#}"));
    }
    row
}

/// What the worker does for an offline task, with the bench's budget.
async fn generate(
    runner: &Runner,
    language: Language,
    path: &Path,
    file: &str,
    kept_dir: &Path,
    options: &OfflineBenchArgs,
    row: &mut Row,
) -> anyhow::Result<()> {
    // What was explored and every unit's tests that did not pass, kept to be read afterwards.
    std::fs::create_dir_all(kept_dir)
        .with_context(|| format!("cannot create {}", kept_dir.display()))?;
    let source =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file_name = SourceFileName::parse(file).map_err(|error| anyhow::anyhow!("{error}"))?;
    let target = Target {
        language,
        framework: language.default_framework(),
        file_name: &file_name,
        source: &source,
    };
    let units = codegen::parse_units(target.source_syntax(), &source)?;
    row.units = units.len();
    let budget_ms = u64::try_from(options.budget_secs)
        .unwrap_or(u64::MAX)
        .saturating_mul(1000);
    let request = codegen::pinned::explore_request(&target, &units, budget_ms, 1000, 8);
    let explored = runner
        .explore(&ExploreJob {
            language,
            source_file_name: file,
            source: &source,
            request: &request,
            checkout: None,
        })
        .await
        .exploration
        .map_err(|reason| anyhow::anyhow!("not explored: {reason}"))?;
    let _ = std::fs::write(
        kept_dir.join("exploration.json"),
        serde_json::to_string_pretty(&explored).unwrap_or_default(),
    );
    anyhow::ensure!(
        explored.imported,
        "not imported: {}",
        explored.error.unwrap_or_default()
    );
    let pinned: Vec<(&codegen::Unit, usize, String)> = units
        .iter()
        .filter_map(|unit| {
            let cases = explored
                .unit(&unit.name, unit.container.as_deref())
                .map(|found| found.cases.as_slice())
                .unwrap_or_default();
            let code = codegen::pinned::unit_tests(&target, unit, cases)?;
            Some((unit, cases.len(), code))
        })
        .collect();
    let run_file = async |code: &str, test_file_name: &str| {
        let job = Job {
            language,
            framework: target.framework,
            source_file_name: file,
            source: &source,
            test_file_name,
            test_code: code,
            checkout: None,
        };
        runner.run(&job, options.reruns).await
    };
    let passed_every_run =
        |run: &runner::RunReport| run.outcome == Outcome::Passed && run.rerun_passes == run.reruns;
    // As the worker: every unit's tests in one file first, then unit by unit if that fails.
    let all: Vec<String> = pinned.iter().map(|(_, _, code)| code.clone()).collect();
    let mut whole = None;
    let mut kept = Vec::new();
    if !all.is_empty()
        && let Ok(assembled) = codegen::assemble::assemble(&target, &all)
    {
        let code = codegen::pinned::header(language) + &assembled.code;
        let run = run_file(&code, &assembled.file_name).await;
        if passed_every_run(&run) {
            let _ = std::fs::write(kept_dir.join(&assembled.file_name), &code);
            row.units_tested = pinned.len();
            row.tests = pinned.iter().map(|(_, cases, _)| cases).sum();
            whole = Some(run);
        }
    }
    if whole.is_none() {
        let test_file_name = target.test_file_name();
        for (unit, cases, code) in &pinned {
            let run = run_file(code, &test_file_name).await;
            if passed_every_run(&run) {
                row.units_tested += 1;
                row.tests += cases;
                kept.push(code.clone());
            } else {
                let _ = std::fs::write(
                    kept_dir.join(format!(
                        "{}.{}.failed.txt",
                        unit.container.as_deref().unwrap_or("_"),
                        unit.name
                    )),
                    format!("{code}\n----- {:?}\n{}", run.outcome, run.output),
                );
            }
        }
        anyhow::ensure!(!kept.is_empty(), "no unit's tests passed");
        let assembled = codegen::assemble::assemble(&target, &kept)?;
        let code = codegen::pinned::header(language) + &assembled.code;
        let run = run_file(&code, &assembled.file_name).await;
        let _ = std::fs::write(kept_dir.join(&assembled.file_name), &code);
        anyhow::ensure!(
            passed_every_run(&run),
            "the assembled file did not pass every run ({:?})",
            run.outcome
        );
        whole = Some(run);
    }
    row.passed = row.tests;
    if let Some(measured) = whole.and_then(|run| run.coverage) {
        let summary = measured.summary();
        (row.line_coverage, row.branch_coverage) = ratios(&summary);
    }
    Ok(())
}

fn ratios(summary: &FileCoverage) -> (Option<f64>, Option<f64>) {
    let ratio =
        |covered: u32, total: u32| (total > 0).then(|| f64::from(covered) / f64::from(total));
    (
        ratio(summary.lines_covered, summary.lines_total),
        summary
            .branches_total
            .zip(summary.branches_covered)
            .and_then(|(total, covered)| ratio(covered, total)),
    )
}

/// Pynguin and CrossHair on the Python files, with the same budget.
fn peers(
    root: &Path,
    bench_dir: &Path,
    files: &[&(Language, PathBuf)],
    options: &OfflineBenchArgs,
) -> anyhow::Result<Vec<Row>> {
    let script = root.join(PEERS_SCRIPT);
    // Kept across runs: installing the peers takes a while and is not what is measured.
    let venv = target_dir(root).join("bench").join("offline-peers-venv");
    eprintln!(
        "==> installing Pynguin and CrossHair into {}",
        venv.display()
    );
    let setup = Command::new("python3")
        .arg(&script)
        .arg("setup")
        .arg("--venv")
        .arg(&venv)
        .output()
        .context("cannot start python3")?;
    if !setup.status.success() {
        eprintln!(
            "the peers could not be installed: {}",
            String::from_utf8_lossy(&setup.stdout)
        );
    }
    let mut rows = Vec::new();
    for tool in ["pynguin", "crosshair"] {
        for (language, path) in files {
            eprintln!("==> {tool}: {}", path.display());
            let file = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let out = bench_dir.join(tool).join(&file);
            let output = Command::new("python3")
                .arg(&script)
                .arg("run")
                .arg("--venv")
                .arg(&venv)
                .args(["--tool", tool, "--source"])
                .arg(path)
                .args([
                    "--budget-seconds",
                    &options.budget_secs.to_string(),
                    "--out",
                ])
                .arg(&out)
                .output()
                .context("cannot start python3")?;
            let text = String::from_utf8_lossy(&output.stdout);
            let line: Option<PeerLine> = text
                .lines()
                .rev()
                .find_map(|line| serde_json::from_str(line).ok());
            let mut row = Row::empty(tool, *language, &file);
            match line {
                Some(line) => {
                    row.tests = line.tests.unwrap_or(0);
                    row.passed = line.passed.unwrap_or(0);
                    row.line_coverage = line.line_coverage;
                    row.branch_coverage = line.branch_coverage;
                    row.seconds = line.seconds.unwrap_or(0.0);
                    row.error = line.error;
                }
                None => row.error = Some(format!("no result line: {}", text.trim())),
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{:.1}", value * 100.0))
}

fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let values: Vec<f64> = values.flatten().collect();
    let count = u32::try_from(values.len())
        .ok()
        .filter(|count| *count > 0)?;
    Some(values.iter().sum::<f64>() / f64::from(count))
}

fn print_report(rows: &[Row], options: &OfflineBenchArgs) {
    println!(
        "\nbench offline: budget {} s per file and generator, reruns {}\n",
        options.budget_secs, options.reruns
    );
    println!(
        "{:<11} {:<11} {:<22} {:>5} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}  error",
        "tool",
        "language",
        "file",
        "units",
        "tested",
        "tests",
        "passed",
        "line %",
        "branch%",
        "seconds"
    );
    for row in rows {
        println!(
            "{:<11} {:<11} {:<22} {:>5} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7.1}  {}",
            row.tool,
            row.language,
            row.file,
            row.units,
            row.units_tested,
            row.tests,
            row.passed,
            percent(row.line_coverage),
            percent(row.branch_coverage),
            row.seconds,
            row.error.as_deref().unwrap_or("")
        );
    }
    println!(
        "\nper tool and language (means over files; coverage of files without a result counts as 0):"
    );
    println!(
        "{:<11} {:<11} {:>5} {:>13} {:>11} {:>7} {:>7} {:>9}",
        "tool", "language", "files", "units tested", "tests/unit", "line %", "branch%", "s/file"
    );
    let mut groups: Vec<(String, String)> = rows
        .iter()
        .map(|row| (row.tool.clone(), row.language.clone()))
        .collect();
    groups.dedup();
    for (tool, language) in &groups {
        let group: Vec<&Row> = rows
            .iter()
            .filter(|row| &row.tool == tool && &row.language == language)
            .collect();
        let units: usize = group.iter().map(|row| row.units).sum();
        let tested: usize = group.iter().map(|row| row.units_tested).sum();
        let tests: usize = group.iter().map(|row| row.tests).sum();
        let line = mean(
            group
                .iter()
                .map(|row| Some(row.line_coverage.unwrap_or(0.0))),
        );
        let branch = mean(
            group
                .iter()
                .map(|row| Some(row.branch_coverage.unwrap_or(0.0))),
        );
        let seconds = mean(group.iter().map(|row| Some(row.seconds)));
        let per_unit = if tested > 0 {
            format!("{:.1}", tests as f64 / tested as f64)
        } else {
            "-".to_owned()
        };
        let tested = if units > 0 {
            format!("{tested}/{units}")
        } else {
            "-".to_owned()
        };
        println!(
            "{:<11} {:<11} {:>5} {:>13} {:>11} {:>7} {:>7} {:>9.1}",
            tool,
            language,
            group.len(),
            tested,
            per_unit,
            percent(line),
            percent(branch),
            seconds.unwrap_or(0.0)
        );
    }
    let python_mean = |tool: &str, pick: fn(&Row) -> Option<f64>| {
        mean(
            rows.iter()
                .filter(|row| row.tool == tool && row.language == "python")
                .map(|row| Some(pick(row).unwrap_or(0.0))),
        )
    };
    let ours_seconds = python_mean("aiunittest", |row| Some(row.seconds));
    for peer in ["pynguin", "crosshair"] {
        let (Some(ours_line), Some(peer_line)) = (
            python_mean("aiunittest", |row| row.line_coverage),
            python_mean(peer, |row| row.line_coverage),
        ) else {
            continue;
        };
        let ours_branch = python_mean("aiunittest", |row| row.branch_coverage).unwrap_or(0.0);
        let peer_branch = python_mean(peer, |row| row.branch_coverage).unwrap_or(0.0);
        let peer_seconds = python_mean(peer, |row| Some(row.seconds)).unwrap_or(0.0);
        println!(
            "python, aiunittest vs {peer}: line coverage {:.1} vs {:.1} %, branch {:.1} vs {:.1} %, time per file {:.2}x of {peer}'s",
            ours_line * 100.0,
            peer_line * 100.0,
            ours_branch * 100.0,
            peer_branch * 100.0,
            ours_seconds.unwrap_or(0.0) / peer_seconds.max(f64::EPSILON)
        );
    }
}
