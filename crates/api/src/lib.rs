//! AIunittest's HTTP API: accepts, stores, lists and cancels test-generation tasks, with anonymous
//! sessions shared across replicas through Redis. See ARCHITECTURE.md for the map.

mod admin;
mod config;
mod dependencies;
mod error;
mod events;
mod extract;
mod fleet;
mod git_token;
mod limits;
mod metrics;
mod middleware;
mod openapi;
mod probe;
mod registry;
mod routes;
mod session;
mod startup;
mod state;
mod telemetry;

pub use admin::AdminPassword;
pub use config::Settings;
pub use probe::Probe;
pub use routes::UI_ROUTES;
pub use startup::Application;
pub use telemetry::{SERVICE_NAME, init as init_telemetry};

/// The OpenAPI 3.1 document of the api, as `GET /api/openapi.json` serves it.
pub fn openapi_document() -> serde_json::Value {
    openapi::document()
}
