//! The two front doors under test, started as child processes on free loopback ports: the
//! gateway binary, and real nginx with the committed `nginx-compat/nginx.conf` (see
//! `system_tests::nginx`).

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use system_tests::gateway::{self, GatewayConfig};
use system_tests::nginx;
use system_tests::ports::free_port;
use system_tests::processes::{Process, TempFolder, log_file, tail};

use crate::replicas::Replicas;

/// The longest a front door may take to answer its `/health` after start.
const START_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gateway,
    Nginx,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Gateway => "gateway",
            Kind::Nginx => "nginx",
        })
    }
}

/// A running front door. Dropping it stops the process and removes its folder.
pub struct FrontDoor {
    pub kind: Kind,
    pub address: SocketAddr,
    process: Process,
    folder: TempFolder,
}

impl FrontDoor {
    /// Starts `kind` over `upstreams` and waits until its own `/health` answers. With
    /// `trust_loopback`, 127.0.0.1 (the test's client) is exempt from the rate limits.
    pub async fn start(kind: Kind, upstreams: &[SocketAddr], trust_loopback: bool) -> FrontDoor {
        let trusted = if trust_loopback {
            "trusted_networks = [\"127.0.0.1/32\"]\n"
        } else {
            "trusted_networks = []\n"
        };
        FrontDoor::start_configured(kind, upstreams, trust_loopback, "", trusted).await
    }

    /// The gateway with more keys of `[gateway]` and the keys of `[gateway.rate_limit]` given.
    pub async fn start_gateway(
        upstreams: &[SocketAddr],
        gateway: &str,
        rate_limit: &str,
    ) -> FrontDoor {
        FrontDoor::start_configured(Kind::Gateway, upstreams, false, gateway, rate_limit).await
    }

    async fn start_configured(
        kind: Kind,
        upstreams: &[SocketAddr],
        trust_loopback: bool,
        gateway: &str,
        rate_limit: &str,
    ) -> FrontDoor {
        let folder = TempFolder::new(&format!("aiut-frontdoor-{kind}"));
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let process = match kind {
            Kind::Gateway => start_gateway(&folder.path, address, upstreams, gateway, rate_limit),
            Kind::Nginx => nginx::start(&folder.path, address, upstreams, trust_loopback),
        };
        let mut front_door = FrontDoor {
            kind,
            address,
            process,
            folder,
        };
        front_door.wait_for_health().await;
        front_door
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    async fn wait_for_health(&mut self) {
        let client = crate::client();
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.process.exited() {
                panic!(
                    "{} exited at start ({status}); its log:\n{}",
                    self.kind,
                    self.log()
                );
            }
            if let Ok(response) = client.get(self.url("/health")).send().await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}'s /health did not answer 200 within {START_TIMEOUT:?}; its log:\n{}",
                self.kind,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (at most `within`) until plain requests through the front door have reached every
    /// one of `instances`; uses `/healthz`, which no rate limit counts.
    pub async fn wait_until_serving(&self, instances: &[String], within: Duration) -> Duration {
        let client = crate::client();
        let started = tokio::time::Instant::now();
        let mut seen: Vec<String> = Vec::new();
        while !instances.iter().all(|instance| seen.contains(instance)) {
            assert!(
                started.elapsed() < within,
                "through {}, only {seen:?} of {instances:?} answered within {within:?}",
                self.kind
            );
            if let Ok(response) = client.get(self.url("/healthz")).send().await
                && let Some(instance) = crate::backend_of(&response)
                && !seen.contains(&instance)
            {
                seen.push(instance);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed()
    }

    /// The process's output so far (nginx's error log, the gateway's stderr).
    pub fn log(&self) -> String {
        let mut log = String::new();
        for name in ["error.log", "stdout.log", "stderr.log"] {
            if let Ok(text) = std::fs::read_to_string(self.folder.path.join(name))
                && !text.is_empty()
            {
                log.push_str(&format!("--- {name}\n{}\n", tail(&text, 60)));
            }
        }
        log
    }
}

impl Drop for FrontDoor {
    fn drop(&mut self) {
        self.process.stop();
        if std::thread::panicking() {
            eprintln!("{} log at the failure:\n{}", self.kind, self.log());
        }
    }
}

fn start_gateway(
    folder: &Path,
    address: SocketAddr,
    upstreams: &[SocketAddr],
    gateway: &str,
    rate_limit: &str,
) -> Process {
    let config_path = gateway::write_config(
        folder,
        &GatewayConfig {
            listen: address,
            upstreams,
            gateway,
            rate_limit,
            log: "filter = \"info\"\n",
        },
    );
    let child = gateway::command(&config_path, folder)
        .stdin(Stdio::null())
        .stdout(log_file(folder, "stdout.log"))
        .stderr(log_file(folder, "stderr.log"))
        .spawn()
        .expect("start the gateway binary");
    Process::new(child, None)
}

/// The replicas' instance ids, for `wait_until_serving`.
pub fn all_instances() -> Vec<String> {
    (0..crate::replicas::REPLICAS)
        .map(Replicas::instance_id)
        .collect()
}
