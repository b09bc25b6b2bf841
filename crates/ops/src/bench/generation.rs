//! `cargo xtask bench generation`: what becomes of generated tests when they are run, and what
//! running them costs.
//!
//! Method:
//! - the seeded model simulator (no artificial latency), one `aiut-api` and one `aiut-worker`
//!   (release builds, validation on) run on loopback over a fresh database and Redis key prefix;
//!   every corpus file (`crates/codegen/tests/corpus/<language>/`) is submitted with the simulator
//!   as the model, and each task's `validation` is read once it ends;
//! - per language and overall: the tests' verdicts, the coverage of the source by the delivered
//!   file, and the model answers per kept test. The percentages are over the tests that were run
//!   (`judged`), those of tasks that failed because no test passed included (the api keeps no
//!   `validation` for them, so their verdicts are read from the error message); tests not run (a
//!   toolchain this deployment lacks) and failed tasks are counted apart too, with their reasons
//!   and error codes, so that no figure hides them;
//! - the runner's own cost, in-process, before the services start (so they do not compete for
//!   the CPU): a sandboxed `/bin/true` against a bare spawn of it, alternating, and runs of a
//!   small passing Python test through `runner::Runner`, whose overhead is its sandboxed commands
//!   times the sandbox's added cost plus its time outside them.
//!
//! The simulator's answers measure the machinery (prompting, running, feedback, keeping), not a
//! model: the table says so, and shows TestGen-LLM's published figures beside it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use domain::{Framework, Language, ModelRegistry, Validation, ValidationStatus, Verdict};
use runner::{Bubblewrap, Job, Runner, RunnerSettings, Sandbox};
use serde::Serialize;

use super::{
    LIMIT_OUT_OF_REACH, RunningApi, Stores, build_release_binaries, count_argument,
    is_developer_setting, log_tail, print_log_warnings, unix_stamp, write_json_report,
};
use crate::client::{new_agent, snippet};
use crate::{launch, project_root, target_dir};

/// TestGen-LLM (Alshahwan et al., FSE 2024), on Instagram's code: share of generated test
/// classes that built, that passed reliably, and that raised coverage.
const TESTGEN_BUILT: f64 = 75.0;
const TESTGEN_PASSED: f64 = 57.0;
const TESTGEN_RAISED: f64 = 25.0;
/// The runner's goal: its own overhead per Python run, at the median.
const PYTHON_OVERHEAD_GOAL_MS: f64 = 100.0;
const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a submission may be refused with 503 while the worker announces its models.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_EVERY: Duration = Duration::from_millis(500);

/// `bench generation`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct GenerationBenchArgs {
    /// only this language's corpus files (python, java, go, cpp, csharp, rust, javascript,
    /// typescript)
    #[arg(long, value_name = "LANGUAGE", value_parser = language_argument)]
    language: Option<Language>,
    /// model answers per unit: the first, and answers to run feedback
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = rounds_argument)]
    max_rounds: u32,
    /// runs after a first pass, to catch flaky tests (TestGen-LLM used 5)
    #[arg(long, value_name = "N", default_value_t = 2)]
    reruns: u32,
    /// the simulator's seed: the same seed gives the same answers
    #[arg(long, value_name = "SEED", default_value_t = 42)]
    seed: u64,
    /// how long the tasks may take in all, from the first submission
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = count_argument)]
    timeout_secs: usize,
    /// sandboxed and bare spawns of /bin/true, each
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = count_argument)]
    spawns: usize,
    /// runs of a small passing Python test through the runner
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = count_argument)]
    python_runs: usize,
    /// also write the results as JSON to this file
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

fn language_argument(value: &str) -> Result<Language, String> {
    value.parse::<Language>().map_err(|error| error.to_string())
}

fn rounds_argument(value: &str) -> Result<u32, String> {
    let number = count_argument(value)?;
    u32::try_from(number).map_err(|_| "too large".to_owned())
}

pub fn run(options: &GenerationBenchArgs) -> anyhow::Result<bool> {
    let started = Instant::now();
    let root = project_root();
    let [api_binary, worker_binary, simulator_binary] = build_release_binaries(
        &root,
        &[
            ("aiut-api", "aiut-api"),
            ("aiut-worker", "aiut-worker"),
            ("aiut-simulator", "aiut-model-sim"),
        ],
    )?
    .try_into()
    .map_err(|_| anyhow::anyhow!("cargo built an unexpected set of binaries"))?;
    let files = corpus_files(&root, options.language)?;
    anyhow::ensure!(!files.is_empty(), "no corpus files to submit");

    let stamp = unix_stamp()?;
    let bench_dir = target_dir(&root)
        .join("bench")
        .join(format!("generation-{stamp}"));
    std::fs::create_dir_all(&bench_dir)
        .with_context(|| format!("cannot create {}", bench_dir.display()))?;

    // First, while nothing else runs: the sandbox's cost is the figure most sensitive to load.
    eprintln!("==> the runner's own overhead, in-process");
    let overhead = measure_overhead(&root, &bench_dir, options);

    // Declared before the services, so dropped after them: they stop before their database goes.
    let stores = Stores::new(stamp)?;
    let services = Services::start(
        &bench_dir,
        &stores,
        options,
        [&api_binary, &worker_binary, &simulator_binary],
    )?;
    eprintln!(
        "==> submitting {} corpus files with model `simulator`",
        files.len()
    );
    let generation_started = Instant::now();
    let outcome = submit_and_wait(&services.api.base_url, &files, options)?;
    let generation_seconds = generation_started.elapsed().as_secs_f64();
    let worker_metrics = scrape_worker_metrics(&services.worker_metrics_url);
    let logs = [
        ("api", services.api.log_path.clone()),
        ("worker", services.worker.log_path.clone()),
    ];
    drop(services);
    drop(stores);

    let rows = aggregate(&outcome.records);
    let report = Report {
        options: ReportOptions {
            language: options.language.map(|language| language.id().to_owned()),
            max_rounds: options.max_rounds,
            reruns: options.reruns,
            seed: options.seed,
        },
        rows,
        testgen_llm: TestgenFigures {
            built_percent: TESTGEN_BUILT,
            passed_reliably_percent: TESTGEN_PASSED,
            raised_coverage_percent: TESTGEN_RAISED,
        },
        overhead,
        worker_metrics,
        tasks: outcome.records,
        problems: outcome.problems.clone(),
        generation_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    };
    print!("{}", report.to_table());
    print_log_warnings(logs);
    write_json_report(options.json.as_deref(), &report)?;
    if !outcome.problems.is_empty() {
        eprintln!("bench failed: {}", outcome.problems.join("; "));
        return Ok(false);
    }
    Ok(true)
}

