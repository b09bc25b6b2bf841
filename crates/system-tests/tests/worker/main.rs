//! The worker end to end: a real api, real workers, Postgres, Redis and the model simulator.

mod failures;
mod fanout;
mod generation;
mod helpers;
mod metrics;
mod models;
mod offline;
mod queue;
mod repository;
mod validation;
