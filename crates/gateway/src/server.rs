//! Builds the Pingora server from the settings: the proxy service (plain and, optionally, TLS
//! listeners), the metrics listener, and the background services (health checks, DNS refresh).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use pingora::server::Server;
use pingora::server::ShutdownWatch;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::services::background::{BackgroundService, background_service};
use pingora::services::listening::Service;

use crate::backends::{EjectionPolicy, Registry};
use crate::config::Settings;
use crate::deadline::HeaderDeadline;
use crate::discovery::{DnsRefresh, SystemResolver};
use crate::drain::{Ending, Pending, Schedule};
use crate::health::HealthChecker;
use crate::metrics::{Metrics, MetricsApp};
use crate::proxy::Gateway;
use crate::ratelimit::{RateLimiter, SystemClock};

/// Builds the server, ready for `run_forever`. `upgrade` takes the listening sockets over from a
/// running gateway (see the crate docs).
pub fn build_server(settings: Settings, upgrade: bool) -> anyhow::Result<Server> {
    settings.validate()?;
    for key in settings.deprecated_keys() {
        tracing::warn!(key, "a setting under its old name; rename it");
    }
    let gateway_settings = &settings.gateway;
    let conf = ServerConf {
        threads: gateway_settings.threads,
        work_stealing: gateway_settings.work_stealing,
        // The shutdown notice ends the process itself, as soon as it may (see `drain`); Pingora's
        // own schedule, beyond ours, is only the backstop.
        grace_period_seconds: Some(
            gateway_settings.grace_period_secs
                + gateway_settings.graceful_shutdown_timeout_secs
                + gateway_settings.upgrade_drain_secs
                + 5,
        ),
        graceful_shutdown_timeout_seconds: Some(gateway_settings.graceful_shutdown_timeout_secs),
        upgrade_sock: gateway_settings.upgrade_sock.clone(),
        ..ServerConf::default()
    };
    let options = Opt {
        upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(options, conf);
    server.bootstrap();

    let metrics = Arc::new(Metrics::new());
    let initial = initial_backends(&settings)?;
    tracing::info!(backends = ?initial, "initial backends");
    let registry = Arc::new(Registry::new(
        &initial,
        EjectionPolicy {
            max_fails: gateway_settings.max_fails,
            window: Duration::from_secs(gateway_settings.fail_timeout_secs),
            eject_for: Duration::from_secs(gateway_settings.eject_secs),
        },
        Arc::clone(&metrics),
    ));
    let trusted = settings.trusted_networks()?;
    let operators = settings.operator_networks()?;
    let limiter = RateLimiter::new(
        gateway_settings.rate_limit.clone(),
        trusted.clone(),
        Arc::new(SystemClock),
    );
    let gateway = Gateway::new(
        gateway_settings,
        Arc::clone(&registry),
        limiter,
        Arc::clone(&metrics),
        trusted,
        operators,
    );

    let closing = Arc::clone(&gateway.closing);
    let pending = gateway.pending.clone();
    let mut proxy = Service::new(
        "proxy".to_owned(),
        HeaderDeadline::new(
            pingora::proxy::http_proxy(&server.configuration, gateway),
            Arc::clone(&metrics),
            gateway_settings.header_timeout(),
            gateway_settings.keepalive_timeout(),
        ),
    );
    proxy.add_tcp(&gateway_settings.listen);
    if let Some(tls) = &gateway_settings.tls {
        let cert = tls.cert_path.to_string_lossy();
        let key = tls.key_path.to_string_lossy();
        proxy
            .add_tls(&tls.listen, &cert, &key)
            .map_err(|error| anyhow::anyhow!("cannot set up TLS on {}: {error}", tls.listen))?;
    }

    let mut metrics_service = Service::new(
        "metrics".to_owned(),
        MetricsApp {
            metrics: Arc::clone(&metrics),
        },
    );
    metrics_service.add_tcp(&gateway_settings.metrics_listen);
    metrics_service.threads = Some(1);

    let health = background_service(
        "health checks",
        HealthChecker {
            registry: Arc::clone(&registry),
            path: gateway_settings.health_path.clone(),
            interval: gateway_settings.health_interval(),
            timeout: gateway_settings.health_timeout(),
        },
    );
    server.add_service(background_service(
        "shutdown notice",
        ShutdownNotice {
            closing: Arc::clone(&closing),
            pending,
            grace_period: Duration::from_secs(gateway_settings.grace_period_secs),
            graceful_timeout: Duration::from_secs(gateway_settings.graceful_shutdown_timeout_secs),
            upgrade_drain: Duration::from_secs(gateway_settings.upgrade_drain_secs),
        },
    ));
    server.add_service(proxy);
    server.add_service(metrics_service);
    server.add_service(health);
    if let Some(name) = &gateway_settings.upstream_dns {
        server.add_service(background_service(
            "dns refresh",
            DnsRefresh {
                registry,
                resolver: Arc::new(SystemResolver),
                name: name.clone(),
                every: Duration::from_secs(gateway_settings.dns_refresh_secs),
            },
        ));
    }
    tracing::info!(
        listen = %gateway_settings.listen,
        tls = ?gateway_settings.tls.as_ref().map(|tls| &tls.listen),
        metrics = %gateway_settings.metrics_listen,
        "gateway configured"
    );
    Ok(server)
}

/// The backends to start with: the static list, or a first DNS answer (empty when the name does
/// not resolve yet; the refresh fills it in).
fn initial_backends(settings: &Settings) -> anyhow::Result<Vec<SocketAddr>> {
    match &settings.gateway.upstream_dns {
        Some(name) => match name.to_socket_addrs() {
            Ok(addresses) => {
                let mut addresses: Vec<SocketAddr> = addresses.collect();
                addresses.sort();
                addresses.dedup();
                Ok(addresses)
            }
            Err(error) => {
                tracing::warn!(%name, %error, "upstream name does not resolve yet");
                Ok(Vec::new())
            }
        },
        None => {
            crate::config::resolve_static_upstreams(&settings.gateway).context("gateway.upstreams")
        }
    }
}

/// The longest Pingora takes to send the listening sockets to a successor.
const HANDOVER: Duration = Duration::from_secs(10);

/// Watches for the signals that end this process — SIGTERM (stop) and SIGQUIT (hand the
/// listening sockets to a successor) — alongside Pingora's own handling of them, raises the
/// gateway's `closing` flag at once, and ends the process when its schedule says (`drain`).
struct ShutdownNotice {
    closing: Arc<AtomicBool>,
    pending: Pending,
    grace_period: Duration,
    graceful_timeout: Duration,
    upgrade_drain: Duration,
}

#[async_trait::async_trait]
impl BackgroundService for ShutdownNotice {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut terminate), Ok(mut quit)) =
            (signal(SignalKind::terminate()), signal(SignalKind::quit()))
        else {
            tracing::warn!("cannot watch SIGTERM and SIGQUIT; connections close only at shutdown");
            return;
        };
        let mut ending = tokio::select! {
            _ = terminate.recv() => Some(Ending::Stop),
            _ = quit.recv() => Some(Ending::Upgrade),
            _ = shutdown.changed() => None,
        };
        let signalled = tokio::time::Instant::now();
        self.closing.store(true, Ordering::Relaxed);
        if ending.is_none() {
            // Pingora saw the signal first; ours is on its way.
            ending = tokio::time::timeout(Duration::from_secs(1), async {
                tokio::select! {
                    _ = terminate.recv() => Ending::Stop,
                    _ = quit.recv() => Ending::Upgrade,
                }
            })
            .await
            .ok();
        }
        let ending = ending.unwrap_or(Ending::Stop);
        tracing::info!(
            ?ending,
            "closing each client connection after its current request"
        );
        if ending == Ending::Upgrade {
            // Leaving before Pingora has sent the sockets would leave the successor without them:
            // it raises the shutdown watch once they are sent (or its tries to send them, about
            // 5 s, are over).
            if !*shutdown.borrow() {
                let _ = tokio::time::timeout(HANDOVER, shutdown.changed()).await;
            }
        }
        let schedule = Schedule::of(
            ending,
            self.grace_period,
            self.graceful_timeout,
            self.upgrade_drain,
        );
        while !schedule.may_leave(signalled.elapsed(), self.pending.count()) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::info!(
            ?ending,
            after_ms = u64::try_from(signalled.elapsed().as_millis()).unwrap_or(u64::MAX),
            left_in_flight = self.pending.count(),
            "leaving"
        );
        crate::telemetry::finish();
        std::process::exit(0);
    }
}
