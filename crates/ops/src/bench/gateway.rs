//! `cargo xtask bench gateway`: the same workload through the Pingora gateway, through nginx with
//! `nginx-compat/nginx.conf`, and straight to one api replica, on the same three replicas in one
//! run.
//!
//! Method:
//! - three release `aiut-api` replicas (`api-1` … `api-3`) on free loopback ports share one
//!   scratch database and Redis key prefix, with their limits raised out of reach as in
//!   `bench api`; the release `aiut-gateway` balances them with its default settings (`threads`
//!   2, or `--gateway-threads`), and Debian's nginx runs the committed `nginx-compat/nginx.conf`
//!   (`worker_processes auto`: one worker per CPU) with only its marked sections rewritten: the upstream servers, the listen address, the
//!   process paths, and 127.0.0.1 in the trusted networks. Both front doors exempt the bench's
//!   address from the rate limits, so the limiter is not what is measured;
//! - the targets are `gateway`, `nginx` and `direct` (replica `api-1`, no front door). Each has
//!   its own `C` clients, one thread and one keep-alive connection each, with a session of their
//!   own; each round sends `N` requests through every target, one target after the other, and the
//!   order rotates from round to round, so drift (a growing tasks table, a warming cache, another
//!   process) is shared by all three;
//! - the workload, per ten requests of a client: 4 × `GET /api/languages` (static JSON, about
//!   2 KB, the largest answer), 3 × `GET /api/queue` (the session's queue, two Postgres counts),
//!   2 × `GET /healthz` (no I/O: the cost of the hop itself), 1 × `POST /api/tasks` (a new
//!   source each time: a Postgres insert; POSTs go to the backend on a fresh connection through
//!   both front doors, as their failover rules want). Requests say `Accept-Encoding: gzip`, as
//!   browsers do, so the front doors compress what they compress; `--no-gzip` measures plain
//!   proxying;
//! - latency is per request, from before sending to the end of the body; requests/s is the
//!   target's requests over its measured time, summed over the rounds. Each front door's CPU time
//!   (from `/proc`, nginx's master and workers together) is read around its phases and reported
//!   per request, next to the replicas' CPU per request.
//!
//! - the `get` and `post` scenarios (`--scenario`) measure the front doors' own cost per request,
//!   which the mix hides behind Postgres: a plain `GET /api/languages`, and a small keep-alive
//!   `POST /api/tasks` with an `Idempotency-Key` the api has already answered. wrk sends them
//!   ([`super::wrk`]: one thread of C, far cheaper per request than the clients above, so the
//!   load generator takes little of the cores it shares), `--seconds` per target and round in the
//!   same rotating order; percentiles are the median of the rounds'.
//!
//! The clients, the front doors, the replicas, Postgres and Redis share the machine's cores, so
//! absolute numbers depend on the machine; the ratios between the targets are the result.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::wrk::{self, WrkErrors, WrkRequest, WrkRun};
use super::{
    LIMIT_OUT_OF_REACH, Outcome, PhaseResult, RunningApi, SESSION_COOKIE, Stats, Stores,
    build_release, count_argument, describe_failures, find_program, is_developer_setting, log_tail,
    new_agent, ratio, run_phase, snippet, unix_stamp, warnings_in_log,
};
use crate::launch;
use crate::nginx_conf::{self, NGINX_CONF};
use crate::ports::free_loopback_port;
use crate::{project_root, target_dir};

const REPLICAS: usize = 3;
/// Requests per client before a target is measured: connection, session, warm caches.
const WARM_UP_PER_CLIENT: usize = 10;
/// The longest a front door may take to answer its `/health` and reach every replica.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The header the api replicas mark their answers with.
const BACKEND_HEADER: &str = "x-backend-instance";
/// The address the bench's clients connect from, exempt from both front doors' limits.
const BENCH_NETWORK: &str = "127.0.0.1/32";

/// `bench gateway`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct GatewayBenchArgs {
    /// requests per target per round
    #[arg(long, value_name = "N", default_value_t = 3000, value_parser = count_argument)]
    requests: usize,
    /// clients per target
    #[arg(long, value_name = "C", default_value_t = 16, value_parser = count_argument)]
    concurrency: usize,
    /// rounds, the order of the targets rotating from one to the next
    #[arg(long, value_name = "R", default_value_t = 3, value_parser = count_argument)]
    rounds: usize,
    /// send no `Accept-Encoding: gzip`: plain proxying (the mix only)
    #[arg(long = "no-gzip", action = clap::ArgAction::SetFalse)]
    gzip: bool,
    /// what to send: the mix, a plain `GET /api/languages`, a small keep-alive `POST
    /// /api/tasks` answered as a repeat, or all three
    #[arg(long, value_enum, default_value_t = ScenarioChoice::All)]
    scenario: ScenarioChoice,
    /// seconds of each wrk run of the `get` and `post` scenarios (per target and round)
    #[arg(long, value_name = "S", default_value_t = 4, value_parser = count_argument)]
    seconds: usize,
    /// wrk's keep-alive connections in the `get` and `post` scenarios (one wrk thread)
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = count_argument)]
    connections: usize,
    /// the gateway's proxy threads (`gateway.threads`); its own default when not given. nginx
    /// runs `worker_processes auto` (one worker per CPU) as committed; the report names both
    #[arg(long, value_name = "N", value_parser = count_argument)]
    gateway_threads: Option<usize>,
    /// print one JSON object instead of the table
    #[arg(long)]
    json: bool,
}

/// `--scenario`: one of them, or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ScenarioChoice {
    Mix,
    Get,
    Post,
    All,
}

impl ScenarioChoice {
    fn scenarios(self) -> Vec<Scenario> {
        match self {
            ScenarioChoice::Mix => vec![Scenario::Mix],
            ScenarioChoice::Get => vec![Scenario::Get],
            ScenarioChoice::Post => vec![Scenario::Post],
            ScenarioChoice::All => vec![Scenario::Mix, Scenario::Get, Scenario::Post],
        }
    }
}

/// What is sent through the targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// The request mix, from the bench's own clients (Postgres-bound requests dominate).
    Mix,
    /// `GET /api/languages` alone, from wrk: the front door's own cost per proxied request.
    Get,
    /// A small keep-alive `POST /api/tasks` with an `Idempotency-Key` the api has already
    /// answered, from wrk: the api answers it as a repeat, and both front doors may send it on a
    /// pooled upstream connection, since they retry such a POST anyway.
    Post,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Mix => "mix",
            Scenario::Get => "get",
            Scenario::Post => "post",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Gateway,
    Nginx,
    Direct,
}

impl Target {
    const ALL: [Target; 3] = [Target::Gateway, Target::Nginx, Target::Direct];

