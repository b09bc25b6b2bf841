//! `cargo xtask bench tasks`: N tasks in flight at a given model latency, through the whole task
//! path, and where the time beyond the model's goes.
//!
//! What a task does here: one Python function, submitted with `validate: "syntax"` and the model
//! simulator as the model. A worker claims it, parses the file into its one unit, asks the
//! simulator once (the answer starts after `--latency-ms` and then comes at once), checks the
//! answer's syntax with tree-sitter, assembles the file, stores it on the row and in the result
//! cache, and publishes the task's events; the client follows them over SSE. No generated test is
//! built or run (with `validate: "syntax"` the sandbox is never used): the model's time dominates
//! and what is measured is the task path itself (create, claim, events, the stream, finish), not a
//! thousand sandboxes on the machine's cores.
//!
//! Method:
//! - the model simulator (no pacing after its first token), one `aiut-api` and `--workers`
//!   `aiut-worker`s (release builds) run on loopback over a fresh database and Redis key prefix,
//!   each worker with `worker.concurrency` and the simulator's `max_concurrency` at its share of
//!   the tasks in flight;
//! - `--in-flight` users (one session each, all of them futures on one runtime of two threads,
//!   see [`users`]) each submit a task, follow its event stream to the terminal event, and submit
//!   the next, for `--seconds`; every task's source is different, so none is answered from the
//!   result cache. Each user's first task (session, connections) is left out of the figures;
//! - throughput is the tasks that ended within the measured window (from the moment every user
//!   finished its first task to the end of submissions), set against in-flight ÷ latency, the
//!   most a perfect system could do with that many users waiting that long per task;
//! - a task's overhead is the time from its submission to its terminal event as the client saw it,
//!   less the model's latency; the stages split it at the moments the client saw each event
//!   (`started` is sent once the task is claimed, `generating` just before the model call,
//!   `result` just after it), so each stage includes what publishing and fanning out its event
//!   costs;
//! - CPU time of each process over the window (the services, this load generator on its own,
//!   Postgres and Redis as a whole, and the machine), per task ended.

mod tcp;
mod users;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use domain::ModelRegistry;
use serde::Serialize;

use super::generation::Service;
use super::{
    RunningApi, Stores, build_release_binaries, count_argument, print_log_warnings, unix_stamp,
    write_json_report,
};
use crate::client::new_agent;
use crate::{project_root, target_dir};
use users::TaskTiming;

/// The goal: throughput at least this share of in-flight ÷ latency.
const THROUGHPUT_GOAL_PERCENT: f64 = 90.0;
/// The goal for the overhead beyond the model's time, at the median.
const OVERHEAD_GOAL_P50_MS: f64 = 10.0;

/// `bench tasks`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct TasksBenchArgs {
    /// tasks in flight at once: one user (and session) each
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = count_argument)]
    in_flight: usize,
    /// the model's latency per call: the simulator's time to its first token
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    latency_ms: u64,
    /// how long users keep submitting, after their first task
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = count_argument)]
    seconds: usize,
    /// workers sharing the tasks in flight
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = count_argument)]
    workers: usize,
    /// also write the results as JSON to this file
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// use the release binaries already built
    #[arg(long = "no-build", action = clap::ArgAction::SetFalse)]
    build: bool,
    /// also run the api, worker and simulator binaries of this folder (another build, kept
    /// aside), taking turns with the current ones, and compare the two
    #[arg(long, value_name = "DIR")]
    base: Option<PathBuf>,
    /// runs of each build (with --base, base and current alternate)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = count_argument)]
    rounds: usize,
}

/// The binaries a run starts: the api, the worker and the model simulator.
const BINARIES: [(&str, &str); 3] = [
    ("aiut-api", "aiut-api"),
    ("aiut-worker", "aiut-worker"),
    ("aiut-simulator", "aiut-model-sim"),
];

