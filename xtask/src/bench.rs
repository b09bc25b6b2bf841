//! `cargo xtask bench api`: how fast a real `aiut-api` creates and looks up tasks, measured on
//! loopback against a peer measured in the same run.
//!
//! Method:
//! - the release binary runs against the Postgres of `DATABASE_URL` (in a fresh database,
//!   `aiut_bench_<unix time>`, dropped afterwards) and the Redis of `REDIS_URL` (under a fresh key
//!   prefix), with the per-session and queue-depth limits raised out of reach: the bench measures
//!   the service, not its limits;
//! - `C` clients, one thread each, send requests back to back, each over its own keep-alive
//!   connection and with its own session cookie, as `C` busy users would. Every phase is `N`
//!   requests spread over the clients, after a warm-up of about 100 requests of the same kind
//!   (connections opened, sessions minted, pools and caches filled);
//! - phases: `GET /healthz`, then `POST /api/tasks` with a different source each time (so the
//!   result cache never answers), then `GET /api/tasks/{id}` over the tasks each client created;
//! - latency is measured per request, from before sending to the end of the body; requests/s is
//!   the phase's requests over its wall time.
//!
//! Why `/healthz` is the peer: it goes through the same server, the same middleware and the same
//! connection handling as the task routes, but touches neither Postgres nor Redis. So
//! `create / healthz` and `lookup / healthz` show what the database and Redis work costs per
//! request, and the ratios stay comparable between machines and runs where absolute numbers do
//! not (the clients share the machine's cores with the server, and with Postgres and Redis).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::{
    DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, cargo, env_or, project_root, redact_password,
};

const USAGE: &str = "usage: cargo xtask bench api [--requests N] [--concurrency C] [--json]";
/// Requests of each kind sent before a phase is measured, spread over the clients.
const WARM_UP_REQUESTS: usize = 100;
/// High enough that no limit of the api is reached during a bench.
const LIMIT_OUT_OF_REACH: u32 = 10_000_000;
const SESSION_COOKIE: &str = "aiut_session";
const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

struct Options {
    requests: usize,
    concurrency: usize,
    json: bool,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut args = args.iter();
        match args.next().map(String::as_str) {
            Some("api") => {}
            Some(other) => anyhow::bail!("unknown bench `{other}`; {USAGE}"),
            None => anyhow::bail!("which bench? {USAGE}"),
        }
        let mut options = Options {
            requests: 2000,
            concurrency: 16,
            json: false,
        };
        while let Some(arg) = args.next() {
            let mut number = |name: &str| -> anyhow::Result<usize> {
                let value = args
                    .next()
                    .with_context(|| format!("{name} needs a number; {USAGE}"))?;
                let number: usize = value
                    .parse()
                    .with_context(|| format!("{name} `{value}` is not a number"))?;
                anyhow::ensure!(number > 0, "{name} must be at least 1");
                Ok(number)
            };
            match arg.as_str() {
                "--requests" => options.requests = number("--requests")?,
                "--concurrency" => options.concurrency = number("--concurrency")?,
                "--json" => options.json = true,
                other => anyhow::bail!("unknown option `{other}`; {USAGE}"),
            }
        }
        Ok(options)
    }
}

pub fn run(args: &[String]) -> anyhow::Result<bool> {
    let options = Options::parse(args)?;
    let root = project_root();
    // Progress goes to stderr, so that with `--json` stdout holds the JSON alone.
    let binary = build_api(&root)?;

    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let (server_url, _) = env_or("DATABASE_URL", DEFAULT_DATABASE_URL);
    let (redis_url, _) = env_or("REDIS_URL", DEFAULT_REDIS_URL);
    let database_name = format!("aiut_bench_{stamp}");
    let database_url = with_database_name(&server_url, &database_name)?;
    let key_prefix = format!("bench:{stamp}:");

    // Dropped in reverse order: the api stops first, then its database and keys go.
    let _database = ScratchDatabase {
        admin_url: with_database_name(&server_url, "postgres")?,
        name: database_name.clone(),
    };
    let _keys = ScratchKeys {
        redis_url: redis_url.clone(),
        prefix: key_prefix.clone(),
    };
    eprintln!(
        "==> database {} (the api creates it), redis {} under `{key_prefix}`",
        redact_password(&database_url),
        redact_password(&redis_url)
    );
    eprintln!(
        "==> per-session and queue-depth limits raised to {LIMIT_OUT_OF_REACH}: the bench measures the service, not its limits"
    );
    let log_dir = target_dir(&root).join("bench");
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let log_path = log_dir.join(format!("aiut-api-{stamp}.log"));
    let mut api = RunningApi::start(
        &binary,
        &log_dir,
        &log_path,
        &database_url,
        &redis_url,
        &key_prefix,
    )?;
    eprintln!("==> waiting for {}/healthz", api.base_url);
    api.wait_until_healthy()?;

    let report = measure(&api.base_url, &options)?;
    drop(api);
    let api_log = warnings_in_log(&log_path);

    if options.json {
        println!("{}", report.to_json(&options, &api_log, &log_path));
    } else {
        print!("{}", report.to_table(&options, &api_log, &log_path));
    }
    let passed = report.create.failures.is_empty()
        && report.lookup.failures.is_empty()
        && report.sessions_problem.is_none();
    if !passed {
        eprintln!("bench failed: task creation or lookup had failures (see above)");
    }
    Ok(passed)
}