    fn name(self) -> &'static str {
        match self {
            Target::Gateway => "gateway",
            Target::Nginx => "nginx",
            Target::Direct => "direct",
        }
    }
}

/// The targets in the order of round `round`: rotated by one each round, so each target goes
/// first, second and third equally often.
fn round_order(round: usize) -> [Target; 3] {
    let mut order = Target::ALL;
    order.rotate_left(round % Target::ALL.len());
    order
}

/// Says which round of `rounds` starts and in which order it visits the targets, and gives that
/// order.
fn announce_round(round: usize, rounds: usize) -> [Target; 3] {
    let order = round_order(round);
    eprintln!(
        "==> round {} of {rounds}: {}",
        round + 1,
        order.map(Target::name).join(", ")
    );
    order
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    Languages,
    Queue,
    Healthz,
    CreateTask,
}

/// Ten requests of the mix, interleaved so that no kind comes in a run.
const MIX: [RequestKind; 10] = [
    RequestKind::Languages,
    RequestKind::Queue,
    RequestKind::Healthz,
    RequestKind::Languages,
    RequestKind::CreateTask,
    RequestKind::Queue,
    RequestKind::Languages,
    RequestKind::Healthz,
    RequestKind::Queue,
    RequestKind::Languages,
];

/// The kind of a client's `index`th request; clients start at different places in the mix so
/// that at any moment the kinds are spread over the clients.
fn kind_of(client: usize, index: usize) -> RequestKind {
    MIX[(client + index) % MIX.len()]
}

/// Splits `total` requests over `clients`, the first ones taking one more when it does not divide.
fn share(total: usize, clients: usize) -> Vec<usize> {
    (0..clients)
        .map(|index| total / clients + usize::from(index < total % clients))
        .collect()
}

/// `numerator / denominator` written as `1.23x`, or `-` without a denominator.
fn times(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 {
        format!("{:.2}x", numerator / denominator)
    } else {
        "-".to_owned()
    }
}

// ---- Processes -----------------------------------------------------------------------------

/// Debian's nginx, else the first `nginx` on `PATH`.
fn nginx_binary() -> anyhow::Result<PathBuf> {
    find_program("/usr/sbin/nginx")
        .or_else(|| find_program("nginx"))
        .context(
            "nginx is not installed; the bench compares the gateway with it: \
             `apt-get install nginx-light`",
        )
}

/// A folder of its own under the system's temporary folder, removed on drop.
struct TempFolder {
    path: PathBuf,
}

