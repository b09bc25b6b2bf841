//! Backends from DNS: a name re-resolved every few seconds, so scaling the api needs no config edit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::backends::Registry;

/// Turns `host:port` into addresses; a trait so tests can script the answers.
#[async_trait]
pub trait Resolver: Send + Sync {
    async fn resolve(&self, name: &str) -> std::io::Result<Vec<SocketAddr>>;
}

/// The system resolver, through `tokio::net::lookup_host`.
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn resolve(&self, name: &str) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host(name).await?.collect())
    }
}

pub struct DnsRefresh {
    pub registry: Arc<Registry>,
    pub resolver: Arc<dyn Resolver>,
    pub name: String,
    pub every: Duration,
}

impl DnsRefresh {
    /// Resolves once and updates the membership. A failed lookup or an empty answer keeps the
    /// current set: a DNS hiccup must not empty the gateway.
    pub async fn refresh(&self) {
        match self.resolver.resolve(&self.name).await {
            Ok(mut addresses) if !addresses.is_empty() => {
                addresses.sort();
                addresses.dedup();
                self.registry.reconcile(&addresses);
            }
            Ok(_) => {
                tracing::warn!(name = %self.name, "DNS answer is empty; keeping the current backends");
                self.registry.reconcile(&self.registry.addresses());
            }
            Err(error) => {
                tracing::warn!(name = %self.name, %error, "DNS lookup failed; keeping the current backends");
                // Still lets drained backends leave.
                self.registry.reconcile(&self.registry.addresses());
            }
        }
    }
}

#[async_trait]
impl BackgroundService for DnsRefresh {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            self.refresh().await;
            tokio::select! {
                _ = shutdown.changed() => break,
                () = tokio::time::sleep(self.every) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::time::Instant;

    use crate::backends::EjectionPolicy;
    use crate::metrics::Metrics;

    struct ScriptedResolver(Mutex<VecDeque<std::io::Result<Vec<SocketAddr>>>>);

    #[async_trait]
    impl Resolver for ScriptedResolver {
        async fn resolve(&self, _name: &str) -> std::io::Result<Vec<SocketAddr>> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .pop_front()
                .unwrap_or_else(|| Err(std::io::Error::other("script over")))
        }
    }

    fn address(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 8888))
    }

    #[tokio::test]
    async fn follows_the_answers_and_keeps_the_set_on_failure_or_empty_answer() {
        let answers = VecDeque::from([
            Ok(vec![address(1), address(2)]),
            Ok(vec![address(3), address(1), address(1)]),
            Err(std::io::Error::other("SERVFAIL")),
            Ok(Vec::new()),
        ]);
        let registry = Arc::new(Registry::new(
            &[],
            EjectionPolicy {
                max_fails: 3,
                window: Duration::from_secs(30),
                eject_for: Duration::from_secs(30),
            },
            Arc::new(Metrics::new()),
        ));
        let refresh = DnsRefresh {
            registry: Arc::clone(&registry),
            resolver: Arc::new(ScriptedResolver(Mutex::new(answers))),
            name: "api:8888".into(),
            every: Duration::from_secs(5),
        };
        refresh.refresh().await;
        assert_eq!(registry.addresses(), [address(1), address(2)]);

        // address(2) is busy when it leaves the answer: it drains, then goes.
        let busy = registry
            .acquire(&[address(1)], Instant::now())
            .expect("address 2");
        refresh.refresh().await;
        assert_eq!(registry.addresses(), [address(1), address(3)]);
        assert_eq!(registry.snapshot().len(), 3, "draining one still listed");
        drop(busy);

        refresh.refresh().await; // lookup fails
        assert_eq!(registry.addresses(), [address(1), address(3)]);
        assert_eq!(registry.snapshot().len(), 2, "idle drained backend left");

        refresh.refresh().await; // empty answer
        assert_eq!(registry.addresses(), [address(1), address(3)]);
    }
}
