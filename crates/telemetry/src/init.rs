//! The process's logging and tracing, set up once at start by every service.
//!
//! - Logs go to stdout, as text or JSON lines ([`crate::json`]); `RUST_LOG` overrides the
//!   configured filter. With a [`LogFile`], they go to that file instead, written by a thread of
//!   their own (a request never waits on the disk unless that thread has fallen 128 000 lines
//!   behind) and rotated by size, a bounded number of old files kept.
//! - Spans always carry W3C trace context (trace and span ids, the sampling flag), so a
//!   `traceparent` flows between the services and logs name the trace, whether or not traces are
//!   exported.
//! - When `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, spans
//!   are also exported over OTLP/HTTP (protobuf) by a batch processor on a thread of its own. The
//!   other `OTEL_*` variables of the specification apply: `OTEL_SERVICE_NAME` (over the service's
//!   own name), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT`,
//!   `OTEL_TRACES_SAMPLER` (and `…_ARG`), `OTEL_BSP_SCHEDULE_DELAY` and the other batch settings;
//!   `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn exporting off.
//!
//! The spans exported are those at `INFO` and above whatever the log filter says, with the
//! `WARN` and `ERROR` events inside them as span events.

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Key, Value};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{FmtSpan, JsonFields};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::layer::{self, Filter};
use tracing_subscriber::util::SubscriberInitExt;

use crate::json::JsonLines;

/// What a service passes in: its name and its log settings.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// The `service.name` of its spans, unless `OTEL_SERVICE_NAME` (or a `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`) names another.
    pub service: &'static str,
    /// `tracing` filter directives for the logs, e.g. `info,api=debug`; `RUST_LOG` wins when set.
    pub filter: &'a str,
    /// JSON lines instead of text.
    pub json: bool,
    /// A file the process writes its logs to itself, instead of stdout.
    pub file: Option<LogFile<'a>>,
}

/// A log file, rotated by size: `<path>` is written, `<path>.1` is the newest rotated file, and
/// files beyond `keep` are deleted, so the logs never take more than about
/// `(keep + 1) × max_bytes` on disk.
#[derive(Debug, Clone, Copy)]
pub struct LogFile<'a> {
    pub path: &'a Path,
    /// The file is rotated once it has grown past this size (a line is never split).
    pub max_bytes: u64,
    /// Rotated files kept beside the current one (at least one).
    pub keep: usize,
}

impl<'a> LogFile<'a> {
    /// The file at `path`, when a path is configured.
    pub fn at(path: Option<&'a Path>, max_bytes: u64, keep: usize) -> Option<LogFile<'a>> {
        path.map(|path| LogFile {
            path,
            max_bytes,
            keep,
        })
    }
}

/// Opens the rotating file and the thread that writes it. The file is opened once here, so a
/// path that cannot be written is an error rather than a panic in the writer.
fn rotating_writer(file: &LogFile<'_>) -> std::io::Result<(NonBlocking, WorkerGuard)> {
    let path = std::path::absolute(file.path)?;
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true).mode(0o640);
    options.open(&path)?;
    let max_bytes = usize::try_from(file.max_bytes.max(1)).unwrap_or(usize::MAX);
    let rotating = FileRotate::new(
        &path,
        AppendCount::new(file.keep.max(1)),
        ContentLimit::BytesSurpassed(max_bytes),
        Compression::None,
        Some(options),
    );
    // Not lossy: a line is only ever delayed, never dropped.
    Ok(NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(rotating))
}

/// Held by `main` for the process's life: [`Telemetry::shutdown`] (or dropping it) exports the
/// spans still waiting in the batch and stops the exporter.
#[must_use = "dropping it at once shuts the exporter down"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    exporting: bool,
    /// Writes what is still queued for the log file when dropped (after the exporter's stop).
    _log_file: Option<WorkerGuard>,
}

