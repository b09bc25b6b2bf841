//! `cargo xtask bench <name>`: measurements on loopback against real release binaries.
//!
//! - `api` ([`api`]): task creation and lookup of one api, against its `/healthz`;
//! - `gateway` ([`gateway`]): the same workload through the Pingora gateway, through nginx with
//!   `nginx-compat/nginx.conf`, and straight to one of three api replicas;
//! - `generation` ([`generation`]): the corpus through api, worker and the model simulator with
//!   the tests run, and the sandbox's own cost per run against a bare spawn;
//! - `tasks` ([`tasks`]): N tasks in flight at a given model latency through api, workers and
//!   the model simulator, and where the time beyond the model's goes.
//!
//! This module holds what both share: building, the scratch database and Redis prefix, starting
//! an api, the client loop, and the statistics.

mod api;
mod gateway;
mod generation;
mod offline;
mod tasks;
mod wrk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::client::{Outcome, finish, millis, new_agent, percentile_ms, snippet};
use crate::launch;
use crate::stack::secrets;
use crate::{DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, env_or, redact_password, target_dir};

/// High enough that no limit of the api is reached during a bench.
const LIMIT_OUT_OF_REACH: u32 = 10_000_000;
const SESSION_COOKIE: &str = "aiut_session";
const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// The benchmarks.
#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum BenchCommand {
    /// Task creation and lookup of one api, against its /healthz
    ///
    /// Builds and starts aiut-api on loopback against DATABASE_URL and REDIS_URL, then measures
    /// task creation and lookup against /healthz measured in the same run.
    Api(api::ApiBenchArgs),
    /// The gateway against nginx and against no front door, over three api replicas
    ///
    /// Starts three aiut-api replicas, aiut-gateway and nginx (nginx-compat/nginx.conf) over
    /// them, then sends the same request mix through the gateway, through nginx and straight to
    /// one replica, alternating in R rounds of N requests per target; reports requests/s,
    /// p50/p90/p99, CPU per request, the ratios and the spread over the replicas; then a plain GET
    /// and a keep-alive POST from wrk (--scenario mix|get|post|all). Needs nginx, cmake and wrk.
    Gateway(gateway::GatewayBenchArgs),
    /// Generated tests run for real: the corpus through api, worker and the model simulator
    ///
    /// Starts the seeded model simulator, one aiut-api and one aiut-worker (validation on) on
    /// loopback, submits every corpus file, and reports per language what became of the tests
    /// (built, passed reliably, flaky, kept, coverage, model rounds), beside TestGen-LLM's
    /// published figures; then the runner's own cost per run, measured in-process against a bare
    /// spawn. Needs bubblewrap and the toolchains (crates/runner/toolchains/install).
    Generation(generation::GenerationBenchArgs),
    /// The offline generator against Pynguin and CrossHair, with no model at all
    ///
    /// Runs the offline generator over crates/ops/corpus/offline as a worker does (explore the
    /// code in the sandbox, pin the calls, keep each unit's tests that pass every run, assemble,
    /// measure), and for Python, Pynguin and `crosshair cover` on the same files with the same
    /// budget (installed from PyPI into a virtual environment of the bench's own); reports units
    /// with a test, tests per unit, line and branch coverage and seconds per file. Needs
    /// bubblewrap and the toolchains (crates/runner/toolchains/install).
    Offline(offline::OfflineBenchArgs),
    /// Tasks in flight at full speed: N users at a given model latency, through api, workers
    /// and the model simulator
    ///
    /// Starts the model simulator (its answers after --latency-ms), one aiut-api and --workers
    /// aiut-worker sized for N tasks in flight, then N users each submit a one-function Python
    /// task (validate: syntax, so no sandbox runs) and follow its event stream to the end, again
    /// and again for --seconds. Reports throughput against in-flight ÷ latency, the time per
    /// task beyond the model's (p50/p99) split by stage, and the CPU time of every process.
    Tasks(tasks::TasksBenchArgs),
}

pub fn run(command: &BenchCommand) -> anyhow::Result<bool> {
    match command {
        BenchCommand::Api(args) => api::run(args),
        BenchCommand::Gateway(args) => gateway::run(args),
        BenchCommand::Generation(args) => generation::run(args),
        BenchCommand::Offline(args) => offline::run(args),
        BenchCommand::Tasks(args) => tasks::run(args),
    }
}

