//! Logs and traces, set up by [`telemetry::init`]: stdout as text or JSON lines (`RUST_LOG`
//! overrides the configured filter), W3C trace context on every span, and OTLP export when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set. The request span's `request_id` and `trace_id` appear on
//! every line logged while serving a request.

pub use telemetry::Telemetry;

use service::sections::LogSettings;

/// The api's `service.name` in traces (`OTEL_SERVICE_NAME` overrides it).
pub const SERVICE_NAME: &str = "aiut-api";

/// Sets up the api's logs and traces. Keep the guard until the end of `main`, then shut it down.
pub fn init(settings: &LogSettings) -> Telemetry {
    init_service(SERVICE_NAME, settings)
}

/// The same for another service configured by these settings (the worker).
pub fn init_service(service: &'static str, settings: &LogSettings) -> Telemetry {
    telemetry::init(&telemetry::Options {
        service,
        filter: &settings.filter,
        json: settings.json,
        file: telemetry::LogFile::at(
            settings.file.as_deref(),
            settings.max_file_bytes(),
            settings.max_files,
        ),
    })
}
