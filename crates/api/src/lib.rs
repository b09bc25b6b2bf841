//! AIunittest's HTTP API: accepts, stores, lists and cancels test-generation tasks, with anonymous
//! sessions shared across replicas through Redis. See ARCHITECTURE.md for the map.

pub mod cache;
pub mod config;
pub mod db;
pub mod dependencies;
pub mod error;
pub mod events;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod redis;
pub mod routes;
pub mod session;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;

pub use config::Settings;
pub use startup::Application;