/// A numeric option (`--requests 2000`): a whole number of at least 1.
fn count_argument(value: &str) -> Result<usize, String> {
    let number: usize = value
        .parse()
        .map_err(|_| format!("`{value}` is not a number"))?;
    if number == 0 {
        return Err("must be at least 1".to_owned());
    }
    Ok(number)
}

/// Where a program is: an absolute path as is, else the first match on `PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|folder| folder.join(name))
        .find(|candidate| candidate.is_file())
}

/// Builds the release binaries of `packages` (each package's binary has its name) and returns
/// their paths, in order.
fn build_release(root: &Path, packages: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let pairs: Vec<(&str, &str)> = packages
        .iter()
        .map(|package| (*package, *package))
        .collect();
    build_release_binaries(root, &pairs)
}

/// Builds the release binaries of `(package, binary)` pairs, for packages whose binary has
/// another name, and returns their paths, in order.
fn build_release_binaries(root: &Path, binaries: &[(&str, &str)]) -> anyhow::Result<Vec<PathBuf>> {
    let packages: Vec<&str> = binaries.iter().map(|(package, _)| *package).collect();
    let mut command = crate::cargo_command();
    command.args(["build", "--release"]);
    for package in &packages {
        command.args(["-p", package]);
    }
    let shown = format!("cargo build --release -p {}", packages.join(" -p "));
    eprintln!("==> {shown}");
    let status = command
        .current_dir(root)
        // Cargo reports on stderr; keep stdout for the bench's report.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .context("cannot run cargo build")?;
    anyhow::ensure!(status.success(), "{shown} failed");
    binaries
        .iter()
        .map(|(package, name)| {
            let binary = target_dir(root)
                .join("release")
                .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            anyhow::ensure!(
                binary.is_file(),
                "built {package}, but found no binary at {}",
                binary.display()
            );
            Ok(binary)
        })
        .collect()
}

/// Seconds since 1970: names the bench's database, key prefix and log files.
fn unix_stamp() -> anyhow::Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs())
}

/// The Postgres database and Redis key prefix of one bench, both removed on drop.
struct Stores {
    database_url: String,
    redis_url: String,
    key_prefix: String,
    _database: ScratchDatabase,
    _keys: ScratchKeys,
}

impl Stores {
    /// Names a fresh database (the first api to start creates it) on the server of
    /// `DATABASE_URL` and a fresh key prefix in the Redis of `REDIS_URL`.
    fn new(stamp: u64) -> anyhow::Result<Stores> {
        Stores::named(&stamp.to_string())
    }

    /// [`Stores::new`] for benches that need several: `aiut_bench_<name>` and `bench:<name>:`.
    fn named(name: &str) -> anyhow::Result<Stores> {
        let (server_url, _) = env_or("DATABASE_URL", DEFAULT_DATABASE_URL);
        let (redis_url, _) = env_or("REDIS_URL", DEFAULT_REDIS_URL);
        let database_name = format!("aiut_bench_{name}");
        let database_url = with_database_name(&server_url, &database_name)?;
        let key_prefix = format!("bench:{name}:");
        eprintln!(
            "==> database {} (the api creates it), redis {} under `{key_prefix}`",
            redact_password(&database_url),
            redact_password(&redis_url)
        );
        Ok(Stores {
            _database: ScratchDatabase {
                admin_url: with_database_name(&server_url, "postgres")?,
                name: database_name,
            },
            _keys: ScratchKeys {
                redis_url: redis_url.clone(),
                prefix: key_prefix.clone(),
            },
            database_url,
            redis_url,
            key_prefix,
        })
    }
}

