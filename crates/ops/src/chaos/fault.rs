//! The faults, done to the deployment recorded in the state folder: processes killed, stopped,
//! frozen and started again the way `deploy` and `restart` start them (the record is updated, so
//! `status` and `stop` find the new processes), and the model simulator told to misbehave.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::process::Signal;

use super::database::Database;
use super::scenario::Scenario;
use crate::deploy;
use crate::stack::{Deployment, Kind, ServiceRecord, probe, process, state};

/// How long a restarted service may take to be healthy again.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long the gateway may take to see a replica down or back (its checks run every 2 s).
const GATEWAY_NOTICE: Duration = Duration::from_secs(10);
const GATEWAY_TAKES_BACK: Duration = Duration::from_secs(60);
/// How long a model fault lasts before it is undone.
pub const MODEL_FAULT_WINDOW: Duration = Duration::from_secs(10);
/// How long the slow backend stays frozen.
const FREEZE: Duration = Duration::from_secs(5);
/// The hang scenario's script: of this many next calls, every third hangs.
const HANG_SCRIPT_CALLS: usize = 36;
/// The longest a rolling restart may take before it is stopped.
const RESTART_LIMIT: Duration = Duration::from_secs(240);

/// The deployment under test and how to reach its parts.
pub struct Stack {
    pub state_dir: PathBuf,
    pub deployment: Deployment,
    pub database: Database,
    /// `http://127.0.0.1:PORT` of the model simulator.
    pub simulator_url: String,
    /// The simulator's failure rates before the run, put back after each model fault; `None`
    /// when its binary has no `/sim/rates`.
    pub baseline_rates: Option<serde_json::Value>,
}

/// What was done, and what went wrong doing it.
#[derive(Debug, Default)]
pub struct Injected {
    pub what: String,
    pub problems: Vec<String>,
}

impl Injected {
    fn failed(what: String, problem: &anyhow::Error) -> Injected {
        Injected {
            what,
            problems: vec![format!("{problem:#}")],
        }
    }
}

/// Does `scenario`'s fault and, for the faults that last (a frozen replica, a misbehaving model),
/// undoes it; returns when the stack has been given back what was taken (a restarted service
/// healthy, a model answering as before).
pub fn inject(stack: &mut Stack, scenario: Scenario, marker_prefix: &str) -> Injected {
    let outcome = match scenario {
        Scenario::ApiKill => kill_api(stack),
        Scenario::WorkerKill => kill_worker(stack, marker_prefix),
        Scenario::RedisRestart => restart_data(stack, Kind::Redis),
        Scenario::PostgresRestart => restart_data(stack, Kind::Postgres),
        Scenario::RollingRestart => rolling_restart(stack),
        Scenario::ModelHang => model_hang(stack),
        Scenario::ModelErrors => model_errors(stack),
        Scenario::SlowBackend => freeze_api(stack),
    };
    outcome.unwrap_or_else(|error| Injected::failed(scenario.name().to_owned(), &error))
}

/// The service of `kind` at `index` (wrapping) in name order, which a restart does not change.
fn pick(stack: &Stack, kind: Kind, index: usize) -> anyhow::Result<ServiceRecord> {
    let mut of_kind: Vec<&ServiceRecord> = stack
        .deployment
        .services
        .iter()
        .filter(|service| service.kind == kind)
        .collect();
    of_kind.sort_by(|a, b| (a.name.len(), &a.name).cmp(&(b.name.len(), &b.name)));
    anyhow::ensure!(
        !of_kind.is_empty(),
        "the deployment has no {kind:?} service"
    );
    Ok(of_kind[index % of_kind.len()].clone())
}

fn running_pid(service: &ServiceRecord) -> anyhow::Result<u32> {
    service
        .pid
        .filter(|&pid| process::is_alive(pid))
        .with_context(|| format!("{} is not running", service.name))
}

