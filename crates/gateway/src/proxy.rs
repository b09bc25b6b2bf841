//! The proxy itself: Pingora's [`ProxyHttp`] hooks, each delegating its decisions to the plain
//! functions of [`crate::backends`], [`crate::retry`] and [`crate::ratelimit`].

use std::any::Any;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use pingora::modules::http::HttpModules;
use pingora::modules::http::compression::{ResponseCompression, ResponseCompressionBuilder};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};
use serde_json::json;

use crate::backends::{Backend, InFlight, Registry};
use crate::config::GatewaySettings;
use crate::deadline::HeaderRead;
use crate::drain::{Pending, PendingGuard};
use crate::metrics::{BackendSeries, ConnectionGuard, Metrics, NO_BACKEND};
use crate::ratelimit::{
    Cidr, ConcurrencySlot, LimitClass, RateLimiter, Refusal, client_address, creates_a_task,
    is_trusted,
};
use crate::retry::{FailureKind, is_replayable, needs_fresh_connection, should_retry};
use crate::telemetry::SpanlessContext;

const REQUEST_ID: &str = "x-request-id";
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Tells the api who the client is, as the limits key it ([`crate::ratelimit::ClientKey`]); set
/// by the gateway alone, whatever a client sent.
pub const CLIENT_HEADER: &str = "x-aiut-client";
/// The gateway's own idempotency token for a request that creates a task: a fresh UUID per client
/// request, the same on every attempt, so the api answers a retry with the task the first attempt
/// made. A client's value never passes.
pub const CREATE_TOKEN_HEADER: &str = "x-aiut-create-token";
/// The connection-pool group of requests that must not reuse a pooled connection; nothing is ever
/// pooled under it because those requests ask the backend to close.
const FRESH_CONNECTION_GROUP: u64 = 0x_f5e5_c0de;
/// How long clients are told to wait when no backend can take a request.
const NO_BACKEND_RETRY_AFTER_SECS: u64 = 2;
/// A body declared too large is read and dropped before the 413, up to this size and time: many
/// clients (Python's urllib, most SDKs) send the whole body before they read the answer, and a
/// connection closed under them ends in a reset instead of the 413 (nginx lingers likewise).
const DRAIN_LIMIT_BYTES: u64 = 16 * 1024 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Long-lived state shared by every request.
pub struct Gateway {
    pub registry: Arc<Registry>,
    pub limiter: RateLimiter,
    pub metrics: Arc<Metrics>,
    pub trusted: Vec<Cidr>,
    /// Who may read the operator paths ([`is_operator_path`]).
    pub operators: Vec<Cidr>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// For requests whose answer comes only when a task ends ([`waits_for_a_task`]).
    pub wait_read_timeout: Duration,
    pub max_body_bytes: u64,
    pub compression_level: u32,
    /// Answers with a known length below this are sent uncompressed.
    pub compression_min_bytes: u64,
    /// The HTTPS listener's port, when there is one.
    pub tls_port: Option<u16>,
    /// The port named in HTTP → HTTPS redirects: `tls.public_port`, else the listener's.
    pub redirect_port: Option<u16>,
    pub redirect_http: bool,
    pub started: Instant,
    /// Set once the process is asked to stop or hand its sockets to a successor: from then on
    /// every answer closes its connection, so clients reconnect (to the successor) instead of
    /// sending a request on a kept-alive connection just as it is dropped at shutdown.
    pub closing: Arc<AtomicBool>,
    /// The requests a shutdown waits for ([`crate::drain`]).
    pub pending: Pending,
    /// The series of the requests the gateway answers itself.
    own_series: BackendSeries,
    /// Whether request spans are exported; without an exporter a request carries only its
    /// trace ids ([`RequestTrace::Spanless`]).
    export_spans: bool,
}

impl Gateway {
    pub fn new(
        settings: &GatewaySettings,
        registry: Arc<Registry>,
        limiter: RateLimiter,
        metrics: Arc<Metrics>,
        trusted: Vec<Cidr>,
        operators: Vec<Cidr>,
    ) -> Gateway {
        let tls_port = settings.tls.as_ref().and_then(|tls| {
            tls.listen
                .parse::<SocketAddr>()
                .ok()
                .map(|address| address.port())
        });
        Gateway {
            registry,
            limiter,
            own_series: metrics.series(NO_BACKEND),
            export_spans: crate::telemetry::exporting(),
            metrics,
            trusted,
            operators,
            connect_timeout: settings.connect_timeout(),
            read_timeout: settings.read_timeout(),
            wait_read_timeout: settings.wait_read_timeout(),
            max_body_bytes: settings.max_body_bytes,
            compression_level: settings.compression_level,
            compression_min_bytes: settings.compression_min_bytes,
            tls_port,
            redirect_port: settings
                .tls
                .as_ref()
                .and_then(|tls| tls.public_port)
                .or(tls_port),
            redirect_http: settings.tls.as_ref().is_some_and(|tls| tls.redirect_http),
            started: Instant::now(),
            closing: Arc::new(AtomicBool::new(false)),
            pending: Pending::default(),
        }
    }
}

