//! An OpenAI-compatible model server of the project's own, for tests, load tests and demos. It is
//! never a production model: it runs only as the separate `aiut-model-sim` binary or inside tests.
//!
//! # What it answers
//!
//! - `POST /v1/chat/completions`: reads the last user message with [`codegen::prompt::read_facts`];
//!   for an AIunittest prompt it answers a sentence and one fenced code block (tagged with the
//!   language id) holding [`codegen::scaffold::simulated_tests`] for the unit the prompt names;
//!   any other prompt gets a short sentence (status 200, as a model would). With `"stream": true`
//!   the answer comes as server-sent events, `data: {chunk}` … `data: [DONE]`, plus a usage chunk
//!   with no choices when `stream_options.include_usage` is set. Prompt tokens are the characters
//!   of all messages / 4; completion tokens are the content chunks (pieces of a few characters).
//! - `GET /v1/models`: the configured model ids. `GET /healthz`: `{"status":"ok"}`.
//! - `POST /sim/script` with a JSON list of [`Behaviour`]s, applied to the next chat requests in
//!   order (replacing what was pending); `GET /sim/script` lists what is pending.
//! - `GET /sim/stats`: [`SimulatorStats`]; `DELETE /sim/stats` zeroes it.
//! - `GET /sim/rates`: the failure [`Rates`] in force; `PUT /sim/rates` with a JSON object of some
//!   of them (`{"error_rate": 0.5}`) changes those until the next change (400 when a rate is not a
//!   share or they add up to more than 1), and answers the rates now in force.
//!
//! When [`SimulatorConfig::api_key`] is set, the `/v1` routes answer 401 with
//! `{"error":{"message","type":"invalid_request_error","code":"invalid_api_key"}}` to a missing or
//! wrong `Authorization: Bearer` key. The `/sim` routes and `/healthz` need no key.
//!
//! # Timing and failures
//!
//! The first chunk comes `first_token_ms` after the request, then `tokens_per_sec` chunks a
//! second; a non-streaming answer waits the time the stream would have taken. Each chat request
//! takes the next scripted [`Behaviour`] if any, else draws one from the rates (`error_rate`,
//! `hang_rate`, `cut_rate`, `stall_rate`: the configured ones, or those set at run time) with a
//! SplitMix64 generator seeded by [`SimulatorConfig::seed`], so a seed and a request order give the
//! same failures every run.
//! Rejected keys and malformed bodies take no scripted behaviour and draw nothing.
//!
//! # Right and wrong answers
//!
//! Tests go wrong the way a model's do, in the shares of [`AnswerMix`] (defaults: 15 % do not
//! build or load — a misspelled import, a helper that does not exist —, 45 % assert a guessed
//! value, 10 % are flaky, 10 % duplicate another unit's test; the rest are as right as can be
//! known without running the code). The kind is drawn per (seed, file, unit), so it repeats for a
//! seed whatever the order of the requests. A prompt carrying run feedback
//! ([`codegen::prompt::RunFacts`]) is answered with the fix: what broke the first answer dropped,
//! or the value the run observed ([`codegen::feedback::observed`]) asserted; `still_wrong` of the
//! fixes miss. [`AnswerMix::all_right`] turns every failure off.
//!
//! # Configuration
//!
//! [`SimulatorConfig`]: compiled-in defaults, then the TOML file named by `AIUT_SIM_CONFIG`,
//! then `AIUT_SIM_<FIELD>` variables (`AIUT_SIM_ANSWERS__FLAKY` for a field of `answers`). For
//! example:
//!
//! ```toml
//! listen = "0.0.0.0:8090"
//! models = ["aiut-sim", "gpt-4.1-mini"]
//! api_key = "sk-demo"
//! first_token_ms = 300
//! tokens_per_sec = 80
//! error_rate = 0.05
//! error_status = 503
//! cut_rate = 0.02
//! seed = 42
//! answers = { no_build = 0.2, wrong_value = 0.4, flaky = 0.05, duplicate = 0.1, still_wrong = 0.1 }
//! script = [{ status = 429, retry_after_secs = 0 }, "answer", "cut"]
//! ```
//!
//! # In tests
//!
//! ```no_run
//! use simulator::{Behaviour, Simulator, SimulatorConfig};
//!
//! # async fn example() -> anyhow::Result<()> {
//! let simulator = Simulator::bind(SimulatorConfig::instant(), "127.0.0.1:0")
//!     .await?
//!     .spawn();
//! // Point an OpenAI client at `simulator.base_url()` (`http://127.0.0.1:PORT/v1`).
//! simulator.set_script([Behaviour::rate_limited(0), Behaviour::Cut]);
//! // … run the code under test …
//! assert_eq!(simulator.stats().by_status.get(&429), Some(&1));
//! simulator.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Dropping a [`SimulatorHandle`] stops the server too, without waiting for it.

mod answer;
mod config;
mod rng;
mod server;
mod stats;
mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{AnswerMix, Behaviour, Rates, RatesChange, SimulatorConfig};
pub use stats::SimulatorStats;

use server::Shared;

/// How long open connections may take to finish once the simulator stops. Hangs, stalls and paced
/// answers end at once on stop, so only a client still sending its request can use it.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A bound simulator, not yet serving: [`Simulator::spawn`] or [`Simulator::run_until`] serve it.
/// Everything [`SimulatorControl`] offers works on it (and before it serves) through `Deref`.
pub struct Simulator {
    listener: TcpListener,
    control: SimulatorControl,
}

