//! `cargo xtask chaos`: faults injected one at a time into the running deployment, each under a
//! mixed load, and what the users would have seen.
//!
//! For each scenario: the load starts ([`load`]: reads, creates without an `Idempotency-Key`
//! each with a source of its own, a stream client per created task, `generate-test` waits); the
//! fault comes a few seconds in ([`fault`]); the load goes on for a while after the stack has
//! been given back what was taken, then stops creating; the run waits, bounded, for every task
//! to end. Then it counts, from the clients' records and the task table ([`database`]): failed
//! requests, tasks lost (an id given to a client that is not in the table or that its owner
//! can no longer see), duplicated (two rows for one source), stuck (not ended when the wait was
//! over), stream clients that never saw their task's end, how the tasks ended, and how long the
//! stack took to recover ([`report`]). A health monitor samples every service's probe and the
//! gateway's rotation meanwhile.
//!
//! It restarts the deployment's Postgres and Redis and scripts its model, so it refuses a
//! deployment that does not own them (`DATABASE_URL` / `REDIS_URL` given at deploy) or runs
//! without the simulator.

mod database;
mod fault;
mod load;
mod report;
mod scenario;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::stack::{Deployment, Kind, probe, process, state};
use database::Database;
use fault::Stack;
use load::{Load, LoadPlan};
use report::{Count, RequestKind, ScenarioReport};
use scenario::Scenario;

/// Load before the fault.
const WARM_UP: Duration = Duration::from_secs(4);
/// Load after the fault began, at the least…
const LOAD_AFTER_FAULT: Duration = Duration::from_secs(10);
/// …and after the stack was given back what was taken.
const LOAD_AFTER_RECOVERY: Duration = Duration::from_secs(5);
/// How long the stack may take to be whole before a scenario starts.
const HEALTHY_BEFORE: Duration = Duration::from_secs(60);
const HEALTH_EVERY: Duration = Duration::from_millis(500);

/// `chaos`'s options.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ChaosArgs {
    /// a scenario to run (repeatable): api-kill, worker-kill, redis-restart, postgres-restart,
    /// rolling-restart, model-hang, model-errors, slow-backend, or all [default: all]
    #[arg(long = "scenario", value_name = "NAME", value_parser = scenario::parse)]
    scenarios: Vec<Vec<Scenario>>,
    /// print one JSON object on stdout instead of the table
    #[arg(long)]
    json: bool,
}

