//! `cargo xtask bench api`: how fast a real `aiut-api` creates and looks up tasks, measured on
//! loopback against a peer measured in the same run, with the queue empty or already long.
//!
//! Method:
//! - the release binary runs against the Postgres of `DATABASE_URL` (in a fresh database,
//!   `aiut_bench_<unix time>_<backlog>`, dropped afterwards) and the Redis of `REDIS_URL` (under a
//!   fresh key prefix), with the per-session and queue-depth limits raised out of reach: the bench
//!   measures the service, not its limits;
//! - `--backlog 0,100000` starts one api and database per value and puts that many queued tasks of
//!   other sessions straight into the database (one `insert … select` from `generate_series`,
//!   created over the hour before, so they are ahead of every task the bench creates; then
//!   `vacuum analyze`, as autovacuum would soon do), before anything is measured;
//! - `C` clients per api, one thread each, send requests back to back, each over its own
//!   keep-alive connection and with its own session cookie, as `C` busy users would. Every phase
//!   is `N` requests spread over the clients, after a warm-up of about 100 requests of the same
//!   kind (connections opened, sessions minted, pools and caches filled);
//! - phases: `GET /healthz`, then `POST /api/tasks` with a different source each time (so the
//!   result cache never answers), then `GET /api/tasks/{id}` over the tasks each client created
//!   (queued, behind the backlog: each answer has a queue position);
//! - `--rounds R`: each round measures every backlog once, in turn, so drift on a shared machine
//!   hits them alike; the figures add up over the rounds;
//! - latency is measured per request, from before sending to the end of the body; requests/s is
//!   the phase's requests over its wall time; CPU per request is the api's, and that of the
//!   Postgres backends serving its database, read from `/proc` around each measured phase (when
//!   Postgres runs on this machine): unlike requests/s, it holds still on a busy machine.
//!
//! Why `/healthz` is the peer: it goes through the same server, the same middleware and the same
//! connection handling as the task routes, but touches neither Postgres nor Redis. So
//! `create / healthz` and `lookup / healthz` show what the database and Redis work costs per
//! request, and the ratios stay comparable between machines and runs where absolute numbers do
//! not (the clients share the machine's cores with the server, and with Postgres and Redis).
//! Flatness is each backlog's create and lookup requests/s over those of the first backlog.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{
    LIMIT_OUT_OF_REACH, PhaseResult, RunningApi, SESSION_COOKIE, Stores, build_release,
    count_argument, describe_failures, finish, new_agent, psql, ratio, run_phase, snippet,
    unix_stamp, warnings_in_log,
};
use crate::client::Outcome;
use crate::{procfs, project_root, target_dir};

/// Requests of each kind sent before a phase is measured, spread over the clients.
const WARM_UP_REQUESTS: usize = 100;

/// The sessions the backlog's tasks belong to.
const BACKLOG_OWNERS: usize = 1000;

/// The session id of the backlog's owner `index`: the shape the api hands out (64 lower-case hex
/// digits). The api has no record of it in Redis, and takes it back from the task table (its
/// tasks were updated just now), as it does any session Redis lost.
fn backlog_owner(index: usize) -> String {
    format!("{index:064x}")
}

/// `bench api`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ApiBenchArgs {
    /// requests per phase (per backlog and round)
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = count_argument)]
    requests: usize,
    /// clients sending at once
    #[arg(long, value_name = "C", default_value_t = 16, value_parser = count_argument)]
    concurrency: usize,
    /// queued tasks of other sessions put in before measuring, one api and database per value
    #[arg(
        long,
        value_name = "N,N…",
        value_delimiter = ',',
        default_value = "0",
        value_parser = backlog_argument
    )]
    backlog: Vec<usize>,
    /// rounds; each measures every backlog once, in turn
    #[arg(long, value_name = "R", default_value_t = 1, value_parser = count_argument)]
    rounds: usize,
    /// measure this aiut-api binary instead of building one (an older build, say)
    #[arg(long, value_name = "PATH")]
    api_binary: Option<PathBuf>,
    /// print one JSON object instead of the table
    #[arg(long)]
    json: bool,
}