pub fn run(options: &TasksBenchArgs) -> anyhow::Result<bool> {
    let root = project_root();
    let built = if options.build {
        build_release_binaries(&root, &BINARIES)?
    } else {
        binaries_in(&target_dir(&root).join("release"))
    };
    let current = checked_binaries(built, "build it, or leave out --no-build")?;
    let base = options
        .base
        .as_deref()
        .map(|folder| {
            checked_binaries(
                binaries_in(folder),
                "--base names a folder holding the three binaries",
            )
        })
        .transpose()?;
    raise_open_files_limit();

    let stamp = unix_stamp()?;
    let bench_dir = target_dir(&root)
        .join("bench")
        .join(format!("tasks-{stamp}"));
    // Base and current take turns, so the machine's other load falls on both alike.
    let mut runs: Vec<(&str, &[PathBuf; 3])> = Vec::new();
    for _ in 0..options.rounds {
        if let Some(base) = &base {
            runs.push(("base", base));
        }
        runs.push(("current", &current));
    }
    let mut reports: Vec<(String, Report)> = Vec::new();
    for (index, (label, binaries)) in runs.into_iter().enumerate() {
        let name = format!("{stamp}_{index}");
        let run_dir = bench_dir.join(format!("{index}-{label}"));
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("cannot create {}", run_dir.display()))?;
        eprintln!("==> run {} ({label})", index + 1);
        let report = run_once(options, &name, &run_dir, binaries)?;
        println!("\n[{label}]");
        print!("{}", report.to_table());
        reports.push((label.to_owned(), report));
    }
    if reports.len() > 1 {
        print!("{}", summary(&reports));
    }
    let failures: Vec<String> = reports
        .iter()
        .filter(|(_, report)| report.failed > 0)
        .map(|(label, report)| format!("{label}: {}", report.failures.join("; ")))
        .collect();
    let runs: Vec<LabelledReport> = reports
        .into_iter()
        .map(|(label, report)| LabelledReport { label, report })
        .collect();
    match runs.as_slice() {
        [only] => write_json_report(options.json.as_deref(), &only.report)?,
        _ => write_json_report(options.json.as_deref(), &runs)?,
    }
    if !failures.is_empty() {
        eprintln!(
            "bench failed: tasks did not end well ({})",
            failures.join(" | ")
        );
        return Ok(false);
    }
    Ok(true)
}

/// One run's report under its label, for the JSON of a comparison.
#[derive(Serialize)]
struct LabelledReport {
    label: String,
    #[serde(flatten)]
    report: Report,
}