/// The knobs and counters of a running simulator; cheap to clone.
#[derive(Debug, Clone)]
pub struct SimulatorControl {
    shared: Arc<Shared>,
    address: SocketAddr,
}

/// A simulator serving on a task of its own; stops when [`SimulatorHandle::stop`] is called or
/// the handle is dropped.
pub struct SimulatorHandle {
    control: SimulatorControl,
    stop: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Simulator {
    /// Checks `config` and binds `address` (`"127.0.0.1:0"` picks a free port).
    pub async fn bind(config: SimulatorConfig, address: &str) -> anyhow::Result<Simulator> {
        config.validate()?;
        let listener = service::listen::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let address = listener.local_addr()?;
        Ok(Simulator {
            listener,
            control: SimulatorControl {
                shared: Arc::new(Shared::new(config)),
                address,
            },
        })
    }

    pub fn control(&self) -> SimulatorControl {
        self.control.clone()
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(service::shutdown_signal()).await
    }

    /// Serves until `stop` completes. Then hangs, stalls and paced answers end at once, and
    /// connections get a few seconds to close.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let shared = Arc::clone(&self.control.shared);
        let stopping = shared.stopping.clone();
        tracing::info!(
            address = %self.control.address,
            seed = shared.seed,
            models = ?shared.config.models,
            "model simulator listening"
        );
        let serve = axum::serve(self.listener, server::router(Arc::clone(&shared)))
            .with_graceful_shutdown(async move {
                stop.await;
                tracing::info!("model simulator stopping");
                stopping.cancel();
            });
        let deadline = async {
            shared.stopping.cancelled().await;
            tokio::time::sleep(STOP_GRACE).await;
        };
        let result = tokio::select! {
            served = serve => served.context("the model simulator failed"),
            () = deadline => {
                tracing::warn!(grace = ?STOP_GRACE, "dropping connections still open");
                Ok(())
            }
        };
        // Also when serving failed: nothing may keep waiting on a dead server.
        shared.stopping.cancel();
        tracing::info!("model simulator stopped");
        result
    }

    /// Serves on a task of its own, for tests.
    pub fn spawn(self) -> SimulatorHandle {
        let stop = CancellationToken::new();
        let control = self.control();
        let task = tokio::spawn(self.run_until(stop.clone().cancelled_owned()));
        SimulatorHandle {
            control,
            stop,
            task: Some(task),
        }
    }
}

impl Deref for Simulator {
    type Target = SimulatorControl;

    fn deref(&self) -> &SimulatorControl {
        &self.control
    }
}

impl SimulatorControl {
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The base URL an OpenAI client takes: `http://127.0.0.1:PORT/v1` (loopback when bound to
    /// every interface).
    pub fn base_url(&self) -> String {
        let host = match self.address.ip() {
            ip if ip.is_unspecified() && ip.is_ipv6() => "[::1]".to_owned(),
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            ip if ip.is_ipv6() => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("http://{host}:{}/v1", self.address.port())
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SimulatorConfig {
        &self.shared.config
    }

    /// The seed of the failure draws: the configured one, or the random one picked at bind.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Replaces the pending script: the next chat requests take these behaviours in order.
    pub fn set_script(&self, script: impl IntoIterator<Item = Behaviour>) {
        self.shared.set_script(script.into_iter().collect());
    }

    /// Adds one behaviour after those pending.
    pub fn push_script(&self, behaviour: Behaviour) {
        self.shared.push_script(behaviour);
    }

    /// The scripted behaviours not yet used.
    pub fn pending_script(&self) -> Vec<Behaviour> {
        self.shared.pending_script()
    }

    /// The failure rates in force.
    pub fn rates(&self) -> Rates {
        self.shared.rates()
    }

    /// Changes the failure rates given in `change` (the others keep theirs); refused, with
    /// nothing changed, when the result is not valid. Returns the rates now in force.
    pub fn set_rates(&self, change: &RatesChange) -> anyhow::Result<Rates> {
        self.shared.change_rates(change)
    }

    pub fn stats(&self) -> SimulatorStats {
        self.shared.stats.snapshot()
    }

    /// The user messages of the last chat requests (up to 64), oldest first.
    pub fn recent_prompts(&self) -> Vec<String> {
        self.shared.prompts.snapshot()
    }

    pub fn reset_stats(&self) {
        self.shared.stats.reset();
    }
}

impl SimulatorHandle {
    pub fn control(&self) -> SimulatorControl {
        self.control.clone()
    }

    /// Stops serving and waits until the server has stopped.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        match self.task.take() {
            Some(task) => task.await.context("the model simulator task failed")?,
            None => Ok(()),
        }
    }
}

impl Deref for SimulatorHandle {
    type Target = SimulatorControl;

    fn deref(&self) -> &SimulatorControl {
        &self.control
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The simulator's `service.name` in traces (`OTEL_SERVICE_NAME` overrides it).
pub const SERVICE_NAME: &str = "aiut-model-sim";

/// Sets up the binary's logs (and traces, when an OTLP endpoint is set) through the services'
/// shared set-up: stdout, as text or JSON lines; `RUST_LOG` overrides the configured filter. A
/// subscriber already installed (by a test, say) stays. Keep the guard until the end of `main`,
/// then shut it down.
pub fn init_telemetry(config: &SimulatorConfig) -> telemetry::Telemetry {
    telemetry::init(&telemetry::Options {
        service: SERVICE_NAME,
        filter: &config.log_filter,
        json: config.log_json,
        file: telemetry::LogFile::at(
            config.log_file.as_deref(),
            config.log_max_file_mb.max(1).saturating_mul(1024 * 1024),
            config.log_max_files,
        ),
    })
}