/// A backlog size: a whole number, 0 included, up to ten million.
fn backlog_argument(value: &str) -> Result<usize, String> {
    let number: usize = value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not a number"))?;
    if number > 10_000_000 {
        return Err("at most 10000000".to_owned());
    }
    Ok(number)
}

pub fn run(options: &ApiBenchArgs) -> anyhow::Result<bool> {
    let root = project_root();
    // Progress goes to stderr, so that with `--json` stdout holds the JSON alone.
    let binary = match &options.api_binary {
        Some(binary) => {
            anyhow::ensure!(binary.is_file(), "no aiut-api at {}", binary.display());
            binary.clone()
        }
        None => {
            let [binary] = build_release(&root, &["aiut-api"])?
                .try_into()
                .map_err(|_| anyhow::anyhow!("cargo built an unexpected set of binaries"))?;
            binary
        }
    };
    let stamp = unix_stamp()?;
    eprintln!(
        "==> per-session and queue-depth limits raised to {LIMIT_OUT_OF_REACH}: the bench measures the service, not its limits"
    );
    let log_dir = target_dir(&root).join("bench");
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;

    let mut targets = Vec::with_capacity(options.backlog.len());
    for (index, &backlog) in options.backlog.iter().enumerate() {
        let name = format!("{stamp}_{index}_{backlog}");
        let stores = Stores::named(&name)?;
        let log_path = log_dir.join(format!("aiut-api-{name}.log"));
        let mut api = RunningApi::start(&binary, &log_dir, &log_path, &stores, "bench", &[])?;
        eprintln!("==> waiting for {}/healthz", api.base_url);
        api.wait_until_healthy()?;
        fill_backlog(&stores.database_url, backlog)?;
        targets.push(Target::new(backlog, api, stores, log_path, options));
    }

    let source_number = AtomicU64::new(0);
    for round in 1..=options.rounds {
        for target in &mut targets {
            eprintln!(
                "==> round {round}/{}, backlog {}: {} requests per phase over {} clients",
                options.rounds, target.backlog, options.requests, options.concurrency
            );
            target.measure_round(options, &source_number)?;
        }
    }

    let reports: Vec<Report> = targets.into_iter().map(Target::finish).collect();
    if options.json {
        println!("{}", to_json(&reports, options));
    } else {
        print!("{}", to_table(&reports, options));
    }
    let passed = reports.iter().all(|report| {
        report.create.failures.is_empty()
            && report.lookup.failures.is_empty()
            && report.backlog_lookup.failures.is_empty()
            && report.sessions_problem.is_none()
    });
    if !passed {
        eprintln!("bench failed: task creation or lookup had failures (see above)");
    }
    Ok(passed)
}

/// Puts `count` queued tasks of [`BACKLOG_OWNERS`] other sessions in the api's database, created
/// over the hour before now (so ahead of every task the bench creates; task `n` is owned by
/// [`backlog_owner`]`(n % BACKLOG_OWNERS)`, so each owner's tasks are spread over the whole queue),
/// then vacuums, as autovacuum soon would: the queue's indexes are then as a long-lived queue's
/// are, not freshly written.
fn fill_backlog(database_url: &str, count: usize) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    eprintln!("==> putting {count} queued tasks of other sessions in the database");
    let started = Instant::now();
    psql(
        database_url,
        &format!(
            "insert into tasks (id, owner_session, status, language, framework, model, file_name, \
                 source, source_sha256, cache_key, created_at, updated_at) \
             select gen_random_uuid(), lpad(to_hex(n % {BACKLOG_OWNERS}), 64, '0'), 'queued', \
                 'python', 'pytest', 'offline', 'calc.py', format(E'def g_%s(a):\\n    return a - %s\\n', n, n), \
                 md5('source ' || n), md5('backlog ' || n), \
                 now() - interval '1 hour' + n * (interval '1 hour' / {count}), now() \
             from generate_series(1, {count}) as n"
        ),
    )?;
    psql(database_url, "vacuum analyze tasks")?;
    eprintln!(
        "==> {count} queued tasks in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One simulated user: a keep-alive connection and a session cookie, both kept by the agent.
struct Client {
    agent: ureq::Agent,
    /// Ids of the tasks this client created, for the lookups.
    created: Vec<String>,
    /// Session ids the api set in cookies; one per client when the cookie is sent back.
    sessions: HashSet<String>,
}

/// One api over its own database holding `backlog` queued tasks, and its clients.
struct Target {
    backlog: usize,
    // Declared before the stores, so dropped before them: the api stops before its database goes.
    api: RunningApi,
    stores: Stores,
    log_path: PathBuf,
    clients: Vec<Client>,
    /// Clients of the backlog's owners, reading their tasks all over the queue.
    backlog_clients: Vec<Client>,
    healthz: PhaseResult,
    create: PhaseResult,
    lookup: PhaseResult,
    backlog_lookup: PhaseResult,
    /// CPU time per phase: `[healthz, create, lookup, lookup-backlog]`.
    cpu: [Cpu; 4],
}

/// CPU ticks spent during a phase's measured part, by the api and by the Postgres backends
/// serving its database (read from `/proc`, so only when Postgres runs on this machine).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    api_ticks: u64,
    postgres_ticks: Option<u64>,
}