/// Where the three binaries are in `folder`.
fn binaries_in(folder: &Path) -> Vec<PathBuf> {
    BINARIES
        .iter()
        .map(|(_, name)| folder.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
        .collect()
}

fn checked_binaries(paths: Vec<PathBuf>, hint: &str) -> anyhow::Result<[PathBuf; 3]> {
    let binaries: [PathBuf; 3] = paths
        .try_into()
        .map_err(|_| anyhow::anyhow!("cargo built an unexpected set of binaries"))?;
    for binary in &binaries {
        anyhow::ensure!(
            binary.is_file(),
            "no binary at {}: {hint}",
            binary.display()
        );
    }
    Ok(binaries)
}

/// One run: the services started over a database and key prefix of their own, one task to
/// warm up, the users for the window, the services stopped and their database dropped.
fn run_once(
    options: &TasksBenchArgs,
    name: &str,
    run_dir: &Path,
    [api_binary, worker_binary, simulator_binary]: &[PathBuf; 3],
) -> anyhow::Result<Report> {
    // Declared before the services, so dropped after them: they stop before their database goes.
    let stores = Stores::named(name)?;
    let services = Services::start(
        run_dir,
        &stores,
        options,
        [api_binary, worker_binary, simulator_binary].map(PathBuf::as_path),
    )?;
    let stamp = unix_stamp()?;
    eprintln!("==> one task first, so the workers' announcement has reached the api");
    users::warm_up(&services.api.base_url, stamp)?;
    let calls_before = simulator_calls(&services.simulator_url);

    eprintln!(
        "==> {} users, {} ms per model call, for {} s",
        options.in_flight, options.latency_ms, options.seconds
    );
    let measured = users::drive(&services, options, stamp)?;
    let calls = simulator_calls(&services.simulator_url)
        .zip(calls_before)
        .map(|(after, before)| after.saturating_sub(before));
    let logs = services.logs();
    drop(services);
    drop(stores);
    print_log_warnings(logs);
    Ok(Report::new(options, &measured, calls))
}

/// One figure of a report, for the comparison's rows.
type Figure = Box<dyn Fn(&Report) -> f64>;

/// Base against current, each figure the mean of its runs.
fn summary(reports: &[(String, Report)]) -> String {
    let mut labels: Vec<&str> = reports.iter().map(|(label, _)| label.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let mean = |label: &str, figure: &dyn Fn(&Report) -> f64| {
        let values: Vec<f64> = reports
            .iter()
            .filter(|(of, _)| of == label)
            .map(|(_, report)| figure(report))
            .collect();
        values.iter().sum::<f64>() / values.len().max(1) as f64
    };
    let mut rows: Vec<(String, Figure)> = vec![
        (
            "throughput % of in-flight ÷ latency".to_owned(),
            Box::new(|report: &Report| report.throughput_percent),
        ),
        (
            "overhead p50 ms".to_owned(),
            Box::new(|report: &Report| report.overhead.p50_ms),
        ),
        (
            "overhead p99 ms".to_owned(),
            Box::new(|report: &Report| report.overhead.p99_ms),
        ),
    ];
    let mut processes: Vec<String> = reports
        .iter()
        .flat_map(|(_, report)| report.cpu.iter().map(|(name, _, _)| name.clone()))
        .collect();
    processes.sort_unstable();
    processes.dedup();
    for process in processes {
        let row = format!("cpu ms per task, {process}");
        rows.push((
            row,
            Box::new(move |report: &Report| {
                report
                    .cpu
                    .iter()
                    .find(|(name, _, _)| *name == process)
                    .map_or(0.0, |(_, per_task, _)| *per_task)
            }),
        ));
    }
    let mut out = format!("\n{:<44}", "mean over the runs");
    for label in &labels {
        let _ = write!(out, " {label:>10}");
    }
    out.push('\n');
    for (name, figure) in &rows {
        let _ = write!(out, "{name:<44}");
        for label in &labels {
            let _ = write!(out, " {:>10.2}", mean(label, figure.as_ref()));
        }
        out.push('\n');
    }
    out
}

/// A thousand users hold two thousand connections to the api, and the worker one to the
/// simulator per call: the soft limit of open files (often 1024) goes up to the hard one, for this
/// process and the services it starts.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            eprintln!("cannot raise the open files limit ({error}); many users may fail");
        }
    }
}

/// The services of the bench; dropped workers first, then the api, then the simulator.
struct Services {
    workers: Vec<Service>,
    api: RunningApi,
    simulator: Service,
    simulator_url: String,
}

