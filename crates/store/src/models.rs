//! The model registry's rows: the models, the default, the version every change bumps, the key
//! ids' fingerprints and the admin's test requests. The api validates and seals keys; the worker
//! opens them ([`crate::model_keys`]). Every write bumps the version and notifies
//! [`crate::notify::MODELS_CHANGED`] in its own transaction.
//!
//! Seeding: at start each process writes the configuration file's models into the table, and the
//! file's default when none is set. The file owns the models it lists (`origin = 'file'`): a change
//! to one in the file is applied at the next start. Once the admin edits such a model it becomes
//! the registry's (`origin = 'admin'`) and the file no longer touches it; a model the admin added is
//! never touched by the file. A model deleted here that is still in the file comes back at the
//! next start (remove it from the file too, or disable it here).

use anyhow::Context;
use chrono::{DateTime, Utc};
use domain::{ModelId, ModelKind, ModelRegistry, ModelSpec};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::model_keys::{KeyRing, KeyRingError, Sealed};
use crate::notify::MODELS_CHANGED;

/// A model as stored.
#[derive(Debug, Clone)]
pub struct StoredModel {
    /// `stored_key` says whether `sealed` is set.
    pub spec: ModelSpec,
    pub sealed: Option<Sealed>,
    /// `file` or `admin`.
    pub origin: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The whole registry as stored, at one version.
#[derive(Debug, Clone, Default)]
pub struct StoredRegistry {
    pub version: i64,
    pub default: Option<ModelId>,
    pub models: Vec<StoredModel>,
}

impl StoredRegistry {
    /// The registry the services work with (keys only as `stored_key`).
    pub fn registry(&self) -> ModelRegistry {
        ModelRegistry {
            default: self.default.clone(),
            models: self.models.iter().map(|model| model.spec.clone()).collect(),
        }
    }

