//! Logs and traces, set up by [`telemetry::init`]: stdout as text or JSON lines (`RUST_LOG`
//! overrides the configured filter; Pingora's own `log` records go to the same place), W3C trace
//! context on every request's span, and OTLP export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use std::sync::Mutex;

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
pub use telemetry::Telemetry;
use telemetry::propagation::{TRACEPARENT, TRACESTATE, parent_from_headers};

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

/// Whether the kept guard exports spans (false before [`keep`], as in tests that build a server
/// without setting telemetry up).
pub fn exporting() -> bool {
    KEPT.lock()
        .ok()
        .is_some_and(|kept| kept.as_ref().is_some_and(Telemetry::exporting))
}

/// Exports the spans of the last requests and stops the exporter; once.
pub fn finish() {
    let guard = KEPT.lock().ok().and_then(|mut kept| kept.take());
    if let Some(guard) = guard {
        guard.shutdown();
    }
}

/// A request's trace context without a span, for a process that exports no spans: the ids its
/// work continues under, named to the next service in `traceparent` so their logs share the
/// trace, at a fraction of a span's cost. The same ids a span would get: a child of the request's
/// valid `traceparent` (its trace, its sampling flag and `tracestate`), else the root of a new
/// trace, sampled as the SDK's default sampler (parent-based, always on) decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanlessContext {
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
    tracestate: Option<String>,
}

impl SpanlessContext {
    /// The context of a request that came with `headers`.
    pub fn for_request(headers: &http::HeaderMap) -> SpanlessContext {
        let ids = RandomIdGenerator::default();
        // Most requests carry no trace; the propagator is only asked when one is there.
        let parent = headers
            .contains_key(TRACEPARENT)
            .then(|| parent_from_headers(headers))
            .flatten();
        match parent {
            Some(parent) => {
                let span = parent.span();
                let parent = span.span_context();
                let tracestate = parent.trace_state().header();
                SpanlessContext {
                    trace_id: parent.trace_id(),
                    span_id: ids.new_span_id(),
                    sampled: parent.is_sampled(),
                    tracestate: (!tracestate.is_empty()).then_some(tracestate),
                }
            }
            None => SpanlessContext {
                trace_id: ids.new_trace_id(),
                span_id: ids.new_span_id(),
                sampled: true,
                tracestate: None,
            },
        }
    }

    /// The trace id as 32 hex digits, as logs name it.
    pub fn trace_id(&self) -> String {
        self.trace_id.to_string()
    }

    /// The `traceparent` naming this context as the parent (written digit by digit: the
    /// formatting machinery cost more than the rest of the header).
    pub fn traceparent(&self) -> String {
        let mut text = String::with_capacity(55);
        text.push_str("00-");
        push_hex(&mut text, &self.trace_id.to_bytes());
        text.push('-');
        push_hex(&mut text, &self.span_id.to_bytes());
        text.push_str(if self.sampled { "-01" } else { "-00" });
        text
    }

    /// The request's `tracestate`, passed on with the trace.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The headers for a request made on this context's behalf: `traceparent`, and the
    /// request's `tracestate` when it had one.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![(TRACEPARENT, self.traceparent())];
        if let Some(tracestate) = &self.tracestate {
            headers.push((TRACESTATE, tracestate.clone()));
        }
        headers
    }
}

/// Appends `bytes` as lowercase hex digits.
fn push_hex(text: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry::propagation::parse_traceparent;

    const SAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn hex_is_lowercase_and_padded() {
        let mut text = String::new();
        push_hex(&mut text, &[0x00, 0x0f, 0xa0, 0xff]);
        assert_eq!(text, "000fa0ff");
    }

    #[test]
    fn a_spanless_context_continues_a_valid_trace_and_starts_one_otherwise() {
        let mut headers = http::HeaderMap::new();
        headers.insert(TRACEPARENT, http::HeaderValue::from_static(SAMPLE));
        headers.insert(TRACESTATE, http::HeaderValue::from_static("vendor=value"));
        let child = SpanlessContext::for_request(&headers);
        assert_eq!(child.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let traceparent = child.traceparent();
        let parsed = parse_traceparent(&traceparent).expect("its own traceparent is valid");
        let span = parsed.span();
        assert_eq!(
            span.span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_ne!(
            span.span_context().span_id().to_string(),
            "00f067aa0ba902b7",
            "a span id of its own, not the caller's"
        );
        assert!(
            traceparent.ends_with("-01"),
            "sampled as the caller: {traceparent}"
        );
        assert_eq!(
            child.headers(),
            [
                (TRACEPARENT, traceparent.clone()),
                (TRACESTATE, "vendor=value".to_owned())
            ]
        );

        headers.insert(
            TRACEPARENT,
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            ),
        );
        headers.remove(TRACESTATE);
        let unsampled = SpanlessContext::for_request(&headers);
        assert!(unsampled.traceparent().ends_with("-00"));
        assert_eq!(unsampled.headers().len(), 1);

        for garbage in [
            "nonsense",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            headers.insert(TRACEPARENT, http::HeaderValue::from_static(garbage));
            let root = SpanlessContext::for_request(&headers);
            assert_ne!(root.trace_id(), "00000000000000000000000000000000");
            assert!(
                parse_traceparent(&root.traceparent()).is_some(),
                "{garbage}"
            );
            assert!(root.traceparent().ends_with("-01"), "a new root is sampled");
        }
        let first = SpanlessContext::for_request(&http::HeaderMap::new());
        let second = SpanlessContext::for_request(&http::HeaderMap::new());
        assert_ne!(
            first.trace_id(),
            second.trace_id(),
            "each root is a new trace"
        );
    }
}