impl TempFolder {
    fn new(name: &str) -> anyhow::Result<TempFolder> {
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        // nginx started as root runs its workers as `nobody`; they write request bodies here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .with_context(|| format!("cannot open {} to nginx's workers", path.display()))?;
        Ok(TempFolder { path })
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A front door's process, stopped on drop: with `stop_command` first when there is one (nginx's
/// master must take its workers down with it; killed, it would leave them running), killed if
/// still running 5 s later.
struct FrontDoor {
    name: &'static str,
    base_url: String,
    child: Child,
    stop_command: Option<Command>,
    log_path: PathBuf,
}

impl FrontDoor {
    fn start_gateway(
        binary: &Path,
        work_dir: &Path,
        upstreams: &[SocketAddr],
        threads: usize,
    ) -> anyhow::Result<FrontDoor> {
        let port = free_loopback_port()?;
        let metrics_port = free_loopback_port()?;
        let log_path = work_dir.join("aiut-gateway.log");
        // Only these variables configure it, as they do the replicas.
        let mut command = launch::command(binary, is_developer_setting);
        let upstreams: Vec<String> = upstreams
            .iter()
            .map(|address| format!("\"{address}\""))
            .collect();
        command
            .current_dir(work_dir)
            .env("AIUT_GATEWAY__LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "AIUT_GATEWAY__METRICS_LISTEN",
                format!("127.0.0.1:{metrics_port}"),
            )
            .env(
                "AIUT_GATEWAY__UPSTREAMS",
                format!("[{}]", upstreams.join(",")),
            )
            .env(
                "AIUT_GATEWAY__RATE_LIMIT__TRUSTED_NETWORKS",
                format!("[\"{BENCH_NETWORK}\"]"),
            )
            .env(
                "AIUT_GATEWAY__UPGRADE_SOCK",
                work_dir.join("gateway-upgrade.sock"),
            )
            .env("AIUT_GATEWAY__THREADS", threads.to_string())
            .env("AIUT_LOG__FILTER", "info");
        launch::log_to(&mut command, launch::create_log(&log_path)?)?;
        let child = launch::start(&mut command, binary.display())?;
        Ok(FrontDoor {
            name: Target::Gateway.name(),
            base_url: format!("http://127.0.0.1:{port}"),
            child,
            stop_command: None,
            log_path,
        })
    }

    fn start_nginx(
        binary: &Path,
        committed: &str,
        folder: &Path,
        upstreams: &[SocketAddr],
    ) -> anyhow::Result<FrontDoor> {
        let port = free_loopback_port()?;
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        let config_path = folder.join("nginx.conf");
        std::fs::write(
            &config_path,
            nginx_conf::for_run(committed, folder, listen, upstreams, BENCH_NETWORK)?,
        )
        .with_context(|| format!("cannot write {}", config_path.display()))?;
        let arguments = vec![
            "-p".to_owned(),
            format!("{}/", folder.display()),
            "-e".to_owned(),
            folder.join("error.log").display().to_string(),
            "-c".to_owned(),
            config_path.display().to_string(),
        ];
        let checked = launch::command(binary, launch::inherits_everything)
            .arg("-t")
            .args(&arguments)
            .output()
            .with_context(|| format!("cannot run {} -t", binary.display()))?;
        anyhow::ensure!(
            checked.status.success(),
            "nginx -t rejects the rewritten {} ({}):\n{}",
            NGINX_CONF,
            config_path.display(),
            String::from_utf8_lossy(&checked.stderr)
        );
        let log_path = folder.join("error.log");
        let mut command = launch::command(binary, launch::inherits_everything);
        command
            .args(&arguments)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = launch::start(&mut command, binary.display())?;
        let mut stop_command = Command::new(binary);
        stop_command.args(&arguments).args(["-s", "stop"]);
        Ok(FrontDoor {
            name: Target::Nginx.name(),
            base_url: format!("http://{listen}"),
            child,
            stop_command: Some(stop_command),
            log_path,
        })
    }

    /// Waits until the front door answers its own `/health` and has sent plain requests to every
    /// one of `instances`.
    fn wait_until_serving(&mut self, instances: &[String]) -> anyhow::Result<()> {
        let agent = new_agent(Duration::from_secs(2));
        let deadline = Instant::now() + START_TIMEOUT;
        let mut healthy = false;
        let mut seen: Vec<String> = Vec::new();
        loop {
            if let Some(status) = self.child.try_wait().context("cannot check on a process")? {
                anyhow::bail!(
                    "{} exited ({status}) at start; the end of its log ({}):\n{}",
                    self.name,
                    self.log_path.display(),
                    log_tail(&self.log_path, 30)
                );
            }
            let path = if healthy { "/healthz" } else { "/health" };
            if let Ok(response) = agent.get(format!("{}{path}", self.base_url)).call()
                && response.status().is_success()
            {
                if !healthy {
                    healthy = true;
                    continue;
                }
                if let Some(instance) = response
                    .headers()
                    .get(BACKEND_HEADER)
                    .and_then(|value| value.to_str().ok())
                    && !seen.iter().any(|known| known == instance)
                {
                    seen.push(instance.to_owned());
                }
                if instances.iter().all(|instance| seen.contains(instance)) {
                    return Ok(());
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not {} within {}s; the end of its log ({}):\n{}",
                self.name,
                if healthy {
                    format!("reach every replica (only {seen:?})")
                } else {
                    "answer /health".to_owned()
                },
                START_TIMEOUT.as_secs(),
                self.log_path.display(),
                log_tail(&self.log_path, 30)
            );
            std::thread::sleep(Duration::from_millis(if healthy { 10 } else { 100 }));
        }
    }
}

impl Drop for FrontDoor {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait()
            && let Some(command) = self.stop_command.as_mut()
        {
            let _ = command.stdout(Stdio::null()).stderr(Stdio::null()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- CPU time ------------------------------------------------------------------------------

/// CPU ticks of the gateway, nginx and the replicas at one moment.
#[derive(Clone, Copy, Default)]
struct CpuSnapshot {
    gateway: u64,
    nginx: u64,
    replicas: u64,
}

struct Pids {
    gateway: u32,
    nginx: u32,
    replicas: Vec<u32>,
}

impl Pids {
    fn snapshot(&self) -> CpuSnapshot {
        CpuSnapshot {
            gateway: crate::procfs::cpu_ticks_with_children(self.gateway),
            nginx: crate::procfs::cpu_ticks_with_children(self.nginx),
            replicas: self
                .replicas
                .iter()
                .map(|&pid| crate::procfs::cpu_ticks_with_children(pid))
                .sum(),
        }
    }
}

// ---- Measuring -----------------------------------------------------------------------------

/// One simulated user of one target: a keep-alive connection and a session cookie, both kept by
/// the agent, and which replica answered how often.
struct Client {
    number: usize,
    agent: ureq::Agent,
    backends: BTreeMap<String, usize>,
    gzipped: usize,
}

/// What a target did over every round.
#[derive(Default)]
struct TargetResult {
    result: PhaseResult,
    /// Requests/s of each round, to show the drift.
    round_rates: Vec<f64>,
    backends: BTreeMap<String, usize>,
    gzipped: usize,
    /// CPU ticks of the target's front door, and of the replicas, during its phases.
    front_door_ticks: u64,
    replica_ticks: u64,
}

struct Workload<'a> {
    gzip: bool,
    source_number: &'a AtomicU64,
}

impl Workload<'_> {
    fn send(&self, base_url: &str, client: &mut Client, index: usize) -> (Duration, Outcome) {
        let kind = kind_of(client.number, index);
        let started = Instant::now();
        let sent = match kind {
            RequestKind::Languages | RequestKind::Queue | RequestKind::Healthz => {
                let path = match kind {
                    RequestKind::Languages => "/api/languages",
                    RequestKind::Queue => "/api/queue",
                    _ => "/healthz",
                };
                let mut request = client.agent.get(format!("{base_url}{path}"));
                if self.gzip {
                    request = request.header("accept-encoding", "gzip");
                }
                request.call()
            }
            RequestKind::CreateTask => {
                // A new source each time, so the api's result cache never answers.
                let number = self.source_number.fetch_add(1, Ordering::Relaxed);
                let body = serde_json::json!({
                    "source": format!("def g_{number}(a):\n    return a * {number}\n"),
                    "filename": "calc.py",
                })
                .to_string();
                let mut request = client
                    .agent
                    .post(format!("{base_url}/api/tasks"))
                    .content_type("application/json");
                if self.gzip {
                    request = request.header("accept-encoding", "gzip");
                }
                request.send(&body)
            }
        };
        let outcome = match sent {
            Err(error) => Outcome::Transport(error.to_string()),
            Ok(mut response) => {
                let status = response.status();
                let backend = response
                    .headers()
                    .get(BACKEND_HEADER)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("(none)")
                    .to_owned();
                let gzipped = response
                    .headers()
                    .get("content-encoding")
                    .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"gzip"));
                // Reading the whole body returns the connection to the agent's pool.
                match response.body_mut().read_to_vec() {
                    Err(error) => Outcome::Transport(format!("reading the body: {error}")),
                    Ok(body) => {
                        *client.backends.entry(backend).or_default() += 1;
                        client.gzipped += usize::from(gzipped);
                        if status.is_success() {
                            Outcome::Success
                        } else {
                            Outcome::Status(
                                status.as_u16(),
                                snippet(&String::from_utf8_lossy(&body)),
                            )
                        }
                    }
                }
            }
        };
        (started.elapsed(), outcome)
    }
}

/// What each front door runs with, so that the comparison's fairness can be judged: on a small
/// machine, threads or workers beyond the cores only add switching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrontDoorSetup {
    gateway_threads: usize,
    /// nginx's worker processes, counted after it started.
    nginx_workers: usize,
}

impl FrontDoorSetup {
    fn describe(&self) -> String {
        format!(
            "gateway: {} proxy threads (work stealing off); nginx: {} worker processes (worker_processes auto); {} CPUs",
            self.gateway_threads,
            self.nginx_workers,
            std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get)
        )
    }
}

struct Report {
    front_doors: FrontDoorSetup,
    /// The mix's results; empty when it was not run.
    targets: BTreeMap<Target, TargetResult>,
    /// The wrk scenarios' results, in the order they ran.
    plain: Vec<PlainResult>,
    ticks_per_second: f64,
    replica_logs: Vec<(PathBuf, Vec<String>)>,
    gateway_log: (PathBuf, Vec<String>),
    nginx_log: Vec<String>,
}