fn build_api(root: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("==> cargo build --release -p aiut-api");
    let status = Command::new(cargo())
        .args(["build", "--release", "-p", "aiut-api"])
        .current_dir(root)
        // Cargo reports on stderr; keep stdout for the bench's report.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .context("cannot run cargo build")?;
    anyhow::ensure!(status.success(), "cargo build --release -p aiut-api failed");
    let binary = target_dir(root)
        .join("release")
        .join(format!("aiut-api{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        binary.is_file(),
        "built aiut-api, but found no binary at {}",
        binary.display()
    );
    Ok(binary)
}

/// Where cargo builds: `CARGO_TARGET_DIR` (relative to the root, where cargo runs) or `target/`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
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
        let dropped = Command::new("psql")
            .arg(&self.admin_url)
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
        let listed = Command::new("redis-cli")
            .args(["-u", &self.redis_url, "--scan", "--pattern"])
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
            let _ = Command::new("redis-cli")
                .args(["-u", &self.redis_url, "DEL"])
                .args(batch)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The api child process, killed when this goes out of scope (also after an error).
struct RunningApi {
    child: Child,
    base_url: String,
    log_path: PathBuf,
}

impl RunningApi {
    fn start(
        binary: &Path,
        work_dir: &Path,
        log_path: &Path,
        database_url: &str,
        redis_url: &str,
        key_prefix: &str,
    ) -> anyhow::Result<RunningApi> {
        let port = free_loopback_port()?;
        let log = std::fs::File::create(log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let log_for_stderr = log.try_clone().context("cannot share the log file")?;
        let mut command = Command::new(binary);
        // A developer's own `AIUT_*`, `RUST_LOG` or `aiunittest.toml` (read from the working
        // folder) must not change what is measured.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AIUT_") {
                command.env_remove(&name);
            }
        }
        command
            .env_remove("RUST_LOG")
            .current_dir(work_dir)
            .env("AIUT_SERVER__HOST", "127.0.0.1")
            .env("AIUT_SERVER__PORT", port.to_string())
            .env("AIUT_SERVER__INSTANCE_ID", "bench")
            .env("AIUT_DATABASE__URL", database_url)
            .env("AIUT_REDIS__URL", redis_url)
            .env("AIUT_REDIS__KEY_PREFIX", key_prefix)
            .env(
                "AIUT_LIMITS__MAX_QUEUED_PER_SESSION",
                LIMIT_OUT_OF_REACH.to_string(),
            )
            .env(
                "AIUT_LIMITS__MAX_QUEUE_DEPTH",
                LIMIT_OUT_OF_REACH.to_string(),
            )
            .env("AIUT_LOG__FILTER", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        Ok(RunningApi {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log_path: log_path.to_path_buf(),
        })
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

/// A port nobody listens on now; the api binds it a moment later.
fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
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

fn new_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            // Non-2xx answers are results to count, not errors.
            .http_status_as_error(false)
            // Loopback only: an `http_proxy` in the environment must not get in between.
            .proxy(None)
            .timeout_global(Some(timeout))
            .build(),
    )
}

/// One simulated user: a keep-alive connection and a session cookie, both kept by the agent.
struct Client {
    agent: ureq::Agent,
    /// Ids of the tasks this client created, for the lookups.
    created: Vec<String>,
    /// Session ids the api set in cookies; one per client when the cookie is sent back.
    sessions: HashSet<String>,
}

enum Outcome {
    Success,
    Status(u16, String),
    Transport(String),
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

    fn percentile_ms(&self, sorted: &[Duration], quantile: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        // Nearest rank.
        let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        millis(sorted[rank - 1])
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
            p50_ms: self.percentile_ms(&sorted, 0.50),
            p95_ms: self.percentile_ms(&sorted, 0.95),
            p99_ms: self.percentile_ms(&sorted, 0.99),
            max_ms: sorted.last().copied().map_or(0.0, millis),
        }
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

struct Stats {
    ok: usize,
    failed: usize,
    requests_per_second: f64,
    mean_ms: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

struct Report {
    healthz: PhaseResult,
    create: PhaseResult,
    lookup: PhaseResult,
    warm_up_per_client: usize,
    /// Set when a client's session cookie was not sent back.
    sessions_problem: Option<String>,
    sessions: usize,
}

fn measure(base_url: &str, options: &Options) -> anyhow::Result<Report> {
    let mut clients: Vec<Client> = (0..options.concurrency)
        .map(|_| Client {
            agent: new_agent(Duration::from_secs(30)),
            created: Vec::new(),
            sessions: HashSet::new(),
        })
        .collect();
    let share = |total: usize| -> Vec<usize> {
        (0..options.concurrency)
            .map(|index| {
                total / options.concurrency + usize::from(index < total % options.concurrency)
            })
            .collect()
    };
    let measured = share(options.requests);
    // At least one per client, so every client opens its connection and gets its session.
    let warm_up_per_client = WARM_UP_REQUESTS.div_ceil(options.concurrency);
    let warm_up = vec![warm_up_per_client; options.concurrency];
    let source_number = AtomicU64::new(0);

    let healthz_url = format!("{base_url}/healthz");
    let healthz = |client: &mut Client, _: usize| {
        let started = Instant::now();
        let outcome = finish(client.agent.get(&healthz_url).call(), |_| Ok(()));
        (started.elapsed(), outcome)
    };
    let tasks_url = format!("{base_url}/api/tasks");
    let create = |client: &mut Client, _: usize| {
        let number = source_number.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({
            "source": format!("def f_{number}(a):\n    return a + {number}\n"),
            "filename": "calc.py",
        })
        .to_string();
        let started = Instant::now();
        let sent = client
            .agent
            .post(&tasks_url)
            .content_type("application/json")
            .send(&body);
        if let Ok(response) = &sent {
            for cookie in response.headers().get_all("set-cookie") {
                if let Some(session) = cookie
                    .to_str()
                    .ok()
                    .and_then(|text| text.strip_prefix(SESSION_COOKIE))
                    .and_then(|text| text.strip_prefix('='))
                    .and_then(|text| text.split(';').next())
                {
                    client.sessions.insert(session.to_owned());
                }
            }
        }
        let outcome = finish(sent, |body| {
            let id = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|value| value.get("id")?.as_str().map(str::to_owned))
                .ok_or_else(|| format!("no task id in {}", snippet(body)))?;
            client.created.push(id);
            Ok(())
        });
        (started.elapsed(), outcome)
    };
    let lookup = |client: &mut Client, index: usize| {
        let id = &client.created[index % client.created.len()];
        let url = format!("{tasks_url}/{id}");
        let started = Instant::now();
        let outcome = finish(client.agent.get(&url).call(), |_| Ok(()));
        (started.elapsed(), outcome)
    };

    eprintln!(
        "==> {} requests per phase over {} clients, after {} warm-up requests per phase",
        options.requests,
        options.concurrency,
        warm_up_per_client * options.concurrency
    );
    eprintln!("==> phase healthz");
    run_phase(&mut clients, &warm_up, &healthz);
    let healthz = run_phase(&mut clients, &measured, &healthz);
    eprintln!("==> phase create");
    run_phase(&mut clients, &warm_up, &create);
    let create = run_phase(&mut clients, &measured, &create);
    if let Some(client) = clients.iter().position(|client| client.created.is_empty()) {
        anyhow::bail!(
            "client {client} created no task, so lookups cannot be measured; create failures: {}",
            describe_failures(&create)
        );
    }
    eprintln!("==> phase lookup");
    run_phase(&mut clients, &warm_up, &lookup);
    let lookup = run_phase(&mut clients, &measured, &lookup);

    let sessions: HashSet<&String> = clients.iter().flat_map(|client| &client.sessions).collect();
    let sessions_problem = clients
        .iter()
        .enumerate()
        .find(|(_, client)| client.sessions.len() != 1)
        .map(|(index, client)| {
            format!(
                "client {index} was given {} sessions instead of 1: its cookie was not sent back",
                client.sessions.len()
            )
        })
        .or_else(|| {
            (sessions.len() != clients.len()).then(|| {
                format!(
                    "{} clients shared {} sessions",
                    clients.len(),
                    sessions.len()
                )
            })
        });
    Ok(Report {
        healthz,
        create,
        lookup,
        warm_up_per_client,
        sessions_problem,
        sessions: sessions.len(),
    })
}

/// Reads the whole body (which returns the connection to the agent's pool) and sorts the answer.
fn finish(
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    on_success: impl FnOnce(&str) -> Result<(), String>,
) -> Outcome {
    let mut response = match sent {
        Ok(response) => response,
        Err(error) => return Outcome::Transport(error.to_string()),
    };
    let status = response.status();
    let body = match response.body_mut().read_to_string() {
        Ok(body) => body,
        Err(error) => return Outcome::Transport(format!("reading the body: {error}")),
    };
    if !status.is_success() {
        return Outcome::Status(status.as_u16(), snippet(&body));
    }
    match on_success(&body) {
        Ok(()) => Outcome::Success,
        Err(problem) => Outcome::Status(status.as_u16(), problem),
    }
}

fn snippet(text: &str) -> String {
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// Sends `counts[i]` requests from client `i`, all clients at once, one thread each.
fn run_phase<F>(clients: &mut [Client], counts: &[usize], request: &F) -> PhaseResult
where
    F: Fn(&mut Client, usize) -> (Duration, Outcome) + Sync,
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

impl Report {
    fn phases(&self) -> [(&'static str, &PhaseResult); 3] {
        [
            ("healthz", &self.healthz),
            ("create", &self.create),
            ("lookup", &self.lookup),
        ]
    }

    fn to_table(&self, options: &Options, api_log: &[String], log_path: &Path) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "aiut-api on loopback: {} requests per phase, {} clients (keep-alive, one session each), {} warm-up requests per phase",
            options.requests,
            options.concurrency,
            self.warm_up_per_client * options.concurrency
        );
        let _ = writeln!(
            out,
            "limits per session and on queue depth raised to {LIMIT_OUT_OF_REACH}: this measures the service, not its limits\n"
        );
        let _ = writeln!(
            out,
            "{:<8} {:>7} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "phase", "ok", "failed", "req/s", "mean ms", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        for (name, phase) in self.phases() {
            let stats = phase.stats();
            let _ = writeln!(
                out,
                "{:<8} {:>7} {:>7} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                name,
                stats.ok,
                stats.failed,
                stats.requests_per_second,
                stats.mean_ms,
                stats.p50_ms,
                stats.p95_ms,
                stats.p99_ms,
                stats.max_ms
            );
        }
        let healthz = self.healthz.stats();
        let _ = writeln!(out, "\nagainst healthz in the same run:");
        for (name, phase) in [("create", &self.create), ("lookup", &self.lookup)] {
            let stats = phase.stats();
            let _ = writeln!(
                out,
                "{:<8} req/s {:.3}x of healthz   p99 {:.2}x of healthz",
                name,
                ratio(stats.requests_per_second, healthz.requests_per_second),
                ratio(stats.p99_ms, healthz.p99_ms)
            );
        }
        for (name, phase) in self.phases() {
            if !phase.failures.is_empty() {
                let _ = writeln!(out, "\n{name} failures: {}", describe_failures(phase));
            }
        }
        match &self.sessions_problem {
            Some(problem) => {
                let _ = writeln!(out, "\nsessions: {problem}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "\nsessions: {} clients, {} sessions, each cookie sent back on every request",
                    options.concurrency, self.sessions
                );
            }
        }
        if api_log.is_empty() {
            let _ = writeln!(out, "api log: no warnings or errors");
        } else {
            let _ = writeln!(
                out,
                "api log: {} lines at warn or above ({}), the first ones:",
                api_log.len(),
                log_path.display()
            );
            for line in api_log.iter().take(5) {
                let _ = writeln!(out, "  {}", snippet(line));
            }
        }
        out
    }

    fn to_json(&self, options: &Options, api_log: &[String], log_path: &Path) -> String {
        let phase_json = |phase: &PhaseResult| {
            let stats = phase.stats();
            serde_json::json!({
                "ok": stats.ok,
                "failed": stats.failed,
                "requests_per_second": stats.requests_per_second,
                "mean_ms": stats.mean_ms,
                "p50_ms": stats.p50_ms,
                "p95_ms": stats.p95_ms,
                "p99_ms": stats.p99_ms,
                "max_ms": stats.max_ms,
                "failures": phase.failures.iter().map(|(kind, (count, example))| {
                    serde_json::json!({"kind": kind, "count": count, "example": example})
                }).collect::<Vec<_>>(),
            })
        };
        let healthz = self.healthz.stats();
        let create = self.create.stats();
        let lookup = self.lookup.stats();
        serde_json::json!({
            "requests": options.requests,
            "concurrency": options.concurrency,
            "warm_up_requests": self.warm_up_per_client * options.concurrency,
            "phases": {
                "healthz": phase_json(&self.healthz),
                "create": phase_json(&self.create),
                "lookup": phase_json(&self.lookup),
            },
            "ratios": {
                "create_rps_vs_healthz": ratio(create.requests_per_second, healthz.requests_per_second),
                "lookup_rps_vs_healthz": ratio(lookup.requests_per_second, healthz.requests_per_second),
                "create_p99_vs_healthz": ratio(create.p99_ms, healthz.p99_ms),
                "lookup_p99_vs_healthz": ratio(lookup.p99_ms, healthz.p99_ms),
            },
            "sessions": self.sessions,
            "sessions_problem": self.sessions_problem,
            "api_log_warnings": api_log.len(),
            "api_log": log_path.display().to_string(),
        })
        .to_string()
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
}
