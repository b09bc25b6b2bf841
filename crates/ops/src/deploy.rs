//! `cargo xtask deploy`: the whole stack natively on this machine — Postgres and Redis (given or
//! private), migrations, the model simulator when asked, the api replicas, the workers, the
//! gateway, and Prometheus with its exporters when installed — then waits until all are healthy.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::{launch, ports, target_dir};

use crate::stack::operator;
use crate::stack::plan::{self, Options, Ports, Programs};
use crate::stack::prereq::{self, Missing};
use crate::stack::{Deployment, Kind, ServiceRecord, data, probe, process, secrets, state};

const BINARIES: [&str; 4] = ["aiut-api", "aiut-worker", "aiut-gateway", "aiut-model-sim"];

/// How long one service may take to become healthy.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// `deploy`'s options.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct DeployArgs {
    /// api replicas
    #[arg(long = "api", value_name = "N", default_value_t = 3, value_parser = replica_count)]
    pub api_replicas: u16,
    /// workers
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = replica_count)]
    pub workers: u16,
    /// tasks each worker runs at once: a task mostly waits on its model (the tests it runs share
    /// the worker's runner slots, one per CPU), so a worker holds many [default: the --config
    /// file's worker.concurrency, else 256]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub worker_concurrency: Option<u32>,
    /// calls to the simulator each worker makes at once [default: the worker concurrency]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub simulator_concurrency: Option<u32>,
    /// also run the model simulator and make it the default model (demos, load tests)
    #[arg(long)]
    pub with_simulator: bool,
    /// the simulator's time to first token
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub simulator_latency_ms: u64,
    /// how long the workers wait for one call to the simulator before giving it up and trying
    /// again (`cargo xtask chaos` wants a few seconds, so a hung call ends within its run)
    #[arg(long, value_name = "S", default_value_t = plan::SIMULATOR_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub simulator_timeout_secs: u64,
    /// an operator's TOML merged into the configuration deploy writes: models, limits, worker
    /// concurrency, any section the services read; its values win, except the ports, addresses
    /// and secrets deploy sets itself (named if the file sets them)
    #[arg(long = "config", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// the gateway's port [default: 80 as root, else 8080]
    #[arg(long, value_name = "P")]
    pub port: Option<u16>,
    /// a client network the gateway does not rate-limit (repeatable; the load test needs
    /// `--trust 127.0.0.1/32`)
    #[arg(long = "trust", value_name = "CIDR", value_parser = network)]
    pub trusted_networks: Vec<String>,
    /// refuse to install prerequisites: stop and print the apt-get command instead
    #[arg(long = "no-install", action = clap::ArgAction::SetFalse)]
    pub allow_install: bool,
    /// use the binaries already built (with --compose: the images already built)
    #[arg(long = "no-build", action = clap::ArgAction::SetFalse)]
    pub build: bool,
    /// use the debug build instead of the release build
    #[arg(long)]
    pub debug: bool,
}

impl DeployArgs {
    /// The Cargo profile the binaries are built with and taken from.
    pub fn profile(&self) -> &'static str {
        if self.debug { "debug" } else { "release" }
    }
}

/// `--api` and `--workers`: 1 to 64.
fn replica_count(text: &str) -> Result<u16, String> {
    let value: u16 = text
        .parse()
        .map_err(|_| format!("takes a number, not {text:?}"))?;
    if (1..=64).contains(&value) {
        Ok(value)
    } else {
        Err(format!("takes 1 to 64, not {value}"))
    }
}

/// `--trust`: an address or a network.
fn network(text: &str) -> Result<String, String> {
    if looks_like_network(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "takes an address or a network such as 127.0.0.1/32, not {text:?}"
        ))
    }
}

fn looks_like_network(text: &str) -> bool {
    let (address, prefix) = text.split_once('/').unwrap_or((text, "0"));
    let longest = match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => 32,
        Ok(std::net::IpAddr::V6(_)) => 128,
        Err(_) => return false,
    };
    prefix.parse::<u8>().is_ok_and(|prefix| prefix <= longest)
}

