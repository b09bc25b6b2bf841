use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use sqlx::PgPool;
use store::model_keys::KeyRing;
use store::models::StoredRegistry;
use store::workers::Fleet;
use store::{Redis, ResultCache};

use crate::config::Settings;
use crate::events::EventHub;
use crate::fleet::FleetView;
use crate::metrics::Metrics;
use crate::registry::RegistryView;

/// What every handler shares: settings, the pool, Redis, metrics. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub settings: Settings,
    pub pool: PgPool,
    pub redis: Redis,
    pub results: ResultCache,
    pub metrics: Metrics,
    pub instance_id: String,
    /// What the live workers can do: the models on offer, the queue's capacity.
    pub fleet: FleetView,
    /// The model registry, re-read when it changes.
    pub registry: RegistryView,
    /// Seals the model keys the admin sets; this replica never opens one.
    pub keys: KeyRing,
    /// The replica's one subscription to task events.
    pub hub: EventHub,
    /// How forges are reached, and how a session's forge token is sealed.
    pub git: crate::git_token::ForgeAccess,
    pub started_at: Instant,
}

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }

    /// The live workers; when they cannot be read, none (Postgres is down, and whatever needs it
    /// next will say so).
    pub async fn live_workers(&self) -> Fleet {
        match self.fleet.current(&self.pool).await {
            Ok(fleet) => fleet,
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "cannot read the live workers");
                Fleet::default()
            }
        }
    }
}

impl AppState {
    /// The model registry. When it cannot be read (Postgres is down), the last reading, else the
    /// configuration file's registry.
    pub async fn models(&self) -> Arc<StoredRegistry> {
        match self.registry.current(&self.pool).await {
            Ok(registry) => registry,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot read the model registry"
                );
                self.registry.last_known().unwrap_or_else(|| {
                    Arc::new(StoredRegistry {
                        version: -1,
                        default: self.settings.models.default.clone(),
                        models: self
                            .settings
                            .models
                            .models
                            .iter()
                            .map(|spec| store::models::StoredModel {
                                spec: spec.clone(),
                                sealed: None,
                                origin: "file".into(),
                                created_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                                updated_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                            })
                            .collect(),
                    })
                })
            }
        }
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
