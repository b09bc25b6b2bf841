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

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{
    LIMIT_OUT_OF_REACH, PhaseResult, RunningApi, SESSION_COOKIE, Stores, build_release,
    count_argument, describe_failures, finish, new_agent, ratio, run_phase, snippet, unix_stamp,
    warnings_in_log,
};
use crate::{project_root, target_dir};

/// Requests of each kind sent before a phase is measured, spread over the clients.
const WARM_UP_REQUESTS: usize = 100;

/// `bench api`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ApiBenchArgs {
    /// requests per phase
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = count_argument)]
    requests: usize,
    /// clients sending at once
    #[arg(long, value_name = "C", default_value_t = 16, value_parser = count_argument)]
    concurrency: usize,
    /// print one JSON object instead of the table
    #[arg(long)]
    json: bool,
}

pub fn run(options: &ApiBenchArgs) -> anyhow::Result<bool> {
    let root = project_root();
    // Progress goes to stderr, so that with `--json` stdout holds the JSON alone.
    let [binary] = build_release(&root, &["aiut-api"])?
        .try_into()
        .map_err(|_| anyhow::anyhow!("cargo built an unexpected set of binaries"))?;
    let stamp = unix_stamp()?;
    // Declared before the api, so dropped after it: the api stops before its database goes.
    let stores = Stores::new(stamp)?;
    eprintln!(
        "==> per-session and queue-depth limits raised to {LIMIT_OUT_OF_REACH}: the bench measures the service, not its limits"
    );
    let log_dir = target_dir(&root).join("bench");
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let log_path = log_dir.join(format!("aiut-api-{stamp}.log"));
    let mut api = RunningApi::start(&binary, &log_dir, &log_path, &stores, "bench", &[])?;
    eprintln!("==> waiting for {}/healthz", api.base_url);
    api.wait_until_healthy()?;

    let report = measure(&api.base_url, options)?;
    drop(api);
    let api_log = warnings_in_log(&log_path);

    if options.json {
        println!("{}", report.to_json(options, &api_log, &log_path));
    } else {
        print!("{}", report.to_table(options, &api_log, &log_path));
    }
    let passed = report.create.failures.is_empty()
        && report.lookup.failures.is_empty()
        && report.sessions_problem.is_none();
    if !passed {
        eprintln!("bench failed: task creation or lookup had failures (see above)");
    }
    Ok(passed)
}

/// One simulated user: a keep-alive connection and a session cookie, both kept by the agent.
struct Client {
    agent: ureq::Agent,
    /// Ids of the tasks this client created, for the lookups.
    created: Vec<String>,
    /// Session ids the api set in cookies; one per client when the cookie is sent back.
    sessions: HashSet<String>,
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

fn measure(base_url: &str, options: &ApiBenchArgs) -> anyhow::Result<Report> {
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

impl Report {
    fn phases(&self) -> [(&'static str, &PhaseResult); 3] {
        [
            ("healthz", &self.healthz),
            ("create", &self.create),
            ("lookup", &self.lookup),
        ]
    }

    fn to_table(&self, options: &ApiBenchArgs, api_log: &[String], log_path: &Path) -> String {
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

    fn to_json(&self, options: &ApiBenchArgs, api_log: &[String], log_path: &Path) -> String {
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
