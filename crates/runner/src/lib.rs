//! Runs a generated test file against its source file, in a sandbox: build, run, run again,
//! measure the source file's coverage.
//!
//! A job either stands alone (the source and the test are the work directory's only files) or
//! comes with its repository's files ([`Job::checkout`]): they are laid out at their paths, the
//! source and the test at theirs, and the languages that can run among them (Python, JavaScript
//! and TypeScript, Go in a module) run there, from the repository's root or the source's package;
//! the others run the source and the test side by side as for a job alone, beside the
//! repository's files ([`RunReport::in_checkout`] tells which).
//!
//! [`Runner`] owns the sandbox and a pool of run slots sized to the machine (test runs are
//! CPU-bound; the model calls around them are not, so the pool is separate from the worker's task
//! slots). Each language's tools live in `lang/<language>.rs` behind one trait; a language whose
//! tools are missing, or a deployment without a sandbox, gets [`Outcome::NotRun`] with the reason,
//! never a bare run.

pub mod coverage;
pub mod explore;
mod lang;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{Checkout, Framework, Language};
use tokio::sync::Semaphore;

pub use coverage::Measured;
pub use explore::{ExploreJob, ExploreReport, explorable};
pub use sandbox::{Bubblewrap, Command, Execution, Limit, Sandbox, SandboxError};
pub use service::sections::{RunnerSettings, SandboxLimits as Limits};

/// One test file and the source file it tests.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    pub language: Language,
    pub framework: Framework,
    /// The source's path: in its repository when there is a checkout, else a name of its own.
    pub source_file_name: &'a str,
    pub source: &'a str,
    /// The test file's path, in the repository when there is a checkout.
    pub test_file_name: &'a str,
    pub test_code: &'a str,
    /// The repository the source comes from, run among when the language can; `None`: the
    /// source and the test alone.
    pub checkout: Option<&'a Checkout>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Built and passed (the first run; see [`RunReport::rerun_passes`] for the others).
    Passed,
    /// Built, and failed.
    Failed,
    /// Did not build: a compile error, or an import or syntax error when the tests load.
    BuildFailed,
    /// The source needs a module that is not there.
    MissingModule(String),
    /// A sandbox limit stopped it.
    LimitExceeded(Limit),
    /// Not run, and why (no sandbox, no toolchain, a framework this deployment cannot run).
    NotRun(String),
}

/// What one [`Runner::run`] found.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub outcome: Outcome,
    /// The tools' output of the run that decided the outcome (the build's, or the first failing
    /// run's), at most [`OUTPUT_KEPT`] bytes.
    pub output: String,
    /// Coverage of the source file by the first run, when it passed.
    pub coverage: Option<Measured>,
    /// Runs after the first pass, and how many of them passed too.
    pub reruns: u32,
    pub rerun_passes: u32,
    /// Sandboxed commands started.
    pub commands: u32,
    /// Time waiting for a run slot.
    pub queued: Duration,
    /// Time inside sandboxed commands, and in all (work directory, files, reports included).
    pub sandboxed: Duration,
    pub total: Duration,
    /// The tools that ran, for the task's record.
    pub tool: Option<&'static str>,
    /// Whether the tests ran among the checkout's files, at their repository paths (rather than
    /// side by side with the source, or with no checkout at all).
    pub in_checkout: bool,
}

impl RunReport {
    fn not_run(reason: String) -> RunReport {
        RunReport {
            outcome: Outcome::NotRun(reason),
            output: String::new(),
            coverage: None,
            reruns: 0,
            rerun_passes: 0,
            commands: 0,
            queued: Duration::ZERO,
            sandboxed: Duration::ZERO,
            total: Duration::ZERO,
            tool: None,
            in_checkout: false,
        }
    }
}

/// A language and one of its frameworks: what a toolchain serves.
type ToolchainKey = (Language, Framework);

/// Numbers the work directories of every runner in this process.
static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// Bytes of tool output kept in a report (the start and the end, where errors are).
pub const OUTPUT_KEPT: usize = 8 * 1024;

/// The sandbox, the pool of run slots and the toolchains found on this machine.
pub struct Runner {
    sandbox: Result<Arc<dyn Sandbox>, String>,
    slots: Semaphore,
    slot_count: usize,
    settings: RunnerSettings,
    waiting: AtomicUsize,
    running: AtomicUsize,
    /// Per language and framework: `None` when its tools work, else what is missing (checked
    /// once, by running the tools in the sandbox).
    toolchains: Mutex<Vec<(ToolchainKey, Option<String>)>>,
}