impl Services {
    fn start(
        bench_dir: &Path,
        stores: &Stores,
        options: &TasksBenchArgs,
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
                ("AIUT_SIM_FIRST_TOKEN_MS", options.latency_ms.to_string()),
                // The whole answer at the first token: the latency is the model's time.
                ("AIUT_SIM_TOKENS_PER_SEC", "0".to_owned()),
                ("AIUT_SIM_SEED", "42".to_owned()),
                ("AIUT_SIM_LOG_FILTER", "warn".to_owned()),
            ],
        )?;
        let simulator_url = format!("http://127.0.0.1:{simulator_port}");
        eprintln!("==> waiting for the simulator on port {simulator_port}");
        simulator.wait_until_healthy(&format!("{simulator_url}/healthz"))?;

        // Each worker takes its share of the users, and may call the model as often at once.
        let per_worker = options.in_flight.div_ceil(options.workers);
        let per_worker_text = per_worker.to_string();
        #[derive(Serialize)]
        struct Sections {
            models: ModelRegistry,
        }
        let models = crate::stack::plan::with_simulator(
            ModelRegistry::default(),
            simulator_port,
            crate::stack::plan::SIMULATOR_TIMEOUT_SECS,
            u32::try_from(per_worker).unwrap_or(u32::MAX),
        )?;
        let config_path = bench_dir.join("aiunittest.toml");
        let config =
            toml::to_string(&Sections { models }).context("cannot write the configuration")?;
        std::fs::write(&config_path, config)
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        let config_setting = ("AIUT_CONFIG", config_path.to_string_lossy().into_owned());

        let mut api = RunningApi::start(
            api_binary,
            bench_dir,
            &bench_dir.join("api.log"),
            stores,
            "bench",
            std::slice::from_ref(&config_setting),
        )?;
        eprintln!("==> waiting for {}/healthz", api.base_url);
        api.wait_until_healthy()?;

        let mut workers = Vec::with_capacity(options.workers);
        for index in 0..options.workers {
            let metrics_port = crate::ports::free_loopback_port()?;
            let name = format!("worker-{index}");
            let mut worker = Service::start(
                &name,
                worker_binary,
                bench_dir,
                &[
                    config_setting.clone(),
                    ("AIUT_DATABASE__URL", stores.database_url.clone()),
                    ("AIUT_REDIS__URL", stores.redis_url.clone()),
                    ("AIUT_REDIS__KEY_PREFIX", stores.key_prefix.clone()),
                    ("AIUT_WORKER__ID", format!("bench-{index}")),
                    ("AIUT_WORKER__METRICS_HOST", "127.0.0.1".to_owned()),
                    ("AIUT_WORKER__METRICS_PORT", metrics_port.to_string()),
                    ("AIUT_WORKER__CONCURRENCY", per_worker_text.clone()),
                    (
                        "AIUT_RUNNER__WORK_ROOT",
                        bench_dir.join(&name).to_string_lossy().into_owned(),
                    ),
                    ("AIUT_LOG__FILTER", "warn".to_owned()),
                ],
            )?;
            let url = format!("http://127.0.0.1:{metrics_port}/healthz");
            eprintln!("==> waiting for {name} at {url}");
            worker.wait_until_healthy(&url)?;
            workers.push(worker);
        }
        Ok(Services {
            workers,
            api,
            simulator,
            simulator_url,
        })
    }

    fn logs(&self) -> Vec<(String, PathBuf)> {
        let mut logs = vec![("api".to_owned(), self.api.log_path.clone())];
        for (index, worker) in self.workers.iter().enumerate() {
            logs.push((format!("worker-{index}"), worker.log_path.clone()));
        }
        logs.push(("simulator".to_owned(), self.simulator.log_path.clone()));
        logs
    }

    /// The processes whose CPU time is counted: name and pid.
    fn processes(&self) -> Vec<(String, u32)> {
        let mut processes = vec![("api".to_owned(), self.api.child.id())];
        for worker in &self.workers {
            processes.push(("workers".to_owned(), worker.child.id()));
        }
        processes.push(("simulator".to_owned(), self.simulator.child.id()));
        processes
    }
}

/// The chat calls the simulator received so far.
fn simulator_calls(url: &str) -> Option<u64> {
    let agent = new_agent(Duration::from_secs(5));
    let mut response = agent.get(&format!("{url}/sim/stats")).call().ok()?;
    let body = response.body_mut().read_to_string().ok()?;
    serde_json::from_str::<serde_json::Value>(&body).ok()?["requests"].as_u64()
}