    pub fn get(&self, id: &ModelId) -> Option<&StoredModel> {
        self.models.iter().find(|model| model.spec.id == *id)
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    kind: String,
    display_name: Option<String>,
    base_url: Option<String>,
    remote_name: Option<String>,
    api_key_env: Option<String>,
    temperature: f32,
    max_tokens: i32,
    timeout_secs: i32,
    max_concurrency: i32,
    fallbacks: Vec<String>,
    enabled: bool,
    key_id: Option<String>,
    key_nonce: Option<Vec<u8>>,
    key_ciphertext: Option<Vec<u8>>,
    origin: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn kind_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Openai => "openai",
        ModelKind::Offline => "offline",
    }
}

fn model_of(row: Row) -> anyhow::Result<StoredModel> {
    let id = ModelId::parse(&row.id)
        .map_err(|error| anyhow::anyhow!("stored model id `{}`: {error}", row.id))?;
    let kind = match row.kind.as_str() {
        "openai" => ModelKind::Openai,
        "offline" => ModelKind::Offline,
        other => anyhow::bail!("stored model `{id}` has the unknown kind `{other}`"),
    };
    let fallback = row
        .fallbacks
        .iter()
        .map(|name| {
            ModelId::parse(name).map_err(|error| {
                anyhow::anyhow!("stored model `{id}` falls back to `{name}`: {error}")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sealed = match (row.key_id, row.key_nonce, row.key_ciphertext) {
        (Some(key_id), Some(nonce), Some(ciphertext)) => Some(Sealed {
            key_id,
            nonce,
            ciphertext,
        }),
        _ => None,
    };
    let spec = ModelSpec {
        id,
        kind,
        display_name: row.display_name,
        base_url: row.base_url,
        api_key_env: row.api_key_env,
        model: row.remote_name,
        temperature: row.temperature,
        max_tokens: u32::try_from(row.max_tokens).unwrap_or(1),
        timeout_secs: u64::try_from(row.timeout_secs).unwrap_or(1),
        max_concurrency: u32::try_from(row.max_concurrency).unwrap_or(1),
        fallback,
        enabled: row.enabled,
        stored_key: sealed.is_some(),
    };
    Ok(StoredModel {
        spec,
        sealed,
        origin: row.origin,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The registry's version: it changes with every write.
#[tracing::instrument(name = "db.models_version", skip_all)]
pub async fn version(pool: &PgPool) -> anyhow::Result<i64> {
    sqlx::query_scalar("select version from model_registry")
        .fetch_one(pool)
        .await
        .context("cannot read the model registry's version")
}

/// The whole registry.
#[tracing::instrument(name = "db.models_load", skip_all)]
pub async fn load(pool: &PgPool) -> anyhow::Result<StoredRegistry> {
    let mut transaction = pool.begin().await.context("cannot begin")?;
    let (version, default): (i64, Option<String>) =
        sqlx::query_as("select version, default_model from model_registry")
            .fetch_one(&mut *transaction)
            .await
            .context("cannot read the model registry")?;
    let rows: Vec<Row> = sqlx::query_as(
        "select id, kind, display_name, base_url, remote_name, api_key_env, temperature,
                max_tokens, timeout_secs, max_concurrency, fallbacks, enabled, key_id, key_nonce,
                key_ciphertext, origin, created_at, updated_at
         from models order by seq",
    )
    .fetch_all(&mut *transaction)
    .await
    .context("cannot read the models")?;
    transaction.commit().await.context("cannot commit")?;
    let models = rows
        .into_iter()
        .map(model_of)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let default = default
        .map(|name| ModelId::parse(&name))
        .transpose()
        .map_err(|error| anyhow::anyhow!("stored default model: {error}"))?;
    Ok(StoredRegistry {
        version,
        default,
        models,
    })
}

async fn changed(transaction: &mut Transaction<'_, Postgres>) -> anyhow::Result<()> {
    let version: i64 = sqlx::query_scalar(
        "update model_registry set version = version + 1, updated_at = now() returning version",
    )
    .fetch_one(&mut **transaction)
    .await
    .context("cannot bump the model registry's version")?;
    sqlx::query("select pg_notify($1, $2)")
        .bind(MODELS_CHANGED)
        .bind(version.to_string())
        .execute(&mut **transaction)
        .await
        .context("cannot notify the model change")?;
    Ok(())
}

fn int(value: impl TryInto<i32>, what: &str) -> anyhow::Result<i32> {
    value
        .try_into()
        .map_err(|_| anyhow::anyhow!("{what} is out of range"))
}

/// A model's fallbacks, as the `fallbacks` column holds them.
fn fallback_names(spec: &ModelSpec) -> Vec<String> {
    spec.fallback.iter().map(ToString::to_string).collect()
}

/// Binds a model's settings as `$1` to `$12` (id, kind, display name, base URL, remote name, key
/// variable, temperature, max tokens, timeout, concurrency, fallbacks, enabled), in the order the
/// insert and the update both use.
fn bind_settings<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    spec: &'q ModelSpec,
    fallbacks: &'q [String],
) -> anyhow::Result<sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>> {
    Ok(query
        .bind(spec.id.as_str())
        .bind(kind_name(spec.kind))
        .bind(spec.display_name.as_deref())
        .bind(spec.base_url.as_deref())
        .bind(spec.model.as_deref())
        .bind(spec.api_key_env.as_deref())
        .bind(spec.temperature)
        .bind(int(spec.max_tokens, "max_tokens")?)
        .bind(int(spec.timeout_secs, "timeout_secs")?)
        .bind(int(spec.max_concurrency, "max_concurrency")?)
        .bind(fallbacks)
        .bind(spec.enabled))
}

/// Inserts a model; with `origin` `file`, a row the file owns takes the file's settings (when they
/// differ). `true` when a row was written.
async fn write_model(
    transaction: &mut Transaction<'_, Postgres>,
    spec: &ModelSpec,
    origin: &str,
) -> anyhow::Result<bool> {
    let fallbacks = fallback_names(spec);
    let written = bind_settings(
        sqlx::query(
            "insert into models as m (id, kind, display_name, base_url, remote_name, api_key_env,
             temperature, max_tokens, timeout_secs, max_concurrency, fallbacks, enabled, origin)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         on conflict (id) do update
         set kind = excluded.kind, display_name = excluded.display_name,
             base_url = excluded.base_url, remote_name = excluded.remote_name,
             api_key_env = excluded.api_key_env, temperature = excluded.temperature,
             max_tokens = excluded.max_tokens, timeout_secs = excluded.timeout_secs,
             max_concurrency = excluded.max_concurrency, fallbacks = excluded.fallbacks,
             enabled = excluded.enabled, updated_at = now()
         where excluded.origin = 'file' and m.origin = 'file'
           and (m.kind, m.display_name, m.base_url, m.remote_name, m.api_key_env, m.temperature,
                m.max_tokens, m.timeout_secs, m.max_concurrency, m.fallbacks, m.enabled)
               is distinct from
               (excluded.kind, excluded.display_name, excluded.base_url, excluded.remote_name,
                excluded.api_key_env, excluded.temperature, excluded.max_tokens,
                excluded.timeout_secs, excluded.max_concurrency, excluded.fallbacks,
                excluded.enabled)",
        ),
        spec,
        &fallbacks,
    )?
    .bind(origin)
    .execute(&mut **transaction)
    .await
    .with_context(|| format!("cannot write model `{}`", spec.id))?;
    Ok(written.rows_affected() == 1)
}

/// Writes the file's models (new ones, and changes to those the file owns) and the file's default
/// when the table has none. Returns the ids written. Safe to run from every process at once.
#[tracing::instrument(name = "db.models_seed", skip_all)]
pub async fn seed(pool: &PgPool, file: &ModelRegistry) -> anyhow::Result<Vec<ModelId>> {
    let mut transaction = pool.begin().await.context("cannot begin")?;
    // One seeder at a time, so two processes starting together do not interleave their rows.
    sqlx::query("select 1 from model_registry for update")
        .execute(&mut *transaction)
        .await
        .context("cannot lock the model registry")?;
    let mut inserted = Vec::new();
    for spec in &file.models {
        if write_model(&mut transaction, spec, "file").await? {
            inserted.push(spec.id.clone());
        }
    }
    let default_set = match &file.default {
        Some(default) => {
            sqlx::query(
                "update model_registry set default_model = $1
                 where default_model is null and exists (select 1 from models where id = $1)",
            )
            .bind(default.as_str())
            .execute(&mut *transaction)
            .await
            .context("cannot seed the default model")?
            .rows_affected()
                == 1
        }
        None => false,
    };
    if !inserted.is_empty() || default_set {
        changed(&mut transaction).await?;
    }
    transaction.commit().await.context("cannot commit")?;
    Ok(inserted)
}

/// What a write does to a model's key.
#[derive(Debug, Clone)]
pub enum KeyChange<'a> {
    Keep,
    Clear,
    /// The sealed key, and the fingerprint of the key id that sealed it.
    Set(&'a Sealed, &'a [u8]),
}

async fn apply_key(
    transaction: &mut Transaction<'_, Postgres>,
    id: &ModelId,
    key: &KeyChange<'_>,
) -> anyhow::Result<()> {
    match key {
        KeyChange::Keep => {}
        KeyChange::Clear => {
            sqlx::query(
                "update models set key_id = null, key_nonce = null, key_ciphertext = null
                 where id = $1",
            )
            .bind(id.as_str())
            .execute(&mut **transaction)
            .await
            .context("cannot clear the model's key")?;
        }
        KeyChange::Set(sealed, fingerprint) => {
            sqlx::query(
                // The ring's own: where a stored key still uses the id, the start-up check
                // proved the two equal; where none does, an old fingerprint is stale.
                "insert into model_key_ids (key_id, fingerprint) values ($1, $2)
                 on conflict (key_id) do update set fingerprint = excluded.fingerprint",
            )
            .bind(&sealed.key_id)
            .bind(*fingerprint)
            .execute(&mut **transaction)
            .await
            .context("cannot record the key id")?;
            sqlx::query(
                "update models set key_id = $2, key_nonce = $3, key_ciphertext = $4 where id = $1",
            )
            .bind(id.as_str())
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .execute(&mut **transaction)
            .await
            .context("cannot store the model's key")?;
        }
    }
    Ok(())
}

/// Adds a model; `false` when its id is taken.
#[tracing::instrument(name = "db.models_insert", skip_all, fields(model = %spec.id))]
pub async fn insert(pool: &PgPool, spec: &ModelSpec, key: KeyChange<'_>) -> anyhow::Result<bool> {
    let mut transaction = pool.begin().await.context("cannot begin")?;
    if !write_model(&mut transaction, spec, "admin").await? {
        return Ok(false);
    }
    apply_key(&mut transaction, &spec.id, &key).await?;
    changed(&mut transaction).await?;
    transaction.commit().await.context("cannot commit")?;
    Ok(true)
}

/// Replaces a model's settings; from now on the model is the registry's, not the file's (see the
/// module's documentation). `false` when it is gone.
#[tracing::instrument(name = "db.models_update", skip_all, fields(model = %spec.id))]
pub async fn update(pool: &PgPool, spec: &ModelSpec, key: KeyChange<'_>) -> anyhow::Result<bool> {
    let mut transaction = pool.begin().await.context("cannot begin")?;
    let fallbacks = fallback_names(spec);
    let updated = bind_settings(
        sqlx::query(
            "update models set kind = $2, display_name = $3, base_url = $4, remote_name = $5,
             api_key_env = $6, temperature = $7, max_tokens = $8, timeout_secs = $9,
             max_concurrency = $10, fallbacks = $11, enabled = $12, origin = 'admin',
             updated_at = now()
         where id = $1",
        ),
        spec,
        &fallbacks,
    )?
    .execute(&mut *transaction)
    .await
    .with_context(|| format!("cannot update model `{}`", spec.id))?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    apply_key(&mut transaction, &spec.id, &key).await?;
    changed(&mut transaction).await?;
    transaction.commit().await.context("cannot commit")?;
    Ok(true)
}

/// Deletes a model; `false` when it was not there.
#[tracing::instrument(name = "db.models_delete", skip_all)]
pub async fn delete(pool: &PgPool, id: &ModelId) -> anyhow::Result<bool> {
    change_one_row(
        pool,
        "delete from models where id = $1",
        id,
        "cannot delete the model",
    )
    .await
}

/// Makes `id` the default model; `false` when it is not in the table.
#[tracing::instrument(name = "db.models_set_default", skip_all)]
pub async fn set_default(pool: &PgPool, id: &ModelId) -> anyhow::Result<bool> {
    change_one_row(
        pool,
        "update model_registry set default_model = $1
         where exists (select 1 from models where id = $1)",
        id,
        "cannot set the default model",
    )
    .await
}

/// Runs `statement` (`$1` is `id`) in a transaction that bumps the registry's version and
/// notifies when it changed a row; whether it did.
async fn change_one_row(
    pool: &PgPool,
    statement: &'static str,
    id: &ModelId,
    failure: &'static str,
) -> anyhow::Result<bool> {
    let mut transaction = pool.begin().await.context("cannot begin")?;
    let changed_one = sqlx::query(statement)
        .bind(id.as_str())
        .execute(&mut *transaction)
        .await
        .context(failure)?
        .rows_affected()
        == 1;
    if changed_one {
        changed(&mut transaction).await?;
    }
    transaction.commit().await.context("cannot commit")?;
    Ok(changed_one)
}

/// Checks at start that `ring` can open every stored key: each key id in use is configured with
/// the fingerprint recorded when it sealed them. An id no stored key uses any more is not held
/// against the ring (the next key set under it records the ring's fingerprint). A process that
/// cannot open a stored key must not start (the error says which id, never a key).
#[tracing::instrument(name = "db.models_check_keys", skip_all)]
pub async fn check_key_ring(pool: &PgPool, ring: &KeyRing) -> anyhow::Result<()> {
    let recorded: Vec<(String, Vec<u8>, bool)> = sqlx::query_as(
        "select k.key_id, k.fingerprint,
                exists (select 1 from models m where m.key_id = k.key_id)
         from model_key_ids k order by k.key_id",
    )
    .fetch_all(pool)
    .await
    .context("cannot read the model key ids")?;
    for (key_id, fingerprint, in_use) in &recorded {
        let outcome = ring.check(key_id, Some(fingerprint));
        match outcome {
            Ok(()) => {}
            Err(KeyRingError::UnknownKeyId(_) | KeyRingError::WrongKey(_)) if !in_use => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// A test request a worker claimed.
#[derive(Debug, Clone)]
pub struct ClaimedTest {
    pub id: Uuid,
    pub model: ModelId,
}

/// The outcome of a test request, once a worker wrote it.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub claimed_by: Option<String>,
    pub finished: bool,
    pub ok: bool,
    pub answer: Option<String>,
    pub error: Option<String>,
    pub elapsed_ms: Option<i32>,
}

/// Asks the workers to test `model`; returns the request's id.
#[tracing::instrument(name = "db.models_request_test", skip_all)]
pub async fn request_test(pool: &PgPool, model: &ModelId) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    let mut transaction = pool.begin().await.context("cannot begin")?;
    sqlx::query("insert into model_tests (id, model_id) values ($1, $2)")
        .bind(id)
        .bind(model.as_str())
        .execute(&mut *transaction)
        .await
        .context("cannot request the model test")?;
    sqlx::query("select pg_notify($1, $2)")
        .bind(crate::notify::MODEL_TEST)
        .bind(id.to_string())
        .execute(&mut *transaction)
        .await
        .context("cannot notify the model test")?;
    // Old requests go: they are only read while their route waits.
    sqlx::query("delete from model_tests where requested_at < now() - interval '1 hour'")
        .execute(&mut *transaction)
        .await
        .context("cannot forget old model tests")?;
    transaction.commit().await.context("cannot commit")?;
    Ok(id)
}

/// Claims one pending test of a model among `servable`, for `worker`.
#[tracing::instrument(name = "db.models_claim_test", skip_all)]
pub async fn claim_test(
    pool: &PgPool,
    worker: &str,
    servable: &[String],
) -> anyhow::Result<Option<ClaimedTest>> {
    let row: Option<(Uuid, String)> = sqlx::query_as(
        "update model_tests set claimed_by = $1, claimed_at = now()
         where id = (
             select id from model_tests
             where claimed_by is null and model_id = any($2)
               and requested_at > now() - interval '5 minutes'
             order by requested_at
             for update skip locked
             limit 1
         )
         returning id, model_id",
    )
    .bind(worker)
    .bind(servable)
    .fetch_optional(pool)
    .await
    .context("cannot claim a model test")?;
    row.map(|(id, model)| {
        ModelId::parse(&model)
            .map(|model| ClaimedTest { id, model })
            .map_err(|error| anyhow::anyhow!("model test of `{model}`: {error}"))
    })
    .transpose()
}

/// Writes a test's outcome.
#[tracing::instrument(name = "db.models_finish_test", skip_all)]
pub async fn finish_test(
    pool: &PgPool,
    id: Uuid,
    outcome: Result<&str, &str>,
    elapsed_ms: i32,
) -> anyhow::Result<()> {
    let (ok, answer, error) = match outcome {
        Ok(answer) => (true, Some(answer), None),
        Err(error) => (false, None, Some(error)),
    };
    sqlx::query(
        "update model_tests set finished_at = now(), ok = $2, answer = $3, error = $4,
             elapsed_ms = $5
         where id = $1",
    )
    .bind(id)
    .bind(ok)
    .bind(answer)
    .bind(error)
    .bind(elapsed_ms)
    .execute(pool)
    .await
    .context("cannot record the model test")?;
    Ok(())
}

/// A test request's state.
#[tracing::instrument(name = "db.models_test_outcome", skip_all)]
pub async fn test_outcome(pool: &PgPool, id: Uuid) -> anyhow::Result<Option<TestOutcome>> {
    type OutcomeRow = (
        Option<String>,
        bool,
        Option<bool>,
        Option<String>,
        Option<String>,
        Option<i32>,
    );
    let row: Option<OutcomeRow> = sqlx::query_as(
        "select claimed_by, finished_at is not null, ok, answer, error, elapsed_ms
         from model_tests where id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .context("cannot read the model test")?;
    Ok(row.map(
        |(claimed_by, finished, ok, answer, error, elapsed_ms)| TestOutcome {
            claimed_by,
            finished,
            ok: ok.unwrap_or(false),
            answer,
            error,
            elapsed_ms,
        },
    ))
}
