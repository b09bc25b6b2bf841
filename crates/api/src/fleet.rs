//! What the live workers can do, as this replica sees it: the sum of their announcements
//! (`store::workers`), read at most once a second. A model is on offer when a live worker can
//! serve it, so an api replica holds no provider keys; the queue's capacity is the live workers'.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::{Availability, ModelId, ModelRegistry, ModelSpec};
use sqlx::PgPool;
use store::workers::{self, Fleet};

/// How long one reading of the workers' table serves requests.
const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct FleetView {
    last: Mutex<Option<(Instant, Fleet)>>,
}

impl FleetView {
    /// The live workers, from the last second's reading or a new one.
    pub async fn current(&self, pool: &PgPool) -> anyhow::Result<Fleet> {
        if let Ok(last) = self.last.lock()
            && let Some((read_at, fleet)) = last.as_ref()
            && read_at.elapsed() < FRESH_FOR
        {
            return Ok(fleet.clone());
        }
        let fleet = workers::live(pool).await?;
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), fleet.clone()));
        }
        Ok(fleet)
    }
}

/// Whether a task for `spec` will find a worker. A model no key guards (`offline`, a keyless
/// endpoint) is served by any worker, so while none runs its tasks wait in the queue for the first;
/// a model behind a key needs a live worker that has the key.
///
/// A disabled model is never available. A model whose key is stored in the registry needs no
/// variable on the worker: any worker that holds the model keys serves it.
pub fn availability(spec: &ModelSpec, fleet: &Fleet) -> Availability {
    if !spec.enabled {
        return Availability::Unavailable("disabled by the administrator".into());
    }
    if fleet.serves(spec.id.as_str()) {
        return Availability::Available;
    }
    let key_variable = spec.api_key_env.as_ref().filter(|_| !spec.stored_key);
    match (key_variable, fleet.workers) {
        (None, 0) => Availability::Available,
        (None, _) => Availability::Unavailable("no running worker serves it".into()),
        (Some(variable), 0) => Availability::Unavailable(format!(
            "no worker is running; a worker with {variable} set serves it"
        )),
        (Some(variable), _) => {
            Availability::Unavailable(format!("no running worker has {variable} set"))
        }
    }
}

/// The model a task gets when it names none: the registry's `default`, else the first hosted
/// model a live worker serves, else `offline`.
pub fn default_model(registry: &ModelRegistry, fleet: &Fleet) -> Option<ModelId> {
    registry
        .default_model_where(&|spec| availability(spec, fleet).is_available())
        .map(|spec| spec.id.clone())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn fleet(models: &[&str]) -> Fleet {
        Fleet {
            workers: 1,
            capacity: 8,
            models: models
                .iter()
                .map(|id| (*id).to_owned())
                .collect::<BTreeSet<_>>(),
        }
    }

    fn hosted(registry: &ModelRegistry) -> &ModelSpec {
        registry
            .models
            .iter()
            .find(|spec| spec.api_key_env.is_some())
            .expect("the built-in registry has a hosted model")
    }

    #[test]
    fn a_model_behind_a_key_needs_a_live_worker_with_the_key() {
        let registry = ModelRegistry::default();
        let spec = hosted(&registry);
        assert!(!availability(spec, &Fleet::default()).is_available());
        assert!(!availability(spec, &fleet(&["offline"])).is_available());
        assert!(availability(spec, &fleet(&["offline", spec.id.as_str()])).is_available());
    }

    #[test]
    fn disabled_models_are_unavailable_and_stored_keys_need_no_variable() {
        let registry = ModelRegistry::default();
        let mut spec = hosted(&registry).clone();
        spec.stored_key = true;
        assert!(availability(&spec, &Fleet::default()).is_available());
        assert_eq!(
            availability(&spec, &fleet(&["offline"])),
            Availability::Unavailable("no running worker serves it".into())
        );
        assert!(availability(&spec, &fleet(&[spec.id.as_str()])).is_available());
        spec.enabled = false;
        assert_eq!(
            availability(&spec, &fleet(&[spec.id.as_str()])),
            Availability::Unavailable("disabled by the administrator".into())
        );
    }

    #[test]
    fn keyless_models_wait_for_the_first_worker() {
        let registry = ModelRegistry::default();
        let offline = registry
            .models
            .iter()
            .find(|spec| spec.api_key_env.is_none())
            .expect("offline");
        assert!(availability(offline, &Fleet::default()).is_available());
        assert_eq!(
            default_model(&registry, &Fleet::default()).map(|id| id.to_string()),
            Some(offline.id.to_string())
        );
    }

    #[test]
    fn the_default_is_the_first_hosted_model_a_worker_serves() {
        let registry = ModelRegistry::default();
        let spec = hosted(&registry);
        let chosen = default_model(&registry, &fleet(&["offline", spec.id.as_str()]));
        assert_eq!(chosen.as_ref(), Some(&spec.id));
    }
}