/// Runs `sql` with `psql` on the database of `database_url`, stopping at the first error; what
/// it printed, unaligned and without headers (`-At`).
fn psql(database_url: &str, sql: &str) -> anyhow::Result<String> {
    // The password through the environment: a command line is anyone's to read.
    let (url, password) = secrets::strip_password(database_url);
    let mut command = Command::new("psql");
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command
        .arg(&url)
        .args(["-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .context("cannot run psql (apt-get install postgresql-client)")?;
    anyhow::ensure!(
        output.status.success(),
        "psql failed on {}: {}",
        redact_password(database_url),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The same URL naming another database: only the path changes, user, host and query stay.
fn with_database_name(url: &str, database: &str) -> anyhow::Result<String> {
    let authority_start = url
        .find("://")
        .map(|at| at + 3)
        .with_context(|| format!("DATABASE_URL `{}` is not a URL", redact_password(url)))?;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |offset| authority_start + offset);
    let path_end = url[authority_end..]
        .find(['?', '#'])
        .map_or(url.len(), |offset| authority_end + offset);
    Ok(format!(
        "{}/{database}{}",
        &url[..authority_end],
        &url[path_end..]
    ))
}

/// The bench's database, dropped when this goes out of scope (also after an error).
struct ScratchDatabase {
    /// The server's maintenance database, to connect to while dropping.
    admin_url: String,
    name: String,
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // The password through the environment: a command line is anyone's to read.
        let (admin_url, password) = secrets::strip_password(&self.admin_url);
        let mut psql = Command::new("psql");
        if let Some(password) = password {
            psql.env("PGPASSWORD", password);
        }
        let dropped = psql
            .arg(&admin_url)
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-c"])
            // WITH (FORCE): a killed api may leave connections Postgres has not noticed yet.
            .arg(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .stdin(Stdio::null())
            .output();
        match dropped {
            Ok(output) if output.status.success() => {
                eprintln!("==> dropped database {}", self.name);
            }
            Ok(output) => eprintln!(
                "could not drop database {} ({}); drop it by hand if it exists",
                self.name,
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .next()
                    .unwrap_or("no message")
            ),
            Err(_) => eprintln!("psql not found: database {} is left behind", self.name),
        }
    }
}

/// The bench's Redis keys (sessions), deleted when this goes out of scope when `redis-cli` is
/// present; otherwise they expire with the sessions.
struct ScratchKeys {
    redis_url: String,
    prefix: String,
}

impl Drop for ScratchKeys {
    fn drop(&mut self) {
        // The password through the environment: a command line is anyone's to read.
        let (redis_url, password) = secrets::strip_password(&self.redis_url);
        let redis_cli = || {
            let mut command = Command::new("redis-cli");
            command.env_remove("REDISCLI_AUTH");
            if let Some(password) = &password {
                command.env("REDISCLI_AUTH", password);
            }
            command.args(["-u", &redis_url]);
            command
        };
        let listed = redis_cli()
            .args(["--scan", "--pattern"])
            .arg(format!("{}*", self.prefix))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        let Ok(listed) = listed else {
            eprintln!(
                "redis-cli not found: keys under `{}` are left to expire",
                self.prefix
            );
            return;
        };
        let keys: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter(|key| !key.is_empty())
            .map(str::to_owned)
            .collect();
        for batch in keys.chunks(500) {
            let _ = redis_cli()
                .arg("DEL")
                .args(batch)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A developer's own `AIUT_*` or `RUST_LOG` must not change what a bench measures (nor must an
/// `aiunittest.toml`, which is why the services run in a folder of the bench's own).
fn is_developer_setting(name: &str) -> bool {
    name.starts_with("AIUT_") || name == "RUST_LOG"
}

/// The api child process, killed when this goes out of scope (also after an error).
struct RunningApi {
    child: Child,
    base_url: String,
    log_path: PathBuf,
}

impl RunningApi {
    /// Starts `binary` on a free loopback port over `stores`, its output in `log_path`, its
    /// responses marked `X-Backend-Instance: <instance_id>`; `extra` adds settings.
    fn start(
        binary: &Path,
        work_dir: &Path,
        log_path: &Path,
        stores: &Stores,
        instance_id: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<RunningApi> {
        let port = crate::ports::free_loopback_port()?;
        let mut command = launch::command(binary, is_developer_setting);
        command
            .current_dir(work_dir)
            .env("AIUT_SERVER__HOST", "127.0.0.1")
            .env("AIUT_SERVER__PORT", port.to_string())
            .env("AIUT_SERVER__INSTANCE_ID", instance_id)
            .env("AIUT_DATABASE__URL", &stores.database_url)
            .env("AIUT_REDIS__URL", &stores.redis_url)
            .env("AIUT_REDIS__KEY_PREFIX", &stores.key_prefix)
            .env(
                "AIUT_LIMITS__MAX_QUEUED_PER_SESSION",
                LIMIT_OUT_OF_REACH.to_string(),
            )
            .env(
                "AIUT_LIMITS__MAX_QUEUE_DEPTH",
                LIMIT_OUT_OF_REACH.to_string(),
            )
            .env("AIUT_LOG__FILTER", "warn");
        for (name, value) in extra {
            command.env(name, value);
        }
        launch::log_to(&mut command, launch::create_log(log_path)?)?;
        let child = launch::start(&mut command, binary.display())?;
        Ok(RunningApi {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log_path: log_path.to_path_buf(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `/healthz`; fails at once if the api exits, and after [`HEALTH_TIMEOUT`] otherwise.
    fn wait_until_healthy(&mut self) -> anyhow::Result<()> {
        let agent = new_agent(Duration::from_secs(2));
        let url = format!("{}/healthz", self.base_url);
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        loop {
            if let Ok(response) = agent.get(&url).call()
                && response.status().is_success()
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().context("cannot check on the api")? {
                anyhow::bail!(
                    "the api exited ({status}) before answering {url}; the end of its log ({}):\n{}",
                    self.log_path.display(),
                    log_tail(&self.log_path, 30)
                );
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "the api did not answer {url} within {}s; the end of its log ({}):\n{}",
                    HEALTH_TIMEOUT.as_secs(),
                    self.log_path.display(),
                    log_tail(&self.log_path, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RunningApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(cannot read the log: {error})"),
    }
}

/// The api runs with `warn`, so every line of its log is a warning or an error.
fn warnings_in_log(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter(|line| !line.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Prints, for each service's log that holds warnings or errors, how many and the last one.
fn print_log_warnings<N: std::fmt::Display>(logs: impl IntoIterator<Item = (N, PathBuf)>) {
    for (name, path) in logs {
        let warnings = warnings_in_log(&path);
        if !warnings.is_empty() {
            println!(
                "{name} logged {} warning or error lines ({}); the last: {}",
                warnings.len(),
                path.display(),
                warnings.last().map_or("", String::as_str)
            );
        }
    }
}

/// Writes a bench's report as pretty JSON to `path`, when one was asked for.
fn write_json_report(path: Option<&Path>, report: &impl serde::Serialize) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let json = serde_json::to_string_pretty(report).context("cannot write the JSON")?;
    std::fs::write(path, json + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("==> results in {}", path.display());
    Ok(())
}

#[derive(Default)]
struct PhaseResult {
    latencies: Vec<Duration>,
    elapsed: Duration,
    /// Failure kind (`HTTP 503`, `transport`) → how many and one example.
    failures: BTreeMap<String, (usize, String)>,
}

impl PhaseResult {
    fn failed(&self) -> usize {
        self.failures.values().map(|(count, _)| count).sum()
    }

    fn requests_per_second(&self) -> f64 {
        (self.latencies.len() + self.failed()) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Adds another run's requests; the elapsed times add up, so requests/s stays the mean over
    /// both runs' measured time.
    fn absorb(&mut self, other: PhaseResult) {
        self.latencies.extend(other.latencies);
        self.elapsed += other.elapsed;
        for (kind, (count, example)) in other.failures {
            self.failures.entry(kind).or_insert((0, example)).0 += count;
        }
    }

    fn stats(&self) -> Stats {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        Stats {
            ok: sorted.len(),
            failed: self.failed(),
            requests_per_second: self.requests_per_second(),
            mean_ms: if sorted.is_empty() {
                0.0
            } else {
                millis(total) / sorted.len() as f64
            },
            p50_ms: percentile_ms(&sorted, 0.50),
            p90_ms: percentile_ms(&sorted, 0.90),
            p95_ms: percentile_ms(&sorted, 0.95),
            p99_ms: percentile_ms(&sorted, 0.99),
            max_ms: sorted.last().copied().map_or(0.0, millis),
        }
    }
}

struct Stats {
    ok: usize,
    failed: usize,
    requests_per_second: f64,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// Sends `counts[i]` requests from client `i`, all clients at once, one thread each.
fn run_phase<C, F>(clients: &mut [C], counts: &[usize], request: &F) -> PhaseResult
where
    C: Send,
    F: Fn(&mut C, usize) -> (Duration, Outcome) + Sync,
{
    let start_line = Barrier::new(clients.len() + 1);
    let (elapsed, per_client) = std::thread::scope(|scope| {
        let threads: Vec<_> = clients
            .iter_mut()
            .zip(counts)
            .map(|(client, &count)| {
                let start_line = &start_line;
                scope.spawn(move || {
                    let mut result = PhaseResult::default();
                    result.latencies.reserve(count);
                    start_line.wait();
                    for index in 0..count {
                        let (latency, outcome) = request(client, index);
                        let (kind, example) = match outcome {
                            Outcome::Success => {
                                result.latencies.push(latency);
                                continue;
                            }
                            Outcome::Status(code, body) => (format!("HTTP {code}"), body),
                            Outcome::Transport(error) => ("transport".to_owned(), error),
                        };
                        result.failures.entry(kind).or_insert((0, example)).0 += 1;
                    }
                    result
                })
            })
            .collect();
        start_line.wait();
        let started = Instant::now();
        let per_client: Vec<_> = threads.into_iter().map(|thread| thread.join()).collect();
        (started.elapsed(), per_client)
    });
    let mut merged = PhaseResult {
        elapsed,
        ..PhaseResult::default()
    };
    for result in per_client {
        match result {
            Ok(result) => {
                merged.latencies.extend(result.latencies);
                for (kind, (count, example)) in result.failures {
                    merged.failures.entry(kind).or_insert((0, example)).0 += count;
                }
            }
            Err(_) => {
                merged
                    .failures
                    .entry("client panicked".to_owned())
                    .or_insert((0, String::new()))
                    .0 += 1;
            }
        }
    }
    merged
}

fn describe_failures(phase: &PhaseResult) -> String {
    if phase.failures.is_empty() {
        return "none".to_owned();
    }
    phase
        .failures
        .iter()
        .map(|(kind, (count, example))| format!("{count} × {kind} (e.g. {example})"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_database_name() {
        let url = |text: &str| with_database_name(text, "aiut_bench_1").ok();
        assert_eq!(
            url("postgres://postgres@127.0.0.1:5432/postgres").as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/aiut_bench_1")
        );
        assert_eq!(
            url("postgres://u:p@db:5432/app?sslmode=disable").as_deref(),
            Some("postgres://u:p@db:5432/aiut_bench_1?sslmode=disable")
        );
        assert_eq!(
            url("postgres://db").as_deref(),
            Some("postgres://db/aiut_bench_1")
        );
        assert_eq!(url("nonsense"), None);
    }

    #[test]
    fn counts_are_whole_and_positive() {
        let value = |text: &str| count_argument(text).ok();
        assert_eq!(value("12"), Some(12));
        assert_eq!(value("0"), None);
        assert_eq!(value("-3"), None);
        assert_eq!(value("1.5"), None);
    }

    #[test]
    fn ratios_guard_against_zero() {
        assert!((ratio(3.0, 2.0) - 1.5).abs() < 1e-9);
        assert!(ratio(3.0, 0.0).abs() < 1e-9);
    }

    #[test]
    fn absorbing_adds_requests_time_and_failures() {
        let phase = |millis: &[u64], seconds: u64, failures: usize| {
            let mut result = PhaseResult {
                latencies: millis.iter().copied().map(Duration::from_millis).collect(),
                elapsed: Duration::from_secs(seconds),
                ..PhaseResult::default()
            };
            if failures > 0 {
                result
                    .failures
                    .insert("HTTP 502".to_owned(), (failures, "bad".to_owned()));
            }
            result
        };
        let mut total = phase(&[1, 2, 3], 1, 1);
        total.absorb(phase(&[4, 5, 6, 7, 8], 3, 2));
        let stats = total.stats();
        assert_eq!((stats.ok, stats.failed), (8, 3));
        // 11 requests over 4 s.
        assert!((stats.requests_per_second - 2.75).abs() < 1e-9);
        assert!((stats.max_ms - 8.0).abs() < 1e-9);
    }
}
