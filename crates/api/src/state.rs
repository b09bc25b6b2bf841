use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use sqlx::PgPool;
use store::workers::Fleet;
use store::{Redis, ResultCache};

use crate::config::Settings;
use crate::events::EventHub;
use crate::fleet::FleetView;
use crate::metrics::Metrics;

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
    /// The replica's one subscription to task events.
    pub hub: EventHub,
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

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