impl Runner {
    /// The runner with the sandbox found here; without one, every run is "not run: no sandbox".
    pub async fn new(settings: RunnerSettings) -> Runner {
        let sandbox: Result<Arc<dyn Sandbox>, String> = if settings.bwrap.as_os_str().is_empty() {
            Err("running tests is turned off in this deployment's configuration".to_owned())
        } else {
            match Bubblewrap::detect(&settings.bwrap).await {
                Ok(sandbox) => Ok(Arc::new(sandbox)),
                Err(error) => Err(error.to_string()),
            }
        };
        match &sandbox {
            Ok(sandbox) => tracing::info!(sandbox = %sandbox.describe(), "tests run in a sandbox"),
            Err(reason) => tracing::warn!(%reason, "no sandbox: generated tests will not be run"),
        }
        Runner::with_sandbox(settings, sandbox)
    }

    /// The runner over a given sandbox (or none, with the reason).
    pub fn with_sandbox(
        settings: RunnerSettings,
        sandbox: Result<Arc<dyn Sandbox>, String>,
    ) -> Runner {
        let slot_count = if settings.slots == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            settings.slots
        };
        Runner {
            sandbox,
            slots: Semaphore::new(slot_count),
            slot_count,
            settings,
            waiting: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            toolchains: Mutex::new(Vec::new()),
        }
    }

    /// The sandbox's description, or why there is none.
    pub fn sandbox(&self) -> Result<String, String> {
        match &self.sandbox {
            Ok(sandbox) => Ok(sandbox.describe()),
            Err(reason) => Err(reason.clone()),
        }
    }

    pub fn slots(&self) -> usize {
        self.slot_count
    }

    /// Runs waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Runs holding a slot.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Why `language`'s tests in `framework` cannot run here, if they cannot.
    pub async fn unavailable(&self, language: Language, framework: Framework) -> Option<String> {
        let sandbox = match &self.sandbox {
            Ok(sandbox) => sandbox.clone(),
            Err(reason) => return Some(format!("not run: no sandbox ({reason})")),
        };
        let toolchain = match lang::toolchain(language, framework) {
            Ok(toolchain) => toolchain,
            Err(reason) => return Some(reason),
        };
        let key = (language, framework);
        if let Some(known) = self.known(key) {
            return known;
        }
        let missing = self.probe(sandbox.as_ref(), toolchain).await;
        if let Ok(mut known) = self.toolchains.lock() {
            known.push((key, missing.clone()));
        }
        missing
    }

    fn known(&self, key: ToolchainKey) -> Option<Option<String>> {
        let known = self.toolchains.lock().ok()?;
        known
            .iter()
            .find(|(known_key, _)| *known_key == key)
            .map(|(_, missing)| missing.clone())
    }

    async fn probe(
        &self,
        sandbox: &dyn Sandbox,
        toolchain: &dyn lang::Toolchain,
    ) -> Option<String> {
        let dir = match self.work_dir() {
            Ok(dir) => dir,
            Err(error) => return Some(format!("not run: no work directory ({error})")),
        };
        let _ = sandbox.hand_over(dir.path());
        let probe = sandbox
            .execute(&toolchain.probe(), dir.path(), &self.settings.limits)
            .await;
        match probe {
            Ok(execution) if execution.succeeded() => None,
            Ok(execution) => {
                tracing::warn!(tool = toolchain.tool(), output = %execution.output, "toolchain probe failed");
                Some(format!(
                    "not run on this deployment: {} ({})",
                    toolchain.install_hint(),
                    first_line(&execution.output)
                ))
            }
            Err(error) => Some(format!("not run: {error}")),
        }
    }

    /// Builds and runs `job`'s tests, and when they pass, measures coverage and runs them
    /// `reruns` more times.
    pub async fn run(&self, job: &Job<'_>, reruns: u32) -> RunReport {
        if let Some(reason) = self.unavailable(job.language, job.framework).await {
            return RunReport::not_run(reason);
        }
        let (Ok(sandbox), Ok(toolchain)) =
            (&self.sandbox, lang::toolchain(job.language, job.framework))
        else {
            return RunReport::not_run("not run: no sandbox".to_owned());
        };
        let queued_at = Instant::now();
        let Some(_slot) = self.slot().await else {
            return RunReport::not_run("not run: the runner is shutting down".to_owned());
        };
        let queued = queued_at.elapsed();
        let started = Instant::now();
        let mut report = match self.work_dir() {
            Ok(dir) => {
                self.run_in(sandbox.as_ref(), toolchain, job, reruns, dir.path())
                    .await
            }
            Err(error) => RunReport::not_run(format!("not run: no work directory ({error})")),
        };
        report.queued = queued;
        report.total = started.elapsed();
        report.tool = Some(toolchain.tool());
        report
    }

    async fn run_in(
        &self,
        sandbox: &dyn Sandbox,
        toolchain: &dyn lang::Toolchain,
        job: &Job<'_>,
        reruns: u32,
        dir: &Path,
    ) -> RunReport {
        let mut report = RunReport::not_run(String::new());
        let not_written = |error: std::io::Error| {
            Outcome::NotRun(format!("not run: the files could not be written ({error})"))
        };
        let side_by_side;
        let job = match job.checkout {
            None => job,
            Some(checkout) => {
                if let Err(error) = lang::lay_out(checkout, job, dir) {
                    report.outcome = not_written(error);
                    return report;
                }
                if toolchain.uses_checkout(job) {
                    job
                } else {
                    // Run as a job alone, beside the repository's files.
                    side_by_side = match lang::side_by_side(job) {
                        Ok(alone) => alone,
                        Err(error) => {
                            report.outcome = not_written(error);
                            return report;
                        }
                    };
                    &side_by_side
                }
            }
        };
        let plan = match toolchain.prepare(job, dir) {
            Ok(plan) => plan,
            Err(error) => {
                report.outcome = not_written(error);
                return report;
            }
        };
        if let Err(error) = sandbox.hand_over(dir) {
            report.outcome = Outcome::NotRun(format!(
                "not run: the work directory could not be handed over ({error})"
            ));
            return report;
        }
        report.in_checkout = job.checkout.is_some();
        let limits = &self.settings.limits;
        let execute = async |command: &Command, report: &mut RunReport| {
            report.commands += 1;
            let result = sandbox.execute(command, dir, limits).await;
            if let Ok(execution) = &result {
                report.sandboxed += execution.wall;
            }
            result
        };
        if let Some(build) = &plan.build {
            let built = match execute(build, &mut report).await {
                Ok(execution) => execution,
                Err(error) => {
                    report.outcome = Outcome::NotRun(format!("not run: {error}"));
                    return report;
                }
            };
            if !built.succeeded() {
                report.output = keep_output(&built.output);
                report.outcome = match built.limit {
                    Some(limit) => Outcome::LimitExceeded(limit),
                    None => match toolchain.missing_module(job, &built.output) {
                        Some(module) => Outcome::MissingModule(module),
                        None => Outcome::BuildFailed,
                    },
                };
                return report;
            }
        }
        let first = match execute(&plan.run_with_coverage, &mut report).await {
            Ok(execution) => execution,
            Err(error) => {
                report.outcome = Outcome::NotRun(format!("not run: {error}"));
                return report;
            }
        };
        report.output = keep_output(&first.output);
        if !first.succeeded() {
            report.outcome = match first.limit {
                Some(limit) => Outcome::LimitExceeded(limit),
                None => match toolchain.missing_module(job, &first.output) {
                    Some(module) => Outcome::MissingModule(module),
                    None if toolchain.is_load_error(&first) => Outcome::BuildFailed,
                    None => Outcome::Failed,
                },
            };
            return report;
        }
        report.outcome = Outcome::Passed;
        report.coverage = toolchain.coverage(job, dir);
        for _ in 0..reruns {
            report.reruns += 1;
            match execute(&plan.run, &mut report).await {
                Ok(execution) if execution.succeeded() => report.rerun_passes += 1,
                Ok(execution) => {
                    // The flaky run's output is what explains the verdict.
                    report.output = keep_output(&execution.output);
                }
                Err(_) => {}
            }
        }
        report
    }

    /// A run slot, held until the guard is dropped; `None` once the pool is closed.
    async fn slot(&self) -> Option<Slot<'_>> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let permit = permit.ok()?;
        self.running.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            _permit: permit,
            _running: Decrement(&self.running),
        })
    }

    /// A fresh, empty work directory, removed when dropped.
    fn work_dir(&self) -> std::io::Result<WorkDir> {
        let number = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let path = self
            .settings
            .work_root
            .join(format!("run-{}-{number}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(WorkDir(path))
    }
}

/// A held run slot: the permit, and the count of running slots it adds to.
struct Slot<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
    _running: Decrement<'a>,
}

struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A run's work directory; removed with everything in it when the run ends or is dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The start and the end of a long output, where tools put what went wrong.
fn keep_output(output: &str) -> String {
    if output.len() <= OUTPUT_KEPT {
        return output.to_owned();
    }
    let half = OUTPUT_KEPT / 2;
    let mut head_end = half;
    while !output.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = output.len() - half;
    while !output.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    format!(
        "{}\n[… {} bytes left out …]\n{}",
        &output[..head_end],
        tail_start - head_end,
        &output[tail_start..]
    )
}

fn first_line(output: &str) -> String {
    output
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("no output")
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_output_keeps_both_ends() {
        let output = format!("{}ERROR at the end", "é".repeat(10_000));
        let kept = keep_output(&output);
        assert!(kept.len() < OUTPUT_KEPT + 100);
        assert!(kept.ends_with("ERROR at the end"));
        assert!(kept.starts_with('é'));
        assert_eq!(keep_output("short"), "short");
    }
}