/// The processes whose CPU a phase is charged: the api and its database's backends.
struct CpuProbe {
    api: u32,
    postgres: Vec<u32>,
}

impl CpuProbe {
    /// The backends connected to the api's database now (its pool is warm after a warm-up).
    fn new(api: u32, database_url: &str) -> CpuProbe {
        let postgres = psql(
            database_url,
            "select pid from pg_stat_activity where datname = current_database() \
             and pid <> pg_backend_pid()",
        )
        .map(|listed| {
            listed
                .lines()
                .filter_map(|line| line.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
        CpuProbe { api, postgres }
    }

    fn read(&self) -> Cpu {
        let postgres = procfs::cpu_ticks_of(&self.postgres);
        Cpu {
            api_ticks: procfs::cpu_ticks_of(&[self.api]),
            // Backends this machine cannot see (a remote server) read as no time at all.
            postgres_ticks: (postgres > 0
                || self.postgres.iter().any(|&pid| procfs::is_alive(pid)))
            .then_some(postgres),
        }
    }

    /// Runs `phase`, charging it the CPU used meanwhile.
    fn around(&self, total: &mut Cpu, phase: impl FnOnce() -> PhaseResult) -> PhaseResult {
        let before = self.read();
        let result = phase();
        let after = self.read();
        total.api_ticks += after.api_ticks.saturating_sub(before.api_ticks);
        total.postgres_ticks = match (
            total.postgres_ticks,
            before.postgres_ticks,
            after.postgres_ticks,
        ) {
            (spent, Some(before), Some(after)) => {
                Some(spent.unwrap_or(0) + after.saturating_sub(before))
            }
            _ => None,
        };
        result
    }
}

/// What one backlog measured, over all rounds.
struct Report {
    backlog: usize,
    healthz: PhaseResult,
    create: PhaseResult,
    lookup: PhaseResult,
    /// Lookups of the backlog's tasks (none without a backlog).
    backlog_lookup: PhaseResult,
    cpu: [Cpu; 4],
    /// Set when a client's session cookie was not sent back.
    sessions_problem: Option<String>,
    sessions: usize,
    api_log: Vec<String>,
    log_path: PathBuf,
}

/// `GET /api/tasks/{id}` of one of the client's tasks, in turn: the lookup phases' request.
fn look_up(tasks_url: &str, client: &mut Client, index: usize) -> (Duration, Outcome) {
    let id = &client.created[index % client.created.len()];
    let url = format!("{tasks_url}/{id}");
    let started = Instant::now();
    let outcome = finish(client.agent.get(&url).call(), |_| Ok(()));
    (started.elapsed(), outcome)
}

fn warm_up_per_client(options: &ApiBenchArgs) -> usize {
    // At least one per client, so every client opens its connection and gets its session.
    WARM_UP_REQUESTS.div_ceil(options.concurrency)
}

impl Target {
    fn new(
        backlog: usize,
        api: RunningApi,
        stores: Stores,
        log_path: PathBuf,
        options: &ApiBenchArgs,
    ) -> Target {
        Target {
            backlog,
            api,
            stores,
            log_path,
            clients: (0..options.concurrency)
                .map(|_| Client {
                    agent: new_agent(Duration::from_secs(30)),
                    created: Vec::new(),
                    sessions: HashSet::new(),
                })
                .collect(),
            backlog_clients: (0..options.concurrency.min(BACKLOG_OWNERS))
                .filter(|_| backlog > 0)
                .map(|_| Client {
                    agent: new_agent(Duration::from_secs(30)),
                    created: Vec::new(),
                    sessions: HashSet::new(),
                })
                .collect(),
            healthz: PhaseResult::default(),
            create: PhaseResult::default(),
            lookup: PhaseResult::default(),
            backlog_lookup: PhaseResult::default(),
            cpu: [Cpu::default(); 4],
        }
    }

    /// The three phases once, each after its warm-up; the measured part adds to the totals.
    fn measure_round(
        &mut self,
        options: &ApiBenchArgs,
        source_number: &AtomicU64,
    ) -> anyhow::Result<()> {
        let share = |total: usize| -> Vec<usize> {
            (0..options.concurrency)
                .map(|index| {
                    total / options.concurrency + usize::from(index < total % options.concurrency)
                })
                .collect()
        };
        let measured = share(options.requests);
        let warm_up = vec![warm_up_per_client(options); options.concurrency];
        let base_url = &self.api.base_url;

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
        let lookup = |client: &mut Client, index: usize| look_up(&tasks_url, client, index);

        let probe = CpuProbe::new(self.api.pid(), &self.stores.database_url);
        let [healthz_cpu, create_cpu, lookup_cpu, _] = &mut self.cpu;
        run_phase(&mut self.clients, &warm_up, &healthz);
        self.healthz.absorb(probe.around(healthz_cpu, || {
            run_phase(&mut self.clients, &measured, &healthz)
        }));
        run_phase(&mut self.clients, &warm_up, &create);
        let created = probe.around(create_cpu, || {
            run_phase(&mut self.clients, &measured, &create)
        });
        if let Some(client) = self
            .clients
            .iter()
            .position(|client| client.created.is_empty())
        {
            anyhow::bail!(
                "client {client} created no task, so lookups cannot be measured; create failures: {}",
                describe_failures(&created)
            );
        }
        self.create.absorb(created);
        run_phase(&mut self.clients, &warm_up, &lookup);
        self.lookup.absorb(probe.around(lookup_cpu, || {
            run_phase(&mut self.clients, &measured, &lookup)
        }));
        if !self.backlog_clients.is_empty() {
            self.measure_backlog_lookups(options, &tasks_url, &probe)?;
        }
        Ok(())
    }

    /// `GET /api/tasks/{id}` of the backlog's tasks, by their owners: tasks all over the queue,
    /// from its head to its tail, where the lookups above read tasks at its tail.
    fn measure_backlog_lookups(
        &mut self,
        options: &ApiBenchArgs,
        tasks_url: &str,
        probe: &CpuProbe,
    ) -> anyhow::Result<()> {
        let clients = self.backlog_clients.len();
        for (index, client) in self.backlog_clients.iter_mut().enumerate() {
            if !client.created.is_empty() {
                continue;
            }
            // The owner's first page of tasks: ids spread over the queue.
            let listed = client
                .agent
                .get(&format!("{tasks_url}?limit=100"))
                .header(
                    "cookie",
                    &format!("{SESSION_COOKIE}={}", backlog_owner(index)),
                )
                .call();
            let outcome = finish(listed, |body| {
                let ids: Vec<String> = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|page| {
                        page.get("tasks")?
                            .as_array()?
                            .iter()
                            .map(|task| task.get("id")?.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if ids.is_empty() {
                    return Err(format!("no backlog task listed in {}", snippet(body)));
                }
                client.created = ids;
                Ok(())
            });
            match outcome {
                Outcome::Success => {}
                Outcome::Status(status, problem) => anyhow::bail!(
                    "the backlog's owner {index} could not list its tasks: HTTP {status}, {problem}"
                ),
                Outcome::Transport(error) => {
                    anyhow::bail!("the backlog's owner {index} could not list its tasks: {error}")
                }
            }
        }
        let share = |total: usize| -> Vec<usize> {
            (0..clients)
                .map(|index| total / clients + usize::from(index < total % clients))
                .collect()
        };
        let lookup = |client: &mut Client, index: usize| look_up(tasks_url, client, index);
        run_phase(
            &mut self.backlog_clients,
            &vec![warm_up_per_client(options); clients],
            &lookup,
        );
        let [.., backlog_lookup_cpu] = &mut self.cpu;
        self.backlog_lookup
            .absorb(probe.around(backlog_lookup_cpu, || {
                run_phase(&mut self.backlog_clients, &share(options.requests), &lookup)
            }));
        Ok(())
    }

    /// Stops the api (its database is dropped with the stores) and sums up.
    fn finish(self) -> Report {
        let Target {
            backlog,
            api,
            stores,
            log_path,
            clients,
            backlog_clients: _,
            healthz,
            create,
            lookup,
            backlog_lookup,
            cpu,
        } = self;
        drop(api);
        drop(stores);
        let api_log = warnings_in_log(&log_path);
        let sessions: HashSet<&String> =
            clients.iter().flat_map(|client| &client.sessions).collect();
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
        Report {
            backlog,
            sessions: sessions.len(),
            sessions_problem,
            healthz,
            create,
            lookup,
            backlog_lookup,
            cpu,
            api_log,
            log_path,
        }
    }
}

impl Report {
    /// The phases measured: the lookups of the backlog's tasks only when there is a backlog.
    fn phases(&self) -> Vec<(&'static str, &PhaseResult)> {
        self.phases_with_cpu()
            .into_iter()
            .map(|(name, phase, _)| (name, phase))
            .collect()
    }

    fn phases_with_cpu(&self) -> Vec<(&'static str, &PhaseResult, &Cpu)> {
        let [healthz, create, lookup, backlog_lookup] = &self.cpu;
        let mut phases = vec![
            ("healthz", &self.healthz, healthz),
            ("create", &self.create, create),
            ("lookup", &self.lookup, lookup),
        ];
        if self.backlog > 0 {
            phases.push(("lookup-backlog", &self.backlog_lookup, backlog_lookup));
        }
        phases
    }
}

/// Milliseconds of CPU per request of the phase, from `ticks`.
fn cpu_ms_per_request(ticks: u64, phase: &PhaseResult) -> f64 {
    let requests = phase.stats().ok + phase.stats().failed;
    ratio(
        ticks as f64 * 1000.0 / procfs::clock_ticks_per_second(),
        requests as f64,
    )
}

impl Cpu {
    /// `(api, Postgres)` CPU milliseconds per request of `phase`.
    fn per_request(&self, phase: &PhaseResult) -> (f64, Option<f64>) {
        (
            cpu_ms_per_request(self.api_ticks, phase),
            self.postgres_ticks
                .map(|ticks| cpu_ms_per_request(ticks, phase)),
        )
    }
}

fn to_table(reports: &[Report], options: &ApiBenchArgs) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "aiut-api on loopback: {} requests per phase, backlog and round, {} rounds, {} clients (keep-alive, one session each), {} warm-up requests per phase",
        options.requests,
        options.rounds,
        options.concurrency,
        warm_up_per_client(options) * options.concurrency
    );
    let _ = writeln!(
        out,
        "limits per session and on queue depth raised to {LIMIT_OUT_OF_REACH}: this measures the service, not its limits"
    );
    for report in reports {
        let _ = writeln!(
            out,
            "\nbacklog {} queued tasks of other sessions",
            report.backlog
        );
        let _ = writeln!(
            out,
            "{:<14} {:>7} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11} {:>11}",
            "phase",
            "ok",
            "failed",
            "req/s",
            "mean ms",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "api cpu ms",
            "pg cpu ms"
        );
        for (name, phase, cpu) in report.phases_with_cpu() {
            let stats = phase.stats();
            let (api_cpu, postgres_cpu) = cpu.per_request(phase);
            let _ = writeln!(
                out,
                "{:<14} {:>7} {:>7} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>11.3} {:>11}",
                name,
                stats.ok,
                stats.failed,
                stats.requests_per_second,
                stats.mean_ms,
                stats.p50_ms,
                stats.p95_ms,
                stats.p99_ms,
                stats.max_ms,
                api_cpu,
                postgres_cpu.map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.3}"))
            );
        }
        let healthz = report.healthz.stats();
        for (name, phase) in report.phases().into_iter().skip(1) {
            let stats = phase.stats();
            let _ = writeln!(
                out,
                "{:<14} req/s {:.3}x of healthz   p99 {:.2}x of healthz",
                name,
                ratio(stats.requests_per_second, healthz.requests_per_second),
                ratio(stats.p99_ms, healthz.p99_ms)
            );
        }
        for (name, phase) in report.phases() {
            if !phase.failures.is_empty() {
                let _ = writeln!(out, "{name} failures: {}", describe_failures(phase));
            }
        }
        match &report.sessions_problem {
            Some(problem) => {
                let _ = writeln!(out, "sessions: {problem}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "sessions: {} clients, {} sessions, each cookie sent back on every request",
                    options.concurrency, report.sessions
                );
            }
        }
        if report.api_log.is_empty() {
            let _ = writeln!(out, "api log: no warnings or errors");
        } else {
            let _ = writeln!(
                out,
                "api log: {} lines at warn or above ({}), the first ones:",
                report.api_log.len(),
                report.log_path.display()
            );
            for line in report.api_log.iter().take(5) {
                let _ = writeln!(out, "  {}", snippet(line));
            }
        }
    }
    if let [first, rest @ ..] = reports
        && !rest.is_empty()
    {
        let _ = writeln!(
            out,
            "\nflatness, against backlog {} in the same run:",
            first.backlog
        );
        for report in rest {
            let flat = flatness(first, report);
            let _ = writeln!(
                out,
                "backlog {:>8}: create req/s {:.3}x  p99 {:.2}x   lookup req/s {:.3}x  p99 {:.2}x   lookup-backlog req/s {:.3}x  p99 {:.2}x",
                report.backlog,
                flat.create_rps,
                flat.create_p99,
                flat.lookup_rps,
                flat.lookup_p99,
                flat.backlog_lookup_rps,
                flat.backlog_lookup_p99
            );
            let shown =
                |value: Option<f64>| value.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.2}x"));
            let _ = writeln!(
                out,
                "                  Postgres CPU per request: create {}   lookup {}   lookup-backlog {}",
                shown(flat.create_postgres_cpu),
                shown(flat.lookup_postgres_cpu),
                shown(flat.backlog_lookup_postgres_cpu)
            );
        }
    }
    out
}

/// One backlog's figures over the first backlog's.
struct Flatness {
    create_rps: f64,
    create_p99: f64,
    lookup_rps: f64,
    lookup_p99: f64,
    /// Lookups of the backlog's tasks against the first backlog's lookups (of tasks at its tail,
    /// which is the whole queue when that backlog is 0).
    backlog_lookup_rps: f64,
    backlog_lookup_p99: f64,
    /// Postgres CPU per request over the first backlog's, when both were read.
    create_postgres_cpu: Option<f64>,
    lookup_postgres_cpu: Option<f64>,
    backlog_lookup_postgres_cpu: Option<f64>,
}

fn flatness(first: &Report, report: &Report) -> Flatness {
    let (first_create, first_lookup) = (first.create.stats(), first.lookup.stats());
    let (create, lookup) = (report.create.stats(), report.lookup.stats());
    Flatness {
        create_rps: ratio(create.requests_per_second, first_create.requests_per_second),
        create_p99: ratio(create.p99_ms, first_create.p99_ms),
        lookup_rps: ratio(lookup.requests_per_second, first_lookup.requests_per_second),
        lookup_p99: ratio(lookup.p99_ms, first_lookup.p99_ms),
        backlog_lookup_rps: ratio(
            report.backlog_lookup.stats().requests_per_second,
            first_lookup.requests_per_second,
        ),
        backlog_lookup_p99: ratio(report.backlog_lookup.stats().p99_ms, first_lookup.p99_ms),
        create_postgres_cpu: postgres_cpu_ratio(
            (&report.cpu[1], &report.create),
            (&first.cpu[1], &first.create),
        ),
        lookup_postgres_cpu: postgres_cpu_ratio(
            (&report.cpu[2], &report.lookup),
            (&first.cpu[2], &first.lookup),
        ),
        backlog_lookup_postgres_cpu: postgres_cpu_ratio(
            (&report.cpu[3], &report.backlog_lookup),
            (&first.cpu[2], &first.lookup),
        ),
    }
}

fn postgres_cpu_ratio(
    (cpu, phase): (&Cpu, &PhaseResult),
    (first_cpu, first_phase): (&Cpu, &PhaseResult),
) -> Option<f64> {
    Some(ratio(
        cpu.per_request(phase).1?,
        first_cpu.per_request(first_phase).1?,
    ))
}

fn to_json(reports: &[Report], options: &ApiBenchArgs) -> String {
    let phase_json = |phase: &PhaseResult, cpu: &Cpu| {
        let stats = phase.stats();
        let (api_cpu, postgres_cpu) = cpu.per_request(phase);
        serde_json::json!({
            "api_cpu_ms_per_request": api_cpu,
            "postgres_cpu_ms_per_request": postgres_cpu,
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
    let backlogs: Vec<serde_json::Value> = reports
        .iter()
        .map(|report| {
            let healthz = report.healthz.stats();
            let create = report.create.stats();
            let lookup = report.lookup.stats();
            let flat = reports.first().map(|first| flatness(first, report));
            serde_json::json!({
                "backlog": report.backlog,
                "phases": {
                    "healthz": phase_json(&report.healthz, &report.cpu[0]),
                    "create": phase_json(&report.create, &report.cpu[1]),
                    "lookup": phase_json(&report.lookup, &report.cpu[2]),
                    "lookup_backlog": (report.backlog > 0)
                        .then(|| phase_json(&report.backlog_lookup, &report.cpu[3])),
                },
                "ratios": {
                    "create_rps_vs_healthz": ratio(create.requests_per_second, healthz.requests_per_second),
                    "lookup_rps_vs_healthz": ratio(lookup.requests_per_second, healthz.requests_per_second),
                    "create_p99_vs_healthz": ratio(create.p99_ms, healthz.p99_ms),
                    "lookup_p99_vs_healthz": ratio(lookup.p99_ms, healthz.p99_ms),
                },
                "vs_first_backlog": flat.map(|flat| serde_json::json!({
                    "create_rps": flat.create_rps,
                    "create_p99": flat.create_p99,
                    "lookup_rps": flat.lookup_rps,
                    "lookup_p99": flat.lookup_p99,
                    "lookup_backlog_rps": flat.backlog_lookup_rps,
                    "lookup_backlog_p99": flat.backlog_lookup_p99,
                    "create_postgres_cpu": flat.create_postgres_cpu,
                    "lookup_postgres_cpu": flat.lookup_postgres_cpu,
                    "lookup_backlog_postgres_cpu": flat.backlog_lookup_postgres_cpu,
                })),
                "sessions": report.sessions,
                "sessions_problem": report.sessions_problem,
                "api_log_warnings": report.api_log.len(),
                "api_log": report.log_path.display().to_string(),
            })
        })
        .collect();
    serde_json::json!({
        "requests": options.requests,
        "concurrency": options.concurrency,
        "rounds": options.rounds,
        "warm_up_requests": warm_up_per_client(options) * options.concurrency,
        "backlogs": backlogs,
    })
    .to_string()
}
