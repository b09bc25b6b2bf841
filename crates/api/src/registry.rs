//! The model registry as this replica sees it: the rows of `store::models`, re-read when their
//! version changes. The version is asked at most once a second, so a model added, edited or
//! disabled on any replica is in force here within about a second; this replica's own admin
//! writes are in force at once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use store::models::StoredRegistry;

/// How long one reading of the version serves requests.
const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct RegistryView {
    last: Mutex<Option<(Instant, Arc<StoredRegistry>)>>,
}

impl RegistryView {
    /// The registry, from the last second's reading, or read again when its version moved.
    pub async fn current(&self, pool: &PgPool) -> anyhow::Result<Arc<StoredRegistry>> {
        let cached = self.last.lock().ok().and_then(|last| last.clone());
        if let Some((read_at, registry)) = &cached
            && read_at.elapsed() < FRESH_FOR
        {
            return Ok(registry.clone());
        }
        let version = store::models::version(pool).await?;
        let registry = match cached {
            Some((_, registry)) if registry.version == version => registry,
            _ => Arc::new(store::models::load(pool).await?),
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), registry.clone()));
        }
        Ok(registry)
    }

    /// The last reading, however old.
    pub fn last_known(&self) -> Option<Arc<StoredRegistry>> {
        self.last
            .lock()
            .ok()
            .and_then(|last| last.as_ref().map(|(_, registry)| registry.clone()))
    }

    /// Forgets the reading: the next request reads the registry again.
    pub fn invalidate(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = None;
        }
    }
}
