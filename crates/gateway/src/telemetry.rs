//! Logs and traces, set up by [`telemetry::init`]: stdout as text or JSON lines (`RUST_LOG`
//! overrides the configured filter; Pingora's own `log` records go to the same place), W3C trace
//! context on every request's span, and OTLP export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use std::sync::Mutex;

pub use telemetry::Telemetry;

use crate::config::LogSettings;

/// The gateway's `service.name` in traces (`OTEL_SERVICE_NAME` overrides it).
pub const SERVICE_NAME: &str = "aiut-gateway";

/// Sets up the gateway's logs and traces. Keep the guard until the server has stopped, then shut
/// it down: that exports the spans of the last requests.
pub fn init(settings: &LogSettings) -> Telemetry {
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

/// The guard, kept here once the server runs: the process may end from its shutdown notice
/// rather than by returning from `main`.
static KEPT: Mutex<Option<Telemetry>> = Mutex::new(None);

/// Keeps the guard until [`finish`].
pub fn keep(guard: Telemetry) {
    if let Ok(mut kept) = KEPT.lock() {
        *kept = Some(guard);
    }
}

/// Exports the spans of the last requests and stops the exporter; once.
pub fn finish() {
    let guard = KEPT.lock().ok().and_then(|mut kept| kept.take());
    if let Some(guard) = guard {
        guard.shutdown();
    }
}
