//! W3C trace context (`traceparent`, `tracestate`) across process boundaries: into a request's
//! span from its headers, out of a span into an upstream request's headers, and through a task's
//! row as one `traceparent` string.
//!
//! Every helper works on a `tracing` span through the OpenTelemetry layer that [`crate::init`]
//! installs; without that layer spans carry no trace context, and the helpers do nothing (the
//! getters answer `None`).

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header carrying the trace id, the caller's span id and the sampling flag.
pub const TRACEPARENT: &str = "traceparent";
/// The header carrying vendor-specific trace data, passed along with `traceparent`.
pub const TRACESTATE: &str = "tracestate";

/// Reads trace headers from an `http` header map.
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Collects what a propagator writes.
#[derive(Default)]
struct Collected(HashMap<String, String>);

impl Injector for Collected {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for Collected {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

fn valid(context: Context) -> Option<Context> {
    context.span().span_context().is_valid().then_some(context)
}

/// The remote parent named by a request's `traceparent` (and `tracestate`), when it is valid.
pub fn parent_from_headers(headers: &http::HeaderMap) -> Option<Context> {
    valid(TraceContextPropagator::new().extract(&HeaderExtractor(headers)))
}

/// The remote parent a stored `traceparent` string names, when it is valid.
pub fn parse_traceparent(traceparent: &str) -> Option<Context> {
    let mut carrier = Collected::default();
    carrier.set(TRACEPARENT, traceparent.trim().to_owned());
    valid(TraceContextPropagator::new().extract(&carrier))
}

/// Makes `parent` the parent of `span`. Only works before the span is first entered or asked
/// for its context; returns whether it took.
pub fn set_parent(span: &Span, parent: Context) -> bool {
    span.set_parent(parent).is_ok()
}

/// Makes `parent` the parent of `span`, for a span made before it was known where it belongs
/// (same rule as [`set_parent`]). Starts `parent` if it has not started.
pub fn set_parent_span(span: &Span, parent: &Span) -> bool {
    set_parent(span, parent.context())
}

/// Parents `span` on the request's valid `traceparent`, if it has one; returns whether it did.
pub fn set_parent_from_headers(span: &Span, headers: &http::HeaderMap) -> bool {
    parent_from_headers(headers).is_some_and(|parent| set_parent(span, parent))
}

/// Parents `span` on a stored `traceparent`, when it is valid; returns whether it did.
pub fn set_parent_from_traceparent(span: &Span, traceparent: &str) -> bool {
    parse_traceparent(traceparent).is_some_and(|parent| set_parent(span, parent))
}

/// The trace headers naming `span` as the parent, for a request made on its behalf:
/// `traceparent`, and `tracestate` when there is one. Empty without trace context.
pub fn trace_headers(span: &Span) -> Vec<(&'static str, String)> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut carrier = Collected::default();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    [TRACEPARENT, TRACESTATE]
        .into_iter()
        .filter_map(|name| {
            carrier
                .0
                .remove(name)
                .filter(|value| !value.is_empty())
                .map(|value| (name, value))
        })
        .collect()
}

/// Replaces any trace headers in `headers` with ones naming `span` as the parent.
pub fn inject_headers(span: &Span, headers: &mut http::HeaderMap) {
    headers.remove(TRACEPARENT);
    headers.remove(TRACESTATE);
    for (name, value) in trace_headers(span) {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// `span`'s `traceparent` (`00-<trace id>-<span id>-<flags>`), to store where a later process
/// picks the work up.
pub fn traceparent(span: &Span) -> Option<String> {
    trace_headers(span)
        .into_iter()
        .find(|(name, _)| *name == TRACEPARENT)
        .map(|(_, value)| value)
}

/// `span`'s trace id as 32 hex digits.
pub fn trace_id(span: &Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Records `span`'s trace id in its `trace_id` field (which the span must declare, usually as
/// `tracing::field::Empty`), so every log line inside it names the trace. Builds the span's
/// trace context: set its parent first.
pub fn record_trace_id(span: &Span) {
    if let Some(id) = trace_id(span) {
        span.record("trace_id", id.as_str());
    }
}

/// Keeps `span` (and every span under it) out of the exported traces: it gets a remote parent of
/// a fresh trace that is not sampled, so it still has a trace id for its logs. For work not worth
/// a trace (health checks, a claim that found nothing). Must be called before the span is entered.
pub fn skip_export(span: &Span) -> bool {
    let ids = RandomIdGenerator::default();
    let mut trace = ids.new_trace_id();
    if trace == TraceId::INVALID {
        trace = TraceId::from_bytes([1; 16]);
    }
    let parent = SpanContext::new(
        trace,
        ids.new_span_id(),
        TraceFlags::default(),
        true,
        TraceState::NONE,
    );
    set_parent(span, Context::new().with_remote_span_context(parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_parses_and_garbage_does_not() {
        let context = parse_traceparent(SAMPLE).expect("a valid traceparent");
        let span = context.span();
        let parent = span.span_context();
        assert_eq!(
            parent.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(parent.span_id().to_string(), "00f067aa0ba902b7");
        assert!(parent.is_sampled());
        assert!(parent.is_remote());
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn headers_give_the_parent_only_when_valid() {
        let mut headers = http::HeaderMap::new();
        assert!(parent_from_headers(&headers).is_none());
        headers.insert(TRACEPARENT, http::HeaderValue::from_static("nonsense"));
        assert!(parent_from_headers(&headers).is_none());
        headers.insert(TRACEPARENT, http::HeaderValue::from_static(SAMPLE));
        headers.insert(TRACESTATE, http::HeaderValue::from_static("vendor=value"));
        let context = parent_from_headers(&headers).expect("a parent");
        let span = context.span();
        assert_eq!(
            span.span_context().trace_state().header(),
            "vendor=value",
            "tracestate travels with the parent"
        );
    }

    #[test]
    fn without_the_layer_spans_have_no_trace_context() {
        let span = tracing::info_span!("plain", trace_id = tracing::field::Empty);
        assert!(traceparent(&span).is_none());
        assert!(trace_id(&span).is_none());
        assert!(trace_headers(&span).is_empty());
        let mut headers = http::HeaderMap::new();
        headers.insert(TRACEPARENT, http::HeaderValue::from_static(SAMPLE));
        inject_headers(&span, &mut headers);
        assert!(
            headers.get(TRACEPARENT).is_none(),
            "a client's header is never passed on as ours"
        );
    }
}