pub fn run(args: &ChaosArgs) -> anyhow::Result<bool> {
    let scenarios = scenario::select(&args.scenarios);
    let state_dir = state::state_dir();
    let deployment = state::load(&state_dir)?.context(
        "nothing is deployed here; deploy with `env -u DATABASE_URL -u REDIS_URL cargo xtask \
         deploy --with-simulator --simulator-timeout-secs 5 --trust 127.0.0.1/32`",
    )?;
    let config_path = state_dir.join("config").join("aiunittest.toml");
    let config = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let mut stack = prepare(&state_dir, deployment, &config)?;
    let model_timeout = simulator_timeout(&config).unwrap_or(Duration::from_secs(
        crate::stack::plan::SIMULATOR_TIMEOUT_SECS,
    ));
    let stamp = run_stamp();
    eprintln!(
        "==> chaos: {} against {} (model call timeout {} s)",
        scenarios
            .iter()
            .map(|scenario| scenario.name())
            .collect::<Vec<_>>()
            .join(", "),
        stack.deployment.gateway_url,
        model_timeout.as_secs()
    );
    let started = Instant::now();
    let mut reports = Vec::new();
    for scenario in scenarios {
        let report = if scenario == Scenario::ModelHang
            && model_timeout > scenario::LONGEST_MODEL_TIMEOUT
        {
            not_run(
                scenario,
                format!(
                    "the workers give a model call up after {} s, longer than this run can wait \
                     for; deploy with --simulator-timeout-secs 5",
                    model_timeout.as_secs()
                ),
            )
        } else {
            run_scenario(&mut stack, scenario, &stamp, model_timeout)
        };
        eprintln!(
            "    {}: {}",
            report.scenario,
            if report.passed() {
                "ok".to_owned()
            } else {
                format!("FAIL ({})", report.problems().join(", "))
            }
        );
        reports.push(report);
    }
    eprintln!(
        "==> chaos: {} scenario(s) in {:.0} s",
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    if args.json {
        println!("{}", report::to_json(&reports));
    } else {
        print!("{}", report::table(&reports));
    }
    Ok(reports.iter().all(ScenarioReport::passed))
}

/// Checks the deployment is one chaos may act on, and finds its parts.
fn prepare(state_dir: &Path, deployment: Deployment, config: &str) -> anyhow::Result<Stack> {
    let owned = |kind: Kind| deployment.services.iter().find(|s| s.kind == kind);
    let missing: Vec<&str> = [
        (
            Kind::Postgres,
            "its own Postgres (DATABASE_URL was given to deploy)",
        ),
        (Kind::Redis, "its own Redis (REDIS_URL was given to deploy)"),
        (Kind::Simulator, "the model simulator (--with-simulator)"),
    ]
    .into_iter()
    .filter(|(kind, _)| owned(*kind).is_none())
    .map(|(_, what)| what)
    .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "chaos restarts the deployment's Postgres and Redis and scripts its model, so it runs \
         only against a deployment that owns them; this one lacks {}. Deploy one with `env -u \
         DATABASE_URL -u REDIS_URL cargo xtask deploy --with-simulator --simulator-timeout-secs \
         5 --trust 127.0.0.1/32`",
        missing.join(", ")
    );
    anyhow::ensure!(
        trusts_loopback(config),
        "the gateway rate-limits 127.0.0.1, where the chaos load comes from: its requests would \
         be refused by the limit, not by a fault; deploy with --trust 127.0.0.1/32"
    );
    let database_url = deployment
        .services
        .iter()
        .find(|service| service.kind == Kind::Api)
        .and_then(|api| api.env.get("DATABASE_URL"))
        .context("the deployment record names no DATABASE_URL for its api replicas")?
        .clone();
    let postgres_bin = owned(Kind::Postgres).and_then(|postgres| postgres.program.parent());
    let database = Database::new(&database_url, postgres_bin)?;
    let simulator_url = owned(Kind::Simulator)
        .and_then(|simulator| simulator.port)
        .map(|port| format!("http://127.0.0.1:{port}"))
        .context("the simulator has no port")?;
    let stopped: Vec<&str> = deployment
        .services
        .iter()
        .filter(|service| is_core(service.kind))
        .filter(|service| !service.pid.is_some_and(process::is_alive))
        .map(|service| service.name.as_str())
        .collect();
    anyhow::ensure!(
        stopped.is_empty(),
        "not running: {}; `cargo xtask status` says more",
        stopped.join(", ")
    );
    let mut stack = Stack {
        state_dir: state_dir.to_path_buf(),
        deployment,
        database,
        simulator_url,
        baseline_rates: None,
    };
    stack.baseline_rates = crate::client::new_agent(Duration::from_secs(5))
        .get(&format!("{}/sim/rates", stack.simulator_url))
        .call()
        .ok()
        .filter(|response| response.status().is_success())
        .and_then(|mut response| response.body_mut().read_to_string().ok())
        .and_then(|body| serde_json::from_str(&body).ok());
    if let Some(unhealthy) = wait_whole(state_dir, HEALTHY_BEFORE) {
        anyhow::bail!("the deployment is not healthy: {unhealthy}");
    }
    Ok(stack)
}

/// The services a scenario needs healthy (Prometheus and its exporters are not among them).
fn is_core(kind: Kind) -> bool {
    !matches!(kind, Kind::Prometheus | Kind::Exporter)
}

/// What is not whole now, per the record in the state folder: a core service not running or
/// failing its probe, or the gateway with fewer replicas in rotation than it has.
fn unhealthy_now(state_dir: &Path) -> Option<String> {
    let deployment = match state::load(state_dir) {
        Ok(Some(deployment)) => deployment,
        _ => return Some("no deployment record".into()),
    };
    for service in deployment.services.iter().filter(|s| is_core(s.kind)) {
        if !service.pid.is_some_and(process::is_alive) {
            return Some(format!("{} is not running", service.name));
        }
        if let Err(error) = probe::check(&service.health, Duration::from_secs(1)) {
            return Some(format!("{}: {error}", service.name));
        }
    }
    let replicas = deployment
        .services
        .iter()
        .filter(|service| service.kind == Kind::Api)
        .count();
    let in_rotation = crate::deploy::healthy_backends(&deployment.gateway_url).unwrap_or(0);
    (in_rotation < replicas)
        .then(|| format!("the gateway has {in_rotation} of {replicas} replicas in rotation"))
}

