//! One task, one trace: the gateway, an api replica and a worker run as processes of their own
//! (each installs its own global tracer provider), exporting their spans over OTLP/HTTP to a
//! receiver in this test. A task submitted through the gateway must come back as a single trace
//! that runs gateway → api → (the task's row) → worker, with the api's database span and the
//! worker's model call in it.
//!
//! The api and the worker are this test binary again, running the ignored test
//! `traces::service_process`, which does what each service's `main` does; the gateway is its
//! real binary. The exporters' batch delay is a minute, so every span the test sees was sent by
//! the flush each process makes when it stops.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::post;
use domain::{ModelRegistry, ModelSpec};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::{Value, json};
use simulator::{Simulator, SimulatorConfig};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use system_tests::gateway::{self, GatewayConfig};
use system_tests::in_process::{api_settings, simulator_model, worker_settings};
use system_tests::ports::free_port;
use system_tests::postgres::database_url;
use system_tests::processes::{answers_within, clean_command};
use system_tests::redis::{remove_keys, unique_prefix};
use tokio::sync::oneshot;

/// Which service a child process runs: `api` or `worker`.
const SERVICE_VARIABLE: &str = "AIUT_TRACES_TEST_SERVICE";
/// The child's settings, as JSON.
const SETTINGS_VARIABLE: &str = "AIUT_TRACES_TEST_SETTINGS";

/// The body of a service process; does nothing when run as an ordinary test.
#[test]
#[ignore = "runs only as a child process of the tracing test"]
fn service_process() {
    let (Ok(service), Ok(json)) = (
        std::env::var(SERVICE_VARIABLE),
        std::env::var(SETTINGS_VARIABLE),
    ) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    // Each arm is what the service's `main` does once its settings are loaded.
    match service.as_str() {
        "api" => {
            let settings: api::Settings = serde_json::from_str(&json).expect("api settings");
            let traces = api::init_telemetry(&settings.log);
            let ran = runtime.block_on(async move {
                api::Application::build(settings)
                    .await?
                    .run_until_stopped()
                    .await
            });
            traces.shutdown();
            ran.expect("the api runs and stops cleanly");
        }
        "worker" => {
            let settings: worker::Settings = serde_json::from_str(&json).expect("worker settings");
            let traces = worker::init_telemetry(&settings.log);
            let ran = runtime.block_on(async move {
                worker::Application::build(settings)
                    .await?
                    .run_until_stopped()
                    .await
            });
            traces.shutdown();
            ran.expect("the worker runs and stops cleanly");
        }
        other => panic!("unknown service {other:?}"),
    }
}

/// A span as the receiver got it, ids in hex.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: BTreeMap<String, String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|value| value.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        Some(any_value::Value::DoubleValue(number)) => number.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attributes(pairs: &[KeyValue]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|pair| (pair.key.clone(), text(pair.value.as_ref())))
        .collect()
}

type Spans = Arc<Mutex<Vec<ReceivedSpan>>>;

/// `POST /v1/traces` of OTLP/HTTP with protobuf bodies.
async fn receive(
    State(spans): State<Spans>,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    let content_type = [(header::CONTENT_TYPE, "application/x-protobuf")];
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, content_type, Vec::new());
    };
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|resource| attributes(&resource.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                received.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                });
            }
        }
    }
    if let Ok(mut spans) = spans.lock() {
        spans.extend(received);
    }
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    (StatusCode::OK, content_type, answer)
}