/// What the gateway answered on its own, for the error path and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Verdict {
    #[default]
    Proxied,
    NoBackend,
}

/// Per-request state.
pub struct RequestCtx {
    started: Instant,
    /// The client's sane `x-request-id`, else one of the gateway's: a header value, so the
    /// backend's request and the answer share it without a copy.
    request_id: HeaderValue,
    /// An event stream: no read timeout, no compression, quiet when the client leaves.
    is_stream: bool,
    /// Answered only when a task ends: the longer read timeout.
    waits_for_task: bool,
    /// Cannot be retried once sent, so it goes on a connection of its own.
    fresh_connection: bool,
    tls: bool,
    /// The address the connection comes from.
    peer: Option<IpAddr>,
    /// The client: the peer, or behind trusted proxies the address they name
    /// ([`client_address`]). The limits, the operator check and `x-aiut-client` use it.
    client: Option<IpAddr>,
    /// For a request that creates a task: the token every attempt carries.
    create_token: Option<String>,
    /// The api recognises a repeat ([`is_replayable`]), so a failure before the answer is retried.
    replayable: bool,
    /// Backends already tried for this request, so a retry goes elsewhere.
    tried: Vec<SocketAddr>,
    in_flight: Option<InFlight>,
    /// The backend whose response headers came back.
    served_by: Option<Arc<Backend>>,
    slot: Option<ConcurrencySlot>,
    /// Held while a request other than an event stream is answered.
    pending: Option<PendingGuard>,
    connection: Option<Arc<ClientConnection>>,
    body_bytes: u64,
    verdict: Verdict,
    trace: RequestTrace,
}

/// What lasts as long as a client's connection and rides along with it from request to request
/// ([`ProxyHttp::persist_connection_context`]): its place in the open-connection count, and the
/// peer's address as a header value, written once since every request on the connection comes
/// from the same peer.
pub struct ClientConnection {
    _counted: ConnectionGuard,
    peer_header: Option<HeaderValue>,
}

impl ClientConnection {
    fn new(counted: ConnectionGuard, peer: Option<IpAddr>) -> ClientConnection {
        ClientConnection {
            _counted: counted,
            peer_header: peer.and_then(|peer| HeaderValue::try_from(peer.to_string()).ok()),
        }
    }
}

/// How a request takes part in its trace.
enum RequestTrace {
    /// Spans are exported: the request's span, parented on the client's `traceparent`; the
    /// backend's request names it as its parent. Ends when the request is logged.
    Span(tracing::Span),
    /// No span would be exported: only the ids the backend continues the trace under (a span's
    /// creation, fields and end cost more than the rest of the gateway's own work on a request).
    Spanless(SpanlessContext),
    /// Not begun, or ended.
    None,
}

impl RequestTrace {
    /// Sets the trace headers of the backend's request.
    fn set_upstream_headers(&self, request: &mut pingora::http::RequestHeader) -> Result<()> {
        match self {
            RequestTrace::Span(span) => {
                for (name, value) in telemetry::propagation::trace_headers(span) {
                    request.insert_header(name, value)?;
                }
            }
            RequestTrace::Spanless(context) => {
                request
                    .insert_header(telemetry::propagation::TRACEPARENT, context.traceparent())?;
                if let Some(tracestate) = context.tracestate() {
                    request.insert_header(telemetry::propagation::TRACESTATE, tracestate)?;
                }
            }
            RequestTrace::None => {}
        }
        Ok(())
    }
}

impl RequestCtx {
    fn new() -> Self {
        RequestCtx {
            started: Instant::now(),
            request_id: HeaderValue::from_static(""),
            is_stream: false,
            waits_for_task: false,
            fresh_connection: false,
            tls: false,
            peer: None,
            client: None,
            create_token: None,
            replayable: false,
            tried: Vec::new(),
            in_flight: None,
            served_by: None,
            slot: None,
            pending: None,
            connection: None,
            body_bytes: 0,
            verdict: Verdict::Proxied,
            trace: RequestTrace::None,
        }
    }
}

