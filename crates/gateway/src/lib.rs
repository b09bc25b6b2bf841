//! AIunittest's gateway: a Pingora reverse proxy in front of the api replicas.
//!
//! - least in-flight requests across healthy backends, ties round-robin ([`backends`]);
//! - active health checks ([`health`]) and passive ejection after repeated failures;
//! - backends from a static list or a DNS name re-resolved every few seconds ([`discovery`]);
//! - failover: a request whose connection fails is retried on another backend, POST included;
//!   idempotent requests (or any with an `Idempotency-Key`) also when the connection breaks before
//!   the response headers ([`retry`]);
//! - per-client rate and concurrency limits, with a stricter rate for task creation; IPv6 clients
//!   counted per /64, clients behind trusted proxies by their `X-Forwarded-For` ([`ratelimit`]);
//! - every task creation carries a create token of the gateway's own, so it is retried like a
//!   keyed request ([`retry`]); the api is told the client in `x-aiut-client`;
//! - an overall deadline for each request's header (slowloris, [`deadline`]);
//! - event streams pass through unbuffered, uncompressed and without a read timeout;
//! - `/health` and `/gateway/status` answered by the gateway itself, Prometheus metrics on their own
//!   listener ([`metrics`]).
//!
//! Settings are described in [`config`].
//!
//! # Signals
//!
//! - `SIGTERM`: keeps serving for `grace_period_secs`, then stops accepting and gives in-flight
//!   requests `graceful_shutdown_timeout_secs` to finish.
//! - `SIGINT`: stops at once.
//! - `SIGQUIT`: zero-downtime upgrade. Start the new binary with `--upgrade` (or `-u`) while the
//!   old one runs: it waits for the listening sockets on `upgrade_sock`. Then send `SIGQUIT` to
//!   the old process; it hands its sockets over, answers the requests it is answering (event
//!   streams aside: their clients resume on the successor) for up to `upgrade_drain_secs`, and
//!   leaves as soon as none is left ([`drain`]). No connection is refused in between. `--upgrade` is the only command-line argument; everything else is
//!   configuration.

pub mod backends;
pub mod config;
pub mod deadline;
pub mod discovery;
pub mod drain;
pub mod health;
pub mod metrics;
pub mod proxy;
pub mod ratelimit;
pub mod retry;
pub mod server;
pub mod telemetry;

pub use config::Settings;
pub use server::build_server;

/// Reads the command line: only `--upgrade`/`-u` (take the sockets of a running gateway).
pub fn parse_args(args: impl IntoIterator<Item = String>) -> anyhow::Result<bool> {
    let mut upgrade = false;
    for arg in args {
        match arg.as_str() {
            "--upgrade" | "-u" => upgrade = true,
            other => anyhow::bail!(
                "unknown argument {other:?}; the only argument is --upgrade (-u), \
                 everything else is configured by aiunittest.toml or AIUT_GATEWAY__* variables"
            ),
        }
    }
    Ok(upgrade)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_upgrade_flag() {
        assert!(!parse_args(Vec::new()).expect("no args"));
        assert!(parse_args(vec!["--upgrade".to_owned()]).expect("upgrade"));
        assert!(parse_args(vec!["-u".to_owned()]).expect("upgrade"));
        assert!(parse_args(vec!["-c".to_owned(), "x.yaml".to_owned()]).is_err());
    }
}
