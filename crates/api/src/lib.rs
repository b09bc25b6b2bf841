//! AIunittest's HTTP API: accepts, stores, lists and cancels test-generation tasks, with anonymous
//! sessions shared across replicas through Redis. See ARCHITECTURE.md for the map.

mod config;
mod dependencies;
mod error;
mod events;
mod extract;
mod fleet;
mod metrics;
mod middleware;
pub mod openapi;
pub mod routes;
mod session;
mod startup;
pub mod state;
mod telemetry;

pub use config::Settings;
pub use startup::Application;
pub use telemetry::{SERVICE_NAME, init as init_telemetry};