/// Waits until the stack is whole; what is still not, when `limit` passes first.
fn wait_whole(state_dir: &Path, limit: Duration) -> Option<String> {
    let started = Instant::now();
    loop {
        let unhealthy = unhealthy_now(state_dir)?;
        if started.elapsed() > limit {
            return Some(unhealthy);
        }
        std::thread::sleep(HEALTH_EVERY);
    }
}

/// Samples whether the stack is whole, every [`HEALTH_EVERY`], on a thread of its own.
struct HealthMonitor {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(f64, bool)>>,
}

impl HealthMonitor {
    fn start(state_dir: &Path, origin: Instant) -> HealthMonitor {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            let state_dir = state_dir.to_path_buf();
            std::thread::spawn(move || {
                let mut samples = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let at = origin.elapsed().as_secs_f64();
                    samples.push((at, unhealthy_now(&state_dir).is_none()));
                    std::thread::sleep(HEALTH_EVERY);
                }
                samples
            })
        };
        HealthMonitor { stop, thread }
    }

    fn finish(self) -> Vec<(f64, bool)> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_default()
    }
}

/// This run's part of every marker: the time in base 36, so runs never share a source.
fn run_stamp() -> String {
    let mut millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    let mut digits = Vec::new();
    while millis > 0 || digits.is_empty() {
        let digit = u32::try_from(millis % 36).unwrap_or(0);
        digits.push(char::from_digit(digit, 36).unwrap_or('0'));
        millis /= 36;
    }
    // A letter first, so a marker makes a valid name in any language.
    std::iter::once('r')
        .chain(digits.into_iter().rev())
        .collect()
}

fn not_run(scenario: Scenario, why: String) -> ScenarioReport {
    ScenarioReport {
        scenario: scenario.name().into(),
        fault: "not run".into(),
        fault_problems: vec![why],
        ..ScenarioReport::default()
    }
}

