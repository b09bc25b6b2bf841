//! The batch table: the tasks made for one folder (or file) of a repository at one commit, and
//! the repository's text files at that commit, which workers lay out around each task's tests.

use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use domain::{CacheKey, Checkout, TaskSpec};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::{is_transient, retry_transient};
use crate::notify;
use crate::tasks::{NewTask, TaskRow, full_columns, insert};

/// A batch as stored, without its checkout.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BatchRow {
    pub id: Uuid,
    pub owner_session: String,
    pub forge: String,
    pub repo: String,
    pub branch: String,
    pub commit_id: String,
    pub path: String,
    /// `[{"path": …, "reason": …}]`: files under `path` that got no task.
    pub skipped: serde_json::Value,
    pub pull_request: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// A new batch and what its tasks are made of.
pub struct NewBatch<'a> {
    pub owner: &'a str,
    pub forge: &'a str,
    pub repo: &'a str,
    pub branch: &'a str,
    pub commit: &'a str,
    pub path: &'a str,
    pub checkout: &'a Checkout,
    pub skipped: serde_json::Value,
    pub files: Vec<BatchFile>,
    pub max_attempts: i32,
    pub traceparent: Option<&'a str>,
    pub client: Option<&'a str>,
}

/// One file of a new batch: its task's spec, cache key and where its tests go.
pub struct BatchFile {
    pub spec: TaskSpec,
    pub cache_key: CacheKey,
    pub test_path: String,
}

pub enum BatchCreated {
    Created {
        batch: Box<BatchRow>,
        tasks: Vec<TaskRow>,
    },
    /// The owner's queue has too few free places for every file of the batch.
    OwnerQueueFull {
        queued: i64,
        limit: i64,
    },
    QueueFull {
        queued: i64,
    },
}

/// The caps a batch must fit under whole: every one of its tasks is queued, or none is.
#[derive(Debug, Clone, Copy)]
pub struct BatchCaps {
    pub max_queued_per_owner: i64,
    pub max_queue_depth: i64,
}

