//! AIunittest's generation worker: claims queued tasks from Postgres under a lease, parses the
//! source, asks a model (or the offline scaffolder) for tests unit by unit, assembles and checks one
//! test file, stores it, and publishes progress to Redis as it goes.

mod app;
pub mod config;
pub mod events;
pub mod heartbeat;
pub mod metrics;
pub mod pipeline;
pub mod progress;
pub mod provider;
pub mod validation;

pub use app::Application;
pub use config::Settings;

/// The worker's `service.name` in traces (`OTEL_SERVICE_NAME` overrides it).
pub const SERVICE_NAME: &str = "aiut-worker";

/// Sets up the worker's logs and traces. Keep the guard until the end of `main`, then shut it down.
pub fn init_telemetry(settings: &service::sections::LogSettings) -> telemetry::Telemetry {
    telemetry::init(&telemetry::Options {
        service: SERVICE_NAME,
        filter: &settings.filter,
        json: settings.json,
        file: telemetry::LogFile::at(
            settings.file.as_deref(),
            settings.max_file_bytes(),
            settings.max_files,
        ),
    })
}