impl Telemetry {
    /// Whether spans are exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.exporting
    }

    /// Exports what is waiting and stops the exporter; blocks until the export is done or has
    /// timed out (`OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        if let Err(error) = provider.shutdown() {
            tracing::warn!(%error, "cannot export the last spans");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn variable(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Whether the environment asks for spans to be exported.
fn export_requested() -> bool {
    let disabled = variable("OTEL_SDK_DISABLED").is_some_and(|value| value == "true")
        || variable("OTEL_TRACES_EXPORTER").is_some_and(|value| value == "none");
    let endpoint = variable("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some();
    endpoint && !disabled
}

/// The resource of the process's spans: the SDK's detectors (`OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES`, the SDK's own attributes), with `service` as the name when those
/// give none.
fn resource(service: &'static str) -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&Key::from_static_str("service.name"))
        .is_some_and(|name| !is_default_service_name(&name));
    if named {
        detected
    } else {
        Resource::builder().with_service_name(service).build()
    }
}

/// The SDK's name for a service that named itself nothing: `unknown_service[:<executable>]`.
fn is_default_service_name(name: &Value) -> bool {
    name.as_str().starts_with("unknown_service")
}

/// Spans at `INFO` and above are traced; of events, only warnings and errors become span events.
fn traced(metadata: &Metadata<'_>) -> bool {
    if metadata.is_span() {
        *metadata.level() <= Level::INFO
    } else {
        *metadata.level() <= Level::WARN
    }
}

/// The filter of the trace layer: [`traced`], asked at every span and event.
///
/// Its interest is never `always`. With per-layer filters, a callsite every filter finds always
/// interesting skips `enabled`, and its span then takes the filter decisions an unrelated earlier
/// `enabled` call left behind (a `log` record's `log_enabled!` check, which sqlx makes after every
/// query, is one) and is silently left out of every layer: the log lines inside it lose their ids
/// and the trace loses the span and its children (tokio-rs/tracing#2519).
struct TraceFilter;

impl<S> Filter<S> for TraceFilter {
    fn enabled(&self, metadata: &Metadata<'_>, _: &layer::Context<'_, S>) -> bool {
        traced(metadata)
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if traced(metadata) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::INFO)
    }
}

/// The layers every service runs: trace context (and export) for spans at `INFO` and above,
/// and the logs through `filter` to `writer`.
fn subscriber<W>(
    options: &Options<'_>,
    filter: EnvFilter,
    provider: &SdkTracerProvider,
    writer: W,
    ansi: bool,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(options.service))
        .with_threads(false)
        .with_filter(TraceFilter);
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi)
        .with_span_events(FmtSpan::NONE);
    let logs = if options.json {
        logs.with_ansi(false)
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_filter(filter)
            .boxed()
    } else {
        logs.with_filter(filter).boxed()
    };
    tracing_subscriber::registry().with(traces).with(logs)
}

