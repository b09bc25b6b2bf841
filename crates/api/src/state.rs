use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use domain::ModelId;
use sqlx::PgPool;
use store::{Redis, ResultCache};

use crate::config::Settings;
use crate::events::EventHub;
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
    pub default_model: ModelId,
    /// The replica's one subscription to task events.
    pub hub: EventHub,
    pub started_at: Instant,
}

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