fn measure(
    urls: &BTreeMap<Target, String>,
    pids: &Pids,
    options: &GatewayBenchArgs,
) -> anyhow::Result<BTreeMap<Target, TargetResult>> {
    let source_number = AtomicU64::new(0);
    let workload = Workload {
        gzip: options.gzip,
        source_number: &source_number,
    };
    let mut clients: BTreeMap<Target, Vec<Client>> = Target::ALL
        .iter()
        .map(|&target| {
            let clients = (0..options.concurrency)
                .map(|number| Client {
                    number,
                    agent: new_agent(Duration::from_secs(30)),
                    backends: BTreeMap::new(),
                    gzipped: 0,
                })
                .collect();
            (target, clients)
        })
        .collect();

    eprintln!(
        "==> warm-up: {} requests per target",
        WARM_UP_PER_CLIENT * options.concurrency
    );
    for target in Target::ALL {
        let url = &urls[&target];
        let target_clients = clients.get_mut(&target).context("a target's clients")?;
        let warm_up = run_phase(
            target_clients,
            &vec![WARM_UP_PER_CLIENT; options.concurrency],
            &|client: &mut Client, index| workload.send(url, client, index),
        );
        anyhow::ensure!(
            warm_up.latencies.len() * 2 >= WARM_UP_PER_CLIENT * options.concurrency,
            "through {}, most warm-up requests failed: {}",
            target.name(),
            describe_failures(&warm_up)
        );
        for client in target_clients.iter_mut() {
            client.backends.clear();
            client.gzipped = 0;
        }
    }

    let counts = share(options.requests, options.concurrency);
    let mut results: BTreeMap<Target, TargetResult> = Target::ALL
        .iter()
        .map(|&target| (target, TargetResult::default()))
        .collect();
    for round in 0..options.rounds {
        let order = announce_round(round, options.rounds);
        for target in order {
            let url = &urls[&target];
            let target_clients = clients.get_mut(&target).context("a target's clients")?;
            let before = pids.snapshot();
            let phase = run_phase(target_clients, &counts, &|client: &mut Client, index| {
                workload.send(url, client, index)
            });
            let after = pids.snapshot();
            let result = results.get_mut(&target).context("a target's result")?;
            result.round_rates.push(phase.requests_per_second());
            result.front_door_ticks += match target {
                Target::Gateway => after.gateway.saturating_sub(before.gateway),
                Target::Nginx => after.nginx.saturating_sub(before.nginx),
                Target::Direct => 0,
            };
            result.replica_ticks += after.replicas.saturating_sub(before.replicas);
            result.result.absorb(phase);
        }
    }
    for (target, target_clients) in clients {
        let result = results.get_mut(&target).context("a target's result")?;
        for client in target_clients {
            for (backend, count) in client.backends {
                *result.backends.entry(backend).or_default() += count;
            }
            result.gzipped += client.gzipped;
        }
    }
    Ok(results)
}

/// What a target did over the rounds of a wrk scenario.
#[derive(Default)]
struct WrkTotals {
    /// One run per round, in round order.
    runs: Vec<WrkRun>,
    front_door_ticks: u64,
    replica_ticks: u64,
}

impl WrkTotals {
    fn requests(&self) -> u64 {
        self.runs.iter().map(|run| run.requests).sum()
    }

    fn errors(&self) -> WrkErrors {
        let mut errors = WrkErrors::default();
        for run in &self.runs {
            errors.add(&run.errors);
        }
        errors
    }

    /// Requests over the measured time of every round.
    fn requests_per_second(&self) -> f64 {
        let elapsed: Duration = self.runs.iter().map(WrkRun::elapsed).sum();
        self.requests() as f64 / elapsed.as_secs_f64().max(1e-9)
    }

    /// The median over the rounds of one figure of each round, in milliseconds (wrk reports
    /// percentiles per run; their histograms cannot be merged from its output).
    fn median_ms(&self, figure: fn(&WrkRun) -> f64) -> f64 {
        median(self.runs.iter().map(|run| figure(run) / 1000.0).collect())
    }
}

/// The middle value (the mean of the two middle ones for an even count); 0 for none.
fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// One wrk scenario's results.
struct PlainResult {
    scenario: Scenario,
    /// The request, as `METHOD path`.
    request: String,
    targets: BTreeMap<Target, WrkTotals>,
}

/// Runs wrk through every target, a short warm-up first, then `rounds` runs of `seconds` each,
/// the order rotating as in the mix; reads each front door's CPU time around its runs.
fn measure_with_wrk(
    wrk_binary: &Path,
    urls: &BTreeMap<Target, String>,
    pids: &Pids,
    options: &GatewayBenchArgs,
    script_path: &Path,
) -> anyhow::Result<BTreeMap<Target, WrkTotals>> {
    eprintln!("==> warm-up: 1 s of wrk per target");
    for target in Target::ALL {
        let warm_up = wrk::run(
            wrk_binary,
            &urls[&target],
            options.connections,
            Duration::from_secs(1),
            script_path,
        )?;
        anyhow::ensure!(
            warm_up.errors.total() * 2 <= warm_up.requests,
            "through {}, most warm-up requests failed: {:?}",
            target.name(),
            warm_up.errors
        );
    }
    let mut results: BTreeMap<Target, WrkTotals> = Target::ALL
        .iter()
        .map(|&target| (target, WrkTotals::default()))
        .collect();
    for round in 0..options.rounds {
        let order = announce_round(round, options.rounds);
        for target in order {
            let before = pids.snapshot();
            let run = wrk::run(
                wrk_binary,
                &urls[&target],
                options.connections,
                Duration::from_secs(options.seconds as u64),
                script_path,
            )?;
            let after = pids.snapshot();
            let result = results.get_mut(&target).context("a target's result")?;
            result.front_door_ticks += match target {
                Target::Gateway => after.gateway.saturating_sub(before.gateway),
                Target::Nginx => after.nginx.saturating_sub(before.nginx),
                Target::Direct => 0,
            };
            result.replica_ticks += after.replicas.saturating_sub(before.replicas);
            result.runs.push(run);
        }
    }
    Ok(results)
}

