//! Integration tests: the real application on port 0, against the real Postgres (a fresh database
//! per test, from `#[sqlx::test]`) and Redis (a key prefix per test).

mod helpers;
mod openapi;
mod tasks;