/// Starts the recorded service again, as `deploy` and `restart` do, and waits until its probe
/// passes; the time that took.
fn start_again(stack: &mut Stack, name: &str) -> anyhow::Result<Duration> {
    let mut fresh = stack
        .deployment
        .service(name)
        .cloned()
        .with_context(|| format!("no service {name}"))?;
    fresh.pid = None;
    let started = Instant::now();
    deploy::launch(&mut stack.deployment, &stack.state_dir, fresh)?;
    let service = stack
        .deployment
        .service(name)
        .cloned()
        .with_context(|| format!("no service {name}"))?;
    wait_healthy(&service, START_LIMIT)?;
    Ok(started.elapsed())
}

/// Waits until the service's own probe passes, without printing.
pub fn wait_healthy(service: &ServiceRecord, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if let Some(pid) = service.pid
            && !process::is_alive(pid)
        {
            anyhow::bail!(
                "{} exited at start\n{}",
                service.name,
                deploy::service_log_tail(service, 15)
            );
        }
        match probe::check(&service.health, Duration::from_secs(1)) {
            Ok(()) => return Ok(()),
            Err(error) if started.elapsed() > limit => {
                anyhow::bail!(
                    "{} not healthy after {} s: {error}",
                    service.name,
                    limit.as_secs()
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn backend_of(service: &ServiceRecord) -> anyhow::Result<String> {
    service
        .port
        .map(|port| format!("127.0.0.1:{port}"))
        .with_context(|| format!("{} has no port", service.name))
}

/// How long after `since` the gateway had `replica` (at `backend`) in its rotation again, as
/// the table shows it; "never" when it did not within [`GATEWAY_TAKES_BACK`], which is a problem.
fn back_in_rotation(
    stack: &Stack,
    replica: &ServiceRecord,
    backend: &str,
    since: Instant,
    problems: &mut Vec<String>,
) -> String {
    if deploy::wait_backend(
        &stack.deployment.gateway_url,
        backend,
        true,
        GATEWAY_TAKES_BACK,
    ) {
        format!("{:.1} s", since.elapsed().as_secs_f64())
    } else {
        problems.push(format!(
            "the gateway has not taken {} back after {} s",
            replica.name,
            GATEWAY_TAKES_BACK.as_secs()
        ));
        "never".into()
    }
}

fn kill_api(stack: &mut Stack) -> anyhow::Result<Injected> {
    let replica = pick(stack, Kind::Api, 0)?;
    let pid = running_pid(&replica)?;
    let backend = backend_of(&replica)?;
    let killed = Instant::now();
    process::signal_group(pid, Signal::KILL)?;
    process::wait_group_gone(pid, Duration::from_secs(5));
    // As `restart` does: let the gateway see the replica down first, so its next passing check
    // takes it straight back rather than after an ejection.
    deploy::wait_backend(
        &stack.deployment.gateway_url,
        &backend,
        false,
        GATEWAY_NOTICE,
    );
    start_again(stack, &replica.name)?;
    let healthy = killed.elapsed();
    let mut problems = Vec::new();
    let back = back_in_rotation(stack, &replica, &backend, killed, &mut problems);
    Ok(Injected {
        what: format!(
            "SIGKILL to {} (pid {pid}); started again: healthy after {:.1} s, back in the \
             gateway's rotation after {back}",
            replica.name,
            healthy.as_secs_f64()
        ),
        problems,
    })
}

fn kill_worker(stack: &mut Stack, marker_prefix: &str) -> anyhow::Result<Injected> {
    // The worker holding the most of this run's running tasks, so the kill lands mid-task.
    let deadline = Instant::now() + Duration::from_secs(5);
    let busiest = loop {
        match stack.database.busiest_worker(marker_prefix) {
            Ok(Some(busiest)) => break Some(busiest),
            _ if Instant::now() >= deadline => break None,
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let worker = match &busiest {
        Some((owner, _)) => match stack.deployment.service(owner) {
            Some(worker) if worker.kind == Kind::Worker => worker.clone(),
            _ => pick(stack, Kind::Worker, 0)?,
        },
        None => pick(stack, Kind::Worker, 0)?,
    };
    let pid = running_pid(&worker)?;
    process::signal_group(pid, Signal::KILL)?;
    process::wait_group_gone(pid, Duration::from_secs(5));
    let took = start_again(stack, &worker.name)?;
    let running = match busiest {
        Some((owner, 1)) if owner == worker.name => "while it ran 1 task".into(),
        Some((owner, count)) if owner == worker.name => format!("while it ran {count} tasks"),
        _ => "(no task of the run was running on a worker)".into(),
    };
    Ok(Injected {
        what: format!(
            "SIGKILL to {} (pid {pid}) {running}; started again, healthy after {:.1} s; its \
             tasks wait for their leases to run out",
            worker.name,
            took.as_secs_f64()
        ),
        problems: Vec::new(),
    })
}

/// Stops the deployment's own Redis or Postgres as `stop` does (Postgres' fast shutdown) and
/// starts it again.
fn restart_data(stack: &mut Stack, kind: Kind) -> anyhow::Result<Injected> {
    let service = pick(stack, kind, 0)?;
    let pid = running_pid(&service)?;
    let stopping = Instant::now();
    process::signal_group(pid, crate::stop::stop_signal(kind))?;
    if !process::wait_group_gone(pid, Duration::from_secs(30)) {
        process::signal_group(pid, Signal::KILL)?;
        process::wait_group_gone(pid, Duration::from_secs(5));
    }
    let stopped = stopping.elapsed();
    let took = start_again(stack, &service.name)?;
    let what = match kind {
        Kind::Redis => {
            "the private Redis (it keeps nothing on disk: sessions, event logs and \
                        counters start empty)"
        }
        _ => "the private Postgres (fast shutdown: open connections are closed)",
    };
    Ok(Injected {
        what: format!(
            "stopped {what} in {:.1} s and started it again; answering after {:.1} s more",
            stopped.as_secs_f64(),
            took.as_secs_f64()
        ),
        problems: Vec::new(),
    })
}

/// `restart`, run as the operator runs it (its progress goes to stderr), then the record it
/// rewrote read back.
fn rolling_restart(stack: &mut Stack) -> anyhow::Result<Injected> {
    let program = std::env::current_exe().context("cannot find this program to run `restart`")?;
    let started = Instant::now();
    let mut child = Command::new(&program)
        .arg("restart")
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .spawn()
        .with_context(|| format!("cannot run {} restart", program.display()))?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > RESTART_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    stack.deployment = state::load(&stack.state_dir)?
        .context("the deployment record is gone after the restart")?;
    let services = stack
        .deployment
        .services
        .iter()
        .filter(|service| matches!(service.kind, Kind::Api | Kind::Worker | Kind::Gateway))
        .count();
    let what = format!(
        "`restart`: {services} services (api replicas, workers, then the gateway) one at a time, \
         in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let problems = match status {
        Some(status) if status.success() => Vec::new(),
        Some(status) => vec![format!("`restart` failed ({status})")],
        None => vec![format!(
            "`restart` was still running after {} s and was stopped",
            RESTART_LIMIT.as_secs()
        )],
    };
    Ok(Injected { what, problems })
}

fn simulator_agent() -> ureq::Agent {
    crate::client::new_agent(Duration::from_secs(5))
}

/// Sends `body` to the simulator's control route; its JSON answer.
fn simulator_call(
    stack: &Stack,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let agent = simulator_agent();
    let url = format!("{}{path}", stack.simulator_url);
    let sent = match (method, body) {
        ("PUT", Some(body)) => agent
            .put(&url)
            .content_type("application/json")
            .send(body.to_string()),
        ("POST", Some(body)) => agent
            .post(&url)
            .content_type("application/json")
            .send(body.to_string()),
        _ => agent.get(&url).call(),
    };
    let mut response = sent.with_context(|| format!("the simulator did not answer {path}"))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    anyhow::ensure!(
        (200..300).contains(&status),
        "the simulator answered {method} {path} with HTTP {status}: {}",
        crate::client::snippet(&text)
    );
    serde_json::from_str(&text).with_context(|| format!("{path} did not answer JSON"))
}

/// The counters of `/sim/stats` that a model fault moves.
fn simulator_counts(stack: &Stack) -> (u64, u64, u64) {
    let stats = simulator_call(stack, "GET", "/sim/stats", None).unwrap_or_default();
    let number = |value: &serde_json::Value| value.as_u64().unwrap_or(0);
    let errors = stats["by_status"]
        .as_object()
        .map(|by_status| {
            by_status
                .iter()
                .filter(|(status, _)| status.starts_with('5') && status.as_str() != "504")
                .map(|(_, count)| number(count))
                .sum()
        })
        .unwrap_or(0);
    (number(&stats["requests"]), number(&stats["hangs"]), errors)
}

/// Puts the simulator back as the run found it: nothing scripted, the rates it started with.
pub fn reset_simulator(stack: &Stack) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(error) = simulator_call(stack, "POST", "/sim/script", Some(&serde_json::json!([]))) {
        problems.push(format!("{error:#}"));
    }
    if let Some(rates) = &stack.baseline_rates
        && let Err(error) = simulator_call(stack, "PUT", "/sim/rates", Some(rates))
    {
        problems.push(format!("{error:#}"));
    }
    problems
}

fn model_hang(stack: &mut Stack) -> anyhow::Result<Injected> {
    let script: Vec<&str> = (0..HANG_SCRIPT_CALLS)
        .map(|call| if call % 3 == 0 { "hang" } else { "answer" })
        .collect();
    let (requests_before, hangs_before, _) = simulator_counts(stack);
    simulator_call(
        stack,
        "POST",
        "/sim/script",
        Some(&serde_json::json!(script)),
    )?;
    std::thread::sleep(MODEL_FAULT_WINDOW);
    let problems = reset_simulator(stack);
    let (requests_after, hangs_after, _) = simulator_counts(stack);
    Ok(Injected {
        what: format!(
            "the model left every third of its next {HANG_SCRIPT_CALLS} calls unanswered, for \
             {} s: {} of {} calls hung (the workers give a call up at the model's timeout)",
            MODEL_FAULT_WINDOW.as_secs(),
            hangs_after.saturating_sub(hangs_before),
            requests_after.saturating_sub(requests_before),
        ),
        problems,
    })
}

fn model_errors(stack: &mut Stack) -> anyhow::Result<Injected> {
    anyhow::ensure!(
        stack.baseline_rates.is_some(),
        "the deployed simulator has no /sim/rates to change its error rate at run time \
         (deploy a build that has it)"
    );
    let (requests_before, _, errors_before) = simulator_counts(stack);
    simulator_call(
        stack,
        "PUT",
        "/sim/rates",
        Some(&serde_json::json!({"error_rate": 0.5})),
    )?;
    std::thread::sleep(MODEL_FAULT_WINDOW);
    let problems = reset_simulator(stack);
    let (requests_after, _, errors_after) = simulator_counts(stack);
    Ok(Injected {
        what: format!(
            "the model failed half its calls with a server error for {} s: {} of {} calls failed",
            MODEL_FAULT_WINDOW.as_secs(),
            errors_after.saturating_sub(errors_before),
            requests_after.saturating_sub(requests_before),
        ),
        problems,
    })
}

/// Lets a frozen process group go on, however the freeze ends.
struct Thaw(u32);

impl Drop for Thaw {
    fn drop(&mut self) {
        let _ = process::signal_group(self.0, Signal::CONT);
    }
}

fn freeze_api(stack: &mut Stack) -> anyhow::Result<Injected> {
    let replicas = stack
        .deployment
        .services
        .iter()
        .filter(|service| service.kind == Kind::Api)
        .count();
    // Another replica than the one `api-kill` kills, when there is one.
    let replica = pick(stack, Kind::Api, replicas.saturating_sub(1))?;
    let pid = running_pid(&replica)?;
    let backend = backend_of(&replica)?;
    let frozen = Instant::now();
    process::signal_group(pid, Signal::STOP)?;
    let thaw = Thaw(pid);
    std::thread::sleep(FREEZE);
    drop(thaw);
    let mut problems = Vec::new();
    let back = back_in_rotation(stack, &replica, &backend, frozen, &mut problems);
    Ok(Injected {
        what: format!(
            "{} (pid {pid}) frozen with SIGSTOP for {} s, then SIGCONT; in the gateway's \
             rotation again after {back}",
            replica.name,
            FREEZE.as_secs()
        ),
        problems,
    })
}