/// What the users measured.
struct Measured {
    /// Every task after each user's first.
    timings: Vec<TaskTiming>,
    /// The measured window: from every user's first task ended to the last submission.
    window: (Duration, Duration),
    failures: BTreeMap<String, usize>,
    /// Tasks that ended well, each user's first included.
    ended_well: usize,
    /// CPU seconds per process over the window.
    cpu: BTreeMap<String, f64>,
    /// How much the kernel's TCP counters grew from the first user's start to the last one's end.
    tcp: Vec<(String, u64)>,
}

/// CPU ticks per process at one moment.
#[derive(Default)]
struct CpuSample {
    ticks: BTreeMap<String, u64>,
}

impl CpuSample {
    fn take(processes: &[(String, u32)]) -> CpuSample {
        let mut ticks = BTreeMap::new();
        for (name, pid) in processes {
            *ticks.entry(name.clone()).or_default() += crate::procfs::cpu_ticks_with_children(*pid);
        }
        // This process alone: the services are its children, and counted on their own lines.
        ticks.insert(
            "load generator".to_owned(),
            crate::procfs::cpu_ticks_of(&[std::process::id()]),
        );
        ticks.insert(
            "postgres (all)".to_owned(),
            crate::procfs::cpu_ticks_of_command("postgres"),
        );
        ticks.insert(
            "redis (all)".to_owned(),
            crate::procfs::cpu_ticks_of_command("redis-server"),
        );
        ticks.insert("machine".to_owned(), crate::procfs::machine_busy_ticks());
        CpuSample { ticks }
    }

    fn seconds_since(&self, earlier: &CpuSample) -> BTreeMap<String, f64> {
        let per_second = crate::procfs::clock_ticks_per_second();
        self.ticks
            .iter()
            .map(|(name, &ticks)| {
                let before = earlier.ticks.get(name).copied().unwrap_or(0);
                (
                    name.clone(),
                    ticks.saturating_sub(before) as f64 / per_second,
                )
            })
            .collect()
    }
}

/// p50 and p99 of one figure, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Spread {
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |quantile: f64| {
            let rank = (quantile * values.len() as f64).ceil() as usize;
            values[rank.clamp(1, values.len()) - 1]
        };
        Spread {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            mean_ms: values.iter().sum::<f64>() / values.len() as f64,
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    in_flight: usize,
    latency_ms: u64,
    workers: usize,
    window_seconds: f64,
    /// Tasks that ended within the window.
    ended_in_window: usize,
    tasks_per_second: f64,
    /// In-flight ÷ latency.
    ideal_tasks_per_second: f64,
    throughput_percent: f64,
    /// Tasks measured (every user's first left out), and the failures.
    measured: usize,
    failed: usize,
    failures: Vec<String>,
    /// Model calls per task over the measurement, as the simulator counted them.
    model_calls_per_task: Option<f64>,
    overhead: Spread,
    total: Spread,
    /// Stage name → its spread, in the order a task goes through them.
    stages: Vec<(String, Spread)>,
    /// Process → CPU milliseconds per task ended in the window, and share of one core.
    cpu: Vec<(String, f64, f64)>,
    /// The kernel's TCP counters over the users' run (the whole machine's: [`tcp`]).
    tcp_counters: Vec<(String, u64)>,
}