/// Keeps a client's request id when it is short and plain, so it can be logged safely.
/// Whether an answer is worth compressing: never an event stream (compression would hold events
/// back until a block fills), and not an answer known to be smaller than `min_bytes` (the gzip
/// frame and the encoder's set-up would cost more than the bytes saved).
pub fn should_compress(is_stream: bool, content_length: Option<u64>, min_bytes: u64) -> bool {
    !is_stream && content_length.is_none_or(|length| length >= min_bytes)
}

pub fn sane_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte))
}

/// Requests that open an event stream (matched before the response says so, because the read
/// timeout is set when connecting).
pub fn is_event_stream_request(path: &str, accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.to_ascii_lowercase().contains("text/event-stream"))
        || path.ends_with("/events")
        || path == "/api/generate-test-stream"
}

/// Paths for operators only: the gateway's backend list, and the replicas' metrics and readiness
/// (which name the database and Redis state).
pub fn is_operator_path(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/'),
        "/gateway/status" | "/metrics" | "/readyz"
    )
}

/// Requests the api answers only when their task ends (`POST /api/generate-test`, up to the api's
/// `stream.wait_timeout_secs`): silent for longer than the usual read timeout, and healthy.
pub fn waits_for_a_task(method: &str, path: &str) -> bool {
    method.eq_ignore_ascii_case("POST") && path == "/api/generate-test"
}

pub fn is_event_stream_response(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        value
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("text/event-stream")
    })
}

/// `X-Forwarded-For` for the backend: a chain (all its header lines) from a trusted proxy is
/// extended with that proxy; anything else a client sent is replaced by the peer alone (`None`:
/// the connection has that value written already), so a client cannot claim another address.
pub fn forwarded_for(existing: &[&str], peer: IpAddr, trusted: &[Cidr]) -> Option<String> {
    let chain: Vec<&str> = existing
        .iter()
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .collect();
    (!chain.is_empty() && is_trusted(trusted, peer))
        .then(|| format!("{}, {peer}", chain.join(", ")))
}

/// The status and JSON error code the gateway answers for an error that ended a request.
pub fn error_answer(error: &ErrorType, source: &ErrorSource) -> Option<(u16, &'static str)> {
    match error {
        ErrorType::HTTPStatus(413) => Some((413, "payload_too_large")),
        ErrorType::HTTPStatus(503) => Some((503, "no_backend")),
        ErrorType::HTTPStatus(code) if (400..600).contains(code) => Some((*code, "error")),
        _ => match source {
            ErrorSource::Upstream => match error {
                ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                    Some((504, "gateway_timeout"))
                }
                _ => Some((502, "bad_gateway")),
            },
            ErrorSource::Downstream => match error {
                // The client is gone; there is no one to answer.
                ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed => None,
                _ => Some((400, "bad_request")),
            },
            ErrorSource::Internal | ErrorSource::Unset => Some((500, "internal")),
        },
    }
}

fn error_message(code: &str) -> &'static str {
    match code {
        "payload_too_large" => "the request body is larger than the gateway accepts",
        "no_backend" => "no backend is available to answer; try again shortly",
        "rate_limited" => "too many requests from this address; slow down",
        "gateway_timeout" => "the backend did not answer in time",
        "bad_gateway" => "the backend failed to answer",
        "bad_request" => "the request could not be read",
        "not_found" => "no such path",
        _ => "the gateway could not serve this request",
    }
}

/// Whether an error was caused by the peer resetting the connection.
fn is_reset(error: &Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = error
        .cause
        .as_deref()
        .map(|cause| cause as &(dyn std::error::Error + 'static));
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            );
        }
        if let Some(inner) = current.downcast_ref::<Error>() {
            return is_reset(inner);
        }
        cause = current.source();
    }
    false
}

/// A request id for a request that brings none: a UUID v4 from a fast generator (it identifies
/// the request in logs and answers; it guards nothing, so it need not be unpredictable, and the
/// system's random source would cost a system call per request).
fn new_request_id() -> HeaderValue {
    let mut text = [0_u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut text);
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

impl RequestCtx {
    /// The request id as text (for logs and spans).
    fn request_id(&self) -> &str {
        self.request_id.to_str().unwrap_or_default()
    }
}

/// The gateway's own answers, traced only when the caller sends a trace.
const OWN_ENDPOINTS: [&str; 2] = ["/health", "/gateway/status"];

/// A request's span: a child of the client's valid `traceparent`, else the root of a new trace.
fn request_span(session: &Session, request_id: &str) -> tracing::Span {
    let request = session.req_header();
    let span = tracing::info_span!(
        parent: None,
        "gateway.request",
        request_id,
        method = %request.method,
        path = %request.uri.path(),
        status = tracing::field::Empty,
        backend = tracing::field::Empty,
        tries = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        "otel.status_code" = tracing::field::Empty,
    );
    if !telemetry::propagation::set_parent_from_headers(&span, &request.headers)
        && OWN_ENDPOINTS.contains(&request.uri.path())
    {
        telemetry::propagation::skip_export(&span);
    }
    telemetry::propagation::record_trace_id(&span);
    span
}

/// Every value of a request header, in order (a list may come on several lines).
fn header_values<'a>(session: &'a Session, name: &str) -> Vec<&'a str> {
    session
        .req_header()
        .headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect()
}

