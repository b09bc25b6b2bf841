//! The application: built from settings, bound to its port, run until stopped.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use sqlx::PgPool;
use store::{Redis, ResultCache, db};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::events::EventHub;
use crate::fleet::FleetView;
use crate::metrics::Metrics;
use crate::probe::Probe;
use crate::state::{AppState, Shared};
use crate::{dependencies, routes};

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    port: u16,
    /// Thrown at stop: ends the event subscription and, with it, every open event stream, so
    /// clients reconnect to another replica instead of holding this one's shutdown.
    stopping: CancellationToken,
}

/// How long connections accepted just before a stop may bring their first request.
const ACCEPTED_CONNECTION_LINGER: Duration = Duration::from_millis(300);

/// The listening socket, closed (not merely no longer polled) when `closing` is thrown.
struct ClosingListener {
    inner: Option<TcpListener>,
    address: SocketAddr,
    closing: CancellationToken,
}

impl axum::serve::Listener for ClosingListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some(listener) = &self.inner else {
                return std::future::pending().await;
            };
            let accepted = tokio::select! {
                () = self.closing.cancelled() => None,
                accepted = listener.accept() => Some(accepted),
            };
            match accepted {
                None => self.inner = None,
                Some(Ok(connection)) => return connection,
                // Out of file descriptors and the like: wait rather than spin, as axum does.
                Some(Err(error)) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.address)
    }
}

/// The connection's peer, put in every request's extensions as `ConnectInfo<Peer>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, ClosingListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, ClosingListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl Application {
    /// Connects to Postgres (waiting for it, creating the database if asked), migrates, binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        settings.validate()?;
        let pool = db::connect(&settings.database).await?;
        Application::build_with_pool(settings, pool).await
    }

    /// Like [`Application::build`], on a pool made elsewhere (tests make one per test database).
    pub async fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Application> {
        settings.validate()?;
        db::migrate(&pool).await?;
        crate::admin::ensure_account(&pool, settings.admin_password.as_ref())
            .await
            .context("cannot set up the admin account")?;
        let keys = store::model_keys::KeyRing::from_settings(&settings.model_keys)
            .context("invalid model_keys")?;
        store::models::check_key_ring(&pool, &keys)
            .await
            .context("the model keys cannot open the stored model API keys")?;
        let seeded = store::models::seed(&pool, &settings.models)
            .await
            .context("cannot seed the model registry")?;
        if !seeded.is_empty() {
            tracing::info!(models = ?seeded, "models written to the registry from the configuration");
        }
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = service::listen::bind(&address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let port = listener.local_addr()?.port();
        let instance_id = settings
            .server
            .instance_id
            .clone()
            .unwrap_or_else(|| format!("{}-{port}", service::hostname("api")));
        let redis = Redis::new(&settings.redis)?;
        let stopping = CancellationToken::new();
        let hub = EventHub::start(
            &settings.redis.url,
            &settings.redis.key_prefix,
            stopping.clone(),
        )?;
        let git = crate::git_token::ForgeAccess::from_settings(&settings).context("invalid git")?;
        let state = AppState::new(Shared {
            hub,
            git,
            fleet: FleetView::default(),
            registry: crate::registry::RegistryView::default(),
            keys,
            results: ResultCache::new(redis.clone(), settings.cache.result_ttl_secs),
            pool,
            redis,
            metrics: Metrics::new(),
            instance_id,
            started_at: Instant::now(),
            settings,
        });
        let router = routes::router(state.clone());
        // One sample before serving, so the first scrape already has every dependency's verdict.
        dependencies::sample(&state).await;
        dependencies::spawn_sampler(state.clone(), stopping.clone());
        Ok(Application {
            listener,
            router,
            state,
            port,
            stopping,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn instance_id(&self) -> &str {
        &self.state.instance_id
    }

    /// A view of this replica for tests that look behind the API; it stays usable while the
    /// application runs.
    pub fn probe(&self) -> Probe {
        Probe::new(self.state.clone())
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(service::shutdown_signal()).await
    }

    /// Serves until `stop` completes, then lets in-flight requests finish for up to the grace period.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.settings.server.shutdown_grace_secs);
        let stopping = self.stopping.clone();
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        tracing::info!(port = self.port, instance = %self.state.instance_id, "api listening");
        let closing = CancellationToken::new();
        let listener = ClosingListener {
            address: self.listener.local_addr()?,
            inner: Some(self.listener),
            closing: closing.clone(),
        };
        // The peer's address is the admin login's client when no front door names one.
        let service = self.router.into_make_service_with_connect_info::<Peer>();
        let serve = axum::serve(listener, service).with_graceful_shutdown(async move {
            stop.await;
            tracing::info!("stopping: finishing in-flight requests");
            // First the listening socket closes: the kernel refuses new connections and resets
            // those not yet accepted, which a proxy knows it may send elsewhere. Connections
            // accepted just before get their first request served before idle ones are closed;
            // closing at once would drop a request already on its way, which no proxy can
            // safely repeat.
            closing.cancel();
            stopping.cancel();
            tokio::time::sleep(ACCEPTED_CONNECTION_LINGER).await;
            let _ = stopping_tx.send(());
        });
        let deadline = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = serve => served.context("the server failed")?,
            () = deadline => tracing::warn!(?grace, "grace period over; dropping open connections"),
        }
        // `close` waits for every borrowed connection; one never returned must not hang the stop.
        if tokio::time::timeout(grace, self.state.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections still borrowed at stop; leaving them");
        }
        tracing::info!("stopped");
        Ok(())
    }
}