/// Stores the batch and queues one task per file, in one transaction, under the owner's lock
/// (the one single creates take), so the owner's cap holds for the batch as a whole.
#[tracing::instrument(name = "db.create_batch", skip_all, fields(files = new.files.len()))]
pub async fn create_batch(
    pool: &PgPool,
    new: &NewBatch<'_>,
    caps: BatchCaps,
) -> anyhow::Result<BatchCreated> {
    let checkout = compress(new.checkout)?;
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(new.owner)
        .execute(&mut *tx)
        .await?;
    let (owner_queued, queued, max_owner, max_depth): (i64, i64, Option<i32>, Option<i32>) =
        sqlx::query_as(
            "select (select count(*) from tasks where owner_session = $1 and status = 'queued'), \
                 (select coalesce(sum(queued), 0) from queue_depth)::bigint, \
                 limits.max_queued_per_session, limits.max_queue_depth \
             from runtime_limits as limits",
        )
        .bind(new.owner)
        .fetch_one(&mut *tx)
        .await?;
    let files = i64::try_from(new.files.len()).unwrap_or(i64::MAX);
    let owner_limit = max_owner.map_or(caps.max_queued_per_owner, i64::from);
    if owner_queued + files > owner_limit {
        return Ok(BatchCreated::OwnerQueueFull {
            queued: owner_queued,
            limit: owner_limit,
        });
    }
    if queued + files > max_depth.map_or(caps.max_queue_depth, i64::from) {
        return Ok(BatchCreated::QueueFull { queued });
    }
    let batch: BatchRow = sqlx::query_as(
        "insert into batches (id, owner_session, forge, repo, branch, commit_id, path, checkout, \
             skipped) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         returning id, owner_session, forge, repo, branch, commit_id, path, skipped, \
             pull_request, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(new.owner)
    .bind(new.forge)
    .bind(new.repo)
    .bind(new.branch)
    .bind(new.commit)
    .bind(new.path)
    .bind(&checkout)
    .bind(&new.skipped)
    .fetch_one(&mut *tx)
    .await?;
    let mut tasks = Vec::with_capacity(new.files.len());
    for file in &new.files {
        let task = NewTask {
            owner: new.owner,
            spec: &file.spec,
            cache_key: &file.cache_key,
            idempotency_key: None,
            max_attempts: new.max_attempts,
            traceparent: new.traceparent,
            create_token: None,
            client: new.client,
        };
        let inserted = insert(&mut tx, &task, None).await?;
        let task: TaskRow = sqlx::query_as(concat!(
            "update tasks set batch_id = $2, test_path = $3 where id = $1 returning ",
            full_columns!()
        ))
        .bind(inserted.id)
        .bind(batch.id)
        .bind(&file.test_path)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("select pg_notify($1, $2)")
            .bind(notify::TASK_QUEUED)
            .bind(task.id.to_string())
            .execute(&mut *tx)
            .await?;
        tasks.push(task);
    }
    tx.commit().await?;
    Ok(BatchCreated::Created {
        batch: Box::new(batch),
        tasks,
    })
}

/// A batch of this owner; another owner's is as absent as one that never existed.
#[tracing::instrument(name = "db.get_batch", skip_all, fields(batch_id = %id))]
pub async fn get_batch(
    pool: &PgPool,
    owner: &str,
    id: Uuid,
) -> Result<Option<BatchRow>, sqlx::Error> {
    retry_transient(is_transient, || {
        sqlx::query_as(
            "select id, owner_session, forge, repo, branch, commit_id, path, skipped, \
                 pull_request, created_at \
             from batches where id = $1 and owner_session = $2",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(pool)
    })
    .await
}

/// The owner's batches, newest first, at most `limit`.
#[tracing::instrument(name = "db.list_batches", skip_all)]
pub async fn list_batches(
    pool: &PgPool,
    owner: &str,
    limit: i64,
) -> Result<Vec<BatchRow>, sqlx::Error> {
    retry_transient(is_transient, || {
        sqlx::query_as(
            "select id, owner_session, forge, repo, branch, commit_id, path, skipped, \
                 pull_request, created_at \
             from batches where owner_session = $1 order by created_at desc, id desc limit $2",
        )
        .bind(owner)
        .bind(limit)
        .fetch_all(pool)
    })
    .await
}

/// The tasks of a batch, by source path.
#[tracing::instrument(name = "db.batch_tasks", skip_all, fields(batch_id = %id))]
pub async fn batch_tasks(pool: &PgPool, id: Uuid) -> Result<Vec<TaskRow>, sqlx::Error> {
    retry_transient(is_transient, || {
        sqlx::query_as(concat!(
            "select ",
            full_columns!(),
            " from tasks where batch_id = $1 order by file_name, id"
        ))
        .bind(id)
        .fetch_all(pool)
    })
    .await
}

/// The repository's files a batch was made at, for a worker running one of its tasks.
#[tracing::instrument(name = "db.batch_checkout", skip_all, fields(batch_id = %id))]
pub async fn batch_checkout(pool: &PgPool, id: Uuid) -> anyhow::Result<Option<Checkout>> {
    let stored: Option<Vec<u8>> = retry_transient(is_transient, || {
        sqlx::query_scalar("select checkout from batches where id = $1")
            .bind(id)
            .fetch_optional(pool)
    })
    .await?;
    stored.map(|bytes| decompress(&bytes)).transpose()
}

/// Records the pull request opened for a batch; false when one was recorded already (the
/// first one stays).
pub async fn record_pull_request(
    pool: &PgPool,
    owner: &str,
    id: Uuid,
    pull_request: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "update batches set pull_request = $3 \
         where id = $1 and owner_session = $2 and pull_request is null",
    )
    .bind(id)
    .bind(owner)
    .bind(pull_request)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

fn compress(checkout: &Checkout) -> anyhow::Result<Vec<u8>> {
    let json = serde_json::to_vec(checkout)?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&json)?;
    Ok(encoder.finish()?)
}

/// The largest checkout read back (its limits keep it far below).
const MAX_CHECKOUT_JSON_BYTES: u64 = 256 * 1024 * 1024;

fn decompress(bytes: &[u8]) -> anyhow::Result<Checkout> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_CHECKOUT_JSON_BYTES)
        .read_to_end(&mut json)?;
    Ok(serde_json::from_slice(&json)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::CheckoutFile;

    #[test]
    fn a_checkout_comes_back_as_it_was_stored() {
        let checkout = Checkout {
            files: vec![CheckoutFile {
                path: "shop/cart.py".into(),
                contents: "from shop.tax import rate\n".repeat(100),
            }],
            left_out: 3,
        };
        let stored = compress(&checkout).expect("compressed");
        assert!(stored.len() < checkout.total_bytes());
        assert_eq!(decompress(&stored).expect("decompressed"), checkout);
        assert!(decompress(b"not gzip").is_err());
    }
}