fn header_str<'a>(session: &'a Session, name: &str) -> Option<&'a str> {
    session
        .req_header()
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
}

impl Gateway {
    fn add_common_headers(
        &self,
        response: &mut pingora::http::ResponseHeader,
        ctx: &RequestCtx,
    ) -> Result<()> {
        // Static values are not copied per answer.
        response.insert_header(REQUEST_ID, ctx.request_id.clone())?;
        response.insert_header(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        )?;
        response.insert_header("x-frame-options", HeaderValue::from_static("DENY"))?;
        response.insert_header("referrer-policy", HeaderValue::from_static("no-referrer"))?;
        if ctx.tls {
            response.insert_header(
                "strict-transport-security",
                HeaderValue::from_static("max-age=31536000"),
            )?;
        }
        Ok(())
    }

    /// Writes a whole response from the gateway itself.
    async fn answer(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        status: u16,
        content_type: &str,
        body: Bytes,
        extra: &[(&'static str, String)],
    ) -> Result<()> {
        let mut response = pingora::http::ResponseHeader::build(status, Some(6))?;
        response.insert_header("content-type", content_type)?;
        response.insert_header("content-length", body.len().to_string())?;
        response.insert_header("cache-control", "no-store")?;
        for (name, value) in extra {
            response.insert_header(*name, value.as_str())?;
        }
        self.add_common_headers(&mut response, ctx)?;
        let head_only = session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(response), head_only)
            .await?;
        if !head_only {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(())
    }

    async fn answer_error(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        status: u16,
        code: &str,
        retry_after: Option<u64>,
    ) -> Result<()> {
        let body = json!({"error": {"code": code, "message": error_message(code)}}).to_string();
        let extra: Vec<(&'static str, String)> = retry_after
            .map(|secs| ("retry-after", secs.to_string()))
            .into_iter()
            .collect();
        self.answer(
            session,
            ctx,
            status,
            "application/json",
            Bytes::from(body),
            &extra,
        )
        .await
    }

    fn status_json(&self) -> Bytes {
        let now = Instant::now();
        let backends = self.registry.status(now);
        let available = backends
            .iter()
            .filter(|backend| backend.healthy && !backend.ejected && !backend.draining)
            .count();
        Bytes::from(
            json!({
                "backends": backends,
                "available": available,
                "uptime_secs": self.started.elapsed().as_secs(),
            })
            .to_string(),
        )
    }

    fn redirect_target(&self, session: &Session) -> Option<String> {
        let port = self.redirect_port?;
        let host = header_str(session, "host")
            .or_else(|| session.req_header().uri.host())
            .unwrap_or("localhost");
        let path = session
            .req_header()
            .uri
            .path_and_query()
            .map_or("/", |path| path.as_str());
        Some(https_location(host, port, path))
    }
}

/// The HTTPS URL for a plain HTTP request: the Host header's name (its port dropped; IPv6
/// literals keep their brackets), the port clients reach HTTPS on (left out when 443), the path.
fn https_location(host: &str, port: u16, path: &str) -> String {
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() => name,
        _ => host,
    };
    let port = if port == 443 {
        String::new()
    } else {
        format!(":{port}")
    };
    format!("https://{host}{port}{path}")
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    fn init_downstream_modules(&self, modules: &mut HttpModules) {
        modules.add_module(ResponseCompressionBuilder::enable(self.compression_level));
    }

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
        previous: Box<dyn Any + Send + Sync>,
    ) {
        // Called as soon as the header is read: that stops the header deadline's clock.
        if let Some(previous) = HeaderRead::arrived(previous)
            && let Ok(connection) = previous.downcast::<Arc<ClientConnection>>()
        {
            ctx.connection = Some(*connection);
        }
    }

    fn persist_connection_context(
        &self,
        _session: &Session,
        ctx: &RequestCtx,
    ) -> Option<Box<dyn Any + Send + Sync>> {
        // The guard rides along with the kept-alive connection and drops when it closes.
        ctx.connection
            .as_ref()
            .map(|guard| Box::new(Arc::clone(guard)) as Box<dyn Any + Send + Sync>)
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.request_id = session
            .req_header()
            .headers
            .get(REQUEST_ID)
            .filter(|id| id.to_str().is_ok_and(sane_request_id))
            .cloned()
            .unwrap_or_else(new_request_id);
        let server_port = session
            .server_addr()
            .and_then(|address| address.as_inet())
            .map(|address| address.port());
        ctx.tls = session
            .digest()
            .is_some_and(|digest| digest.ssl_digest.is_some())
            || (self.tls_port.is_some() && server_port == self.tls_port);
        ctx.peer = session
            .client_addr()
            .and_then(|address| address.as_inet())
            .map(|address| address.ip());
        if ctx.connection.is_none() {
            ctx.connection = Some(Arc::new(ClientConnection::new(
                self.metrics.connection_opened(),
                ctx.peer,
            )));
        }
        ctx.client = ctx.peer.map(|peer| {
            client_address(
                peer,
                &header_values(session, "x-forwarded-for"),
                &self.trusted,
            )
        });
        ctx.trace = if self.export_spans {
            RequestTrace::Span(request_span(session, ctx.request_id()))
        } else {
            RequestTrace::Spanless(SpanlessContext::for_request(&session.req_header().headers))
        };
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        if self.closing.load(Ordering::Relaxed) {
            session.set_keepalive(None);
        }
        let path = session.req_header().uri.path().to_owned();
        let method = session.req_header().method.clone();
        let readable = method == http::Method::GET || method == http::Method::HEAD;

        if readable && path == "/health" {
            self.answer(
                session,
                ctx,
                200,
                "text/plain",
                Bytes::from_static(b"healthy\n"),
                &[],
            )
            .await?;
            return Ok(true);
        }
        if self.redirect_http
            && !ctx.tls
            && let Some(location) = self.redirect_target(session)
        {
            self.answer(
                session,
                ctx,
                301,
                "text/plain",
                Bytes::from_static(b"moved to https\n"),
                &[("location", location)],
            )
            .await?;
            return Ok(true);
        }
        if is_operator_path(&path)
            && !ctx
                .client
                .is_some_and(|client| is_trusted(&self.operators, client))
        {
            // Backend addresses and the replicas' internals are not for the internet.
            self.answer_error(session, ctx, 404, "not_found", None)
                .await?;
            return Ok(true);
        }
        if readable && path == "/gateway/status" {
            let body = self.status_json();
            self.answer(session, ctx, 200, "application/json", body, &[])
                .await?;
            return Ok(true);
        }

        let declared_length = header_str(session, "content-length")
            .and_then(|length| length.trim().parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > self.max_body_bytes) {
            if declared_length.is_some_and(|length| length <= DRAIN_LIMIT_BYTES) {
                let _ = tokio::time::timeout(DRAIN_TIMEOUT, session.drain_request_body()).await;
            }
            // A body left unread makes the connection unusable for another request.
            session.set_keepalive(None);
            self.answer_error(session, ctx, 413, "payload_too_large", None)
                .await?;
            return Ok(true);
        }

        if let Some(client) = ctx.client {
            let class = LimitClass::of(method.as_str(), &path);
            match self.limiter.admit(client, class) {
                Ok(slot) => ctx.slot = Some(slot),
                Err(refusal) => {
                    self.metrics.rate_limited(refusal.reason());
                    tracing::debug!(%client, class = class.as_str(), reason = refusal.reason(),
                        request_id = ctx.request_id(), "rate limited");
                    if matches!(refusal, Refusal::Rate(_)) || declared_length.unwrap_or(0) > 0 {
                        session.set_keepalive(None);
                    }
                    self.answer_error(
                        session,
                        ctx,
                        429,
                        "rate_limited",
                        Some(refusal.retry_after_secs()),
                    )
                    .await?;
                    return Ok(true);
                }
            }
        }

        ctx.is_stream = is_event_stream_request(&path, header_str(session, "accept"));
        if !ctx.is_stream {
            ctx.pending = Some(self.pending.enter());
        }
        ctx.waits_for_task = waits_for_a_task(method.as_str(), &path);
        if creates_a_task(method.as_str(), &path) {
            // Made here, never from the request id: a client chooses that one.
            ctx.create_token = Some(uuid::Uuid::new_v4().to_string());
        }
        ctx.replayable = is_replayable(
            method.as_str(),
            &path,
            header_str(session, IDEMPOTENCY_KEY).is_some(),
        );
        ctx.fresh_connection = needs_fresh_connection(method.as_str(), ctx.replayable);
        Ok(false)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // Catches chunked bodies, which declare no length up front.
        if let Some(chunk) = body {
            ctx.body_bytes += chunk.len() as u64;
            if ctx.body_bytes > self.max_body_bytes {
                return Err(Error::explain(
                    ErrorType::HTTPStatus(413),
                    "request body over the limit",
                ));
            }
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        // A previous attempt no longer counts against its backend.
        ctx.in_flight = None;
        let Some(in_flight) = self.registry.acquire(&ctx.tried, Instant::now()) else {
            ctx.verdict = Verdict::NoBackend;
            return Err(Error::explain(
                ErrorType::HTTPStatus(503),
                "no backend available",
            ));
        };
        let address = in_flight.backend().address;
        ctx.tried.push(address);
        ctx.in_flight = Some(in_flight);
        let mut peer = HttpPeer::new(address, false, String::new());
        peer.options.connection_timeout = Some(self.connect_timeout);
        if !ctx.is_stream {
            peer.options.read_timeout = Some(if ctx.waits_for_task {
                self.wait_read_timeout
            } else {
                self.read_timeout
            });
        }
        if ctx.fresh_connection {
            peer.group_key = FRESH_CONNECTION_GROUP;
        }
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut pingora::http::RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        upstream_request.insert_header(REQUEST_ID, ctx.request_id.clone())?;
        // The backend continues the gateway's trace, never one a client made up beyond it.
        upstream_request.remove_header(telemetry::propagation::TRACEPARENT);
        upstream_request.remove_header(telemetry::propagation::TRACESTATE);
        ctx.trace.set_upstream_headers(upstream_request)?;
        if ctx.fresh_connection {
            upstream_request.insert_header("connection", "close")?;
        }
        if let Some(peer) = ctx.peer {
            let chain = forwarded_for(
                &header_values(session, "x-forwarded-for"),
                peer,
                &self.trusted,
            );
            let own = ctx
                .connection
                .as_ref()
                .and_then(|connection| connection.peer_header.clone());
            match (chain, own) {
                (None, Some(peer_alone)) => {
                    upstream_request.insert_header("x-forwarded-for", peer_alone)?;
                }
                (chain, _) => {
                    let value = chain.unwrap_or_else(|| peer.to_string());
                    upstream_request.insert_header("x-forwarded-for", value)?;
                }
            }
        }
        upstream_request.remove_header(CLIENT_HEADER);
        // A trusted client (a load test, a monitor) is exempt from the api's per-client cap as it
        // is from the limits here.
        if let Some(client) = ctx
            .client
            .filter(|client| !self.limiter.is_trusted(*client))
        {
            upstream_request
                .insert_header(CLIENT_HEADER, self.limiter.key_of(client).to_string())?;
        }
        upstream_request.remove_header(CREATE_TOKEN_HEADER);
        if let Some(token) = &ctx.create_token {
            upstream_request.insert_header(CREATE_TOKEN_HEADER, token.as_str())?;
        }
        upstream_request.insert_header(
            "x-forwarded-proto",
            HeaderValue::from_static(if ctx.tls { "https" } else { "http" }),
        )?;
        // The client's own value, shared rather than copied.
        if let Some(host) = session
            .req_header()
            .headers
            .get(http::header::HOST)
            .cloned()
        {
            upstream_request.insert_header("x-forwarded-host", host)?;
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some(in_flight) = &ctx.in_flight {
            self.registry
                .record_failure(in_flight.backend(), Instant::now());
        }
        let retry = should_retry(
            FailureKind::Connect,
            session.req_header().method.as_str(),
            ctx.replayable,
            false,
        );
        tracing::debug!(peer = %peer, error = %e, retry, request_id = ctx.request_id(),
            "cannot connect to backend");
        if retry {
            self.metrics.retried();
        }
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        _client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        if !blames_backend(e.etype(), e.esource()) {
            e.set_retry(false);
            return e;
        }
        if let Some(in_flight) = &ctx.in_flight {
            self.registry
                .record_failure(in_flight.backend(), Instant::now());
        }
        let kind = FailureKind::of_proxy_error(
            e.etype(),
            is_reset(&e),
            session.response_written().is_some(),
        );
        let retry = should_retry(
            kind,
            session.req_header().method.as_str(),
            ctx.replayable,
            session.as_ref().retry_buffer_truncated(),
        );
        if retry {
            self.metrics.retried();
        }
        e.set_retry(retry);
        e
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut pingora::http::ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if upstream_response.status.is_informational() {
            return Ok(());
        }
        if let Some(in_flight) = &ctx.in_flight {
            self.registry.record_served(in_flight.backend());
            ctx.served_by = Some(Arc::clone(in_flight.backend()));
        }
        if ctx.tried.len() > 1 {
            self.metrics.failed_over();
        }
        let content_type = upstream_response
            .headers
            .get("content-type")
            .and_then(|value| value.to_str().ok());
        if is_event_stream_response(content_type) {
            ctx.is_stream = true;
            // Its client resumes on a successor: no shutdown waits for a stream.
            ctx.pending = None;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut pingora::http::ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.add_common_headers(upstream_response, ctx)?;
        let length = upstream_response
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if !should_compress(ctx.is_stream, length, self.compression_min_bytes)
            && let Some(compression) = session
                .downstream_modules_ctx
                .get_mut::<ResponseCompression>()
        {
            compression.adjust_level(0);
        }
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let answer = if ctx.verdict == Verdict::NoBackend {
            Some((503, "no_backend"))
        } else {
            error_answer(e.etype(), e.esource())
        };
        let Some((status, code)) = answer else {
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        };
        if session.response_written().is_none() {
            let retry_after = (status == 503).then_some(NO_BACKEND_RETRY_AFTER_SECS);
            // The connection is not reused after a failed proxy (the request body may be half
            // read), so the answer must say so: a client that reused it would meet a reset.
            session.set_keepalive(None);
            if let Err(error) = self
                .answer_error(session, ctx, status, code, retry_after)
                .await
            {
                tracing::debug!(%error, "cannot send the error response");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &RequestCtx, error: &Error) -> bool {
        // A client closing its event stream is how streams end; our own refusals are expected.
        (ctx.is_stream && error.esource() == &ErrorSource::Downstream)
            || ctx.verdict == Verdict::NoBackend
            || matches!(error.etype(), ErrorType::HTTPStatus(413))
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session
            .response_written()
            .map_or(0, |response| response.status.as_u16());
        let series = ctx
            .served_by
            .as_deref()
            .map_or(&self.own_series, Backend::series);
        let backend = series.backend();
        let elapsed = ctx.started.elapsed();
        self.metrics
            .request_done(series, status, elapsed, ctx.is_stream);
        let log = |trace_id: Option<String>| {
            tracing::debug!(
                request_id = ctx.request_id(),
                method = %session.req_header().method,
                path = %session.req_header().uri.path(),
                status,
                backend,
                tries = ctx.tried.len(),
                elapsed_ms = elapsed.as_millis() as u64,
                error = error.map(|e| e.to_string()),
                trace_id = trace_id.as_deref(),
                "request"
            );
        };
        match &ctx.trace {
            RequestTrace::Span(span) => {
                span.record("status", status);
                span.record("backend", backend);
                span.record("tries", ctx.tried.len());
                if status >= 500 {
                    span.record("otel.status_code", "ERROR");
                }
                // The span names the trace.
                span.in_scope(|| log(None));
            }
            RequestTrace::Spanless(context) => {
                if tracing::enabled!(tracing::Level::DEBUG) {
                    log(Some(context.trace_id()));
                }
            }
            RequestTrace::None => log(None),
        }
        // The span ends here, not whenever the context is dropped.
        ctx.trace = RequestTrace::None;
        // Release the backend and the client's slot now, not whenever the context is dropped.
        ctx.in_flight = None;
        ctx.slot = None;
    }
}

/// Whether an error while proxying counts against the backend. Not when the client went away or
/// sent garbage, nor when the gateway refused the client's own body as too large (a chunked body
/// is counted as it arrives, so that refusal happens mid-proxy): neither says anything about the
/// backend, and charging it would let a few oversized requests eject a healthy one.
fn blames_backend(error_type: &ErrorType, source: &ErrorSource) -> bool {
    source != &ErrorSource::Downstream && !matches!(error_type, ErrorType::HTTPStatus(413))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_name_the_public_https_port_and_keep_the_path() {
        assert_eq!(
            https_location("example.org:80", 443, "/a?b=1"),
            "https://example.org/a?b=1"
        );
        assert_eq!(
            https_location("example.org", 8443, "/"),
            "https://example.org:8443/"
        );
        assert_eq!(https_location("[::1]:8080", 443, "/x"), "https://[::1]/x");
        assert_eq!(https_location("[::1]", 443, "/x"), "https://[::1]/x");
    }

    #[test]
    fn only_large_enough_answers_that_are_not_streams_are_compressed() {
        assert!(should_compress(false, Some(4096), 1024));
        assert!(should_compress(false, Some(1024), 1024));
        assert!(!should_compress(false, Some(1023), 1024));
        assert!(
            should_compress(false, None, 1024),
            "chunked answers of unknown size"
        );
        assert!(!should_compress(true, None, 1024));
        assert!(!should_compress(true, Some(1 << 20), 0));
        assert!(should_compress(false, Some(0), 0));
    }

    #[test]
    fn new_request_ids_are_distinct_v4_uuids_that_pass_as_sane() {
        let first = new_request_id();
        let second = new_request_id();
        assert_ne!(first, second);
        for id in [&first, &second] {
            let id = id.to_str().expect("ASCII");
            let parsed = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(id.len(), 36);
            assert!(sane_request_id(id));
        }
    }

    #[test]
    fn request_ids_are_kept_only_when_sane() {
        assert!(sane_request_id("3f2a-11:req.7_x"));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("has space"));
        assert!(!sane_request_id("new\nline"));
        assert!(!sane_request_id(&"a".repeat(129)));
    }

    #[test]
    fn recognises_event_streams() {
        assert!(is_event_stream_request("/api/tasks/1/events", None));
        assert!(is_event_stream_request("/api/generate-test-stream", None));
        assert!(is_event_stream_request("/x", Some("text/event-stream")));
        assert!(!is_event_stream_request(
            "/api/tasks",
            Some("application/json")
        ));
        assert!(is_event_stream_response(Some(
            "text/event-stream; charset=utf-8"
        )));
        assert!(!is_event_stream_response(Some("text/plain")));
        assert!(!is_event_stream_response(None));
    }

    #[test]
    fn forwarded_for_trusts_only_trusted_proxies() {
        let forwarded_for = |existing: &[&str], peer: IpAddr, trusted: &[Cidr]| {
            forwarded_for(existing, peer, trusted).unwrap_or_else(|| peer.to_string())
        };
        let trusted = [Cidr::parse("10.0.0.0/8").expect("valid")];
        let proxy: IpAddr = "10.0.0.2".parse().expect("ip");
        let stranger: IpAddr = "198.51.100.1".parse().expect("ip");
        assert_eq!(
            forwarded_for(&["203.0.113.5"], proxy, &trusted),
            "203.0.113.5, 10.0.0.2"
        );
        assert_eq!(
            forwarded_for(&["1.2.3.4"], stranger, &trusted),
            "198.51.100.1"
        );
        assert_eq!(forwarded_for(&[], proxy, &trusted), "10.0.0.2");
        assert_eq!(forwarded_for(&["  "], proxy, &trusted), "10.0.0.2");
        assert_eq!(
            forwarded_for(&["203.0.113.5", "10.1.1.1"], proxy, &trusted),
            "203.0.113.5, 10.1.1.1, 10.0.0.2",
            "every header line is kept"
        );
    }

    #[test]
    fn errors_map_to_answers() {
        assert_eq!(
            error_answer(&ErrorType::HTTPStatus(413), &ErrorSource::Internal),
            Some((413, "payload_too_large"))
        );
        assert_eq!(
            error_answer(&ErrorType::ReadTimedout, &ErrorSource::Upstream),
            Some((504, "gateway_timeout"))
        );
        assert_eq!(
            error_answer(&ErrorType::ConnectionClosed, &ErrorSource::Upstream),
            Some((502, "bad_gateway"))
        );
        assert_eq!(
            error_answer(&ErrorType::ConnectionClosed, &ErrorSource::Downstream),
            None
        );
        assert_eq!(
            error_answer(&ErrorType::InvalidHTTPHeader, &ErrorSource::Downstream),
            Some((400, "bad_request"))
        );
    }

    #[test]
    fn only_the_backends_own_failures_count_against_it() {
        assert!(blames_backend(
            &ErrorType::ConnectionClosed,
            &ErrorSource::Upstream
        ));
        assert!(blames_backend(
            &ErrorType::ReadTimedout,
            &ErrorSource::Upstream
        ));
        assert!(!blames_backend(
            &ErrorType::ConnectionClosed,
            &ErrorSource::Downstream
        ));
        assert!(!blames_backend(
            &ErrorType::HTTPStatus(413),
            &ErrorSource::Internal
        ));
        assert!(!blames_backend(
            &ErrorType::HTTPStatus(413),
            &ErrorSource::Upstream
        ));
    }

    #[test]
    fn only_generate_test_waits_for_its_task() {
        assert!(waits_for_a_task("POST", "/api/generate-test"));
        assert!(waits_for_a_task("post", "/api/generate-test"));
        assert!(!waits_for_a_task("GET", "/api/generate-test"));
        assert!(!waits_for_a_task("POST", "/api/generate-test-stream"));
        assert!(!waits_for_a_task("POST", "/api/tasks"));
    }

    #[test]
    fn operator_paths_are_the_status_metrics_and_readiness() {
        for path in ["/gateway/status", "/metrics", "/readyz", "/metrics/"] {
            assert!(is_operator_path(path), "{path}");
        }
        for path in ["/health", "/healthz", "/api/metrics", "/", "/gateway"] {
            assert!(!is_operator_path(path), "{path}");
        }
    }
}
