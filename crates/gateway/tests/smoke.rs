//! The gateway binary in front of two tiny axum backends started in this process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{any, get};
use futures::StreamExt;
use serde_json::{Value, json};
use telemetry::documented::undocumented_or_missing;
use tokio::sync::oneshot;

/// A listener that stops accepting (and closes its socket) when told, while the connections it
/// already accepted carry on: how a replica stops cleanly before it closes its connections.
struct StoppableListener {
    inner: Option<tokio::net::TcpListener>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl axum::serve::Listener for StoppableListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some(listener) = &self.inner else {
                std::future::pending::<()>().await;
                continue;
            };
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok(connection) = accepted {
                        return connection;
                    }
                }
                _ = self.stop.changed() => self.inner = None,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.inner {
            Some(listener) => listener.local_addr(),
            None => Err(std::io::Error::other("stopped")),
        }
    }
}

/// A backend that names itself in `X-Backend-Instance` and echoes what the gateway sent it.
struct Backend {
    address: SocketAddr,
    stop_accepting: tokio::sync::watch::Sender<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    async fn start(name: &'static str) -> Backend {
        let echo = move |headers: HeaderMap, body: Bytes| async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            };
            let body = json!({
                "backend": name,
                "x_forwarded_for": header("x-forwarded-for"),
                "x_forwarded_proto": header("x-forwarded-proto"),
                "x_forwarded_host": header("x-forwarded-host"),
                "x_request_id": header("x-request-id"),
                "traceparent": header("traceparent"),
                "body_len": body.len(),
            });
            ([("x-backend-instance", name)], axum::Json(body))
        };
        let events = move || async move {
            let stream = futures::stream::unfold(0u32, |sent| async move {
                if sent == 3 {
                    return None;
                }
                if sent > 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                let event = format!("event: progress\ndata: {{\"n\":{sent}}}\n\n");
                Some((Ok::<_, std::io::Error>(Bytes::from(event)), sent + 1))
            });
            Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header("x-backend-instance", name)
                .body(Body::from_stream(stream))
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
        };
        // Silent for 2.5 s before answering, as the api is while a task it waits for runs.
        let slow = move || async move {
            tokio::time::sleep(Duration::from_millis(2_500)).await;
            ([("x-backend-instance", name)], "done")
        };
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/stream/events", get(events))
            .route("/api/generate-test", axum::routing::post(slow))
            .route("/slow", get(slow))
            .fallback(any(echo));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a backend");
        let address = listener.local_addr().expect("backend address");
        let (stop_accepting, accepting) = tokio::sync::watch::channel(false);
        let listener = StoppableListener {
            inner: Some(listener),
            stop: accepting,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Backend {
            address,
            stop_accepting,
            stop: Some(stop),
            task,
        }
    }

    /// Stops like a replica being shut down: new connections are refused at once, requests
    /// already accepted get a moment to finish, then the remaining connections close.
    ///
    /// Closing an accepted connection before its request is read would make a POST on it
    /// indistinguishable (to any proxy) from one the backend acted on, so the gateway would rightly
    /// not replay it; a clean stop does not do that.
    async fn stop(mut self) {
        let _ = self.stop_accepting.send(true);
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The gateway binary, killed when dropped; its log is printed when a test fails.
struct Gateway {
    child: Child,
    port: u16,
    metrics_port: u16,
    log: PathBuf,
}

impl Gateway {
    async fn start(upstreams: &[SocketAddr], extra: &[(&str, &str)]) -> Gateway {
        let port = free_port();
        let metrics_port = free_port();
        let directory = std::env::temp_dir().join(format!("aiut-gateway-smoke-{port}"));
        std::fs::create_dir_all(&directory).expect("a temp folder");
        let log = directory.join("gateway.log");
        let log_file = std::fs::File::create(&log).expect("a log file");
        let upstreams = format!(
            "[{}]",
            upstreams
                .iter()
                .map(|address| format!("\"{address}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut command = Command::new(env!("CARGO_BIN_EXE_aiut-gateway"));
        command
            .current_dir(&directory)
            .env_remove("AIUT_CONFIG")
            .env("AIUT_GATEWAY__LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "AIUT_GATEWAY__METRICS_LISTEN",
                format!("127.0.0.1:{metrics_port}"),
            )
            .env("AIUT_GATEWAY__UPSTREAMS", upstreams)
            .env("AIUT_GATEWAY__HEALTH_INTERVAL_MS", "200")
            // Backends in this loaded test process may answer a probe late; a stopped one refuses
            // at once whatever the timeout.
            .env("AIUT_GATEWAY__HEALTH_TIMEOUT_MS", "2000")
            .env(
                "AIUT_GATEWAY__UPGRADE_SOCK",
                directory.join("upgrade.sock").to_string_lossy().as_ref(),
            )
            .env("AIUT_LOG__FILTER", "info,gateway=debug")
            .stdout(Stdio::from(log_file.try_clone().expect("log handle")))
            .stderr(Stdio::from(log_file));
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command.spawn().expect("start the gateway binary");
        let gateway = Gateway {
            child,
            port,
            metrics_port,
            log,
        };
        gateway.wait_until_up().await;
        gateway
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn wait_until_up(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(response) = client.get(self.url("/health")).send().await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway did not come up; log:\n{}", self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- gateway log ---\n{}", self.log_text());
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_itself_spreads_requests_and_sets_headers() {
    let first = Backend::start("one").await;
    let second = Backend::start("two").await;
    let gateway = Gateway::start(&[first.address, second.address], &[]).await;
    let client = client();

    let health = client
        .get(gateway.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    assert!(header(&health, "content-type").is_some_and(|v| v.starts_with("text/plain")));
    assert_eq!(health.text().await.expect("body"), "healthy\n");

    let status: Value = client
        .get(gateway.url("/gateway/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status JSON");
    let backends = status["backends"].as_array().expect("backends");
    assert_eq!(backends.len(), 2);
    for backend in backends {
        assert_eq!(backend["healthy"], true);
        assert_eq!(backend["ejected"], false);
        for field in [
            "address",
            "ejected_for_secs",
            "in_flight",
            "served",
            "failures",
        ] {
            assert!(!backend[field].is_null(), "{field} in {backend}");
        }
    }

    let mut seen = std::collections::HashMap::<String, usize>::new();
    for _ in 0..20 {
        let response = client
            .get(gateway.url("/echo"))
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .send()
            .await
            .expect("echo");
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"));
        assert_eq!(header(&response, "referrer-policy"), Some("no-referrer"));
        assert_eq!(
            header(&response, "strict-transport-security"),
            None,
            "HSTS only over TLS"
        );
        let request_id = header(&response, "x-request-id")
            .expect("a request id")
            .to_owned();
        let instance = header(&response, "x-backend-instance")
            .expect("the backend named")
            .to_owned();
        let echoed: Value = response.json().await.expect("echo JSON");
        assert_eq!(echoed["backend"], instance.as_str());
        assert_eq!(echoed["x_request_id"], request_id.as_str());
        assert_eq!(echoed["x_forwarded_for"], "127.0.0.1");
        assert_eq!(echoed["x_forwarded_proto"], "http");
        assert_eq!(
            echoed["x_forwarded_host"],
            format!("127.0.0.1:{}", gateway.port)
        );
        // The backend continues the client's trace under the gateway's own span.
        let traceparent = echoed["traceparent"].as_str().expect("a traceparent");
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "{traceparent}");
        assert_eq!(parts[0], "00");
        assert_eq!(
            parts[1], "0af7651916cd43dd8448eb211c80319c",
            "the client's trace"
        );
        assert_ne!(
            parts[2], "b7ad6b7169203331",
            "the gateway's span, not the client's"
        );
        assert_eq!(parts[2].len(), 16);
        assert_eq!(parts[3], "01", "sampled, as the client asked");
        *seen.entry(instance).or_default() += 1;
    }
    assert_eq!(seen.len(), 2, "both backends answered: {seen:?}");
    assert!(seen.values().all(|count| *count >= 5), "{seen:?}");

    // A client's sane request id is kept; a forged X-Forwarded-For from an untrusted client is not.
    let response = client
        .get(gateway.url("/echo"))
        .header("x-request-id", "client-chosen-42")
        .header("x-forwarded-for", "6.6.6.6")
        .send()
        .await
        .expect("echo");
    assert_eq!(header(&response, "x-request-id"), Some("client-chosen-42"));
    let echoed: Value = response.json().await.expect("echo JSON");
    assert_eq!(echoed["x_request_id"], "client-chosen-42");
    assert_eq!(echoed["x_forwarded_for"], "127.0.0.1");

    let metrics = client
        .get(format!("http://127.0.0.1:{}/metrics", gateway.metrics_port))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for name in [
        "aiut_gateway_requests_total{",
        "aiut_gateway_request_duration_seconds_bucket",
        "aiut_gateway_backend_up{",
        "aiut_gateway_backend_in_flight{",
        "aiut_gateway_downstream_connections",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    drop(gateway);
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_over_the_rate_and_over_the_body_limit() {
    let backend = Backend::start("one").await;
    let gateway = Gateway::start(
        &[backend.address],
        &[
            ("AIUT_GATEWAY__RATE_LIMIT__API_PER_SEC", "0.5"),
            ("AIUT_GATEWAY__RATE_LIMIT__API_BURST", "2"),
            ("AIUT_GATEWAY__MAX_BODY_BYTES", "1000"),
        ],
    )
    .await;
    let client = client();

    for _ in 0..2 {
        let response = client
            .get(gateway.url("/api/models"))
            .send()
            .await
            .expect("within the burst");
        assert_eq!(response.status(), 200);
    }
    let refused = client
        .get(gateway.url("/api/models"))
        .send()
        .await
        .expect("over the rate");
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = header(&refused, "retry-after")
        .and_then(|value| value.parse().ok())
        .expect("a numeric Retry-After");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(header(&refused, "x-request-id").is_some());
    let body: Value = refused.json().await.expect("JSON 429");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["message"].is_string());
    // Paths outside /api/ are not rate limited.
    let page = client.get(gateway.url("/")).send().await.expect("page");
    assert_eq!(page.status(), 200);

    let small = client
        .post(gateway.url("/echo"))
        .body(vec![b'a'; 900])
        .send()
        .await
        .expect("small body");
    assert_eq!(small.status(), 200);
    let large = client
        .post(gateway.url("/echo"))
        .body(vec![b'a'; 2_000])
        .send()
        .await
        .expect("large body");
    assert_eq!(large.status(), 413);
    let body: Value = large.json().await.expect("JSON 413");
    assert_eq!(body["error"]["code"], "payload_too_large");

    // A chunked body declares no length: it is counted as it arrives.
    let chunks = futures::stream::iter(
        (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'b'; 400]))),
    );
    let chunked = client
        .post(gateway.url("/echo"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("chunked body");
    assert_eq!(chunked.status(), 413);
    let body: Value = chunked.json().await.expect("JSON 413");
    assert_eq!(body["error"]["code"], "payload_too_large");
    // A client's oversized body is the client's fault: more of them do not eject the backend.
    for _ in 0..4 {
        let chunks = futures::stream::iter(
            (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'b'; 400]))),
        );
        let chunked = client
            .post(gateway.url("/echo"))
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .expect("chunked body");
        assert_eq!(chunked.status(), 413);
    }
    let after = client
        .get(gateway.url("/echo"))
        .send()
        .await
        .expect("after the oversized bodies");
    assert_eq!(after.status(), 200, "the backend is still in rotation");
    drop(gateway);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_without_errors_and_answers_503_when_all_backends_are_gone() {
    let first = Backend::start("one").await;
    let second = Backend::start("two").await;
    let gateway = Gateway::start(&[first.address, second.address], &[]).await;
    let client = client();

    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..4 {
        let client = client.clone();
        let url = gateway.url("/echo");
        let done = Arc::clone(&done);
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for request in 0..50 {
                let result = if (worker + request) % 2 == 0 {
                    client.get(&url).send().await
                } else {
                    client.post(&url).body("{\"source\":\"x\"}").send().await
                };
                match result {
                    Ok(response) if response.status() == 200 => {}
                    Ok(response) => failures.push(format!("status {}", response.status())),
                    Err(error) => failures.push(error.to_string()),
                }
                done.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            failures
        }));
    }
    let dead_address = first.address.to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    while done.load(Ordering::Relaxed) < 50 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.stop().await;
    let mut failures = Vec::new();
    for worker in workers {
        failures.extend(
            tokio::time::timeout(Duration::from_secs(30), worker)
                .await
                .expect("workers finish")
                .expect("worker ran"),
        );
    }
    assert_eq!(done.load(Ordering::Relaxed), 200);
    assert!(failures.is_empty(), "failed requests: {failures:?}");

    // After the failed attempts and health checks, the dead one is out of rotation.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status: Value = client
            .get(gateway.url("/gateway/status"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("status JSON");
        let dead = status["backends"]
            .as_array()
            .and_then(|backends| {
                backends
                    .iter()
                    .find(|backend| backend["address"] == dead_address.as_str())
            })
            .cloned()
            .expect("the dead backend listed");
        if dead["healthy"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "never marked unhealthy: {dead}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    second.stop().await;
    let response = client
        .get(gateway.url("/echo"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 503);
    assert!(header(&response, "retry-after").is_some());
    let body: Value = response.json().await.expect("JSON 503");
    assert_eq!(body["error"]["code"], "no_backend");
    assert!(body["error"]["message"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_arrive_as_they_are_sent() {
    let backend = Backend::start("one").await;
    let gateway = Gateway::start(&[backend.address], &[]).await;
    let response = client()
        .get(gateway.url("/stream/events"))
        .header("accept", "text/event-stream")
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-encoding"),
        None,
        "never compressed"
    );
    assert!(header(&response, "content-type").is_some_and(|v| v.starts_with("text/event-stream")));
    let started = Instant::now();
    let mut arrivals = Vec::new();
    let mut text = String::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .expect("the stream keeps flowing")
    {
        let chunk = chunk.expect("a chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
        while arrivals.len() < text.matches("\n\n").count() {
            arrivals.push(started.elapsed());
        }
    }
    assert_eq!(arrivals.len(), 3, "three events: {text:?}");
    let gaps: Vec<Duration> = arrivals.windows(2).map(|pair| pair[1] - pair[0]).collect();
    eprintln!("event arrivals after the headers: {arrivals:?}, gaps {gaps:?}");
    // Sent 300 ms apart: a gateway that held them back would hand them over together. Only the
    // spread is bounded, so that one late wake-up on a loaded machine does not decide the test.
    assert!(
        arrivals[2] - arrivals[0] >= Duration::from_millis(300),
        "events should arrive apart, not together: {arrivals:?}"
    );
    drop(gateway);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_gateway_within_seconds() {
    let backend = Backend::start("one").await;
    let mut gateway = Gateway::start(
        &[backend.address],
        &[
            ("AIUT_GATEWAY__GRACE_PERIOD_SECS", "5"),
            ("AIUT_GATEWAY__GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "0"),
        ],
    )
    .await;
    // Older than its grace period: the grace counts from the signal.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    gateway.signal("TERM");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(
        gateway.child.try_wait().expect("wait").is_none(),
        "it serves on for its grace period"
    );
    let deadline = started + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = gateway.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 15 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("stopped {:?} after SIGTERM ({status})", started.elapsed());
    assert!(status.success(), "{status}");
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigquit_answers_close_their_connections_until_the_handover_ends() {
    let backend = Backend::start("one").await;
    let mut gateway = Gateway::start(&[backend.address], &[]).await;
    let before = client()
        .get(gateway.url("/api/x"))
        .send()
        .await
        .expect("a response");
    assert_eq!(
        header(&before, "connection"),
        Some("keep-alive"),
        "kept alive while running"
    );
    // SIGQUIT hands the listening sockets to a successor (none here) and keeps serving for a
    // few seconds; answers then close their connections, so clients reconnect to the successor
    // rather than reuse a connection that is dropped when the old process shuts down.
    gateway.signal("QUIT");
    // The signal is handled when the gateway is scheduled: ask until it has been, within a
    // bound well inside the handover.
    let asked = Instant::now();
    let during = loop {
        let during = client()
            .get(gateway.url("/api/x"))
            .send()
            .await
            .expect("answered during the handover");
        assert_eq!(during.status(), 200);
        if header(&during, "connection") == Some("close")
            || asked.elapsed() > Duration::from_secs(5)
        {
            break during;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(header(&during, "connection"), Some("close"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while gateway.child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGQUIT"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    backend.stop().await;
}

/// A request and an event stream through the gateway, then its `/metrics` against
/// `prometheus/METRICS.md`, both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exported_metric_is_documented_and_every_documented_one_exported() {
    let backend = Backend::start("one").await;
    let gateway = Gateway::start(&[backend.address], &[]).await;
    let client = client();
    let echo = client.get(gateway.url("/echo")).send().await.expect("echo");
    assert_eq!(echo.status(), 200);
    let stream = client
        .get(gateway.url("/stream/events"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    stream.text().await.expect("the whole stream");
    let metrics_url = format!("http://127.0.0.1:{}/metrics", gateway.metrics_port);
    // The gateway counts a request once its logging phase has run, just after the response ends.
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = client
            .get(&metrics_url)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        if text.contains("kind=\"stream\"") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let problems = undocumented_or_missing("gateway", &text);
    assert!(problems.is_empty(), "{problems:#?}\nin:\n{text}");
    let backend_label = backend.address.to_string();
    for line in [
        format!(
            "aiut_gateway_requests_total{{backend=\"{backend_label}\",class=\"2xx\",kind=\"request\"}} 1\n"
        ),
        format!(
            "aiut_gateway_requests_total{{backend=\"{backend_label}\",class=\"2xx\",kind=\"stream\"}} 1\n"
        ),
        format!(
            "aiut_build_info{{service=\"gateway\",version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(text.contains(&line), "{line} missing from\n{text}");
    }

    // The check can fail: a family the documentation lacks, or one it has that is gone.
    let extra = text.replace(
        "# EOF",
        "# TYPE aiut_gateway_surprise gauge\naiut_gateway_surprise 1\n# EOF",
    );
    assert_eq!(
        undocumented_or_missing("gateway", &extra),
        ["`aiut_gateway_surprise` (gauge) is exported but not documented"]
    );
    let without_retries = text.replace(
        "# TYPE aiut_gateway_retries counter",
        "# TYPE aiut_gateway_retried counter",
    );
    assert_eq!(
        undocumented_or_missing("gateway", &without_retries),
        [
            "`aiut_gateway_retried_total` (counter) is exported but not documented",
            "`aiut_gateway_retries_total` is documented but not exported",
        ]
    );
    drop(gateway);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_waits_for_its_task_gets_the_longer_read_timeout() {
    let backend = Backend::start("one").await;
    let gateway = Gateway::start(
        &[backend.address],
        &[
            ("AIUT_GATEWAY__READ_TIMEOUT_SECS", "1"),
            ("AIUT_GATEWAY__WAIT_READ_TIMEOUT_SECS", "10"),
            // A timed-out request must not take the one backend out of rotation.
            ("AIUT_GATEWAY__MAX_FAILS", "100"),
        ],
    )
    .await;
    let client = client();
    // Any other request silent for longer than the read timeout is cut (a GET is retried, and
    // with no other backend to try the answer is 503).
    let cut = client
        .get(gateway.url("/slow"))
        .send()
        .await
        .expect("an answer");
    assert!(
        [503, 504].contains(&cut.status().as_u16()),
        "{}",
        cut.status()
    );
    // `POST /api/generate-test` answers when its task ends, long after the usual read timeout.
    let waited = client
        .post(gateway.url("/api/generate-test"))
        .body("{}")
        .send()
        .await
        .expect("an answer");
    assert_eq!(waited.status(), 200);
    assert_eq!(waited.text().await.expect("a body"), "done");
    drop(gateway);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_paths_answer_only_operator_networks() {
    let backend = Backend::start("one").await;
    let client = client();
    // By default the machine itself is the operator: loopback sees the status and the replicas'
    // metrics and readiness.
    let gateway = Gateway::start(&[backend.address], &[]).await;
    for path in ["/gateway/status", "/metrics", "/readyz"] {
        let answer = client
            .get(gateway.url(path))
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), 200, "{path}");
    }
    drop(gateway);
    // With no operator network, nobody does; other paths are served as before.
    let gateway = Gateway::start(
        &[backend.address],
        &[("AIUT_GATEWAY__OPERATOR_NETWORKS", "[]")],
    )
    .await;
    for path in ["/gateway/status", "/metrics", "/readyz"] {
        let answer = client
            .get(gateway.url(path))
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), 404, "{path}");
        let body: Value = answer.json().await.expect("JSON 404");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let health = client
        .get(gateway.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let echo = client.get(gateway.url("/echo")).send().await.expect("echo");
    assert_eq!(echo.status(), 200);
    drop(gateway);
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_a_large_body_first_reads_its_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let backend = Backend::start("one").await;
    let gateway = Gateway::start(&[backend.address], &[]).await;
    // Like Python's urllib: the whole body goes out before the answer is read.
    let body_len = 2_800_000;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", gateway.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("the head");
    stream
        .write_all(&vec![b' '; body_len])
        .await
        .expect("the whole body is taken, not reset");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .expect("the answer, then the close");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    drop(gateway);
    backend.stop().await;
}

/// After SIGQUIT the old process answers what it was answering — here a `generate-test` wait that
/// outlasts the grace period and the shutdown timeout together — and leaves as soon as it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigquit_a_waiting_request_is_answered_before_the_old_process_leaves() {
    let backend = Backend::start("one").await;
    let mut gateway = Gateway::start(
        &[backend.address],
        &[
            ("AIUT_GATEWAY__GRACE_PERIOD_SECS", "1"),
            ("AIUT_GATEWAY__GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "0"),
            ("AIUT_GATEWAY__UPGRADE_DRAIN_SECS", "4"),
        ],
    )
    .await;
    // The drain's limit counts from the signal, not from the start of a process that has run
    // longer than that.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let url = gateway.url("/api/generate-test");
    let waiting = tokio::spawn(async move { client().post(url).body("{}").send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    gateway.signal("QUIT");
    let answer = waiting
        .await
        .expect("the request's task")
        .expect("answered, not cut");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.expect("a body"), "done");
    let answered = signalled.elapsed();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = gateway.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the old process stays though it answered everything"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "answered {answered:?} after SIGQUIT; the process left {:?} after it ({status})",
        signalled.elapsed()
    );
    assert!(status.success(), "{status}");
    backend.stop().await;
}
