//! Logs and traces, set up by [`telemetry::init`]: stdout as text or JSON lines (`RUST_LOG`
//! overrides the configured filter; Pingora's own `log` records go to the same place), W3C trace
//! context on every request's span, and OTLP export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

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
    })
}
