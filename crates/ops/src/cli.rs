//! The one command-line parser of the operations product, shared by the `aiut-ops` binary and
//! `cargo xtask` (which adds its development task `test` beside these commands).

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, FromArgMatches, Parser, Subcommand};

use crate::bench::BenchCommand;
use crate::chaos::ChaosArgs;
use crate::deploy::DeployArgs;
use crate::health::HealthArgs;
use crate::loadtest::LoadtestArgs;
use crate::logs::LogArgs;
use crate::monitoring::MonitoringArgs;
use crate::restart::RestartArgs;
use crate::stop::StopArgs;

/// Said before the commands in every help: how the operations choose their stack.
pub const OPERATIONS_NOTE: &str = "\
Operations act on the native deployment by default (state, logs and data in .aiut/, or
AIUT_STATE_DIR); --compose drives docker compose with docker-compose.yml and deployment/.env
(or the file AIUT_COMPOSE_ENV_FILE names) instead.";

/// AIunittest's operations: deploy and run the stack, check it, load it, benchmark it.
#[derive(Debug, Parser)]
#[command(name = "aiut-ops", version, before_help = OPERATIONS_NOTE)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Every operations command.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum Command {
    /// Deploy the whole stack on this machine and wait until it is healthy
    ///
    /// Checks the prerequisites (installs cmake, postgresql, redis-server with apt-get as root on
    /// Debian/Ubuntu unless --no-install), builds the release binaries, uses DATABASE_URL and
    /// REDIS_URL when set or starts private Postgres and Redis, migrates, starts the gateway
    /// (port 80 as root, else 8080), N api replicas (3), N workers (2), the model simulator when
    /// asked, and Prometheus and its exporters when installed; waits until all are healthy and
    /// prints their URLs. State, logs and data: .aiut/ (AIUT_STATE_DIR).
    Deploy {
        #[command(flatten)]
        args: DeployArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Stop every service, gracefully, then forced; nothing is left running
    Stop {
        #[command(flatten)]
        args: StopArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Rolling restart: api replicas one at a time, workers, then the gateway
    ///
    /// Each api replica is back in the gateway's rotation before the next goes; the gateway hands
    /// its sockets over to its successor. --build deploys fresh binaries first.
    Restart {
        #[command(flatten)]
        args: RestartArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Service, pid, port, health, uptime, memory; non-zero if one is unhealthy
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// The end of a service's log, of a kind's (`api`), or of every log; -f follows them
    Logs {
        #[command(flatten)]
        args: LogArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Every service, Postgres, Redis and one real task through the gateway; non-zero on any
    /// failure
    Health {
        #[command(flatten)]
        args: HealthArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Check the deployment's Prometheus after driving mixed traffic and tasks through the gateway
    ///
    /// Requires every scrape target up, every rule of prometheus/alerts.yml loaded and
    /// evaluating, every PromQL query of grafana/dashboards and alerts.yml valid, every dashboard
    /// query returning data, and every scraped aiut_ metric documented in prometheus/METRICS.md.
    Monitoring(MonitoringArgs),
    /// Load a running deployment with many users, each with its own session
    ///
    /// N users (default 10), each with its own session, thread and connection, send M requests
    /// each (default 100). Prints a progress line on stderr, a summary (requests, failures by
    /// kind, success rate, QPS, latency mean/p50/p95/p99/max) and the answers per backend
    /// (X-Backend-Instance). Exits non-zero, naming the threshold, when success < --min-success
    /// %, mean > --max-mean-ms, QPS < --min-qps or, with --test-lb, the balance fails.
    Loadtest(LoadtestArgs),
    /// Faults injected one at a time into the running deployment under mixed load
    ///
    /// For each scenario (SIGKILL of an api replica, SIGKILL of a worker mid-task, a Redis
    /// restart, a Postgres restart, a rolling restart, a model that hangs, a model failing half
    /// its calls, a frozen api replica): reads, creates without an Idempotency-Key, a stream
    /// client per task and generate-test waits run; the fault comes a few seconds in; then the
    /// run waits, bounded, for every task to end. Prints per scenario the requests sent and
    /// failed, tasks created, lost, duplicated and stuck, stream clients that never saw their
    /// task end, how the tasks ended and the time to recover; exits non-zero when a count that
    /// must be zero is not. Needs a deployment with its own Postgres and Redis and the
    /// simulator: `env -u DATABASE_URL -u REDIS_URL cargo xtask deploy --with-simulator
    /// --simulator-timeout-secs 5 --trust 127.0.0.1/32`.
    Chaos(ChaosArgs),
    /// Measurements on loopback against real release binaries
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// Whether an operation acts on the native deployment or on the containerised one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Args)]
pub struct Target {
    /// act on the docker compose stack instead of the native deployment
    #[arg(long)]
    pub compose: bool,
}

impl Command {
    /// Runs the command; `Ok(false)` when it failed and has said why.
    pub fn run(&self) -> anyhow::Result<bool> {
        use crate::compose;
        let compose = |target: &Target| target.compose;
        match self {
            Command::Deploy { args, target } if compose(target) => compose::deploy(args.build),
            Command::Deploy { args, .. } => crate::deploy::run(args),
            Command::Stop { target, .. } if compose(target) => compose::stop(),
            Command::Stop { args, .. } => crate::stop::run(args),
            Command::Restart { args, target } if compose(target) => {
                compose::restart(&args.services)
            }
            Command::Restart { args, .. } => crate::restart::run(args),
            Command::Status { target } if compose(target) => compose::status(),
            Command::Status { .. } => crate::status::run(),
            Command::Logs { args, target } if compose(target) => compose::logs(args),
            Command::Logs { args, .. } => crate::logs::run(args),
            Command::Health { args, target } if compose(target) => compose::health(args),
            Command::Health { args, .. } => crate::health::run(args),
            Command::Monitoring(args) => crate::monitoring::run(args),
            Command::Loadtest(args) => crate::loadtest::run(args),
            Command::Chaos(args) => crate::chaos::run(args),
            Command::Bench(bench) => crate::bench::run(bench),
        }
    }
}

/// Parses the command line as `P`; on a mistake prints clap's message and gives the exit code
/// (1, as for any failed command; 0 for `--help` and `--version`).
pub fn parse_or_exit_code<P: Parser>() -> Result<P, ExitCode> {
    P::try_parse().map_err(|error| {
        // Nothing useful is left to do when the terminal is gone.
        let _ = error.print();
        if error.use_stderr() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// The exit code of a command's outcome; an error is printed first.
pub fn exit_code(outcome: anyhow::Result<bool>) -> ExitCode {
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        // The command has already said what failed.
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--timeout S`: whole seconds.
pub fn seconds(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_secs)
        .map_err(|_| format!("takes whole seconds, not {value:?}"))
}

/// Parses `words` as the options of one command alone: for a command that runs another with
/// options of its own choosing, and for the commands' tests.
pub(crate) fn parse_args<A: Args + FromArgMatches>(words: &[&str]) -> Result<A, clap::Error> {
    let command = A::augment_args(clap::Command::new("command").no_binary_name(true));
    let matches = command.try_get_matches_from(words)?;
    A::from_arg_matches(&matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Command {
        let words = std::iter::once("aiut-ops").chain(line.split_whitespace());
        match Cli::try_parse_from(words) {
            Ok(Cli {
                command: Some(command),
            }) => command,
            Ok(Cli { command: None }) => panic!("`{line}` named no command"),
            Err(error) => panic!("`{line}` does not parse: {error}"),
        }
    }

    #[test]
    fn the_parser_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// Every invocation README.md, .ci/run and .ci/deploy-check write, with what it must mean.
    #[test]
    fn every_documented_invocation_parses_to_what_it_says() {
        let native = Target { compose: false };
        let Command::Deploy { args, target } = parse("deploy") else {
            panic!("deploy")
        };
        assert_eq!((args.api_replicas, args.workers, target), (3, 2, native));
        assert!(args.allow_install && args.build && !args.with_simulator);

        let Command::Deploy { args, .. } =
            parse("deploy --with-simulator --simulator-latency-ms 1000 --trust 127.0.0.1/32")
        else {
            panic!("deploy with the simulator")
        };
        assert!(args.with_simulator);
        assert_eq!(args.simulator_latency_ms, 1000);
        assert_eq!(args.trusted_networks, ["127.0.0.1/32"]);

        let Command::Deploy { args, .. } = parse("deploy --with-simulator --trust 127.0.0.1/32")
        else {
            panic!("deploy for the load test")
        };
        assert!(args.with_simulator && args.trusted_networks == ["127.0.0.1/32"]);

        let Command::Deploy { args, .. } = parse("deploy --no-build --no-install") else {
            panic!("deploy without building")
        };
        assert!(!args.build && !args.allow_install);

        let Command::Deploy { target, .. } = parse("deploy --compose") else {
            panic!("deploy --compose")
        };
        assert!(target.compose);
        let Command::Deploy { args, target } = parse("deploy --compose --no-build") else {
            panic!("deploy --compose --no-build")
        };
        assert!(target.compose && !args.build);
        let Command::Health { args, target } = parse("health --compose") else {
            panic!("health --compose")
        };
        assert!(target.compose && args.url.is_none());
        let Command::Logs { args, target } = parse("logs --compose gateway -n 5") else {
            panic!("logs --compose gateway -n 5")
        };
        assert!(target.compose);
        assert_eq!(
            (args.service.as_deref(), args.lines),
            (Some("gateway"), Some(5))
        );

        assert_eq!(parse("status"), Command::Status { target: native });
        assert_eq!(
            parse("status --compose"),
            Command::Status {
                target: Target { compose: true }
            }
        );
        let Command::Health { args, target } = parse("health") else {
            panic!("health")
        };
        assert_eq!((args.url, target), (None, native));

        let Command::Logs { args, .. } = parse("logs api -f") else {
            panic!("logs api -f")
        };
        assert_eq!(
            (args.service.as_deref(), args.follow, args.lines),
            (Some("api"), true, None)
        );
        let Command::Logs { args, .. } = parse("logs api-2 -n 200") else {
            panic!("logs -n")
        };
        assert_eq!(
            (args.service.as_deref(), args.lines),
            (Some("api-2"), Some(200))
        );
        let Command::Logs { args, .. } = parse("logs") else {
            panic!("logs")
        };
        assert_eq!(args.service, None);

        let Command::Restart { args, .. } = parse("restart") else {
            panic!("restart")
        };
        assert!(args.services.is_empty() && !args.build);
        let Command::Restart { args, .. } = parse("restart --build") else {
            panic!("restart --build")
        };
        assert!(args.build);

        let Command::Stop { args, .. } = parse("stop") else {
            panic!("stop")
        };
        assert_eq!((args.timeout, args.purge), (Duration::from_secs(30), false));
        let Command::Stop { args, .. } = parse("stop --purge") else {
            panic!("stop --purge")
        };
        assert!(args.purge);

        assert!(matches!(parse("monitoring"), Command::Monitoring(_)));
        for line in [
            "chaos",
            "chaos --scenario api-kill --scenario model-hang --json",
        ] {
            assert!(matches!(parse(line), Command::Chaos(_)), "{line}");
        }
        let Command::Deploy { args, .. } = parse(
            "deploy --no-build --no-install --with-simulator --simulator-latency-ms 300 \
             --simulator-timeout-secs 5 --trust 127.0.0.1/32",
        ) else {
            panic!("deploy for the chaos suite")
        };
        assert_eq!(
            (args.simulator_latency_ms, args.simulator_timeout_secs),
            (300, 5)
        );
        for line in [
            "loadtest --users 50 --requests 60 --test-lb --min-success 100",
            "loadtest --scenario generate --users 10 --requests 3 --min-success 100",
            "loadtest --users 8 --duration 75s --requests 1000000 --min-success 100 --min-qps 0 --json",
            "loadtest --users 50 --requests 60 --test-lb",
            "loadtest --scenario generate --users 10 --requests 3",
            "loadtest --url http://127.0.0.1:18080 --scenario generate --model simulator --users 2 \
             --requests 2 --min-success 100 --max-mean-ms 60000",
            "loadtest --url http://127.0.0.1:18080 --users 8 --duration 25s --requests 1000000 \
             --min-success 100 --min-qps 0 --json",
        ] {
            assert!(matches!(parse(line), Command::Loadtest(_)), "{line}");
        }
        for line in [
            "bench api",
            "bench api --requests 10 --concurrency 2 --json",
            "bench api --backlog 0,100000 --rounds 3 --api-binary old/aiut-api",
            "bench gateway --requests 10 --concurrency 2 --rounds 1 --no-gzip --json",
            "bench generation",
            "bench generation --language python --reruns 5 --max-rounds 2 --json out.json",
            "bench tasks",
            "bench tasks --in-flight 1000 --latency-ms 1000 --seconds 10 --workers 2 --json t.json",
            "bench tasks --in-flight 200 --no-build",
        ] {
            assert!(matches!(parse(line), Command::Bench(_)), "{line}");
        }
    }

    #[test]
    fn mistakes_are_refused_before_anything_runs() {
        for line in [
            "bench",
            "bench worker",
            "bench api --requests 0",
            "bench api --backlog 0,lots",
            "bench api --backlog -5",
            "bench gateway --rounds x",
            "bench generation --language cobol",
            "bench generation --reruns x",
            "bench tasks --in-flight 0",
            "bench tasks --latency-ms soon",
            "status --verbose",
            "monitoring --compose",
            "chaos --scenario meteor",
            "chaos --compose",
            "frobnicate",
        ] {
            let words = std::iter::once("aiut-ops").chain(line.split_whitespace());
            assert!(Cli::try_parse_from(words).is_err(), "`{line}` was accepted");
        }
    }
}
