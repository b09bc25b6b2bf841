//! Three real api replicas in this process, on loopback ports, sharing the test's database and one
//! Redis key prefix, as a deployment's replicas share theirs.

use std::net::SocketAddr;
use std::time::Duration;

use api::{Application, Probe, Settings};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use system_tests::in_process::{Running, api_settings};
use system_tests::redis::unique_prefix;

pub const REPLICAS: usize = 3;

/// One running replica.
pub struct Replica {
    pub instance_id: String,
    pub address: SocketAddr,
    pub probe: Probe,
    server: Running,
}

impl Replica {
    /// Stops the replica as SIGTERM would: no new connections, in-flight requests finish.
    pub async fn stop(mut self) {
        self.server
            .stop_cleanly(&self.instance_id, Duration::from_secs(10))
            .await;
    }
}

/// The replicas of one test; a slot is `None` while its replica is stopped.
pub struct Replicas {
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
    settings: Settings,
    slots: Vec<Option<Replica>>,
    addresses: Vec<SocketAddr>,
}

/// Settings shared by the replicas of one test.
pub fn replica_settings() -> Settings {
    let mut settings = api_settings(&unique_prefix("frontdoor"));
    // The load scenarios queue hundreds of tasks per session and no worker drains them.
    settings.limits.max_queued_per_session = 100_000;
    settings
}

impl Replicas {
    pub async fn start(
        pool_options: PgPoolOptions,
        connect: PgConnectOptions,
        settings: Settings,
    ) -> Replicas {
        let mut replicas = Replicas {
            pool_options,
            connect,
            settings,
            slots: (0..REPLICAS).map(|_| None).collect(),
            addresses: Vec::new(),
        };
        for index in 0..REPLICAS {
            let replica = replicas.spawn(index, 0).await;
            replicas.addresses.push(replica.address);
            replicas.slots[index] = Some(replica);
        }
        replicas
    }

    /// The instance id of replica `index`, as its responses carry it in `X-Backend-Instance`.
    pub fn instance_id(index: usize) -> String {
        format!("api-{}", index + 1)
    }

    async fn spawn(&self, index: usize, port: u16) -> Replica {
        let mut settings = self.settings.clone();
        settings.server.port = port;
        settings.server.instance_id = Some(Replicas::instance_id(index));
        // A pool per replica: a replica closes its pool when it stops.
        let pool = self
            .pool_options
            .clone()
            .max_connections(6)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(self.connect.clone())
            .await
            .expect("connect to the test database");
        let application = Application::build_with_pool(settings, pool)
            .await
            .expect("the replica builds");
        let address = SocketAddr::from(([127, 0, 0, 1], application.port()));
        let instance_id = application.instance_id().to_owned();
        let probe = application.probe();
        let server = Running::spawn(|stop| application.run_until(stop));
        Replica {
            instance_id,
            address,
            probe,
            server,
        }
    }

    /// The replicas' addresses, in order, running or not.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.addresses.clone()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn get(&self, index: usize) -> &Replica {
        self.slots[index].as_ref().expect("a running replica")
    }

    /// Takes replica `index` out, to be stopped by the caller (possibly in another task).
    pub fn take(&mut self, index: usize) -> Replica {
        self.slots[index].take().expect("a running replica")
    }

    /// Starts replica `index` again on the port it had.
    pub async fn restart(&mut self, index: usize) {
        assert!(self.slots[index].is_none(), "replica {index} is running");
        let replica = self.spawn(index, self.addresses[index].port()).await;
        self.slots[index] = Some(replica);
    }

    /// Waits (at most 10 s) until every running replica's Redis event subscription is up: before
    /// that, an event stream sends the task's state and closes.
    pub async fn wait_for_event_subscriptions(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        for replica in self.slots.iter().flatten() {
            while !replica.probe.is_subscribed() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{}'s event subscription did not come up within 10 s",
                    replica.instance_id
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    pub async fn stop_all(&mut self) {
        for slot in &mut self.slots {
            if let Some(replica) = slot.take() {
                replica.stop().await;
            }
        }
    }
}