/// The OTLP receiver on a loopback port.
struct Receiver {
    address: SocketAddr,
    spans: Spans,
    stop: Option<oneshot::Sender<()>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let spans = Spans::default();
        let app = Router::new()
            .route("/v1/traces", post(receive))
            .with_state(spans.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the receiver binds");
        let address = listener.local_addr().expect("its address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Receiver {
            address,
            spans,
            stop: Some(stop),
        }
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans
            .lock()
            .map(|spans| spans.clone())
            .unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A service process with its log file; killed when dropped.
struct Service {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Service {
    /// A command for `program` that sees only this test's exporter settings and none of the
    /// `AIUT_*` or `OTEL_*` variables of the developer's shell.
    fn command(program: &Path, otlp: SocketAddr) -> Command {
        let mut command = clean_command(program, &["OTEL_", "AIUT_"]);
        command
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
            .env("OTEL_BSP_SCHEDULE_DELAY", "60000")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("RUST_LOG", "info");
        command
    }

    fn spawn(name: &'static str, mut command: Command, folder: &Path) -> Service {
        let log = folder.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("a log file");
        let child = command
            .current_dir(folder)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("a log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start the {name}: {error}"));
        Service {
            name,
            child: Some(child),
            log,
        }
    }

    /// This test binary again, running `service_process` as `service` with `settings` (JSON).
    fn reexec(service: &'static str, settings: String, folder: &Path, otlp: SocketAddr) -> Service {
        let mut command =
            Service::command(&std::env::current_exe().expect("the test binary"), otlp);
        command
            .args([
                "--ignored",
                "--exact",
                "traces::service_process",
                "--nocapture",
            ])
            .env(SERVICE_VARIABLE, service)
            .env(SETTINGS_VARIABLE, settings);
        Service::spawn(service, command, folder)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON lines of its log.
    fn log_lines(&self) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// SIGTERM, then waits for a clean exit: that is when its last spans are exported.
    async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let signalled = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        assert!(signalled, "cannot signal the {}", self.name);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("the child's status") {
                break status;
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the {} did not stop within 30 s of SIGTERM; log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            status.success(),
            "the {} stopped with {status}; log:\n{}",
            self.name,
            self.log_text()
        );
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `simulator`, the default, answering from the simulator at `base_url`, and `offline`.
fn registry(base_url: String) -> ModelRegistry {
    let simulator = simulator_model("simulator", "Model simulator", base_url, 60, 4);
    ModelRegistry {
        default: Some(simulator.id.clone()),
        models: vec![ModelSpec::offline(), simulator],
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client")
}

/// Polls `url` until it answers 2xx, for at most 30 s.
async fn wait_until_up(client: &reqwest::Client, url: &str, service: &Service) {
    assert!(
        answers_within(client, url, Duration::from_secs(30)).await,
        "{url} did not answer within 30 s; the {}'s log:\n{}",
        service.name,
        service.log_text()
    );
}

/// The spans of one trace, with the lookups the assertions need.
struct Trace<'a> {
    spans: Vec<&'a ReceivedSpan>,
    everything: String,
}

impl<'a> Trace<'a> {
    fn new(all: &'a [ReceivedSpan], trace_id: &str) -> Trace<'a> {
        let everything = all
            .iter()
            .map(|span| {
                format!(
                    "  {} {} trace={} span={} parent={} {:?}",
                    span.service,
                    span.name,
                    span.trace_id,
                    span.span_id,
                    span.parent_span_id,
                    span.attributes
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        Trace {
            spans: all
                .iter()
                .filter(|span| span.trace_id == trace_id)
                .collect(),
            everything,
        }
    }

    /// The one span of `service` named `name` that `matches`.
    fn find(
        &self,
        service: &str,
        name: &str,
        matches: impl Fn(&ReceivedSpan) -> bool,
    ) -> &'a ReceivedSpan {
        let found: Vec<&ReceivedSpan> = self
            .spans
            .iter()
            .copied()
            .filter(|span| span.service == service && span.name == name && matches(span))
            .collect();
        assert!(
            !found.is_empty(),
            "no {name} span of {service} where expected in the trace; received:\n{}",
            self.everything
        );
        found[0]
    }

    /// Whether `ancestor` is on `span`'s chain of parents.
    fn descends_from(&self, span: &ReceivedSpan, ancestor: &ReceivedSpan) -> bool {
        let mut current = span;
        for _ in 0..64 {
            if current.parent_span_id == ancestor.span_id {
                return true;
            }
            match self
                .spans
                .iter()
                .find(|candidate| candidate.span_id == current.parent_span_id)
            {
                Some(parent) => current = parent,
                None => return false,
            }
        }
        false
    }
}

#[sqlx::test(migrations = false)]
async fn one_task_is_one_trace_across_gateway_api_and_worker(
    _pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let folder =
        std::env::temp_dir().join(format!("aiut-traces-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&folder).expect("the test's folder");
    let receiver = Receiver::start().await;
    let simulator = Simulator::bind(SimulatorConfig::instant(), "127.0.0.1:0")
        .await
        .expect("the simulator binds")
        .spawn();
    let models = registry(simulator.base_url());
    let prefix = unique_prefix("traces");
    let client = client();

    let mut api_settings = api_settings(&prefix);
    api_settings.server.port = free_port();
    api_settings.server.instance_id = Some("api-traced".into());
    api_settings.database.url = database_url(&connect);
    api_settings.database.create_if_missing = false;
    api_settings.database.max_connections = 5;
    api_settings.models = models;
    api_settings.log.filter = "info".into();
    api_settings.log.json = true;
    let api_address = SocketAddr::from(([127, 0, 0, 1], api_settings.server.port));
    let mut api = Service::reexec(
        "api",
        serde_json::to_string(&api_settings).expect("api settings as JSON"),
        &folder,
        receiver.address,
    );
    wait_until_up(&client, &format!("http://{api_address}/healthz"), &api).await;

    let mut worker_settings = worker_settings(&api_settings);
    worker_settings.database = api_settings.database.clone();
    worker_settings.log = api_settings.log.clone();
    worker_settings.worker.id = Some("worker-traced".into());
    worker_settings.worker.metrics_port = free_port();
    worker_settings.worker.poll_interval_ms = 200;
    worker_settings.worker.shutdown_grace_secs = 1;
    let worker_health = format!(
        "http://127.0.0.1:{}/healthz",
        worker_settings.worker.metrics_port
    );
    let mut worker = Service::reexec(
        "worker",
        serde_json::to_string(&worker_settings).expect("worker settings as JSON"),
        &folder,
        receiver.address,
    );
    wait_until_up(&client, &worker_health, &worker).await;

    let gateway_address = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config_path = gateway::write_config(
        &folder,
        &GatewayConfig {
            listen: gateway_address,
            upstreams: &[api_address],
            gateway: "health_interval_ms = 500\n\
                      grace_period_secs = 0\n\
                      graceful_shutdown_timeout_secs = 1\n",
            rate_limit: "trusted_networks = [\"127.0.0.0/8\"]\n",
            log: "filter = \"info\"\njson = true\n",
        },
    );
    let mut command = Service::command(&system_tests::binary("aiut-gateway"), receiver.address);
    command.env("AIUT_CONFIG", &config_path);
    let mut gateway = Service::spawn("gateway", command, &folder);
    let through_gateway = |path: &str| format!("http://{gateway_address}{path}");
    wait_until_up(&client, &through_gateway("/healthz"), &gateway).await;

    // The client starts the trace; everything after must stay in it.
    let client_trace = uuid::Uuid::new_v4().simple().to_string();
    let client_span = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let response = client
        .post(through_gateway("/api/tasks"))
        .header("traceparent", format!("00-{client_trace}-{client_span}-01"))
        .json(&json!({
            "source": "def add(a, b):\n    return a + b\n",
            "filename": "calc.py",
            "model": "simulator",
        }))
        .send()
        .await
        .expect("the task is submitted");
    assert_eq!(
        response.status().as_u16(),
        202,
        "{:?}",
        response.text().await
    );
    let created: Value = response.json().await.expect("the created task");
    let task_id = created["id"].as_str().expect("a task id").to_owned();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let task: Value = client
            .get(through_gateway(&format!("/api/tasks/{task_id}")))
            .send()
            .await
            .expect("the task")
            .json()
            .await
            .expect("the task as JSON");
        match task["status"].as_str() {
            Some("succeeded") => break,
            Some("failed" | "cancelled") => panic!(
                "the task ended as {}; worker log:\n{}",
                task["status"],
                worker.log_text()
            ),
            _ => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task did not succeed within 60 s: {task}; worker log:\n{}",
            worker.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Each process exports what its batch holds as it stops.
    gateway.stop().await;
    api.stop().await;
    worker.stop().await;

    let spans = receiver.spans();
    let trace = Trace::new(&spans, &client_trace);
    let services: BTreeSet<&str> = trace
        .spans
        .iter()
        .map(|span| span.service.as_str())
        .collect();
    assert_eq!(
        services,
        BTreeSet::from(["aiut-api", "aiut-gateway", "aiut-worker"]),
        "the trace spans the three services; received:\n{}",
        trace.everything
    );

    let front = trace.find("aiut-gateway", "gateway.request", |span| {
        span.attributes.get("method").map(String::as_str) == Some("POST")
            && span.attributes.get("path").map(String::as_str) == Some("/api/tasks")
    });
    assert_eq!(
        front.parent_span_id, client_span,
        "the gateway's span is the child of the client's"
    );
    assert_eq!(
        front.attributes.get("status").map(String::as_str),
        Some("202")
    );
    let request = trace.find("aiut-api", "request", |span| {
        span.parent_span_id == front.span_id
            && span.attributes.get("path").map(String::as_str) == Some("/api/tasks")
    });
    let insert = trace.find("aiut-api", "db.insert_task", |_| true);
    assert!(
        trace.descends_from(insert, request),
        "the insert runs in the request; received:\n{}",
        trace.everything
    );
    let task = trace.find("aiut-worker", "worker.task", |span| {
        span.parent_span_id == request.span_id
    });
    assert_eq!(
        task.attributes.get("task_id").map(String::as_str),
        Some(task_id.as_str())
    );
    trace.find("aiut-worker", "worker.claim", |span| {
        span.parent_span_id == task.span_id
    });
    let call = trace.find("aiut-worker", "model.call", |span| {
        span.attributes.get("outcome").map(String::as_str) == Some("ok")
    });
    assert!(
        trace.descends_from(call, task),
        "the model call runs in the task; received:\n{}",
        trace.everything
    );

    // The logs name the trace too, with the request's and the task's ids.
    let queued = api
        .log_lines()
        .into_iter()
        .find(|line| line["message"] == "task queued")
        .unwrap_or_else(|| panic!("no `task queued` line in:\n{}", api.log_text()));
    assert_eq!(queued["trace_id"], client_trace.as_str(), "{queued}");
    assert_eq!(queued["task_id"], task_id.as_str(), "{queued}");
    assert!(
        queued["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{queued}"
    );
    let succeeded = worker
        .log_lines()
        .into_iter()
        .find(|line| line["message"] == "task succeeded")
        .unwrap_or_else(|| panic!("no `task succeeded` line in:\n{}", worker.log_text()));
    assert_eq!(succeeded["trace_id"], client_trace.as_str(), "{succeeded}");
    assert_eq!(succeeded["task_id"], task_id.as_str(), "{succeeded}");

    let _ = simulator.stop().await;
    remove_keys(&prefix).await;
    let _ = std::fs::remove_dir_all(&folder);
}
