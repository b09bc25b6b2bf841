//! The model registry on a worker: read from Postgres (`store::models`), stored keys opened with
//! the configured model keys, one client per model that can be called. At start any key that
//! does not open stops the worker with a clear error; later, a change (`NOTIFY
//! aiut_models_changed`, or the version seen by a slow re-read) rebuilds the models and the
//! announcement, and a key that does not open leaves only its model out, with an error logged.
//! The admin's model tests are answered here too.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use domain::ModelId;
use sqlx::PgPool;
use store::model_keys::{ApiKey, KeyRing};
use store::models::StoredRegistry;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::provider::{Models, ProviderError, RetryPolicy};

use super::Shared;

/// The slow re-read, for a change whose notification was missed.
const REREAD_EVERY: Duration = Duration::from_secs(10);
/// How often pending model tests are looked for without a notification.
const TESTS_EVERY: Duration = Duration::from_secs(2);

/// Opens the stored keys. `strict`: the first key that does not open is an error; otherwise it is
/// logged and its model left without a key.
fn open_keys(
    stored: &StoredRegistry,
    ring: &KeyRing,
    strict: bool,
) -> anyhow::Result<HashMap<ModelId, ApiKey>> {
    let mut keys = HashMap::new();
    for model in &stored.models {
        let Some(sealed) = &model.sealed else {
            continue;
        };
        match ring.open(model.spec.id.as_str(), sealed) {
            Ok(key) => {
                keys.insert(model.spec.id.clone(), key);
            }
            Err(error) if strict => return Err(error.into()),
            Err(error) => tracing::error!(
                model = %model.spec.id,
                error = %error,
                "cannot decrypt the model's stored key; the model is not served"
            ),
        }
    }
    Ok(keys)
}

/// The registry's version and the models built from it.
pub(super) async fn load(
    pool: &PgPool,
    ring: &KeyRing,
    policy: RetryPolicy,
    metrics: &Metrics,
    strict: bool,
) -> anyhow::Result<(i64, Models)> {
    let stored = store::models::load(pool).await?;
    let keys = open_keys(&stored, ring, strict)?;
    let models = Models::with_keys(
        stored.registry(),
        &keys,
        &service::config::environment_lookup,
        policy,
        metrics.clone(),
    )
    .context("cannot build the model clients")?;
    Ok((stored.version, models))
}

/// Reads the registry again and puts the new models in force; running tasks keep the models they
/// started with.
pub(super) async fn reload(shared: &Shared) -> anyhow::Result<()> {
    let (version, models) = load(
        &shared.pool,
        &shared.keys,
        shared.policy,
        &shared.metrics,
        false,
    )
    .await?;
    let previous = shared.model_version.swap(version, Ordering::SeqCst);
    if previous != version {
        tracing::info!(
            version,
            models = ?models.servable(),
            "model registry changed; models rebuilt"
        );
    }
    shared.models.send_replace(models);
    Ok(())
}

/// Re-reads the registry whenever it is notified to have changed, and every few seconds when its
/// version moved without a notification.
pub(super) async fn watch_registry(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = shared.models_changed.notified() => {}
            () = tokio::time::sleep(REREAD_EVERY) => {
                match store::models::version(&shared.pool).await {
                    Ok(version) if version == shared.model_version.load(Ordering::SeqCst) => {
                        continue;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(error = format!("{error:#}"), "cannot read the model registry's version");
                        continue;
                    }
                }
            }
        }
        if let Err(error) = reload(&shared).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot reload the model registry"
            );
        }
    }
}

/// Answers the admin's model tests for the models this worker serves.
pub(super) async fn serve_tests(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = shared.tests_waiting.notified() => {}
            () = tokio::time::sleep(TESTS_EVERY) => {}
        }
        loop {
            let models = shared.models.borrow().clone();
            let servable = models.servable();
            let claimed =
                match store::models::claim_test(&shared.pool, &shared.worker_id, &servable).await {
                    Ok(Some(claimed)) => claimed,
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(error = format!("{error:#}"), "cannot claim a model test");
                        break;
                    }
                };
            let started = Instant::now();
            let outcome = models.probe(&claimed.model, &stop).await;
            let elapsed_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
            let outcome = match &outcome {
                Ok(answer) => Ok(answer.text.trim()),
                Err(ProviderError::Cancelled) => Err("the worker stopped during the test"),
                Err(error) => Err(error_text(error)),
            };
            tracing::info!(model = %claimed.model, ok = outcome.is_ok(), elapsed_ms, "model tested");
            if let Err(error) =
                store::models::finish_test(&shared.pool, claimed.id, outcome, elapsed_ms).await
            {
                tracing::warn!(error = format!("{error:#}"), "cannot record the model test");
            }
        }
    }
}

fn error_text(error: &ProviderError) -> &str {
    match error {
        ProviderError::Retryable { message, .. } | ProviderError::Fatal { message, .. } => message,
        ProviderError::Cancelled => "cancelled",
    }
}