impl Report {
    fn new(options: &TasksBenchArgs, measured: &Measured, calls: Option<u64>) -> Report {
        let (start, end) = measured.window;
        let window = end.saturating_sub(start).as_secs_f64().max(1e-9);
        let ended_in_window = measured
            .timings
            .iter()
            .filter(|timing| timing.ended >= start && timing.ended < end)
            .count();
        let latency = options.latency_ms as f64;
        let millis = |duration: Duration| duration.as_secs_f64() * 1000.0;
        let between = |from: fn(&TaskTiming) -> Option<Duration>,
                       to: fn(&TaskTiming) -> Option<Duration>| {
            Spread::of(
                measured
                    .timings
                    .iter()
                    .filter_map(|timing| Some(millis(to(timing)?.checked_sub(from(timing)?)?)))
                    .collect(),
            )
        };
        let stages = vec![
            (
                "create (POST answered)".to_owned(),
                between(|t| Some(t.submitted), |t| Some(t.accepted)),
            ),
            (
                "stream open (GET events answered)".to_owned(),
                between(|t| Some(t.accepted), |t| Some(t.stream_open)),
            ),
            (
                "to claim (answered → `started` seen)".to_owned(),
                between(|t| Some(t.accepted), |t| t.started),
            ),
            (
                "prepare (`started` → `generating`)".to_owned(),
                between(|t| t.started, |t| t.generating),
            ),
            (
                "model call beyond latency (`generating` → `result`)".to_owned(),
                Spread::of(
                    measured
                        .timings
                        .iter()
                        .filter_map(|t| {
                            Some(millis(t.result?.checked_sub(t.generating?)?) - latency)
                        })
                        .collect(),
                ),
            ),
            (
                "finish (`result` → `completed`)".to_owned(),
                between(|t| t.result, |t| Some(t.ended)),
            ),
        ];
        let totals: Vec<f64> = measured
            .timings
            .iter()
            .map(|timing| millis(timing.ended.saturating_sub(timing.submitted)))
            .collect();
        let overhead = Spread::of(totals.iter().map(|total| total - latency).collect());
        let per_task = ended_in_window.max(1) as f64;
        let cpu = measured
            .cpu
            .iter()
            .map(|(name, seconds)| {
                (
                    name.clone(),
                    seconds * 1000.0 / per_task,
                    100.0 * seconds / window,
                )
            })
            .collect();
        let tasks_per_second = ended_in_window as f64 / window;
        let ideal = options.in_flight as f64 * 1000.0 / latency.max(1.0);
        let measured_count = measured.timings.len();
        let failed: usize = measured.failures.values().sum();
        Report {
            in_flight: options.in_flight,
            latency_ms: options.latency_ms,
            workers: options.workers,
            window_seconds: window,
            ended_in_window,
            tasks_per_second,
            ideal_tasks_per_second: ideal,
            throughput_percent: 100.0 * tasks_per_second / ideal,
            measured: measured_count,
            failed,
            failures: measured
                .failures
                .iter()
                .map(|(kind, count)| format!("{count} × {kind}"))
                .collect(),
            model_calls_per_task: calls
                .map(|calls| calls as f64 / measured.ended_well.max(1) as f64),
            overhead,
            total: Spread::of(totals),
            stages,
            cpu,
            tcp_counters: measured.tcp.clone(),
        }
    }

    fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n{} tasks in flight, model latency {} ms, {} worker(s); window {:.1} s",
            self.in_flight, self.latency_ms, self.workers, self.window_seconds
        );
        let _ = writeln!(
            out,
            "throughput   {:.0} tasks/s of an ideal {:.0} (in-flight ÷ latency): {:.1} % (goal ≥ {THROUGHPUT_GOAL_PERCENT} %: {})",
            self.tasks_per_second,
            self.ideal_tasks_per_second,
            self.throughput_percent,
            verdict(self.throughput_percent >= THROUGHPUT_GOAL_PERCENT)
        );
        let _ = writeln!(
            out,
            "overhead     p50 {:.1} ms, p99 {:.1} ms, mean {:.1} ms beyond the model's {} ms (goal p50 < {OVERHEAD_GOAL_P50_MS} ms: {})",
            self.overhead.p50_ms,
            self.overhead.p99_ms,
            self.overhead.mean_ms,
            self.latency_ms,
            verdict(self.overhead.p50_ms < OVERHEAD_GOAL_P50_MS)
        );
        let _ = writeln!(
            out,
            "tasks        {} measured ({} ended in the window), {} failed{}; model calls per task {}",
            self.measured,
            self.ended_in_window,
            self.failed,
            if self.failures.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.failures.join("; "))
            },
            self.model_calls_per_task
                .map_or("unknown".to_owned(), |calls| format!("{calls:.2}"))
        );
        let _ = writeln!(
            out,
            "\n{:<52} {:>9} {:>9} {:>9}",
            "stage", "p50 ms", "p99 ms", "mean ms"
        );
        for (name, spread) in &self.stages {
            let _ = writeln!(
                out,
                "{name:<52} {:>9.1} {:>9.1} {:>9.1}",
                spread.p50_ms, spread.p99_ms, spread.mean_ms
            );
        }
        let _ = writeln!(
            out,
            "{:<52} {:>9.1} {:>9.1} {:>9.1}",
            "submit → terminal event", self.total.p50_ms, self.total.p99_ms, self.total.mean_ms
        );
        let _ = writeln!(
            out,
            "\n{:<20} {:>14} {:>10}",
            "cpu", "ms per task", "% of core"
        );
        for (name, per_task, share) in &self.cpu {
            let _ = writeln!(out, "{name:<20} {per_task:>14.2} {share:>10.0}");
        }
        out.push_str(
            "(stages are measured at the moments the client saw each event, so each includes its \
             event's publishing and fan-out; `postgres (all)` and `redis (all)` count every \
             client of those servers on this machine, `machine` every process)\n",
        );
        let grown: Vec<String> = self
            .tcp_counters
            .iter()
            .filter(|(_, grown)| *grown > 0)
            .map(|(name, grown)| format!("{name} {grown}"))
            .collect();
        if !grown.is_empty() {
            let _ = writeln!(
                out,
                "\ntcp counters over the run (the machine's): {}",
                grown.join(", ")
            );
        }
        out
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_take_nearest_ranks() {
        let spread = Spread::of((1..=100).map(f64::from).collect());
        assert!((spread.p50_ms - 50.0).abs() < 1e-9);
        assert!((spread.p99_ms - 99.0).abs() < 1e-9);
        assert!((spread.mean_ms - 50.5).abs() < 1e-9);
        let empty = Spread::of(Vec::new());
        assert!(empty.p50_ms.abs() < 1e-9);
    }

    #[test]
    fn throughput_counts_only_tasks_ended_in_the_window() {
        let at = |seconds: f64| Duration::from_secs_f64(seconds);
        let timing = |submitted: f64, ended: f64| TaskTiming {
            submitted: at(submitted),
            accepted: at(submitted + 0.002),
            stream_open: at(submitted + 0.003),
            started: Some(at(submitted + 0.004)),
            generating: Some(at(submitted + 0.005)),
            result: Some(at(ended - 0.002)),
            ended: at(ended),
        };
        let measured = Measured {
            // Two users of a 1 s model over a 2 s window: four tasks end inside, one after.
            timings: vec![
                timing(1.0, 2.01),
                timing(1.0, 2.01),
                timing(2.01, 3.02),
                timing(2.01, 3.02),
                timing(3.02, 4.03),
            ],
            window: (at(2.0), at(4.0)),
            failures: BTreeMap::new(),
            ended_well: 6,
            cpu: BTreeMap::from([("api".to_owned(), 0.4)]),
            tcp: Vec::new(),
        };
        let options = TasksBenchArgs {
            in_flight: 2,
            latency_ms: 1000,
            seconds: 2,
            workers: 1,
            json: None,
            build: true,
            base: None,
            rounds: 1,
        };
        let report = Report::new(&options, &measured, Some(6));
        assert_eq!(report.ended_in_window, 4);
        assert!((report.tasks_per_second - 2.0).abs() < 1e-9);
        assert!((report.ideal_tasks_per_second - 2.0).abs() < 1e-9);
        assert!((report.overhead.p50_ms - 10.0).abs() < 1e-6);
        // 0.4 s of CPU over 4 tasks, over a 2 s window.
        assert_eq!(report.cpu[0].0, "api");
        assert!((report.cpu[0].1 - 100.0).abs() < 1e-9);
        assert!((report.cpu[0].2 - 20.0).abs() < 1e-9);
        assert!(report.to_table().contains("met"));
    }
}
