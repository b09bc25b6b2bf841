//! Api replicas as processes of their own, so one can be killed for real (SIGKILL): its kernel
//! resets connections with unread requests and closes the others, exactly as a crashed replica's
//! would. The child process is this test binary again, running the ignored test
//! `process::replica_process` with its settings in an environment variable.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use api::Settings;
use sqlx::postgres::PgConnectOptions;
use system_tests::ports::lasting_port;
use system_tests::postgres::database_url;
use system_tests::processes::answers_within;

use crate::replicas::{REPLICAS, Replicas};

/// Holds a replica's settings, as JSON, in the child's environment.
const SETTINGS_VARIABLE: &str = "AIUT_FRONTDOOR_REPLICA_SETTINGS";

/// The body of a replica process; does nothing when run as an ordinary test.
#[test]
#[ignore = "runs only as a child process of the hard-kill scenario"]
fn replica_process() {
    let Ok(json) = std::env::var(SETTINGS_VARIABLE) else {
        return;
    };
    let settings: Settings = serde_json::from_str(&json).expect("replica settings");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async move {
        let application = api::Application::build(settings)
            .await
            .expect("the replica starts");
        application
            .run_until_stopped()
            .await
            .expect("the replica runs");
    });
}

/// Three replica processes on fixed loopback ports, outside the ephemeral range so that a killed
/// replica's port is still free when it starts again.
pub struct ReplicaProcesses {
    settings: Settings,
    ports: Vec<u16>,
    children: Vec<Option<Child>>,
}

impl ReplicaProcesses {
    pub async fn start(connect: &PgConnectOptions, mut settings: Settings) -> ReplicaProcesses {
        settings.database.url = database_url(connect);
        settings.database.create_if_missing = false;
        settings.database.max_connections = 6;
        let mut processes = ReplicaProcesses {
            settings,
            ports: (0..REPLICAS).map(|_| lasting_port()).collect(),
            children: (0..REPLICAS).map(|_| None).collect(),
        };
        for index in 0..REPLICAS {
            processes.spawn(index).await;
        }
        processes
    }

    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.ports
            .iter()
            .map(|port| SocketAddr::from(([127, 0, 0, 1], *port)))
            .collect()
    }

    /// Starts replica `index` on its port and waits until it answers `/healthz`.
    pub async fn spawn(&mut self, index: usize) {
        assert!(self.children[index].is_none(), "replica {index} is running");
        let mut settings = self.settings.clone();
        settings.server.port = self.ports[index];
        settings.server.instance_id = Some(Replicas::instance_id(index));
        let json = serde_json::to_string(&settings).expect("settings as JSON");
        let child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "--ignored",
                "--exact",
                "process::replica_process",
                "--nocapture",
            ])
            .env(SETTINGS_VARIABLE, json)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("a replica process");
        self.children[index] = Some(child);
        let url = format!("http://127.0.0.1:{}/healthz", self.ports[index]);
        assert!(
            answers_within(&crate::client(), &url, Duration::from_secs(30)).await,
            "replica {index} did not answer within 30 s"
        );
    }

    /// SIGKILL: no shutdown, no goodbye.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.children[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ReplicaProcesses {
    fn drop(&mut self) {
        for index in 0..self.children.len() {
            self.kill(index);
        }
    }
}