/// Installs the process's subscriber: logs, trace context, and the OTLP exporter when asked for.
/// A second call (tests start several services in one process) keeps the first subscriber and
/// returns a guard with nothing to do.
pub fn init(options: &Options<'_>) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(options.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));

    let mut builder = SdkTracerProvider::builder().with_resource(resource(options.service));
    let mut export_error = None;
    let mut exporting = false;
    if export_requested() {
        match SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()
        {
            Ok(exporter) => {
                builder = builder.with_batch_exporter(exporter);
                exporting = true;
            }
            Err(error) => export_error = Some(error.to_string()),
        }
    }
    let provider = builder.build();
    let mut file_error = None;
    let (writer, ansi, log_file) = match options.file.as_ref().map(rotating_writer) {
        Some(Ok((writer, guard))) => (BoxMakeWriter::new(writer), false, Some(guard)),
        outcome => {
            if let Some(Err(error)) = outcome {
                file_error = Some(error);
            }
            let ansi = std::io::stdout().is_terminal();
            (BoxMakeWriter::new(std::io::stdout), ansi, None)
        }
    };
    let installed = subscriber(options, filter, &provider, writer, ansi).try_init();
    if installed.is_err() {
        // Another subscriber is in place; this provider would never see a span.
        let _ = provider.shutdown();
        return Telemetry {
            provider: None,
            exporting: false,
            _log_file: None,
        };
    }
    if let (Some(error), Some(file)) = (file_error, options.file) {
        tracing::warn!(%error, path = %file.path.display(), "cannot write the log file; logging to stdout");
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    if let Some(error) = export_error {
        tracing::warn!(%error, "cannot set up the OTLP exporter; spans are not exported");
    } else if exporting {
        tracing::info!(service = options.service, "exporting spans over OTLP/HTTP");
    }
    Telemetry {
        provider: Some(provider),
        exporting,
        _log_file: log_file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CapturedLog;
    use crate::propagation;

    fn json_lines(captured: &CapturedLog) -> Vec<serde_json::Value> {
        captured
            .text()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    fn with_json_logs(run: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = CapturedLog::default();
        let writer = captured.clone();
        let provider = SdkTracerProvider::builder().build();
        let options = Options {
            service: "aiut-test",
            filter: "info",
            json: true,
            file: None,
        };
        let subscriber = subscriber(
            &options,
            EnvFilter::new("info"),
            &provider,
            move || writer.clone(),
            false,
        );
        tracing::subscriber::with_default(subscriber, run);
        json_lines(&captured)
    }

    #[test]
    fn a_log_file_is_rotated_by_size_and_old_files_are_deleted() {
        let folder = std::env::temp_dir().join(format!("aiut-log-rotation-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        let path = folder.join("nested").join("api-1.log");
        let file = LogFile {
            path: &path,
            max_bytes: 4_096,
            keep: 2,
        };
        let (writer, guard) = rotating_writer(&file).expect("a writable folder");
        let provider = SdkTracerProvider::builder().build();
        let options = Options {
            service: "aiut-test",
            filter: "info",
            json: true,
            file: Some(file),
        };
        let subscriber = subscriber(&options, EnvFilter::new("info"), &provider, writer, false);
        tracing::subscriber::with_default(subscriber, || {
            for line in 0..400 {
                tracing::info!(line, padding = "x".repeat(40), "request completed");
            }
        });
        // Dropping the guard writes what the writer thread still holds.
        drop(guard);

        let mut names: Vec<String> = std::fs::read_dir(path.parent().expect("a folder"))
            .expect("the folder")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(names, ["api-1.log", "api-1.log.1", "api-1.log.2"]);
        let mut last_lines = Vec::new();
        for name in &names {
            let text = std::fs::read_to_string(path.with_file_name(name)).expect("a log");
            assert!(text.len() <= 4_096 + 512, "{name}: {} bytes", text.len());
            for line in text.lines() {
                let value: serde_json::Value = serde_json::from_str(line).expect("whole lines");
                last_lines.push(value["line"].as_i64().expect("the field"));
            }
        }
        // The newest line is in the current file, and the oldest ones were deleted.
        assert!(last_lines.contains(&399), "{last_lines:?}");
        assert!(!last_lines.contains(&0), "{last_lines:?}");
        let _ = std::fs::remove_dir_all(&folder);
    }

    #[test]
    fn a_log_file_that_cannot_be_written_is_an_error_not_a_panic() {
        let file = LogFile {
            path: Path::new("/proc/version/inside.log"),
            max_bytes: 1_024,
            keep: 1,
        };
        assert!(rotating_writer(&file).is_err());
    }

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn json_lines_lift_the_ids_of_every_span_in_scope() {
        let lines = with_json_logs(|| {
            let request = tracing::info_span!(
                "request",
                request_id = "req-7",
                trace_id = tracing::field::Empty
            );
            assert!(propagation::set_parent_from_traceparent(&request, PARENT));
            propagation::record_trace_id(&request);
            request.in_scope(|| {
                tracing::info!(answer = 42, "in the request");
                let query = tracing::info_span!("db.insert_task", table = "tasks");
                query.in_scope(|| tracing::warn!(task_id = "t-1", "deep inside"));
            });
            tracing::info!("outside");
        });
        assert_eq!(lines.len(), 3, "{lines:?}");
        let [outer, inner, outside] = [&lines[0], &lines[1], &lines[2]];
        assert_eq!(outer["message"], "in the request");
        assert_eq!(outer["answer"], 42);
        assert_eq!(outer["level"], "INFO");
        assert_eq!(outer["request_id"], "req-7");
        assert_eq!(outer["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(outer["span"]["name"], "request");
        assert!(
            outer["span"].get("request_id").is_none() && outer["span"].get("trace_id").is_none(),
            "a lifted id is not repeated in its span: {outer}"
        );
        assert!(outer["timestamp"].is_string());

        assert_eq!(inner["request_id"], "req-7", "lifted from the outer span");
        assert_eq!(inner["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(inner["task_id"], "t-1", "the event's own field");
        assert_eq!(inner["span"]["name"], "db.insert_task");
        assert_eq!(inner["span"]["table"], "tasks");

        assert!(outside.get("request_id").is_none());
        assert!(outside.get("span").is_none());
    }

    #[test]
    fn spans_join_the_trace_they_are_given_and_name_themselves_to_the_next_hop() {
        let _ = with_json_logs(|| {
            let span = tracing::info_span!("request");
            assert!(propagation::set_parent_from_traceparent(&span, PARENT));
            let traceparent = propagation::traceparent(&span).expect("a traceparent");
            let parts: Vec<&str> = traceparent.split('-').collect();
            assert_eq!(parts.len(), 4, "{traceparent}");
            assert_eq!(
                parts[1], "4bf92f3577b34da6a3ce929d0e0e4736",
                "the same trace"
            );
            assert_ne!(parts[2], "00f067aa0ba902b7", "its own span id");
            assert_eq!(parts[3], "01", "sampled, as its parent");
            assert!(
                !propagation::set_parent_from_traceparent(&span, PARENT),
                "a started span keeps its parent"
            );

            let child = span.in_scope(|| tracing::info_span!("db.get_task"));
            let child_parent = propagation::traceparent(&child).expect("a traceparent");
            assert!(child_parent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));

            let root = tracing::info_span!("request");
            let fresh = propagation::traceparent(&root).expect("a new trace");
            assert!(!fresh.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
            assert!(fresh.ends_with("-01"));

            let late = tracing::info_span!(parent: None, "worker.claim");
            assert!(propagation::set_parent_span(&late, &child));
            let late = propagation::traceparent(&late).expect("a traceparent");
            assert!(late.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));

            let skipped = tracing::info_span!("healthz");
            assert!(propagation::skip_export(&skipped));
            let unsampled = propagation::traceparent(&skipped).expect("still a trace id");
            assert!(unsampled.ends_with("-00"), "{unsampled}");
            let below = skipped.in_scope(|| tracing::info_span!("redis.ping"));
            let below = propagation::traceparent(&below).expect("a traceparent");
            assert!(below.ends_with("-00"), "children follow: {below}");
        });
    }

    #[test]
    fn a_check_that_is_not_followed_by_its_event_does_not_hide_the_next_span() {
        let lines = with_json_logs(|| {
            // Asks the filters about an INFO event (logged, not traced) and drops the answer, as
            // `log_enabled!` does through the `log` bridge.
            assert!(tracing::enabled!(tracing::Level::INFO));
            let span = tracing::info_span!("request", request_id = "req-9");
            assert!(propagation::set_parent_from_traceparent(&span, PARENT));
            let traceparent = propagation::traceparent(&span).expect("the span is traced");
            assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
            assert!(tracing::enabled!(tracing::Level::INFO));
            let task = tracing::info_span!("worker.task", task_id = "t-2");
            task.in_scope(|| tracing::info!("inside"));
        });
        assert_eq!(
            lines[0]["task_id"], "t-2",
            "the log layer sees the span: {lines:?}"
        );
    }

    #[test]
    fn the_sdk_default_name_is_recognised() {
        assert!(is_default_service_name(&Value::from("unknown_service")));
        assert!(is_default_service_name(&Value::from(
            "unknown_service:aiut-api"
        )));
        assert!(!is_default_service_name(&Value::from("aiut-api")));
    }
}