/// The `post` scenario's request: a small task creation with an `Idempotency-Key`, in one
/// session. It is sent once here (straight to a replica), so every later one is answered as a
/// repeat of it: no task is queued per request, and the answer is a success.
fn prepare_post(direct_url: &str, stamp: u64) -> anyhow::Result<WrkRequest> {
    let body = serde_json::json!({
        "source": "def double(a):\n    return a * 2\n",
        "filename": "calc.py",
    })
    .to_string();
    let key = format!("bench-gateway-{stamp}");
    let agent = new_agent(Duration::from_secs(30));
    let mut response = agent
        .post(format!("{direct_url}/api/tasks"))
        .header("idempotency-key", &key)
        .content_type("application/json")
        .send(&body)
        .context("cannot create the post scenario's task")?;
    let status = response.status();
    let session = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|cookie| {
            cookie
                .strip_prefix(SESSION_COOKIE)
                .and_then(|rest| rest.strip_prefix('='))
                .and_then(|rest| rest.split(';').next())
                .map(str::to_owned)
        });
    let text = response.body_mut().read_to_string().unwrap_or_default();
    anyhow::ensure!(
        status.is_success(),
        "creating the post scenario's task answered {status}: {}",
        snippet(&text)
    );
    let session = session.context("the api set no session cookie on a task creation")?;
    Ok(WrkRequest {
        method: "POST",
        path: "/api/tasks".to_owned(),
        headers: vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Idempotency-Key".to_owned(), key),
            ("Cookie".to_owned(), format!("{SESSION_COOKIE}={session}")),
        ],
        body: Some(body),
    })
}

/// The `get` scenario's request, as the issue's `wrk` run sends it.
fn plain_get() -> WrkRequest {
    WrkRequest {
        method: "GET",
        path: "/api/languages".to_owned(),
        headers: Vec::new(),
        body: None,
    }
}

pub fn run(options: &GatewayBenchArgs) -> anyhow::Result<bool> {
    let root = project_root();
    // Everything the bench needs, before anything is built or started.
    let nginx = nginx_binary()?;
    anyhow::ensure!(
        find_program("cmake").is_some(),
        "cmake is not installed; Pingora's zlib-ng needs it to build the gateway: \
         `apt-get install cmake`"
    );
    let wrk_binary = options
        .scenario
        .scenarios()
        .iter()
        .any(|scenario| *scenario != Scenario::Mix)
        .then(wrk::binary)
        .transpose()?;
    let committed = std::fs::read_to_string(root.join(NGINX_CONF))
        .with_context(|| format!("cannot read {NGINX_CONF}"))?;

    // Progress goes to stderr, so that with `--json` stdout holds the JSON alone.
    let [api_binary, gateway_binary] = build_release(&root, &["aiut-api", "aiut-gateway"])?
        .try_into()
        .map_err(|_| anyhow::anyhow!("cargo built an unexpected set of binaries"))?;
    let stamp = unix_stamp()?;
    let log_dir = target_dir(&root)
        .join("bench")
        .join(format!("gateway-{stamp}"));
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;

    // Dropped in reverse order: nginx, the gateway and the replicas stop before the folders and
    // the database go.
    let stores = Stores::new(stamp)?;
    let nginx_folder =
        TempFolder::new(&format!("aiut-bench-nginx-{stamp}-{}", std::process::id()))?;
    eprintln!(
        "==> per-session and queue-depth limits raised to {LIMIT_OUT_OF_REACH}; {BENCH_NETWORK} trusted by both front doors"
    );
    let mut replicas: Vec<RunningApi> = Vec::with_capacity(REPLICAS);
    let instances: Vec<String> = (1..=REPLICAS).map(|index| format!("api-{index}")).collect();
    for instance in &instances {
        let log_path = log_dir.join(format!("{instance}.log"));
        // One after the other: the first creates the database and runs the migrations.
        let mut replica =
            RunningApi::start(&api_binary, &log_dir, &log_path, &stores, instance, &[])?;
        eprintln!("==> {instance}: waiting for {}/healthz", replica.base_url);
        replica.wait_until_healthy()?;
        replicas.push(replica);
    }
    let upstreams: Vec<SocketAddr> = replicas
        .iter()
        .map(|replica| {
            replica
                .base_url
                .trim_start_matches("http://")
                .parse()
                .context("a replica's address")
        })
        .collect::<anyhow::Result<_>>()?;

    let gateway_threads = options
        .gateway_threads
        .unwrap_or_else(|| service::sections::GatewaySettings::default().threads);
    let mut gateway =
        FrontDoor::start_gateway(&gateway_binary, &log_dir, &upstreams, gateway_threads)?;
    eprintln!(
        "==> gateway at {} ({gateway_threads} proxy threads)",
        gateway.base_url
    );
    gateway.wait_until_serving(&instances)?;
    let mut nginx_door =
        FrontDoor::start_nginx(&nginx, &committed, &nginx_folder.path, &upstreams)?;
    eprintln!("==> nginx at {} ({})", nginx_door.base_url, nginx.display());
    nginx_door.wait_until_serving(&instances)?;
    let front_doors = FrontDoorSetup {
        gateway_threads,
        nginx_workers: crate::procfs::children_running(nginx_door.child.id(), "worker process")
            .len(),
    };
    eprintln!("==> {}", front_doors.describe());

    let urls: BTreeMap<Target, String> = [
        (Target::Gateway, gateway.base_url.clone()),
        (Target::Nginx, nginx_door.base_url.clone()),
        (Target::Direct, replicas[0].base_url.clone()),
    ]
    .into_iter()
    .collect();
    let pids = Pids {
        gateway: gateway.child.id(),
        nginx: nginx_door.child.id(),
        replicas: replicas.iter().map(|replica| replica.child.id()).collect(),
    };
    let scenarios = options.scenario.scenarios();
    let mut targets = BTreeMap::new();
    let mut plain = Vec::new();
    for scenario in scenarios {
        eprintln!("==> scenario {}", scenario.name());
        let request = match scenario {
            Scenario::Mix => {
                eprintln!(
                    "==> {} rounds of {} requests per target over {} clients each{}",
                    options.rounds,
                    options.requests,
                    options.concurrency,
                    if options.gzip {
                        ", Accept-Encoding: gzip"
                    } else {
                        ""
                    }
                );
                targets = measure(&urls, &pids, options)?;
                continue;
            }
            Scenario::Get => plain_get(),
            Scenario::Post => prepare_post(&urls[&Target::Direct], stamp)?,
        };
        let wrk_binary = wrk_binary
            .as_deref()
            .context("wrk was checked at the start")?;
        let script_path = log_dir.join(format!("wrk-{}.lua", scenario.name()));
        std::fs::write(&script_path, wrk::script(&request))
            .with_context(|| format!("cannot write {}", script_path.display()))?;
        eprintln!(
            "==> {} rounds of {} s of wrk ({} connections) per target: {} {}",
            options.rounds, options.seconds, options.connections, request.method, request.path
        );
        plain.push(PlainResult {
            scenario,
            request: format!("{} {}", request.method, request.path),
            targets: measure_with_wrk(wrk_binary, &urls, &pids, options, &script_path)?,
        });
    }

    let nginx_log = nginx_problems(&nginx_door.log_path);
    drop(nginx_door);
    drop(gateway);
    drop(replicas);
    let report = Report {
        front_doors,
        targets,
        plain,
        ticks_per_second: crate::procfs::clock_ticks_per_second(),
        replica_logs: instances
            .iter()
            .map(|instance| {
                let path = log_dir.join(format!("{instance}.log"));
                let warnings = warnings_in_log(&path);
                (path, warnings)
            })
            .collect(),
        gateway_log: {
            let path = log_dir.join("aiut-gateway.log");
            let problems = gateway_problems(&path);
            (path, problems)
        },
        nginx_log,
    };
    if options.json {
        println!("{}", report.to_json(options));
    } else {
        print!("{}", report.to_table(options));
    }
    let failed: u64 = report
        .targets
        .values()
        .map(|target| target.result.failed() as u64)
        .chain(report.plain.iter().flat_map(|scenario| {
            scenario
                .targets
                .values()
                .map(|target| target.errors().total())
        }))
        .sum();
    if failed > 0 {
        eprintln!("bench failed: {failed} requests failed (see above)");
    }
    drop(stores);
    Ok(failed == 0)
}