/// The `--config` file and the worker concurrency: the command line's, else the file's, else the
/// default.
struct OperatorChoices {
    file: Option<toml::Table>,
    worker_concurrency: u32,
}

impl OperatorChoices {
    fn of(args: &DeployArgs) -> anyhow::Result<OperatorChoices> {
        let file = args.config.as_deref().map(operator::read).transpose()?;
        let from_file = match &file {
            Some(file) => operator::worker_concurrency(file)?,
            None => None,
        };
        Ok(OperatorChoices {
            worker_concurrency: args
                .worker_concurrency
                .or(from_file)
                .unwrap_or(plan::WORKER_CONCURRENCY),
            file,
        })
    }
}

pub fn run(args: &DeployArgs) -> anyhow::Result<bool> {
    let root = crate::project_root();
    // The operator's file first: a mistake in it stops deploy before anything is built or started.
    let operator = OperatorChoices::of(args)?;
    let state_dir = state::state_dir();
    if let Some(existing) = state::load(&state_dir)? {
        let running: Vec<&str> = existing
            .services
            .iter()
            .filter(|service| service.pid.is_some_and(process::is_alive))
            .map(|service| service.name.as_str())
            .collect();
        anyhow::ensure!(
            running.is_empty(),
            "a deployment is already running here ({}); use `cargo xtask status`, \
             `cargo xtask restart` or `cargo xtask stop`",
            running.join(", ")
        );
        state::remove(&state_dir)?;
    }
    fs::create_dir_all(state_dir.join("logs"))
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let started = Instant::now();

    // Prerequisites, before anything is built or started.
    let (database_url, database_given) = crate::env_or("DATABASE_URL", "");
    let (redis_url, redis_given) = crate::env_or("REDIS_URL", "");
    let mut missing = Vec::new();
    if args.build && prereq::which("cmake").is_none() {
        missing.push(Missing {
            what: "cmake (Pingora's build)",
            package: "cmake",
        });
    }
    if !database_given && data::find_postgres().is_none() {
        missing.push(Missing {
            what: "the Postgres server (no DATABASE_URL given)",
            package: "postgresql",
        });
    }
    if !redis_given && data::find_redis().is_none() {
        missing.push(Missing {
            what: "the Redis server (no REDIS_URL given)",
            package: "redis-server",
        });
    }
    println!("==> prerequisites");
    prereq::provide(&missing, args.allow_install)?;
    println!("==> the test runner's sandbox and toolchains");
    prereq::provide_runner_toolchains(&root, args.allow_install)?;

    let bin_dir = state_dir.join("bin");
    if args.build {
        println!("==> building {} ({})", BINARIES.join(", "), args.profile());
        build(&root, args.profile())?;
        install_binaries(&root, args.profile(), &bin_dir)?;
    } else {
        install_binaries(&root, args.profile(), &bin_dir)
            .context("--no-build needs binaries built before")?;
    }

    let gateway_port = args.port.unwrap_or(if process::effective_uid() == 0 {
        80
    } else {
        8080
    });
    anyhow::ensure!(
        ports::port_is_free(gateway_port),
        "port {gateway_port} is in use (is another web server or deployment running?); \
         free it or choose another with --port"
    );

    let mut deployment = Deployment {
        gateway_url: format!("http://127.0.0.1:{gateway_port}"),
        gateway_metrics_url: String::new(),
        prometheus_url: None,
        profile: args.profile().to_owned(),
        database: String::new(),
        redis: String::new(),
        deployed_at: state::now(),
        services: Vec::new(),
    };
    let outcome = start_all(
        args,
        &operator,
        &root,
        &state_dir,
        &bin_dir,
        gateway_port,
        &mut deployment,
        (database_url, database_given, redis_url, redis_given),
    );
    let new_admin_password = match outcome {
        Ok(made) => made,
        Err(error) => {
            eprintln!("error: {error:#}");
            eprintln!("==> stopping what was started");
            crate::stop::stop_services(&mut deployment, Duration::from_secs(20));
            state::remove(&state_dir)?;
            return Ok(false);
        }
    };
    print_summary(&deployment, started.elapsed());
    let password_file = secrets::admin_password_file(&state_dir);
    match new_admin_password {
        Some(password) => {
            println!();
            println!(
                "  admin password (made now, shown this once): {}",
                password.expose()
            );
            println!(
                "  kept in {} (readable by you only); log in with POST /api/admin/login",
                password_file.display()
            );
        }
        None if password_file.is_file() => {
            println!("  admin password: in {}", password_file.display());
        }
        None => println!("  admin password: the AIUT_ADMIN_PASSWORD given to deploy"),
    }
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn start_all(
    args: &DeployArgs,
    operator: &OperatorChoices,
    root: &Path,
    state_dir: &Path,
    bin_dir: &Path,
    gateway_port: u16,
    deployment: &mut Deployment,
    (database_url, database_given, redis_url, redis_given): (String, bool, String, bool),
) -> anyhow::Result<Option<secrets::Secret>> {
    let mut taken = vec![gateway_port];
    let next_port = ports::claim_free_port;

    // Data services first.
    let database_url = if database_given {
        println!(
            "==> Postgres: {} (DATABASE_URL)",
            crate::redact_password(&database_url)
        );
        deployment.database = crate::redact_password(&database_url);
        database_url
    } else {
        let bin = data::find_postgres().context("the Postgres server binaries are missing")?;
        let port = next_port(54_329, &mut taken)?;
        println!(
            "==> Postgres: a private instance on port {port} ({})",
            bin.display()
        );
        let (credentials, made_now) = private_credentials(state_dir)?;
        let service = data::postgres(state_dir, &bin, port, &credentials, made_now)?;
        launch(deployment, state_dir, service)?;
        wait_healthy(deployment, "postgres")?;
        let url = secrets::postgres_url(
            data::APP_ROLE,
            &credentials.postgres_app,
            port,
            data::APP_DATABASE,
        );
        deployment.database = format!("{} (private)", crate::redact_password(&url));
        url
    };
    let redis_url = if redis_given {
        println!(
            "==> Redis: {} (REDIS_URL)",
            crate::redact_password(&redis_url)
        );
        deployment.redis = crate::redact_password(&redis_url);
        redis_url
    } else {
        let program = data::find_redis().context("redis-server is missing")?;
        let port = next_port(63_790, &mut taken)?;
        println!("==> Redis: a private instance on port {port}");
        let (credentials, _) = private_credentials(state_dir)?;
        let service = data::redis(state_dir, &program, port, &credentials.redis)?;
        launch(deployment, state_dir, service)?;
        wait_healthy(deployment, "redis")?;
        let url = secrets::redis_url(&credentials.redis, port);
        deployment.redis = format!("{} (private)", crate::redact_password(&url));
        url
    };

    let programs = Programs {
        api: bin_dir.join("aiut-api"),
        worker: bin_dir.join("aiut-worker"),
        gateway: bin_dir.join("aiut-gateway"),
        simulator: bin_dir.join("aiut-model-sim"),
        prometheus: prereq::which("prometheus"),
        node_exporter: prereq::which("prometheus-node-exporter"),
        postgres_exporter: prereq::which("prometheus-postgres-exporter"),
        redis_exporter: prereq::which("prometheus-redis-exporter"),
    };
    let mut api = Vec::new();
    for _ in 0..args.api_replicas {
        api.push(next_port(8881, &mut taken)?);
    }
    let mut worker_metrics = Vec::new();
    for _ in 0..args.workers {
        worker_metrics.push(next_port(9201, &mut taken)?);
    }
    let optional = |program: &Option<PathBuf>, start, taken: &mut Vec<u16>| {
        program
            .as_ref()
            .map(|_| ports::claim_free_port(start, taken))
            .transpose()
    };
    let ports = Ports {
        gateway: gateway_port,
        gateway_metrics: next_port(9100, &mut taken)?,
        simulator: if args.with_simulator {
            Some(next_port(8090, &mut taken)?)
        } else {
            None
        },
        prometheus: optional(&programs.prometheus, 9090, &mut taken)?,
        node_exporter: optional(&programs.node_exporter, 9101, &mut taken)?,
        postgres_exporter: optional(&programs.postgres_exporter, 9187, &mut taken)?,
        redis_exporter: optional(&programs.redis_exporter, 9121, &mut taken)?,
        api,
        worker_metrics,
    };
    let options = Options {
        simulator_latency_ms: args.simulator_latency_ms,
        simulator_timeout_secs: args.simulator_timeout_secs,
        worker_concurrency: operator.worker_concurrency,
        simulator_concurrency: args
            .simulator_concurrency
            .unwrap_or(operator.worker_concurrency),
        trusted_networks: args.trusted_networks.clone(),
        operator: operator.file.clone(),
    };
    let mut plan = plan::plan(&plan::Inputs {
        state_dir,
        project_root: root,
        options: &options,
        ports: &ports,
        programs: &programs,
        database_url: &database_url,
        redis_url: &redis_url,
    })?;
    // Tracing settings given to deploy (OTEL_EXPORTER_OTLP_ENDPOINT and the rest) are recorded
    // with our services, so a later `restart` from another shell keeps them.
    let tracing: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name.starts_with("OTEL_"))
        .collect();
    for service in &mut plan.services {
        if matches!(service.kind, Kind::Api | Kind::Worker | Kind::Gateway) {
            service.env.extend(tracing.iter().cloned());
        }
    }
    // Every replica sets the admin account's password from it at start (a stored hash that
    // already verifies it is kept); the deployment record that holds it is the owner's only.
    let (given, is_given) = crate::env_or("AIUT_ADMIN_PASSWORD", "");
    let (admin_password, admin_password_made) =
        secrets::admin_password(state_dir, is_given.then_some(given))?;
    for service in &mut plan.services {
        if service.kind == Kind::Api {
            service.env.insert(
                "AIUT_ADMIN_PASSWORD".to_owned(),
                admin_password.expose().to_owned(),
            );
        }
    }
    // The api seals the model keys an admin stores and the workers open them, both with this key;
    // an operator's previous keys (AIUT_MODEL_KEYS__PREVIOUS) still open what they sealed.
    let (given, is_given) = crate::env_or("AIUT_MODEL_KEYS__CURRENT", "");
    let model_key = secrets::model_key(state_dir, is_given.then_some(given))?;
    let (previous, has_previous) = crate::env_or("AIUT_MODEL_KEYS__PREVIOUS", "");
    for service in &mut plan.services {
        if matches!(service.kind, Kind::Api | Kind::Worker) {
            service.env.insert(
                "AIUT_MODEL_KEYS__CURRENT".to_owned(),
                model_key.expose().to_owned(),
            );
            if has_previous {
                service
                    .env
                    .insert("AIUT_MODEL_KEYS__PREVIOUS".to_owned(), previous.clone());
            }
        }
    }
    fs::create_dir_all(state_dir.join("config"))?;
    fs::write(&plan.config_path, &plan.config)
        .with_context(|| format!("cannot write {}", plan.config_path.display()))?;
    if let Some((path, text)) = &plan.prometheus_config {
        fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    deployment.gateway_metrics_url = format!("http://127.0.0.1:{}/metrics", ports.gateway_metrics);
    deployment.prometheus_url = ports
        .prometheus
        .map(|port| format!("http://127.0.0.1:{port}"));

    let first_api = plan
        .services
        .iter()
        .find(|service| service.kind == Kind::Api)
        .context("no api replica planned")?;
    println!("==> migrations");
    migrate(first_api, state_dir)?;

    println!("==> starting {} services", plan.services.len());
    for service in plan.services.clone() {
        launch(deployment, state_dir, service)?;
    }
    println!("==> waiting until every service is healthy");
    for service in &plan.services {
        wait_healthy(deployment, &service.name)?;
    }
    wait_backends_healthy(&deployment.gateway_url, usize::from(args.api_replicas))?;
    if programs.prometheus.is_none() {
        println!("    (Prometheus is not installed: `apt-get install prometheus` adds it)");
    }
    Ok(admin_password_made.then_some(admin_password))
}

/// The private instances' passwords, made at the first deploy and kept in the state folder;
/// whether they were made now.
fn private_credentials(state_dir: &Path) -> anyhow::Result<(secrets::Credentials, bool)> {
    let (credentials, made_now) = secrets::load_or_create(state_dir)?;
    if made_now {
        println!(
            "    passwords made for the private instances: {} (readable by you only)",
            secrets::secrets_file(state_dir).display()
        );
    }
    Ok((credentials, made_now))
}

/// Starts one service and records it (the record is saved at once, so `stop` finds it even if
/// the deploy is interrupted).
pub fn launch(
    deployment: &mut Deployment,
    state_dir: &Path,
    mut service: ServiceRecord,
) -> anyhow::Result<()> {
    let child = process::spawn(&service)?;
    service.pid = Some(child.id());
    service.started_at = Some(state::now());
    deployment
        .services
        .retain(|existing| existing.name != service.name);
    deployment.services.push(service);
    state::save(state_dir, deployment)
}

/// Waits for the named service's probe, showing progress; on failure, the end of its log.
pub fn wait_healthy(deployment: &Deployment, name: &str) -> anyhow::Result<()> {
    let service = deployment
        .service(name)
        .with_context(|| format!("no service {name}"))?;
    let started = Instant::now();
    let mut last_error;
    print!("    {name:<18} ");
    flush();
    loop {
        if let Some(pid) = service.pid
            && !process::is_alive(pid)
        {
            println!("exited");
            anyhow::bail!("{name} exited at start\n{}", service_log_tail(service, 25));
        }
        match probe::check(&service.health, Duration::from_secs(2)) {
            Ok(()) => {
                println!("healthy ({:.1} s)", started.elapsed().as_secs_f64());
                return Ok(());
            }
            Err(error) => last_error = error,
        }
        if started.elapsed() > START_TIMEOUT {
            println!("not healthy");
            anyhow::bail!(
                "{name} was not healthy after {} s ({last_error})\n{}",
                START_TIMEOUT.as_secs(),
                service_log_tail(service, 25)
            );
        }
        print!(".");
        flush();
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until the gateway's own status lists `expected` healthy backends.
pub fn wait_backends_healthy(gateway_url: &str, expected: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    print!("    {:<18} ", "gateway backends");
    flush();
    loop {
        let healthy = healthy_backends(gateway_url).unwrap_or(0);
        if healthy >= expected {
            println!("{healthy} of {expected} in rotation");
            return Ok(());
        }
        if started.elapsed() > START_TIMEOUT {
            println!("{healthy} of {expected}");
            anyhow::bail!("the gateway sees only {healthy} of {expected} api replicas healthy");
        }
        print!(".");
        flush();
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Backends the gateway has in rotation (healthy and not ejected), from `/gateway/status`.
pub fn healthy_backends(gateway_url: &str) -> Option<usize> {
    let backends = gateway_backends(gateway_url)?;
    Some(
        backends
            .iter()
            .filter(|backend| backend.in_rotation())
            .count(),
    )
}

/// One backend as the gateway's `/gateway/status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendView {
    pub address: String,
    pub healthy: bool,
    pub ejected: bool,
}

impl BackendView {
    pub fn in_rotation(&self) -> bool {
        self.healthy && !self.ejected
    }
}

pub fn gateway_backends(gateway_url: &str) -> Option<Vec<BackendView>> {
    let body = probe::http_ok(
        &format!("{gateway_url}/gateway/status"),
        Duration::from_secs(2),
    )
    .ok()?;
    parse_backends(&body)
}

fn parse_backends(body: &str) -> Option<Vec<BackendView>> {
    let status: serde_json::Value = serde_json::from_str(body).ok()?;
    let backends = status.get("backends")?.as_array()?;
    Some(
        backends
            .iter()
            .filter_map(|backend| {
                Some(BackendView {
                    address: backend.get("address")?.as_str()?.to_owned(),
                    healthy: backend.get("healthy")?.as_bool()?,
                    ejected: backend.get("ejected").and_then(serde_json::Value::as_bool)
                        == Some(true),
                })
            })
            .collect(),
    )
}

/// Waits until the gateway reports the backend at `address` as `wanted` (in rotation or
/// not); whether it did within `limit`.
pub fn wait_backend(gateway_url: &str, address: &str, in_rotation: bool, limit: Duration) -> bool {
    let started = Instant::now();
    loop {
        let seen = gateway_backends(gateway_url).and_then(|backends| {
            backends
                .into_iter()
                .find(|backend| backend.address == address)
                .map(|backend| {
                    if in_rotation {
                        backend.in_rotation()
                    } else {
                        !backend.healthy
                    }
                })
        });
        if seen == Some(true) {
            return true;
        }
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn migrate(api: &ServiceRecord, state_dir: &Path) -> anyhow::Result<()> {
    let log_path = state_dir.join("logs").join("migrate.log");
    // The first replica's program and environment, with `migrate` in place of its arguments.
    let mut command = process::command(&ServiceRecord {
        args: vec!["migrate".into()],
        ..api.clone()
    });
    launch::log_to(&mut command, launch::open_log(&log_path)?)?;
    let status = command.status().context("cannot run aiut-api migrate")?;
    anyhow::ensure!(
        status.success(),
        "the migrations failed ({status})\n{}",
        log_tail(&log_path, 25)
    );
    println!("    applied (log: {})", log_path.display());
    Ok(())
}

/// `cargo build` of the service binaries.
pub fn build(root: &Path, profile: &str) -> anyhow::Result<()> {
    let mut command = crate::cargo_command();
    command.current_dir(root).args(["build", "--locked"]);
    if profile == "release" {
        command.arg("--release");
    }
    for package in ["aiut-api", "aiut-worker", "aiut-simulator", "aiut-gateway"] {
        command.args(["-p", package]);
    }
    command.arg("--bins");
    let status = command.status().context("cannot run cargo build")?;
    anyhow::ensure!(status.success(), "the build failed ({status})");
    Ok(())
}

/// Copies the built binaries into the state folder, so the deployment keeps running the same
/// programs whatever is built next; a copy goes in under a temporary name and is renamed over
/// the old one, which running processes keep.
pub fn install_binaries(root: &Path, profile: &str, bin_dir: &Path) -> anyhow::Result<()> {
    let built = target_dir(root).join(profile);
    fs::create_dir_all(bin_dir)?;
    for name in BINARIES {
        let from = built.join(name);
        anyhow::ensure!(from.is_file(), "{} is missing; build first", from.display());
        let temporary = bin_dir.join(format!(".{name}.new"));
        fs::copy(&from, &temporary).with_context(|| format!("cannot copy {}", from.display()))?;
        fs::rename(&temporary, bin_dir.join(name))?;
    }
    Ok(())
}

/// The last lines of a service's log for an error message, with what it wrote to stdout and
/// stderr outside its logger (a start-up error, a panic) when that is kept apart.
pub fn service_log_tail(service: &ServiceRecord, lines: usize) -> String {
    let console = service.console_log();
    let mut tail = log_tail(&service.log, lines);
    if console != service.log && fs::metadata(&console).is_ok_and(|metadata| metadata.len() > 0) {
        tail.push_str(&log_tail(&console, lines));
    }
    tail
}

/// The last lines of a log, indented, for an error message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return format!("    (no log at {})", path.display());
    };
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut tail = format!("--- last lines of {} ---\n", path.display());
    for line in &all[start..] {
        tail.push_str("    ");
        tail.push_str(line);
        tail.push('\n');
    }
    tail
}

fn flush() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

fn print_summary(deployment: &Deployment, elapsed: Duration) {
    println!();
    println!(
        "AIunittest is running ({:.0} s to deploy)",
        elapsed.as_secs_f64()
    );
    println!();
    let mut rows = vec![
        ("web UI and API", deployment.gateway_url.clone()),
        (
            "gateway status",
            format!("{}/gateway/status", deployment.gateway_url),
        ),
        (
            "API reference",
            format!("{}/api/openapi.json", deployment.gateway_url),
        ),
        ("gateway metrics", deployment.gateway_metrics_url.clone()),
    ];
    if let Some(url) = &deployment.prometheus_url {
        rows.push(("Prometheus", url.clone()));
    }
    rows.push(("Postgres", deployment.database.clone()));
    rows.push(("Redis", deployment.redis.clone()));
    for (what, url) in rows {
        println!("  {what:<16} {url}");
    }
    println!();
    println!("  {:<18} {:>7}  {:>6}  LOG", "SERVICE", "PID", "PORT");
    for service in &deployment.services {
        println!(
            "  {:<18} {:>7}  {:>6}  {}",
            service.name,
            service.pid.map_or("-".into(), |pid| pid.to_string()),
            service.port.map_or("-".into(), |port| port.to_string()),
            service.log.display()
        );
    }
    println!();
    println!("  cargo xtask status | health | logs [service] [-f] | restart | stop");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<DeployArgs, clap::Error> {
        crate::cli::parse_args::<DeployArgs>(list)
    }

    #[test]
    fn options_are_parsed_and_checked() {
        let parsed = parse(&[
            "--api",
            "5",
            "--workers",
            "3",
            "--with-simulator",
            "--simulator-timeout-secs",
            "5",
            "--port",
            "8080",
            "--trust",
            "127.0.0.1/32",
            "--no-install",
            "--debug",
        ])
        .expect("valid options");
        assert_eq!(parsed.api_replicas, 5);
        assert_eq!(parsed.workers, 3);
        assert!(parsed.with_simulator);
        assert_eq!(parsed.simulator_timeout_secs, 5);
        assert_eq!(parsed.port, Some(8080));
        assert_eq!(parsed.trusted_networks, ["127.0.0.1/32"]);
        assert!(!parsed.allow_install);
        assert_eq!(parsed.profile(), "debug");
        let defaults = parse(&[]).expect("defaults");
        assert_eq!(
            (
                defaults.api_replicas,
                defaults.workers,
                defaults.simulator_latency_ms
            ),
            (3, 2, 1000)
        );
        assert!(defaults.allow_install && defaults.build && !defaults.with_simulator);
        assert_eq!((defaults.port, defaults.profile()), (None, "release"));
        assert!(defaults.trusted_networks.is_empty());
        assert_eq!(
            defaults.simulator_timeout_secs,
            plan::SIMULATOR_TIMEOUT_SECS
        );
        assert!(parse(&["--simulator-timeout-secs", "0"]).is_err());
        assert!(parse(&["--api", "0"]).is_err());
        assert!(parse(&["--api"]).is_err());
        assert!(parse(&["--trust", "localhost"]).is_err());
        assert!(parse(&["--trust", "10.0.0.0/33"]).is_err());
        assert!(parse(&["--trust", "::1/128"]).is_ok());
        assert!(parse(&["--bogus"]).is_err());
    }

    #[test]
    fn the_gateway_status_is_read_per_backend() {
        let body = r#"{"backends": [
            {"address": "127.0.0.1:8881", "healthy": true, "ejected": false, "in_flight": 0},
            {"address": "127.0.0.1:8882", "healthy": true, "ejected": true},
            {"address": "127.0.0.1:8883", "healthy": false, "ejected": false}
        ]}"#;
        let backends = parse_backends(body).expect("backends");
        let in_rotation: Vec<bool> = backends.iter().map(BackendView::in_rotation).collect();
        assert_eq!(in_rotation, [true, false, false]);
        assert_eq!(backends[2].address, "127.0.0.1:8883");
        assert!(parse_backends("not json").is_none());
    }

    #[test]
    fn a_log_tail_shows_the_last_lines_only() {
        let path = std::env::temp_dir().join(format!("aiut-tail-{}.log", std::process::id()));
        fs::write(&path, "one\ntwo\nthree\n").expect("write");
        let tail = log_tail(&path, 2);
        assert!(tail.contains("two") && tail.contains("three") && !tail.contains("one"));
        let _ = fs::remove_file(path);
        assert!(log_tail(Path::new("/nonexistent/x.log"), 2).contains("no log"));
    }
}
