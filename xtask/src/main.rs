//! AIunittest's developer and operator tasks, in Rust rather than shell scripts (the xtask pattern):
//! `cargo xtask test`, `cargo xtask bench api` and `cargo xtask bench gateway`. One module per
//! task.

// Printing is what this binary is for: its output is the interface.
#![allow(clippy::print_stdout)]

mod bench;
mod client;
mod compose;
mod deploy;
mod health;
mod loadtest;
mod logs;
mod monitoring;
mod restart;
mod stack;
mod status;
mod stop;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HELP: &str = "\
usage: cargo xtask <task> [options]

operations (native by default; --compose drives docker compose with docker-compose.yml and
deployment/.env instead):
  deploy [--api N] [--workers N] [--with-simulator] [--simulator-latency-ms MS] [--port P]
         [--trust CIDR]... [--no-install] [--no-build] [--debug] [--compose]
      checks the prerequisites (installs cmake, postgresql, redis-server with apt-get as root on
      Debian/Ubuntu unless --no-install), builds the release binaries, uses DATABASE_URL and
      REDIS_URL when set or starts private Postgres and Redis, migrates, starts the gateway
      (port 80 as root, else 8080), N api replicas (3), N workers (2), the model simulator when
      asked, and Prometheus and its exporters when installed; waits until all are healthy and
      prints their URLs. --trust exempts a client network from the gateway's rate limits (the
      load test needs `--trust 127.0.0.1/32`). State, logs and data: .aiut/ (AIUT_STATE_DIR).
  stop [--timeout S] [--purge]
      every service, gracefully, then forced; nothing left running; --purge also deletes the
      state folder (logs, configuration, binaries, the private Postgres and Redis data)
  restart [service...] [--build]
      rolling: api replicas one at a time (each back in the gateway's rotation before the
      next), workers, then the gateway by socket handover; --build deploys fresh binaries
  status                      service, pid, port, health, uptime, memory; non-zero if unhealthy
  logs [service|kind] [-f] [-n N]
  health [--url URL]          every service, Postgres, Redis and one real task through the
                              gateway; non-zero on any failure
  monitoring [--prometheus URL] [--url URL] [--no-traffic]
      against the deployment's Prometheus: drives mixed traffic and tasks through the gateway,
      then requires every scrape target up, every rule of prometheus/alerts.yml loaded and
      evaluating, every PromQL query of grafana/dashboards and alerts.yml valid, every dashboard
      query returning data, and every scraped aiut_ metric documented in prometheus/METRICS.md

development:
  test [--no-lint] [-- <cargo test args>]
      cargo fmt --check, cargo clippy -D warnings, cargo test; ends with one line
      `test summary: N passed, M failed[, K skipped]`. --no-lint skips fmt and clippy.
  bench api [--requests N] [--concurrency C] [--json]
      builds and starts aiut-api on loopback against DATABASE_URL and REDIS_URL, then measures
      task creation and lookup against /healthz measured in the same run.
  bench gateway [--requests N] [--concurrency C] [--rounds R] [--no-gzip] [--json]
      starts three aiut-api replicas, aiut-gateway and nginx (nginx-compat/nginx.conf) over them,
      then sends the same request mix through the gateway, through nginx and straight to one
      replica, alternating in R rounds of N requests per target; reports requests/s, p50/p90/p99,
      CPU per request, the ratios and the spread over the replicas. Needs nginx and cmake.
  loadtest [--url URL] [--users N] [--requests M] [--duration 30s] [--test-lb] [--json]
           [--scenario read|generate|mixed] [--model ID] [--min-success 99]
           [--max-mean-ms 2000] [--min-qps 100] [--balance-tolerance 15]
      N users (default 10), each with its own session, thread and connection, send M requests
      each (default 100) to a running deployment: --url, else `gateway_url` of
      .aiut/state.json (written by deploy), else http://127.0.0.1:80. --duration (ms, s, m, h)
      runs for that long instead (with --requests too: whichever ends first). Scenarios: read
      cycles /health, /api/languages, /api/models, /api/queue; generate submits one task per
      request (a new source each time) and follows its events to the end, latency from
      submission to the terminal event; mixed is 9 reads then 1 task per user. --model picks the
      tasks' model (default: the service's default_model). Prints a progress line on stderr, a
      summary (requests, failures by kind, success rate, QPS, latency mean/p50/p95/p99/max) and
      the answers per backend (X-Backend-Instance); --test-lb also requires them balanced: at
      least 2 backends (and all the gateway reports available), each within ±tolerance % of an
      even share. Exits non-zero, naming the threshold, when success < --min-success %, mean >
      --max-mean-ms, QPS < --min-qps (not checked for generate unless given) or, with
      --test-lb, the balance fails. --json prints one JSON object on stdout instead.
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let outcome = match task.as_deref() {
        Some("test") => test::run(&rest),
        Some(task @ ("deploy" | "stop" | "restart" | "status" | "logs" | "health"))
            if rest.iter().any(|arg| arg == "--compose") =>
        {
            let rest: Vec<String> = rest.into_iter().filter(|arg| arg != "--compose").collect();
            compose::run(task, &rest)
        }
        Some("deploy") => deploy::run(&rest),
        Some("stop") => stop::run(&rest),
        Some("restart") => restart::run(&rest),
        Some("status") => status::run(&rest),
        Some("logs") => logs::run(&rest),
        Some("health") => health::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("loadtest") => loadtest::run(&rest),
        Some("monitoring") => monitoring::run(&rest),
        Some("help" | "-h" | "--help") | None => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(anyhow::anyhow!("unknown task `{other}`\n\n{HELP}")),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        // The task has already said what failed.
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: commands run there whatever folder `cargo xtask` was called from.
fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// `cargo`, as the one that runs us names it, so toolchain overrides carry over.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The default URLs when `DATABASE_URL` / `REDIS_URL` are unset: the local services CI starts.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The value of `name`, or `default` when unset or empty; the flag says whether it was set.
fn env_or(name: &str, default: &str) -> (String, bool) {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => (value, true),
        _ => (default.to_owned(), false),
    }
}

/// The URL with its password (if any) replaced, fit to print.
fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |offset| authority_start + offset);
    let authority = &url[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..authority_start],
        &authority[..colon],
        &url[authority_start + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact_password("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_password("postgres://postgres@127.0.0.1/postgres"),
            "postgres://postgres@127.0.0.1/postgres"
        );
        assert_eq!(
            redact_password("redis://:pw@127.0.0.1:6379"),
            "redis://:***@127.0.0.1:6379"
        );
        assert_eq!(redact_password("not a url"), "not a url");
    }
}