fn run_scenario(
    stack: &mut Stack,
    scenario: Scenario,
    stamp: &str,
    model_timeout: Duration,
) -> ScenarioReport {
    eprintln!("==> {}", scenario.name());
    let mut problems = fault::reset_simulator(stack);
    if let Some(unhealthy) = wait_whole(&stack.state_dir, HEALTHY_BEFORE) {
        problems.push(format!("not healthy before the fault: {unhealthy}"));
    }
    let marker_prefix = format!("aiut-chaos-{stamp}-{}-", scenario.name());
    let origin = Instant::now();
    let monitor = HealthMonitor::start(&stack.state_dir, origin);
    let load = Load::start(LoadPlan {
        base_url: stack.deployment.gateway_url.clone(),
        marker_prefix: marker_prefix.clone(),
        origin,
        readers: 4,
        creators: 4,
        waiters: 1,
        create_every: Duration::from_millis(500),
        read_pause: Duration::from_millis(100),
    });
    std::thread::sleep(WARM_UP);
    let fault_at = origin.elapsed().as_secs_f64();
    let fault_started = Instant::now();
    eprintln!("    fault at {fault_at:.1} s");
    let injected = fault::inject(stack, scenario, &marker_prefix);
    eprintln!("    {}", injected.what);
    problems.extend(injected.problems);
    let load_until = (fault_started + LOAD_AFTER_FAULT).max(Instant::now() + LOAD_AFTER_RECOVERY);
    std::thread::sleep(load_until.saturating_duration_since(Instant::now()));

    load.stop_creating();
    let settle_deadline = Instant::now() + scenario.settle_limit(model_timeout);
    load.follow_until(settle_deadline);
    eprintln!(
        "    load stopped after {:.1} s with {} tasks created; waiting up to {} s for their ends",
        origin.elapsed().as_secs_f64(),
        load.created_count(),
        scenario.settle_limit(model_timeout).as_secs()
    );
    let prefix = marker_prefix.clone();
    loop {
        let rows_ended = stack
            .database
            .rows_marked(&prefix)
            .is_ok_and(|rows| rows.iter().all(database::Row::is_terminal));
        if (rows_ended && load.streams_following() == 0 && load.clients_done())
            || Instant::now() >= settle_deadline
        {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let seen = load.finish();
    let health = monitor.finish();
    let rows = final_rows(&stack.database, &marker_prefix, &mut problems);

    let count = |kind: RequestKind| {
        let of_kind = seen.requests.iter().filter(|request| request.kind == kind);
        Count {
            sent: of_kind.clone().count(),
            failed: of_kind.filter(|request| !request.served).count(),
        }
    };
    let row_ids: BTreeSet<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    let lost: Vec<String> = seen
        .created
        .iter()
        .filter_map(|created| {
            if !row_ids.contains(created.id.as_str()) {
                return Some(format!(
                    "{} ({}): not in the task table",
                    created.id, created.marker
                ));
            }
            owner_lookup(&stack.deployment.gateway_url, created)
                .err()
                .map(|why| format!("{} ({}): {why}", created.id, created.marker))
        })
        .collect();
    let duplicated = database::duplicates(&rows)
        .into_iter()
        .map(|(marker, count)| format!("{marker}: {count} rows"))
        .collect();
    let stuck = rows
        .iter()
        .filter(|row| !row.is_terminal())
        .map(|row| format!("{} still {} ({})", row.id, row.status, row.marker))
        .collect();
    let mut outcomes = std::collections::BTreeMap::new();
    for row in rows.iter().filter(|row| row.is_terminal()) {
        let outcome = match (&*row.status, &row.error_code) {
            ("failed", Some(code)) => format!("failed: {code}"),
            (status, _) => status.to_owned(),
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    let refused: BTreeSet<&str> = seen.refused.iter().map(String::as_str).collect();
    let streams_without_end = seen
        .streams
        .iter()
        .filter(|stream| stream.ending.is_none())
        .map(|stream| format!("{}: {}", stream.id, stream.reason))
        .collect();
    ScenarioReport {
        scenario: scenario.name().into(),
        fault: injected.what,
        fault_problems: problems,
        seconds: origin.elapsed().as_secs_f64(),
        reads: count(RequestKind::Read),
        creates: count(RequestKind::Create),
        waits: count(RequestKind::Wait),
        failures: seen.failures(),
        tasks_created: seen.created.len(),
        lost,
        duplicated,
        stuck,
        streams: seen.streams.len(),
        streams_without_end,
        outcomes,
        rows_of_refused_creates: rows
            .iter()
            .filter(|row| refused.contains(row.marker.as_str()))
            .count(),
        recovery_secs: report::recovery(fault_at, &health, &seen.requests),
    }
}

/// The scenario's rows, asked again a few times while Postgres does not answer.
fn final_rows(database: &Database, prefix: &str, problems: &mut Vec<String>) -> Vec<database::Row> {
    let mut last_error = None;
    for _ in 0..5 {
        match database.rows_marked(prefix) {
            Ok(rows) => return rows,
            Err(error) => last_error = Some(error),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    if let Some(error) = last_error {
        problems.push(format!("cannot read the task table: {error:#}"));
    }
    Vec::new()
}

/// Whether the task's owner still finds it (`GET /api/tasks/{id}` with the creator's session),
/// asked up to three times while the answer is not a clear one.
fn owner_lookup(gateway_url: &str, created: &load::Created) -> Result<(), String> {
    let url = format!("{gateway_url}/api/tasks/{}", created.id);
    let mut why = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        match created.agent.get(&url).call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let _ = response.body_mut().read_to_string();
                match status {
                    200..=299 => return Ok(()),
                    404 => return Err("its owner's session no longer finds it (HTTP 404)".into()),
                    _ => why = format!("HTTP {status} when its owner looked it up"),
                }
            }
            Err(error) => why = format!("no answer when its owner looked it up ({error})"),
        }
    }
    Err(why)
}

/// Whether a trusted network of the gateway's rate limiter holds 127.0.0.1.
fn trusts_loopback(config: &str) -> bool {
    let Ok(table) = config.parse::<toml::Table>() else {
        return false;
    };
    let networks = table
        .get("gateway")
        .and_then(|gateway| gateway.get("rate_limit"))
        .and_then(|limit| limit.get("trusted_networks"))
        .and_then(toml::Value::as_array);
    networks.is_some_and(|networks| {
        networks
            .iter()
            .filter_map(toml::Value::as_str)
            .any(holds_loopback)
    })
}

fn holds_loopback(network: &str) -> bool {
    let (address, prefix) = network.split_once('/').unwrap_or((network, "32"));
    let (Ok(address), Ok(prefix)) = (address.parse::<std::net::Ipv4Addr>(), prefix.parse::<u32>())
    else {
        return false;
    };
    if prefix > 32 {
        return false;
    }
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(address) & mask == u32::from(std::net::Ipv4Addr::LOCALHOST) & mask
}

/// The workers' timeout of one call to the deployment's default model, from its configuration.
fn simulator_timeout(config: &str) -> Option<Duration> {
    let table = config.parse::<toml::Table>().ok()?;
    let models = table.get("models")?;
    let default = models.get("default")?.as_str()?;
    models
        .get("registry")?
        .as_array()?
        .iter()
        .find(|model| model.get("id").and_then(toml::Value::as_str) == Some(default))?
        .get("timeout_secs")?
        .as_integer()
        .and_then(|secs| u64::try_from(secs).ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<ChaosArgs, clap::Error> {
        crate::cli::parse_args::<ChaosArgs>(words)
    }

    #[test]
    fn options_name_scenarios_and_the_output() {
        let all = parse(&[]).expect("defaults");
        assert!(!all.json);
        assert_eq!(scenario::select(&all.scenarios), Scenario::ALL.to_vec());
        let some = parse(&[
            "--scenario",
            "redis-restart",
            "--scenario=api-kill",
            "--json",
        ])
        .expect("valid");
        assert!(some.json);
        assert_eq!(
            scenario::select(&some.scenarios),
            [Scenario::RedisRestart, Scenario::ApiKill].to_vec()
        );
        assert_eq!(
            scenario::select(&parse(&["--scenario", "all"]).expect("all").scenarios).len(),
            8
        );
        for bad in [
            &["--scenario", "meteor"][..],
            &["--scenario"],
            &["--users", "3"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_load_must_not_meet_the_rate_limit() {
        let config = |networks: &str| {
            format!(
                "[gateway]\nlisten = \"0.0.0.0:80\"\n[gateway.rate_limit]\ntrusted_networks = {networks}\n"
            )
        };
        assert!(trusts_loopback(&config(r#"["127.0.0.1/32"]"#)));
        assert!(trusts_loopback(&config(r#"["10.0.0.0/8", "127.0.0.0/8"]"#)));
        assert!(trusts_loopback(&config(r#"["127.0.0.1"]"#)));
        assert!(trusts_loopback(&config(r#"["0.0.0.0/0"]"#)));
        assert!(!trusts_loopback(&config("[]")));
        assert!(!trusts_loopback(&config(r#"["127.0.0.2/32", "::1/128"]"#)));
        assert!(!trusts_loopback("[gateway]\n"));
        assert!(!trusts_loopback("not toml ["));
    }

    #[test]
    fn the_model_timeout_is_read_from_the_deployed_configuration() {
        let config = r#"
[models]
default = "simulator"
[[models.registry]]
id = "offline"
kind = "offline"
timeout_secs = 120
[[models.registry]]
id = "simulator"
kind = "openai"
timeout_secs = 5
"#;
        assert_eq!(simulator_timeout(config), Some(Duration::from_secs(5)));
        assert_eq!(simulator_timeout("[gateway]\n"), None);
    }

    #[test]
    fn run_stamps_are_marker_text_starting_with_a_letter() {
        let stamp = run_stamp();
        assert!(stamp.starts_with('r'));
        assert!(
            stamp
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{stamp}"
        );
    }
}