/// One corpus file to submit.
#[derive(Debug, Clone)]
struct CorpusFile {
    language: Language,
    name: String,
    source: String,
}

/// Every corpus file (not the `.units` expectations beside them), by language then name.
fn corpus_files(root: &Path, only: Option<Language>) -> anyhow::Result<Vec<CorpusFile>> {
    let corpus = root.join("crates/codegen/tests/corpus");
    let mut files = Vec::new();
    for language in Language::ALL {
        if only.is_some_and(|only| only != language) {
            continue;
        }
        let dir = corpus.join(language.id());
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with(".units"))
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let source = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            files.push(CorpusFile {
                language,
                name,
                source,
            });
        }
    }
    Ok(files)
}

/// A service child process (the simulator, the worker), killed when this goes out of scope.
pub(super) struct Service {
    name: String,
    pub(super) child: Child,
    pub(super) log_path: PathBuf,
}

impl Service {
    pub(super) fn start(
        name: &str,
        binary: &Path,
        work_dir: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<Service> {
        let log_path = work_dir.join(format!("{name}.log"));
        let mut command = launch::command(binary, is_developer_setting);
        command.current_dir(work_dir);
        for (variable, value) in env {
            command.env(variable, value);
        }
        launch::log_to(&mut command, launch::create_log(&log_path)?)?;
        let child = launch::start(&mut command, binary.display())?;
        Ok(Service {
            name: name.to_owned(),
            child,
            log_path,
        })
    }

    /// Polls `url`; fails at once if the service exits, and after [`HEALTH_TIMEOUT`] otherwise.
    pub(super) fn wait_until_healthy(&mut self, url: &str) -> anyhow::Result<()> {
        let agent = new_agent(Duration::from_secs(2));
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        loop {
            if let Ok(response) = agent.get(url).call()
                && response.status().is_success()
            {
                return Ok(());
            }
            let name = &self.name;
            if let Some(status) = self
                .child
                .try_wait()
                .with_context(|| format!("cannot check on the {name}"))?
            {
                anyhow::bail!(
                    "the {name} exited ({status}) before answering {url}; the end of its log ({}):\n{}",
                    self.log_path.display(),
                    log_tail(&self.log_path, 30)
                );
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "the {name} did not answer {url} within {}s; the end of its log ({}):\n{}",
                    HEALTH_TIMEOUT.as_secs(),
                    self.log_path.display(),
                    log_tail(&self.log_path, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The three services of the bench; dropped worker first, then api, then simulator.
struct Services {
    worker: Service,
    api: RunningApi,
    _simulator: Service,
    worker_metrics_url: String,
}

impl Services {
    fn start(
        bench_dir: &Path,
        stores: &Stores,
        options: &GenerationBenchArgs,
        [api_binary, worker_binary, simulator_binary]: [&Path; 3],
    ) -> anyhow::Result<Services> {
        let simulator_port = crate::ports::free_loopback_port()?;
        let mut simulator = Service::start(
            "simulator",
            simulator_binary,
            bench_dir,
            &[
                ("AIUT_SIM_LISTEN", format!("127.0.0.1:{simulator_port}")),
                ("AIUT_SIM_MODELS", "[\"simulator\"]".to_owned()),
                // No artificial latency: the bench measures running the tests, not waiting.
                ("AIUT_SIM_FIRST_TOKEN_MS", "0".to_owned()),
                ("AIUT_SIM_TOKENS_PER_SEC", "0".to_owned()),
                ("AIUT_SIM_SEED", options.seed.to_string()),
                ("AIUT_SIM_LOG_FILTER", "warn".to_owned()),
            ],
        )?;
        eprintln!("==> waiting for the simulator on port {simulator_port}");
        simulator.wait_until_healthy(&format!("http://127.0.0.1:{simulator_port}/healthz"))?;

        // The api and the worker both read the model registry, with the simulator in it.
        #[derive(Serialize)]
        struct Sections {
            models: ModelRegistry,
        }
        let config_path = bench_dir.join("aiunittest.toml");
        let config = toml::to_string(&Sections {
            models: crate::stack::plan::with_simulator(
                ModelRegistry::default(),
                simulator_port,
                crate::stack::plan::SIMULATOR_TIMEOUT_SECS,
                crate::stack::plan::WORKER_CONCURRENCY,
            )?,
        })
        .context("cannot write the configuration")?;
        std::fs::write(&config_path, config)
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        let config_setting = ("AIUT_CONFIG", config_path.to_string_lossy().into_owned());

        let mut api = RunningApi::start(
            api_binary,
            bench_dir,
            &bench_dir.join("api.log"),
            stores,
            "bench",
            &[
                config_setting.clone(),
                // One session submits everything; the worker's capacity is the limit.
                (
                    "AIUT_LIMITS__MAX_RUNNING_PER_SESSION",
                    LIMIT_OUT_OF_REACH.to_string(),
                ),
            ],
        )?;
        eprintln!("==> waiting for {}/healthz", api.base_url);
        api.wait_until_healthy()?;

        let metrics_port = crate::ports::free_loopback_port()?;
        let mut worker = Service::start(
            "worker",
            worker_binary,
            bench_dir,
            &[
                config_setting,
                ("AIUT_DATABASE__URL", stores.database_url.clone()),
                ("AIUT_REDIS__URL", stores.redis_url.clone()),
                ("AIUT_REDIS__KEY_PREFIX", stores.key_prefix.clone()),
                ("AIUT_WORKER__ID", "bench".to_owned()),
                ("AIUT_WORKER__METRICS_HOST", "127.0.0.1".to_owned()),
                ("AIUT_WORKER__METRICS_PORT", metrics_port.to_string()),
                (
                    "AIUT_VALIDATION__MAX_ROUNDS",
                    options.max_rounds.to_string(),
                ),
                ("AIUT_VALIDATION__RERUNS", options.reruns.to_string()),
                (
                    "AIUT_RUNNER__WORK_ROOT",
                    bench_dir.join("worker-runs").to_string_lossy().into_owned(),
                ),
                ("AIUT_LOG__FILTER", "warn".to_owned()),
            ],
        )?;
        let worker_base = format!("http://127.0.0.1:{metrics_port}");
        eprintln!("==> waiting for the worker at {worker_base}/healthz");
        worker.wait_until_healthy(&format!("{worker_base}/healthz"))?;
        Ok(Services {
            worker,
            api,
            _simulator: simulator,
            worker_metrics_url: format!("{worker_base}/metrics"),
        })
    }
}

/// What a task ended with, as the bench read it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRecord {
    pub language: String,
    pub file: String,
    /// `succeeded`, `failed`, `cancelled`, or `rejected` / `timed_out` as the bench saw it.
    pub status: String,
    /// The task's error code, or the bench's (`timed_out`, `http_<status>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub units: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    pub seconds: f64,
}

struct Outcome {
    records: Vec<TaskRecord>,
    /// What makes the run broken (tasks that never ended, answers the bench cannot read).
    problems: Vec<String>,
}

/// Submits every file, then polls each task until it ends or the deadline passes.
fn submit_and_wait(
    base_url: &str,
    files: &[CorpusFile],
    options: &GenerationBenchArgs,
) -> anyhow::Result<Outcome> {
    let agent = new_agent(Duration::from_secs(30));
    let tasks_url = format!("{base_url}/api/tasks");
    let mut records: Vec<TaskRecord> = Vec::with_capacity(files.len());
    let mut pending: Vec<(usize, String, Instant)> = Vec::new();
    for file in files {
        let body = serde_json::json!({
            "source": file.source,
            "filename": file.name,
            "language": file.language.id(),
            "model": "simulator",
        })
        .to_string();
        let submitted = Instant::now();
        let (status, answer) = loop {
            let mut response = agent
                .post(&tasks_url)
                .header("Content-Type", "application/json")
                .send(&body)
                .with_context(|| format!("cannot submit {}", file.name))?;
            let status = response.status().as_u16();
            let answer = response.body_mut().read_to_string().unwrap_or_default();
            // Until the worker's first announcement reaches the api, no worker serves the model.
            if status == 503 && submitted.elapsed() < ANNOUNCE_TIMEOUT {
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
            break (status, answer);
        };
        let mut record = TaskRecord {
            language: file.language.id().to_owned(),
            file: file.name.clone(),
            status: "rejected".to_owned(),
            error_code: None,
            units: 0,
            validation: None,
            seconds: 0.0,
        };
        let id = serde_json::from_str::<serde_json::Value>(&answer)
            .ok()
            .and_then(|json| json["id"].as_str().map(str::to_owned));
        match (status, id) {
            (202, Some(id)) => pending.push((records.len(), id, submitted)),
            _ => {
                // A corpus file the api refuses is a finding, not a broken run.
                eprintln!(
                    "    {} refused: HTTP {status} {}",
                    file.name,
                    snippet(&answer)
                );
                record.error_code = Some(format!("http_{status}"));
            }
        }
        records.push(record);
    }

    let deadline = Instant::now() + Duration::from_secs(options.timeout_secs as u64);
    let mut problems = Vec::new();
    let total = pending.len();
    let mut done = 0usize;
    while !pending.is_empty() {
        let mut still = Vec::with_capacity(pending.len());
        for (index, id, submitted) in pending {
            let task = read_task(&agent, &format!("{tasks_url}/{id}"));
            let task = match task {
                Ok(task) => task,
                Err(error) => {
                    eprintln!("    reading task {id}: {error}");
                    still.push((index, id, submitted));
                    continue;
                }
            };
            let status = task["status"].as_str().unwrap_or("").to_owned();
            if !["succeeded", "failed", "cancelled"].contains(&status.as_str()) {
                still.push((index, id, submitted));
                continue;
            }
            let record = &mut records[index];
            record.seconds = submitted.elapsed().as_secs_f64();
            record.units = task["progress"]["total"]
                .as_u64()
                .and_then(|units| u32::try_from(units).ok())
                .unwrap_or(0);
            record.error_code = task["error"]["code"].as_str().map(str::to_owned);
            match task.get("validation").filter(|value| !value.is_null()) {
                Some(value) => match serde_json::from_value::<Validation>(value.clone()) {
                    Ok(validation) => {
                        // Tasks that ended before the units were counted: the tests name them.
                        if record.units == 0 {
                            record.units = u32::try_from(validation.tests.len()).unwrap_or(0);
                        }
                        record.validation = Some(validation);
                    }
                    Err(error) => problems.push(format!(
                        "{}: cannot read its validation ({error})",
                        record.file
                    )),
                },
                None if status == "succeeded" => {
                    problems.push(format!("{}: succeeded without a validation", record.file));
                }
                None => {}
            }
            record.status = status;
            done += 1;
            eprintln!(
                "    {done}/{total} {} {} in {:.1}s{}",
                record.file,
                record.status,
                record.seconds,
                record
                    .error_code
                    .as_deref()
                    .map(|code| format!(" ({code})"))
                    .unwrap_or_default()
            );
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            for (index, id, submitted) in &pending {
                let record = &mut records[*index];
                record.status = "timed_out".to_owned();
                record.error_code = Some("timed_out".to_owned());
                record.seconds = submitted.elapsed().as_secs_f64();
                problems.push(format!(
                    "{} (task {id}) did not finish within {}s",
                    record.file, options.timeout_secs
                ));
            }
            break;
        }
        std::thread::sleep(POLL_EVERY);
    }
    Ok(Outcome { records, problems })
}

fn read_task(agent: &ureq::Agent, url: &str) -> anyhow::Result<serde_json::Value> {
    let mut response = agent.get(url).call().context("no answer")?;
    let status = response.status();
    let body = response
        .body_mut()
        .read_to_string()
        .context("reading the body")?;
    anyhow::ensure!(status.is_success(), "HTTP {status}: {}", snippet(&body));
    serde_json::from_str(&body).context("not JSON")
}

/// One line of the table: a language, or every language (`overall`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Row {
    pub language: String,
    pub files: usize,
    /// Units the tasks found in their files.
    pub units: u64,
    /// Tests that were run and given a verdict: the percentages' denominator.
    pub judged: u64,
    pub built: u64,
    pub passed_reliably: u64,
    pub flaky: u64,
    /// Passed reliably and covered something no earlier kept test did.
    pub raised_coverage: u64,
    pub kept: u64,
    /// Model answers over the judged tests, kept or not.
    pub rounds: u64,
    /// Tasks whose delivered file was measured, and the totals over them.
    pub coverage_files: usize,
    pub lines_total: u64,
    pub lines_covered: u64,
    pub branch_files: usize,
    pub branches_total: u64,
    pub branches_covered: u64,
    /// Units not run, by reason.
    pub not_run: u64,
    pub not_run_reasons: BTreeMap<String, u64>,
    /// Tasks that did not succeed, by error code.
    pub failures: BTreeMap<String, u64>,
}

impl Row {
    pub fn built_percent(&self) -> Option<f64> {
        percent(self.built, self.judged)
    }

    pub fn passed_reliably_percent(&self) -> Option<f64> {
        percent(self.passed_reliably, self.judged)
    }

    pub fn flaky_percent(&self) -> Option<f64> {
        percent(self.flaky, self.judged)
    }

    pub fn raised_coverage_percent(&self) -> Option<f64> {
        percent(self.raised_coverage, self.judged)
    }

    pub fn line_percent(&self) -> Option<f64> {
        percent(self.lines_covered, self.lines_total)
    }

    pub fn branch_percent(&self) -> Option<f64> {
        percent(self.branches_covered, self.branches_total)
    }

    /// Model answers spent per test delivered; none when nothing was kept.
    pub fn rounds_per_kept(&self) -> Option<f64> {
        (self.kept > 0).then(|| self.rounds as f64 / self.kept as f64)
    }

    fn add(&mut self, record: &TaskRecord) {
        self.files += 1;
        self.units += u64::from(record.units);
        if record.status != "succeeded" {
            let code = record
                .error_code
                .clone()
                .unwrap_or_else(|| record.status.clone());
            *self.failures.entry(code).or_default() += 1;
        }
        let Some(validation) = &record.validation else {
            return;
        };
        let task_reason = validation.reason.as_deref().unwrap_or("not run");
        if validation.status == ValidationStatus::NotRun
            && validation
                .tests
                .iter()
                .all(|test| test.verdict == Verdict::NotRun)
        {
            // The whole file was not run: every unit counts, listed or not.
            let count = (validation.tests.len() as u64).max(u64::from(record.units));
            self.not_run += count;
            *self
                .not_run_reasons
                .entry(task_reason.to_owned())
                .or_default() += count;
        } else {
            for test in &validation.tests {
                if test.verdict == Verdict::NotRun {
                    self.not_run += 1;
                    let reason = test.reason.as_deref().unwrap_or(task_reason);
                    *self.not_run_reasons.entry(reason.to_owned()).or_default() += 1;
                    continue;
                }
                self.judged += 1;
                self.built += u64::from(test.verdict.built());
                self.passed_reliably += u64::from(test.verdict.passed_reliably());
                self.flaky += u64::from(test.verdict == Verdict::Flaky);
                self.raised_coverage += u64::from(test.verdict == Verdict::Passed);
                self.kept += u64::from(test.kept);
                self.rounds += u64::from(test.rounds);
            }
        }
        if let Some(coverage) = &validation.coverage {
            self.coverage_files += 1;
            self.lines_total += u64::from(coverage.lines_total);
            self.lines_covered += u64::from(coverage.lines_covered);
            if let (Some(total), Some(covered)) =
                (coverage.branches_total, coverage.branches_covered)
            {
                self.branch_files += 1;
                self.branches_total += u64::from(total);
                self.branches_covered += u64::from(covered);
            }
        }
    }
}

fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// The table's rows: one per language, in language order, then `overall`.
pub fn aggregate(records: &[TaskRecord]) -> Vec<Row> {
    let mut by_language: BTreeMap<String, Row> = BTreeMap::new();
    let mut overall = Row {
        language: "overall".to_owned(),
        ..Row::default()
    };
    for record in records {
        by_language
            .entry(record.language.clone())
            .or_insert_with(|| Row {
                language: record.language.clone(),
                ..Row::default()
            })
            .add(record);
        overall.add(record);
    }
    let mut rows: Vec<Row> = by_language.into_values().collect();
    rows.push(overall);
    rows
}

/// What the sandbox costs, measured in-process.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
enum Overhead {
    Measured {
        sandbox: String,
        spawn: SpawnCost,
        python: PythonRuns,
    },
    /// The spawns were measured, the Python runs could not be.
    Partly {
        sandbox: String,
        spawn: SpawnCost,
        python_not_measured: String,
    },
    NotMeasured {
        reason: String,
    },
}

/// `/bin/true` in the sandbox against a bare spawn of it.
#[derive(Debug, Clone, Serialize)]
struct SpawnCost {
    runs: usize,
    sandboxed_p50_ms: f64,
    sandboxed_p99_ms: f64,
    bare_p50_ms: f64,
    bare_p99_ms: f64,
    /// Per pair of neighbouring runs, sandboxed minus bare.
    added_p50_ms: f64,
    added_p99_ms: f64,
}

/// Runs of a small passing Python test through the runner.
#[derive(Debug, Clone, Serialize)]
struct PythonRuns {
    runs: usize,
    reruns: u32,
    commands_per_run: f64,
    total_p50_ms: f64,
    total_p99_ms: f64,
    /// Time of a run outside its sandboxed commands (work directory, files, reports).
    outside_p50_ms: f64,
    /// Commands × the sandbox's added cost (p50) + the time outside them, per run.
    overhead_p50_ms: f64,
    overhead_p99_ms: f64,
    goal_p50_ms: f64,
    goal_met: bool,
}

/// A small test of a corpus file that passes.
const PYTHON_TESTS: &str = r#"
from text_utils import slugify, truncate


def test_slugify_joins_lower_case_words():
    assert slugify("Hello, World") == "hello-world"


def test_truncate_keeps_short_text():
    assert truncate("abc", 5) == "abc"
"#;

fn measure_overhead(root: &Path, bench_dir: &Path, options: &GenerationBenchArgs) -> Overhead {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return Overhead::NotMeasured {
                reason: format!("no async runtime: {error}"),
            };
        }
    };
    runtime.block_on(async {
        let settings = RunnerSettings {
            slots: 1,
            work_root: bench_dir.join("overhead-runs"),
            ..RunnerSettings::default()
        };
        let sandbox = match Bubblewrap::detect(&settings.bwrap).await {
            Ok(sandbox) => Arc::new(sandbox),
            Err(error) => {
                return Overhead::NotMeasured {
                    reason: error.to_string(),
                };
            }
        };
        let description = sandbox.describe();
        let spawn = match spawn_cost(sandbox.as_ref(), &settings, options.spawns).await {
            Ok(spawn) => spawn,
            Err(error) => {
                return Overhead::NotMeasured {
                    reason: format!("{error:#}"),
                };
            }
        };
        let runner = Runner::with_sandbox(settings, Ok(sandbox));
        match python_runs(&runner, root, &spawn, options).await {
            Ok(python) => Overhead::Measured {
                sandbox: description,
                spawn,
                python,
            },
            Err(error) => Overhead::Partly {
                sandbox: description,
                spawn,
                python_not_measured: format!("{error:#}"),
            },
        }
    })
}

async fn spawn_cost(
    sandbox: &Bubblewrap,
    settings: &RunnerSettings,
    runs: usize,
) -> anyhow::Result<SpawnCost> {
    let dir = settings.work_root.join("spawn");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // As the runner does: a sandbox user that cannot take the folder over still runs `true`.
    let _ = sandbox.hand_over(&dir);
    let command = runner::Command::new(["/bin/true"]);
    let sandboxed_once = async || -> anyhow::Result<f64> {
        let started = Instant::now();
        let execution = sandbox
            .execute(&command, &dir, &settings.limits)
            .await
            .context("the sandbox could not run /bin/true")?;
        let elapsed = started.elapsed();
        anyhow::ensure!(
            execution.succeeded(),
            "/bin/true failed in the sandbox: {}",
            snippet(&execution.output)
        );
        Ok(elapsed.as_secs_f64() * 1000.0)
    };
    let bare_once = async || -> anyhow::Result<f64> {
        let started = Instant::now();
        let status = tokio::process::Command::new("/bin/true")
            .status()
            .await
            .context("cannot spawn /bin/true")?;
        let elapsed = started.elapsed();
        anyhow::ensure!(status.success(), "/bin/true failed");
        Ok(elapsed.as_secs_f64() * 1000.0)
    };
    // Warm-up: the binaries' pages in the cache, the cgroup made.
    for _ in 0..5 {
        sandboxed_once().await?;
        bare_once().await?;
    }
    let mut sandboxed = Vec::with_capacity(runs);
    let mut bare = Vec::with_capacity(runs);
    let mut added = Vec::with_capacity(runs);
    // Alternating, so a change of load on the machine hits both alike.
    for _ in 0..runs {
        let inside = sandboxed_once().await?;
        let outside = bare_once().await?;
        sandboxed.push(inside);
        bare.push(outside);
        added.push(inside - outside);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(SpawnCost {
        runs,
        sandboxed_p50_ms: percentile(&mut sandboxed, 0.50),
        sandboxed_p99_ms: percentile(&mut sandboxed, 0.99),
        bare_p50_ms: percentile(&mut bare, 0.50),
        bare_p99_ms: percentile(&mut bare, 0.99),
        added_p50_ms: percentile(&mut added, 0.50),
        added_p99_ms: percentile(&mut added, 0.99),
    })
}

async fn python_runs(
    runner: &Runner,
    root: &Path,
    spawn: &SpawnCost,
    options: &GenerationBenchArgs,
) -> anyhow::Result<PythonRuns> {
    if let Some(reason) = runner
        .unavailable(Language::Python, Framework::Pytest)
        .await
    {
        anyhow::bail!("{reason}");
    }
    let path = root.join("crates/codegen/tests/corpus/python/text_utils.py");
    let source = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let job = Job {
        language: Language::Python,
        framework: Framework::Pytest,
        source_file_name: "text_utils.py",
        source: &source,
        test_file_name: "test_text_utils.py",
        test_code: PYTHON_TESTS,
        checkout: None,
    };
    // One run unmeasured: Python's and coverage.py's files into the page cache.
    let warm = runner.run(&job, options.reruns).await;
    anyhow::ensure!(
        warm.outcome == runner::Outcome::Passed,
        "the small passing test did not pass ({:?}): {}",
        warm.outcome,
        snippet(&warm.output)
    );
    let mut totals = Vec::with_capacity(options.python_runs);
    let mut outside = Vec::with_capacity(options.python_runs);
    let mut overheads = Vec::with_capacity(options.python_runs);
    let mut commands = 0u64;
    for _ in 0..options.python_runs {
        let report = runner.run(&job, options.reruns).await;
        anyhow::ensure!(
            report.outcome == runner::Outcome::Passed,
            "the small passing test did not pass ({:?}): {}",
            report.outcome,
            snippet(&report.output)
        );
        let total = report.total.as_secs_f64() * 1000.0;
        let beside = total - report.sandboxed.as_secs_f64() * 1000.0;
        commands += u64::from(report.commands);
        totals.push(total);
        outside.push(beside);
        overheads.push(f64::from(report.commands) * spawn.added_p50_ms + beside);
    }
    let overhead_p50_ms = percentile(&mut overheads, 0.50);
    Ok(PythonRuns {
        runs: options.python_runs,
        reruns: options.reruns,
        commands_per_run: commands as f64 / options.python_runs as f64,
        total_p50_ms: percentile(&mut totals, 0.50),
        total_p99_ms: percentile(&mut totals, 0.99),
        outside_p50_ms: percentile(&mut outside, 0.50),
        overhead_p50_ms,
        overhead_p99_ms: percentile(&mut overheads, 0.99),
        goal_p50_ms: PYTHON_OVERHEAD_GOAL_MS,
        goal_met: overhead_p50_ms < PYTHON_OVERHEAD_GOAL_MS,
    })
}

/// The nearest-rank percentile of `values` (sorted here); 0 when empty.
fn percentile(values: &mut [f64], quantile: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((quantile * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// The worker's own view of its runs, from its `/metrics`: mean seconds per run.
#[derive(Debug, Clone, Default, Serialize)]
struct WorkerMetrics {
    #[serde(skip_serializing_if = "Option::is_none")]
    runner_overhead: Option<HistogramTotals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    runner_queue: Option<HistogramTotals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct HistogramTotals {
    count: f64,
    sum_seconds: f64,
}

impl HistogramTotals {
    fn mean_ms(self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum_seconds * 1000.0 / self.count)
    }
}

fn scrape_worker_metrics(url: &str) -> WorkerMetrics {
    match read_text(url) {
        Ok(text) => WorkerMetrics {
            runner_overhead: histogram_totals(&text, "aiut_worker_runner_overhead_seconds"),
            runner_queue: histogram_totals(&text, "aiut_worker_runner_queue_seconds"),
            problem: None,
        },
        Err(error) => WorkerMetrics {
            problem: Some(format!("cannot read {url}: {error:#}")),
            ..WorkerMetrics::default()
        },
    }
}

fn read_text(url: &str) -> anyhow::Result<String> {
    let mut response = new_agent(Duration::from_secs(5))
        .get(url)
        .call()
        .context("no answer")?;
    anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
    response
        .body_mut()
        .read_to_string()
        .context("reading the body")
}

/// A histogram's count and sum over all its label sets, from the Prometheus text format.
fn histogram_totals(text: &str, name: &str) -> Option<HistogramTotals> {
    let value_of = |suffix: &str| -> Option<f64> {
        let metric = format!("{name}{suffix}");
        let values: Vec<f64> = text
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(&metric)?;
                // The exact name, bare or with labels: not a longer name sharing the prefix.
                if !(rest.starts_with(' ') || rest.starts_with('{')) {
                    return None;
                }
                line.rsplit(' ').next()?.parse::<f64>().ok()
            })
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    Some(HistogramTotals {
        count: value_of("_count")?,
        sum_seconds: value_of("_sum")?,
    })
}

#[derive(Debug, Clone, Serialize)]
struct ReportOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<String>,
    max_rounds: u32,
    reruns: u32,
    seed: u64,
}

#[derive(Debug, Clone, Serialize)]
struct TestgenFigures {
    built_percent: f64,
    passed_reliably_percent: f64,
    raised_coverage_percent: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Report {
    options: ReportOptions,
    rows: Vec<Row>,
    testgen_llm: TestgenFigures,
    overhead: Overhead,
    worker_metrics: WorkerMetrics,
    tasks: Vec<TaskRecord>,
    problems: Vec<String>,
    generation_seconds: f64,
    total_seconds: f64,
}

fn shown(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.decimals$}"))
}

fn cut(text: &str, at: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    if first.chars().count() <= at {
        return first.to_owned();
    }
    let mut short: String = first.chars().take(at).collect();
    short.push('…');
    short
}

impl Report {
    fn to_table(&self) -> String {
        let mut out = String::new();
        let o = &self.options;
        let _ = writeln!(
            out,
            "\nbench generation: corpus {}, model simulator (seed {}), max_rounds {}, reruns {}; tasks took {:.0}s, the whole bench {:.0}s\n",
            o.language.as_deref().unwrap_or("all languages"),
            o.seed,
            o.max_rounds,
            o.reruns,
            self.generation_seconds,
            self.total_seconds,
        );
        let _ = writeln!(
            out,
            "{:<11} {:>5} {:>5} {:>6} {:>7} {:>8} {:>6} {:>7} {:>5} {:>7} {:>7} {:>8} {:>7} {:>8}",
            "language",
            "files",
            "units",
            "judged",
            "built%",
            "passed%",
            "flaky%",
            "raised%",
            "kept",
            "line%",
            "branch%",
            "rnd/kept",
            "not run",
            "taskfail"
        );
        for row in &self.rows {
            let failed: u64 = row.failures.values().sum();
            let _ = writeln!(
                out,
                "{:<11} {:>5} {:>5} {:>6} {:>7} {:>8} {:>6} {:>7} {:>5} {:>7} {:>7} {:>8} {:>7} {:>8}",
                row.language,
                row.files,
                row.units,
                row.judged,
                shown(row.built_percent(), 1),
                shown(row.passed_reliably_percent(), 1),
                shown(row.flaky_percent(), 1),
                shown(row.raised_coverage_percent(), 1),
                row.kept,
                shown(row.line_percent(), 1),
                shown(row.branch_percent(), 1),
                shown(row.rounds_per_kept(), 2),
                row.not_run,
                failed,
            );
        }
        let _ = writeln!(
            out,
            "{:<11} {:>5} {:>5} {:>6} {:>7.1} {:>8.1} {:>6} {:>7.1}   (TestGen-LLM, published, on Instagram's code)",
            "TestGen-LLM",
            "",
            "",
            "",
            self.testgen_llm.built_percent,
            self.testgen_llm.passed_reliably_percent,
            "",
            self.testgen_llm.raised_coverage_percent,
        );
        let _ = writeln!(
            out,
            "\nThese figures come from the model simulator: they measure the machinery (prompting, running, \
             feedback, keeping), not a model, and are not comparable with TestGen-LLM's, which are a model's on real code."
        );
        let _ = writeln!(
            out,
            "built%, passed% (every run), flaky%, raised% (passed and added coverage) are over the judged tests \
             (run and given a verdict); line% and branch% are of the source by the delivered file, pooled over \
             the files measured; rnd/kept is model answers over judged tests per kept test; taskfail counts tasks that did not succeed."
        );
        for row in &self.rows {
            if row.language == "overall" {
                continue;
            }
            let mut notes = Vec::new();
            if row.coverage_files < row.files {
                notes.push(format!(
                    "coverage measured on {} of {} files (branches on {})",
                    row.coverage_files, row.files, row.branch_files
                ));
            }
            for (reason, count) in &row.not_run_reasons {
                notes.push(format!("{count} not run: {}", cut(reason, 100)));
            }
            for (code, count) in &row.failures {
                notes.push(format!("{count} task(s) failed: {code}"));
            }
            if !notes.is_empty() {
                let _ = writeln!(out, "  {}: {}", row.language, notes.join("; "));
            }
        }

        let _ = writeln!(out, "\nthe runner's own overhead per run (in-process):");
        match &self.overhead {
            Overhead::NotMeasured { reason } => {
                let _ = writeln!(out, "  not measured: {reason}");
            }
            Overhead::Measured { sandbox, spawn, .. } | Overhead::Partly { sandbox, spawn, .. } => {
                let _ = writeln!(
                    out,
                    "  /bin/true, {} runs each, alternating ({sandbox}): sandboxed p50 {:.1} ms p99 {:.1} ms; \
                     bare spawn p50 {:.2} ms p99 {:.2} ms; added by the sandbox p50 {:.1} ms p99 {:.1} ms",
                    spawn.runs,
                    spawn.sandboxed_p50_ms,
                    spawn.sandboxed_p99_ms,
                    spawn.bare_p50_ms,
                    spawn.bare_p99_ms,
                    spawn.added_p50_ms,
                    spawn.added_p99_ms,
                );
            }
        }
        match &self.overhead {
            Overhead::Measured { python, .. } => {
                let _ = writeln!(
                    out,
                    "  Python, a small passing pytest file, {} runs with {} reruns: total p50 {:.0} ms p99 {:.0} ms, \
                     {:.1} sandboxed commands per run, {:.1} ms outside them (p50)",
                    python.runs,
                    python.reruns,
                    python.total_p50_ms,
                    python.total_p99_ms,
                    python.commands_per_run,
                    python.outside_p50_ms,
                );
                let _ = writeln!(
                    out,
                    "  overhead per run = commands × sandbox cost + time outside them: p50 {:.1} ms, p99 {:.1} ms; \
                     goal p50 < {:.0} ms: {}",
                    python.overhead_p50_ms,
                    python.overhead_p99_ms,
                    python.goal_p50_ms,
                    if python.goal_met { "met" } else { "NOT met" },
                );
            }
            Overhead::Partly {
                python_not_measured,
                ..
            } => {
                let _ = writeln!(out, "  Python runs not measured: {python_not_measured}");
            }
            Overhead::NotMeasured { .. } => {}
        }
        let metrics = &self.worker_metrics;
        let mean = |totals: Option<HistogramTotals>| match totals {
            Some(totals) => format!(
                "mean {} ms over {} runs",
                shown(totals.mean_ms(), 1),
                totals.count
            ),
            None => "absent".to_owned(),
        };
        match &metrics.problem {
            Some(problem) => {
                let _ = writeln!(out, "  the worker's metrics: {problem}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "  the worker's metrics, all languages: aiut_worker_runner_overhead_seconds (outside the sandboxed commands) {}; \
                     aiut_worker_runner_queue_seconds (waiting for a slot) {}",
                    mean(metrics.runner_overhead),
                    mean(metrics.runner_queue),
                );
            }
        }
        if !self.problems.is_empty() {
            let _ = writeln!(out, "\nthe run is broken:");
            for problem in &self.problems {
                let _ = writeln!(out, "  {problem}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{FileCoverage, TestReport};

    fn test(verdict: Verdict, kept: bool, rounds: u32) -> TestReport {
        TestReport {
            unit: "unit".to_owned(),
            verdict,
            kept,
            rounds,
            reruns: 2,
            rerun_passes: 2,
            reason: None,
            added_lines: Vec::new(),
            added_branches: 0,
            has_assertion: true,
        }
    }

    fn record(
        language: &str,
        status: &str,
        code: Option<&str>,
        units: u32,
        validation: Option<Validation>,
    ) -> TaskRecord {
        TaskRecord {
            language: language.to_owned(),
            file: format!("file.{language}"),
            status: status.to_owned(),
            error_code: code.map(str::to_owned),
            units,
            validation,
            seconds: 1.0,
        }
    }

    fn validated(tests: Vec<TestReport>, coverage: Option<FileCoverage>) -> Validation {
        Validation {
            status: ValidationStatus::Validated,
            reason: None,
            tool: Some("pytest + coverage.py".to_owned()),
            tests,
            coverage,
            runs: 3,
        }
    }

    #[test]
    fn rows_count_verdicts_coverage_not_run_and_failures() {
        let coverage = |covered, total, branches: Option<(u32, u32)>| FileCoverage {
            lines_total: total,
            lines_covered: covered,
            branches_total: branches.map(|(_, total)| total),
            branches_covered: branches.map(|(covered, _)| covered),
            covered_lines: Vec::new(),
            uncovered_lines: Vec::new(),
        };
        let records = vec![
            record(
                "python",
                "succeeded",
                None,
                4,
                Some(validated(
                    vec![
                        test(Verdict::Passed, true, 1),
                        test(Verdict::NoNewCoverage, false, 2),
                        test(Verdict::Flaky, false, 3),
                        test(Verdict::BuildFailed, false, 3),
                    ],
                    Some(coverage(6, 10, Some((1, 4)))),
                )),
            ),
            record(
                "python",
                "succeeded",
                None,
                2,
                Some(validated(
                    vec![
                        test(Verdict::Passed, true, 2),
                        TestReport {
                            reason: Some("not run: out of time".to_owned()),
                            ..test(Verdict::NotRun, false, 1)
                        },
                    ],
                    Some(coverage(4, 10, None)),
                )),
            ),
            record("python", "failed", Some("no_valid_tests"), 3, None),
            // A task where no test passed fails, and keeps its verdicts.
            record(
                "rust",
                "failed",
                Some("no_passing_tests"),
                3,
                Some(Validation {
                    status: ValidationStatus::Failed,
                    reason: Some("no test passed when run".to_owned()),
                    ..validated(
                        vec![
                            test(Verdict::BuildFailed, false, 3),
                            test(Verdict::BuildFailed, false, 3),
                            test(Verdict::Failed, false, 3),
                        ],
                        None,
                    )
                }),
            ),
            record(
                "csharp",
                "succeeded",
                None,
                5,
                Some(Validation::not_run("not run on this deployment: no dotnet")),
            ),
            record("go", "timed_out", Some("timed_out"), 0, None),
        ];
        let rows = aggregate(&records);
        let names: Vec<&str> = rows.iter().map(|row| row.language.as_str()).collect();
        assert_eq!(names, ["csharp", "go", "python", "rust", "overall"]);

        let python = &rows[2];
        assert_eq!((python.files, python.units, python.judged), (3, 9, 5));
        assert_eq!(
            (python.built, python.passed_reliably, python.flaky),
            (4, 3, 1)
        );
        assert_eq!(
            (python.raised_coverage, python.kept, python.rounds),
            (2, 2, 11)
        );
        assert_eq!(python.built_percent(), Some(80.0));
        assert_eq!(python.passed_reliably_percent(), Some(60.0));
        assert_eq!(python.flaky_percent(), Some(20.0));
        assert_eq!(python.rounds_per_kept(), Some(5.5));
        // Pooled over the two measured files; branches only where measured.
        assert_eq!(python.line_percent(), Some(50.0));
        assert_eq!((python.coverage_files, python.branch_files), (2, 1));
        assert_eq!(python.branch_percent(), Some(25.0));
        assert_eq!(python.not_run, 1);
        assert_eq!(python.not_run_reasons.get("not run: out of time"), Some(&1));
        assert_eq!(python.failures.get("no_valid_tests"), Some(&1));

        // A file not run at all counts every unit, under the task's reason.
        let csharp = &rows[0];
        assert_eq!((csharp.not_run, csharp.judged), (5, 0));
        assert_eq!(
            csharp
                .not_run_reasons
                .get("not run on this deployment: no dotnet"),
            Some(&5)
        );
        assert_eq!(csharp.built_percent(), None);
        assert_eq!(csharp.rounds_per_kept(), None);
        assert!(csharp.failures.is_empty());

        let go = &rows[1];
        assert_eq!(go.failures.get("timed_out"), Some(&1));

        // A failed task's tests, from its stored validation, count like the others.
        let rust = &rows[3];
        assert_eq!((rust.judged, rust.built), (3, 1));
        assert_eq!((rust.passed_reliably, rust.kept, rust.rounds), (0, 0, 9));
        assert_eq!(rust.failures.get("no_passing_tests"), Some(&1));

        let overall = &rows[4];
        assert_eq!((overall.files, overall.units), (6, 17));
        assert_eq!((overall.judged, overall.not_run), (8, 6));
        assert_eq!((overall.built, overall.rounds), (5, 20));
        assert_eq!(overall.failures.values().sum::<u64>(), 3);
        assert_eq!(overall.line_percent(), Some(50.0));
    }

    #[test]
    fn histograms_are_summed_over_their_labels_only() {
        let text = "\
# HELP aiut_worker_runner_overhead_seconds Time of a run outside its sandboxed commands
aiut_worker_runner_overhead_seconds_sum{language=\"python\"} 0.5
aiut_worker_runner_overhead_seconds_count{language=\"python\"} 10
aiut_worker_runner_overhead_seconds_sum{language=\"go\"} 1.5
aiut_worker_runner_overhead_seconds_count{language=\"go\"} 10
aiut_worker_runner_overhead_seconds_bucket{language=\"go\",le=\"+Inf\"} 10
aiut_worker_runner_queue_seconds_sum 2.0
aiut_worker_runner_queue_seconds_count 4
";
        let overhead = histogram_totals(text, "aiut_worker_runner_overhead_seconds");
        assert_eq!(
            overhead,
            Some(HistogramTotals {
                count: 20.0,
                sum_seconds: 2.0
            })
        );
        assert_eq!(overhead.and_then(HistogramTotals::mean_ms), Some(100.0));
        let queue = histogram_totals(text, "aiut_worker_runner_queue_seconds");
        assert_eq!(queue.and_then(HistogramTotals::mean_ms), Some(500.0));
        assert_eq!(histogram_totals(text, "aiut_worker_runner"), None);
    }

    #[test]
    fn percentiles_take_signed_values() {
        let mut values = vec![3.0, -1.0, 2.0, 1.0];
        assert_eq!(percentile(&mut values, 0.5), 1.0);
        assert_eq!(percentile(&mut values, 0.99), 3.0);
        assert_eq!(percentile(&mut [], 0.5), 0.0);
    }
}
