//! Integration tests: the real application on port 0, against the real Postgres (a fresh database
//! per test, from `#[sqlx::test]`) and Redis (a key prefix per test).

mod admin;
mod admin_limits;
mod admin_models;
mod batches;
mod binary;
mod errors;
mod events;
mod git;
mod helpers;
mod metrics;
mod models;
mod openapi;
mod ops;
mod sessions;
mod tasks;