/// Lines of nginx's error log at `error` or worse.
fn nginx_problems(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter(|line| {
                    ["[error]", "[crit]", "[alert]", "[emerg]"]
                        .iter()
                        .any(|level| line.contains(level))
                })
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Lines of the gateway's log at `WARN` or `ERROR`.
fn gateway_problems(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

// ---- Report --------------------------------------------------------------------------------

impl Report {
    fn stats(&self, target: Target) -> Stats {
        self.targets
            .get(&target)
            .map(|result| result.result.stats())
            .unwrap_or_else(|| PhaseResult::default().stats())
    }

    /// CPU milliseconds per request of the target's front door and of the replicas.
    fn cpu_per_request_ms(&self, target: Target) -> (f64, f64) {
        let Some(result) = self.targets.get(&target) else {
            return (0.0, 0.0);
        };
        let requests = (result.result.latencies.len() + result.result.failed()).max(1) as f64;
        let per_request = |ticks: u64| ticks as f64 / self.ticks_per_second * 1000.0 / requests;
        (
            per_request(result.front_door_ticks),
            per_request(result.replica_ticks),
        )
    }

    /// (name, numerator, denominator) of the ratios reported.
    fn comparisons() -> [(&'static str, Target, Target); 3] {
        [
            ("gateway/nginx", Target::Gateway, Target::Nginx),
            ("gateway/direct", Target::Gateway, Target::Direct),
            ("nginx/direct", Target::Nginx, Target::Direct),
        ]
    }

    fn to_table(&self, options: &GatewayBenchArgs) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", self.front_doors.describe());
        if !self.targets.is_empty() {
            self.mix_table(options, &mut out);
        }
        for scenario in &self.plain {
            self.plain_table(scenario, options, &mut out);
        }
        self.log_lines(&mut out);
        out
    }

    /// CPU milliseconds per request of a wrk scenario's target: its front door, the replicas.
    fn plain_cpu_per_request_ms(&self, totals: &WrkTotals) -> (f64, f64) {
        let requests = totals.requests().max(1) as f64;
        let per_request = |ticks: u64| ticks as f64 / self.ticks_per_second * 1000.0 / requests;
        (
            per_request(totals.front_door_ticks),
            per_request(totals.replica_ticks),
        )
    }

    fn plain_table(&self, scenario: &PlainResult, options: &GatewayBenchArgs, out: &mut String) {
        let _ = writeln!(
            out,
            "scenario {}: {} from wrk (1 thread, {} keep-alive connections), {} rounds × {} s per target; direct = api-1 alone\n",
            scenario.scenario.name(),
            scenario.request,
            options.connections,
            options.rounds,
            options.seconds
        );
        let _ = writeln!(
            out,
            "{:<8} {:>9} {:>6} {:>9} {:>7} {:>7} {:>7} {:>9} {:>9}  req/s per round",
            "target",
            "requests",
            "failed",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "door cpu",
            "api cpu"
        );
        for (target, totals) in &scenario.targets {
            let (door, api) = self.plain_cpu_per_request_ms(totals);
            let rounds: Vec<String> = totals
                .runs
                .iter()
                .map(|run| format!("{:.0}", run.requests_per_second()))
                .collect();
            let _ = writeln!(
                out,
                "{:<8} {:>9} {:>6} {:>9.1} {:>7.2} {:>7.2} {:>7.2} {:>9} {:>9.4}  {}",
                target.name(),
                totals.requests(),
                totals.errors().total(),
                totals.requests_per_second(),
                totals.median_ms(|run| run.p50_us),
                totals.median_ms(|run| run.p90_us),
                totals.median_ms(|run| run.p99_us),
                if *target == Target::Direct {
                    "-".to_owned()
                } else {
                    format!("{door:.4}")
                },
                api,
                rounds.join(" / ")
            );
        }
        let _ = writeln!(
            out,
            "(p50/p90/p99: the median of the rounds' percentiles; door cpu / api cpu: CPU ms per request of the front door, of the three replicas together)\n"
        );
        for (name, numerator, denominator) in Report::comparisons() {
            let (Some(top), Some(bottom)) = (
                scenario.targets.get(&numerator),
                scenario.targets.get(&denominator),
            ) else {
                continue;
            };
            let door_cpu = if denominator == Target::Direct {
                "-".to_owned()
            } else {
                times(
                    self.plain_cpu_per_request_ms(top).0,
                    self.plain_cpu_per_request_ms(bottom).0,
                )
            };
            let _ = writeln!(
                out,
                "{name:<15} req/s {:>6}   p50 {:>6}   p99 {:>6}   door cpu {:>6}",
                times(top.requests_per_second(), bottom.requests_per_second()),
                times(
                    top.median_ms(|run| run.p50_us),
                    bottom.median_ms(|run| run.p50_us)
                ),
                times(
                    top.median_ms(|run| run.p99_us),
                    bottom.median_ms(|run| run.p99_us)
                ),
                door_cpu
            );
        }
        for (target, totals) in &scenario.targets {
            let errors = totals.errors();
            if errors.total() > 0 {
                let _ = writeln!(out, "\n{} failures: {errors:?}", target.name());
            }
        }
        let _ = writeln!(out);
    }

    fn mix_table(&self, options: &GatewayBenchArgs, out: &mut String) {
        let _ = writeln!(
            out,
            "front doors on loopback over {REPLICAS} api replicas: {} rounds × {} requests per target, {} clients per target (keep-alive, one session each){}",
            options.rounds,
            options.requests,
            options.concurrency,
            if options.gzip {
                ", Accept-Encoding: gzip"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "mix per 10 requests: 4 GET /api/languages, 3 GET /api/queue, 2 GET /healthz, 1 POST /api/tasks; direct = api-1 alone\n"
        );
        let _ = writeln!(
            out,
            "{:<8} {:>7} {:>6} {:>9} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9}  req/s per round",
            "target",
            "ok",
            "failed",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "door cpu",
            "api cpu"
        );
        for target in Target::ALL {
            let stats = self.stats(target);
            let (door, api) = self.cpu_per_request_ms(target);
            let rounds = self
                .targets
                .get(&target)
                .map_or_else(String::new, |result| {
                    result
                        .round_rates
                        .iter()
                        .map(|rate| format!("{rate:.0}"))
                        .collect::<Vec<_>>()
                        .join(" / ")
                });
            let _ = writeln!(
                out,
                "{:<8} {:>7} {:>6} {:>9.1} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>9} {:>9.3}  {rounds}",
                target.name(),
                stats.ok,
                stats.failed,
                stats.requests_per_second,
                stats.p50_ms,
                stats.p90_ms,
                stats.p99_ms,
                stats.max_ms,
                if target == Target::Direct {
                    "-".to_owned()
                } else {
                    format!("{door:.3}")
                },
                api
            );
        }
        let _ = writeln!(
            out,
            "(door cpu / api cpu: CPU ms per request of the front door, of the three replicas together)\n"
        );
        for (name, numerator, denominator) in Report::comparisons() {
            let (numerator, denominator) = (self.stats(numerator), self.stats(denominator));
            let _ = writeln!(
                out,
                "{name:<15} req/s {:>6}   p50 {:>6}   p99 {:>6}",
                times(
                    numerator.requests_per_second,
                    denominator.requests_per_second
                ),
                times(numerator.p50_ms, denominator.p50_ms),
                times(numerator.p99_ms, denominator.p99_ms)
            );
        }
        let _ = writeln!(out, "\nanswers by X-Backend-Instance:");
        for target in Target::ALL {
            let Some(result) = self.targets.get(&target) else {
                continue;
            };
            let total: usize = result.backends.values().sum();
            let spread: Vec<String> = result
                .backends
                .iter()
                .map(|(backend, count)| {
                    format!(
                        "{backend} {count} ({:.1}%)",
                        ratio(*count as f64, total as f64) * 100.0
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "  {:<8} {}; gzip-encoded answers: {}",
                target.name(),
                spread.join(", "),
                result.gzipped
            );
        }
        for target in Target::ALL {
            if let Some(result) = self.targets.get(&target)
                && !result.result.failures.is_empty()
            {
                let _ = writeln!(
                    out,
                    "\n{} failures: {}",
                    target.name(),
                    describe_failures(&result.result)
                );
            }
        }
        let _ = writeln!(out);
    }

    fn log_lines(&self, out: &mut String) {
        let mut logs: Vec<(String, &[String])> = self
            .replica_logs
            .iter()
            .map(|(path, lines)| (path.display().to_string(), lines.as_slice()))
            .collect();
        logs.push((
            self.gateway_log.0.display().to_string(),
            self.gateway_log.1.as_slice(),
        ));
        logs.push(("nginx error.log".to_owned(), self.nginx_log.as_slice()));
        for (name, lines) in logs {
            if lines.is_empty() {
                let _ = writeln!(out, "log {name}: no warnings or errors");
            } else {
                let _ = writeln!(
                    out,
                    "log {name}: {} lines at warn or above, the first ones:",
                    lines.len()
                );
                for line in lines.iter().take(3) {
                    let _ = writeln!(out, "  {}", snippet(line));
                }
            }
        }
    }

    fn plain_json(&self, scenario: &PlainResult, options: &GatewayBenchArgs) -> serde_json::Value {
        let targets: serde_json::Map<String, serde_json::Value> = scenario
            .targets
            .iter()
            .map(|(target, totals)| {
                let (door, api) = self.plain_cpu_per_request_ms(totals);
                let errors = totals.errors();
                (
                    target.name().to_owned(),
                    serde_json::json!({
                        "requests": totals.requests(),
                        "failed": errors.total(),
                        "requests_per_second": totals.requests_per_second(),
                        "round_requests_per_second": totals.runs.iter().map(WrkRun::requests_per_second).collect::<Vec<_>>(),
                        "p50_ms": totals.median_ms(|run| run.p50_us),
                        "p90_ms": totals.median_ms(|run| run.p90_us),
                        "p99_ms": totals.median_ms(|run| run.p99_us),
                        "round_p99_ms": totals.runs.iter().map(|run| run.p99_us / 1000.0).collect::<Vec<_>>(),
                        "front_door_cpu_ms_per_request": (*target != Target::Direct).then_some(door),
                        "replicas_cpu_ms_per_request": api,
                        "errors": {
                            "connect": errors.connect,
                            "read": errors.read,
                            "write": errors.write,
                            "status": errors.status,
                            "timeout": errors.timeout,
                        },
                    }),
                )
            })
            .collect();
        let ratios: serde_json::Map<String, serde_json::Value> = Report::comparisons()
            .iter()
            .filter_map(|&(name, numerator, denominator)| {
                let top = scenario.targets.get(&numerator)?;
                let bottom = scenario.targets.get(&denominator)?;
                Some((
                    name.to_owned(),
                    serde_json::json!({
                        "requests_per_second": ratio(top.requests_per_second(), bottom.requests_per_second()),
                        "p50": ratio(top.median_ms(|run| run.p50_us), bottom.median_ms(|run| run.p50_us)),
                        "p99": ratio(top.median_ms(|run| run.p99_us), bottom.median_ms(|run| run.p99_us)),
                        "front_door_cpu": (denominator != Target::Direct).then(|| ratio(
                            self.plain_cpu_per_request_ms(top).0,
                            self.plain_cpu_per_request_ms(bottom).0,
                        )),
                    }),
                ))
            })
            .collect();
        serde_json::json!({
            "request": scenario.request,
            "load_generator": "wrk",
            "connections": options.connections,
            "seconds_per_round": options.seconds,
            "targets": targets,
            "ratios": ratios,
        })
    }

    fn to_json(&self, options: &GatewayBenchArgs) -> String {
        let targets: serde_json::Map<String, serde_json::Value> = Target::ALL
            .iter()
            .filter_map(|&target| {
                let result = self.targets.get(&target)?;
                let stats = result.result.stats();
                let (door, api) = self.cpu_per_request_ms(target);
                Some((
                    target.name().to_owned(),
                    serde_json::json!({
                        "ok": stats.ok,
                        "failed": stats.failed,
                        "requests_per_second": stats.requests_per_second,
                        "round_requests_per_second": result.round_rates,
                        "mean_ms": stats.mean_ms,
                        "p50_ms": stats.p50_ms,
                        "p90_ms": stats.p90_ms,
                        "p95_ms": stats.p95_ms,
                        "p99_ms": stats.p99_ms,
                        "max_ms": stats.max_ms,
                        "front_door_cpu_ms_per_request": (target != Target::Direct).then_some(door),
                        "replicas_cpu_ms_per_request": api,
                        "backends": result.backends,
                        "gzip_encoded": result.gzipped,
                        "failures": result.result.failures.iter().map(|(kind, (count, example))| {
                            serde_json::json!({"kind": kind, "count": count, "example": example})
                        }).collect::<Vec<_>>(),
                    }),
                ))
            })
            .collect();
        let ratios: serde_json::Map<String, serde_json::Value> = Report::comparisons()
            .iter()
            .map(|&(name, numerator, denominator)| {
                let (numerator, denominator) = (self.stats(numerator), self.stats(denominator));
                (
                    name.to_owned(),
                    serde_json::json!({
                        "requests_per_second": ratio(numerator.requests_per_second, denominator.requests_per_second),
                        "p50": ratio(numerator.p50_ms, denominator.p50_ms),
                        "p99": ratio(numerator.p99_ms, denominator.p99_ms),
                    }),
                )
            })
            .collect();
        let mut scenarios = serde_json::Map::new();
        if !self.targets.is_empty() {
            scenarios.insert(
                Scenario::Mix.name().to_owned(),
                serde_json::json!({
                    "requests_per_round": options.requests,
                    "concurrency": options.concurrency,
                    "gzip": options.gzip,
                    "requests": {"GET /api/languages": 4, "GET /api/queue": 3, "GET /healthz": 2, "POST /api/tasks": 1},
                    "targets": targets,
                    "ratios": ratios,
                }),
            );
        }
        for scenario in &self.plain {
            scenarios.insert(
                scenario.scenario.name().to_owned(),
                self.plain_json(scenario, options),
            );
        }
        serde_json::json!({
            "rounds": options.rounds,
            "replicas": REPLICAS,
            "gateway_threads": self.front_doors.gateway_threads,
            "nginx_workers": self.front_doors.nginx_workers,
            "scenarios": scenarios,
            "log_warnings": {
                "replicas": self.replica_logs.iter().map(|(_, lines)| lines.len()).sum::<usize>(),
                "gateway": self.gateway_log.1.len(),
                "nginx": self.nginx_log.len(),
            },
            "gateway_log": self.gateway_log.0.display().to_string(),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let parse = |text: &str| {
            crate::cli::parse_args::<GatewayBenchArgs>(&text.split_whitespace().collect::<Vec<_>>())
        };
        let options = parse("--requests 500 --concurrency 4 --rounds 2 --no-gzip --json")
            .expect("valid options");
        assert_eq!(
            options,
            GatewayBenchArgs {
                requests: 500,
                concurrency: 4,
                rounds: 2,
                gzip: false,
                scenario: ScenarioChoice::All,
                seconds: 4,
                connections: 32,
                gateway_threads: None,
                json: true,
            }
        );
        let plain = parse("--scenario get --seconds 2 --connections 8").expect("valid options");
        assert_eq!(plain.scenario, ScenarioChoice::Get);
        assert_eq!((plain.seconds, plain.connections), (2, 8));
        assert!(parse("--scenario pipelined").is_err());
        assert!(parse("--seconds 0").is_err());
        let defaults = parse("").expect("no options");
        assert_eq!((defaults.requests, defaults.rounds), (3000, 3));
        assert!(defaults.gzip && !defaults.json);
        assert!(parse("--rounds 0").is_err());
        assert!(parse("--rounds").is_err());
        assert!(parse("--requests many").is_err());
        assert!(parse("--fast").is_err());
    }

    #[test]
    fn rounds_rotate_the_order() {
        assert_eq!(
            round_order(0),
            [Target::Gateway, Target::Nginx, Target::Direct]
        );
        assert_eq!(
            round_order(1),
            [Target::Nginx, Target::Direct, Target::Gateway]
        );
        assert_eq!(round_order(3), round_order(0));
        for target in Target::ALL {
            let positions: Vec<usize> = (0..3)
                .map(|round| {
                    round_order(round)
                        .iter()
                        .position(|&each| each == target)
                        .unwrap_or(usize::MAX)
                })
                .collect();
            let mut sorted = positions.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2], "{target:?} at {positions:?}");
        }
    }

    #[test]
    fn the_mix_has_the_documented_shares() {
        let count = |kind| (0..100).filter(|&index| kind_of(3, index) == kind).count();
        assert_eq!(count(RequestKind::Languages), 40);
        assert_eq!(count(RequestKind::Queue), 30);
        assert_eq!(count(RequestKind::Healthz), 20);
        assert_eq!(count(RequestKind::CreateTask), 10);
        assert_ne!(kind_of(0, 0), kind_of(1, 0));
    }

    #[test]
    fn shares_requests_over_clients() {
        assert_eq!(share(10, 3), [4, 3, 3]);
        assert_eq!(share(2, 4), [1, 1, 0, 0]);
        assert_eq!(share(3000, 16).iter().sum::<usize>(), 3000);
    }

    #[test]
    fn all_is_every_scenario_and_the_mix_comes_first() {
        assert_eq!(
            ScenarioChoice::All.scenarios(),
            [Scenario::Mix, Scenario::Get, Scenario::Post]
        );
        assert_eq!(ScenarioChoice::Post.scenarios(), [Scenario::Post]);
    }

    #[test]
    fn wrk_rounds_add_up_and_percentiles_are_the_median_round() {
        let run = |requests, seconds: u64, p99_us| WrkRun {
            requests,
            duration_us: seconds * 1_000_000,
            p50_us: 100.0,
            p90_us: 200.0,
            p99_us,
            max_us: 9_000.0,
            errors: WrkErrors {
                status: 1,
                ..WrkErrors::default()
            },
        };
        let totals = WrkTotals {
            runs: vec![
                run(1000, 1, 3000.0),
                run(3000, 1, 1000.0),
                run(2000, 2, 2000.0),
            ],
            ..WrkTotals::default()
        };
        assert_eq!(totals.requests(), 6000);
        assert!((totals.requests_per_second() - 1500.0).abs() < 1e-9);
        assert!((totals.median_ms(|run| run.p99_us) - 2.0).abs() < 1e-9);
        assert_eq!(totals.errors().status, 3);
        assert_eq!(median(vec![4.0, 1.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }

    #[test]
    fn writes_ratios() {
        assert_eq!(times(150.0, 100.0), "1.50x");
        assert_eq!(times(1.0, 0.0), "-");
    }
}
