//! The type of every section of the deployment's configuration file, each defined once with its
//! compiled-in defaults. A binary's settings are the sections it reads (the api: `server`,
//! `database`, …; the worker: `worker`, `database`, …; the gateway: `gateway` and `log`); the
//! operations tooling writes a whole file by serialising [`DeploymentFile`].

use std::path::PathBuf;
use std::time::Duration;

use domain::{ModelRegistry, SourceLimits};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Names this replica in `X-Backend-Instance`; defaults to `<hostname>-<port>`.
    pub instance_id: Option<String>,
    /// How long in-flight requests may take to finish after a stop signal.
    pub shutdown_grace_secs: u64,
    /// The longest wait for the next piece of a request body before answering 408.
    pub body_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout_ms: u64,
    /// Create the database named in the URL when it does not exist yet.
    pub create_if_missing: bool,
    /// How long start-up waits for Postgres before giving up.
    pub startup_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    pub url: String,
    /// Put before every key, so several deployments (or tests) can share one Redis.
    pub key_prefix: String,
    pub connect_timeout_ms: u64,
    pub response_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    pub cookie_name: String,
    pub ttl_secs: u64,
}

/// The administrator's session (the password itself is never a setting: it comes from
/// `AIUT_ADMIN_PASSWORD` only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// `__Host-` is put before it over TLS, as for the anonymous session's cookie.
    pub cookie_name: String,
    /// A session unused this long is over.
    pub idle_timeout_secs: u64,
    /// A session is over this long after the login, however much it is used.
    pub lifetime_secs: u64,
}

/// A secret from the configuration: it prints as `***` and is never written back out.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretText(String);

impl SecretText {
    pub fn new(text: impl Into<String>) -> SecretText {
        SecretText(text.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("***")
    }
}

/// The keys model API keys are encrypted under in the registry, each written `<id>:<base64 of 32
/// random bytes>`: `AIUT_MODEL_KEYS__CURRENT` encrypts new keys, `AIUT_MODEL_KEYS__PREVIOUS` (a
/// TOML array) still decrypts keys stored under older ids while they are rotated. They are meant
/// for the environment; neither is ever written back out with the settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelKeySettings {
    #[serde(skip_serializing)]
    pub current: Option<SecretText>,
    #[serde(skip_serializing)]
    pub previous: Vec<SecretText>,
}

/// Repositories on GitHub, GitLab and plain git: which hosts a forge URL may reach, and the key
/// a session's forge token is sealed under in Redis.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitSettings {
    /// Seals a session's forge token (`AIUT_GIT__TOKEN_KEY`, any long random text; it is hashed
    /// into the key). Unset, the key is derived from `model_keys.current`; with neither, tokens
    /// cannot be kept and the git routes say so. Never written back out.
    #[serde(skip_serializing)]
    pub token_key: Option<SecretText>,
    /// Address ranges (CIDR) a forge may be reached at besides public addresses, e.g. a
    /// self-hosted GitLab on `10.0.0.0/8`. Loopback, private and link-local addresses are
    /// refused unless listed here.
    pub allowed_networks: Vec<String>,
    /// Plain `http` to hosts inside `allowed_networks` (never to public ones).
    pub allow_plain_http: bool,
    /// The longest a forge's API call may take.
    pub timeout_secs: u64,
    /// The longest a clone or a push may take; under the gateway's read timeout (60 s), so that
    /// a slow clone is answered by the api, not cut off by the front door.
    pub clone_timeout_secs: u64,
    /// Source files one batch makes tasks for (the rest are listed as skipped).
    pub max_batch_files: usize,
}

impl Default for GitSettings {
    fn default() -> Self {
        GitSettings {
            token_key: None,
            allowed_networks: Vec::new(),
            allow_plain_http: false,
            timeout_secs: 20,
            clone_timeout_secs: 45,
            max_batch_files: 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub max_source_bytes: usize,
    /// The largest request body; JSON escaping makes a body larger than the source it carries.
    pub max_body_bytes: usize,
    pub max_queued_per_session: u32,
    /// Queued tasks one client may have over all its sessions, where the front door names the
    /// client (an IPv4 address or an IPv6 /64; see the gateway's `x-aiut-client`).
    pub max_queued_per_client: u32,
    /// Enforced by the workers' claim; reported by `/api/queue`.
    pub max_running_per_session: u32,
    /// Beyond this many queued tasks in all, new tasks are refused with 503.
    pub max_queue_depth: u32,
    pub retry_after_secs: u64,
    pub max_page_size: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// How many times a task is tried before it fails.
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    pub result_ttl_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSettings {
    /// How often a quiet event stream gets a `heartbeat`.
    pub heartbeat_secs: u64,
    /// How long `POST /api/generate-test` waits for its result.
    pub wait_timeout_secs: u64,
    /// How long a task's events stay in Redis for replay (events the api itself publishes).
    pub event_ttl_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `tracing` filter directives, e.g. `info,api=debug`; `RUST_LOG` wins when set.
    pub filter: String,
    pub json: bool,
    /// A file the service writes its logs to itself, rotated by size; none: stdout (containers,
    /// systemd and Kubernetes collect it there).
    pub file: Option<std::path::PathBuf>,
    /// The log file is rotated once it has grown past this many MiB.
    pub max_file_mb: u64,
    /// Rotated files kept beside the current one; older ones are deleted.
    pub max_files: usize,
    /// The level of the api's access log, a line per request: `info`, `debug` or `off`.
    pub access: AccessLog,
    /// Routine requests (probes, scrapes and cheap reads, answered below 400 and faster than
    /// `slow_request_ms`) are logged one in this many; 1 logs every one.
    pub routine_sample_every: u32,
    /// A request slower than this is always logged (at `warn`), whatever its kind.
    pub slow_request_ms: u64,
}

/// The level of the access log's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLog {
    Info,
    Debug,
    Off,
}

impl LogSettings {
    /// The log file's size limit in bytes.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_mb.max(1).saturating_mul(1024 * 1024)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Names this worker in leases, logs and metrics; defaults to `<hostname>-<pid>`.
    pub id: Option<String>,
    /// Tasks this worker runs at once.
    pub concurrency: u32,
    /// Units of one task whose tests are written at once (each model's own limit still applies).
    pub unit_concurrency: u32,
    /// How long a claim holds a task without renewal.
    pub lease_secs: u64,
    /// How often a running task's lease is renewed (well inside the lease).
    pub renew_every_secs: u64,
    /// The slow poll behind `LISTEN/NOTIFY`.
    pub poll_interval_ms: u64,
    /// After a stop signal: how long in-flight tasks may run on before their leases are released.
    pub shutdown_grace_secs: u64,
    /// Where `/metrics` and `/healthz` listen.
    pub metrics_host: String,
    pub metrics_port: u16,
    /// Provider retries per model before falling back or giving up.
    pub max_retries: u32,
    /// The first backoff; each retry doubles it, with jitter, up to `retry_max_delay_ms`.
    pub retry_base_delay_ms: u64,
    pub retry_max_delay_ms: u64,
    /// How long a task's events stay in Redis for replay.
    pub event_ttl_secs: u64,
    /// How often the queue depth gauge is refreshed.
    pub queue_sample_secs: u64,
    /// How often the worker announces its capacity and models to the api replicas; an
    /// announcement holds for three of these, so a dead worker drops out within that.
    pub heartbeat_secs: u64,
}

/// How a worker checks the tests a model writes: the `validation` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationSettings {
    /// Model answers per unit: the first, and answers to its build errors or failures.
    pub max_rounds: u32,
    /// Runs after a first pass, to catch flaky tests (TestGen-LLM used 5; each costs a run).
    pub reruns: u32,
    /// Seconds the offline generator may spend running a file's units to find the calls its
    /// tests make (one sandboxed run per task).
    pub explore_secs: u64,
    /// Milliseconds one explored call may take before it is abandoned.
    pub explore_call_timeout_ms: u64,
    /// Calls kept per unit, at most.
    pub explore_cases_per_unit: u32,
}

/// The sandboxed runner of generated tests: the `runner` section (read by workers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunnerSettings {
    /// Test runs at once, over all tasks; 0 means one per CPU (runs are CPU-bound, model calls
    /// are not, so this pool is separate from `worker.concurrency`).
    pub slots: usize,
    /// The bubblewrap binary. Empty turns running off: tasks then say "not run".
    pub bwrap: PathBuf,
    /// Where each run's work directory is made (and removed).
    pub work_root: PathBuf,
    /// The limits of every sandboxed command.
    pub limits: SandboxLimits,
}

/// The limits of one sandboxed command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxLimits {
    /// CPU seconds per process.
    pub cpu_secs: u64,
    /// Wall-clock seconds for the whole command.
    pub wall_secs: u64,
    /// Memory of the whole process tree, in MiB.
    pub memory_mib: u64,
    /// Processes and threads of the whole tree at once.
    pub processes: u64,
    /// Bytes of stdout and stderr together.
    pub output_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Address of the plain HTTP listener (default `0.0.0.0:8080`; publish it as port 80).
    pub listen: String,
    /// Optional HTTPS listener (rustls); absent = plain HTTP only.
    pub tls: Option<TlsSettings>,
    /// The api replicas as a static list of `host:port` (default `["127.0.0.1:8888"]`), resolved
    /// once at start. Ignored when `upstream_dns` is set.
    pub upstreams: Vec<String>,
    /// A DNS name and port (`api:8888`) whose addresses are the api replicas, re-resolved every
    /// `dns_refresh_secs`, so scaling the replicas needs no configuration edit. A failed lookup or
    /// an empty answer keeps the current set.
    pub upstream_dns: Option<String>,
    /// How often `upstream_dns` is resolved again (default 5 s).
    pub dns_refresh_secs: u64,
    /// Path of the active health check: a plain HTTP/1.1 GET, any 2xx is healthy (default `/healthz`).
    pub health_path: String,
    /// Time between two health checks of a backend (default 2000 ms).
    pub health_interval_ms: u64,
    /// The longest a health check may take before it counts as failed (default 1000 ms).
    pub health_timeout_ms: u64,
    /// Passive ejection, like nginx `max_fails`: this many failed requests to one backend within
    /// `fail_timeout_secs` take it out of rotation for `eject_secs` (default 3; 0 disables).
    pub max_fails: u32,
    /// The window in which `max_fails` failures count (default 30 s).
    pub fail_timeout_secs: u64,
    /// How long an ejected backend stays out of rotation (default 30 s).
    pub eject_secs: u64,
    /// The longest wait for a TCP connection to a backend before trying another (default 1000 ms).
    pub connect_timeout_ms: u64,
    /// The longest wait for the next bytes of a backend's answer; event streams have none
    /// (default 60 s).
    pub read_timeout_secs: u64,
    /// Clients that may read `/gateway/status` (the backends' addresses) and the replicas'
    /// `/metrics` and `/readyz` through the gateway, in CIDR form; anyone else gets 404. Default:
    /// loopback, the machine itself (Prometheus scrapes the replicas directly).
    pub operator_networks: Vec<String>,
    /// The same for `POST /api/generate-test`, which answers only when its task ends: the api
    /// waits up to `stream.wait_timeout_secs` (120 s), so this must be longer (default 150 s).
    pub wait_read_timeout_secs: u64,
    /// The largest request body; larger ones are answered 413 (default 2 200 000 bytes, the api's
    /// 2 MiB limit plus room for multipart framing).
    pub max_body_bytes: u64,
    /// Per-client limits, answered with 429.
    pub rate_limit: RateLimitSettings,
    /// The longest a new connection may take to send its first request's whole header (default
    /// 10 s); slower ones are closed (slowloris). Pingora's own read timeout restarts at every
    /// byte.
    pub header_timeout_secs: u64,
    /// On a kept-alive connection, the longest from the end of one answer to the whole header of
    /// the next request (default 60 s, Pingora's idle timeout, now a deadline that a trickle of
    /// bytes cannot stretch).
    pub keepalive_timeout_secs: u64,
    /// After SIGTERM, how long the gateway keeps serving before it stops accepting (default 3 s;
    /// Pingora's own default is 300 s).
    pub grace_period_secs: u64,
    /// After the grace period, how long in-flight requests get to finish (default 2 s).
    pub graceful_shutdown_timeout_secs: u64,
    /// After SIGQUIT has handed the listening sockets to a successor, how long this process
    /// stays for the requests it is still answering (event streams aside: their clients resume
    /// elsewhere); it leaves as soon as there are none (default 150 s, `wait_read_timeout_secs`,
    /// so a `generate-test` wait is answered, not cut).
    pub upgrade_drain_secs: u64,
    /// Worker threads of the proxy (default 2).
    pub threads: usize,
    /// Let idle proxy threads take work from busy ones (Pingora's default is on). Off (the
    /// default here), each thread keeps the connections it accepted, as nginx's workers do: fewer
    /// cross-thread wake-ups, which measured 0.83–0.91× nginx's requests/s with it on and
    /// 1.00–1.01× with it off (`cargo xtask bench gateway`).
    pub work_stealing: bool,
    /// Address of the Prometheus metrics listener, serving `/metrics` (default `0.0.0.0:9100`).
    pub metrics_listen: String,
    /// gzip level for text responses, 1–9; 0 turns compression off (default 5). Event streams are
    /// never compressed.
    pub compression_level: u32,
    /// Answers whose length is known and below this many bytes are sent uncompressed, as nginx's
    /// `gzip_min_length` does (default 1024).
    pub compression_min_bytes: u64,
    /// Where a running gateway hands its listening sockets to its successor on SIGQUIT
    /// (default `/tmp/aiut-gateway-upgrade.sock`).
    pub upgrade_sock: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// Address of the HTTPS listener, e.g. `0.0.0.0:8443`.
    pub listen: String,
    /// PEM certificate chain.
    pub cert_path: PathBuf,
    /// PEM private key.
    pub key_path: PathBuf,
    /// Answer plain HTTP requests (but `/health`) with a 301 to the same URL over HTTPS.
    #[serde(default)]
    pub redirect_http: bool,
    /// The port clients reach HTTPS on, named in those redirects, when it is not the listener's
    /// (a container listening on 8443 published as 443).
    #[serde(default)]
    pub public_port: Option<u16>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Requests per second per client IP on `/api/` (default 10; 0 disables).
    pub api_per_sec: f64,
    /// Burst above that rate (default 20).
    pub api_burst: u32,
    /// Task creations per second per client (default 2; 0 disables): every request that creates
    /// a task, whatever its body (`POST /api/tasks`, `/api/generate-test`,
    /// `/api/generate-test-stream`). They count against the `/api/` rate as well.
    pub create_per_sec: f64,
    /// Burst of task creations (default 5).
    pub create_burst: u32,
    /// The old name of `create_per_sec`, from when only multipart uploads counted; when set, it
    /// is the create rate. Not written back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_per_sec: Option<f64>,
    /// The old name of `create_burst`, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_burst: Option<u32>,
    /// Requests one client may have in flight at once (default 20; 0 disables).
    pub max_concurrent_per_ip: u32,
    /// Networks of trusted proxies, in CIDR form (`["10.0.0.0/8", "127.0.0.1/32"]`; default none).
    /// A request from one of them is counted against the client its `X-Forwarded-For` names
    /// (the rightmost address that is not itself trusted); a trusted address that is the client
    /// itself is exempt from every limit.
    pub trusted_networks: Vec<String>,
    /// A client is its IPv4 address masked to this many bits (default 32: each address).
    pub ipv4_prefix: u8,
    /// A client is its IPv6 address masked to this many bits (default 64: one network, as one
    /// subscriber usually has a whole /64). IPv4-mapped IPv6 addresses count as IPv4.
    pub ipv6_prefix: u8,
}

/// Every section of the deployment's file at once: what the operations tooling writes, and the
/// list of sections any binary accepts in a file it shares with the others.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeploymentFile {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub session: SessionSettings,
    pub admin: AdminSettings,
    pub limits: LimitSettings,
    pub queue: QueueSettings,
    pub cache: CacheSettings,
    pub models: ModelRegistry,
    pub model_keys: ModelKeySettings,
    pub git: GitSettings,
    pub stream: StreamSettings,
    pub worker: WorkerSettings,
    pub validation: ValidationSettings,
    pub runner: RunnerSettings,
    pub gateway: GatewaySettings,
    pub log: LogSettings,
}

/// The names of [`DeploymentFile`]'s sections: a file or `AIUT_<SECTION>__…` variable naming any
/// other section is refused, by every binary, so a misspelt section name cannot pass silently.
pub const SECTIONS: &[&str] = &[
    "server",
    "database",
    "redis",
    "session",
    "admin",
    "limits",
    "queue",
    "cache",
    "models",
    "model_keys",
    "git",
    "stream",
    "worker",
    "validation",
    "runner",
    "gateway",
    "log",
];

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            host: "0.0.0.0".into(),
            port: 8888,
            instance_id: None,
            shutdown_grace_secs: 10,
            body_timeout_secs: 30,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: "postgres://postgres@127.0.0.1:5432/aiunittest".into(),
            max_connections: 20,
            min_connections: 1,
            acquire_timeout_ms: 3_000,
            create_if_missing: true,
            startup_timeout_secs: 30,
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: "aiut:".into(),
            connect_timeout_ms: 1_000,
            response_timeout_ms: 1_000,
        }
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            cookie_name: "aiut_session".into(),
            ttl_secs: 24 * 60 * 60,
        }
    }
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            cookie_name: "aiut_admin".into(),
            idle_timeout_secs: 15 * 60,
            lifetime_secs: 8 * 60 * 60,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            max_source_bytes: SourceLimits::default().max_bytes,
            max_body_bytes: 2 * SourceLimits::default().max_bytes,
            max_queued_per_session: 20,
            // Several users behind one address (an office, a campus NAT) share this.
            max_queued_per_client: 100,
            max_running_per_session: 3,
            max_queue_depth: 10_000,
            retry_after_secs: 5,
            max_page_size: 100,
        }
    }
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings { max_attempts: 3 }
    }
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            result_ttl_secs: 7 * 24 * 60 * 60,
        }
    }
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            heartbeat_secs: 15,
            wait_timeout_secs: 120,
            event_ttl_secs: 3_600,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            filter: "info".into(),
            json: false,
            file: None,
            max_file_mb: 64,
            max_files: 4,
            access: AccessLog::Info,
            routine_sample_every: 100,
            slow_request_ms: 1_000,
        }
    }
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            id: None,
            concurrency: 8,
            unit_concurrency: 4,
            lease_secs: 30,
            renew_every_secs: 10,
            poll_interval_ms: 5_000,
            shutdown_grace_secs: 20,
            metrics_host: "0.0.0.0".into(),
            metrics_port: 9200,
            max_retries: 3,
            retry_base_delay_ms: 500,
            retry_max_delay_ms: 20_000,
            event_ttl_secs: 3_600,
            queue_sample_secs: 5,
            heartbeat_secs: 5,
        }
    }
}

impl Default for ValidationSettings {
    fn default() -> Self {
        ValidationSettings {
            max_rounds: 3,
            reruns: 2,
            explore_secs: 10,
            explore_call_timeout_ms: 1000,
            explore_cases_per_unit: 8,
        }
    }
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            slots: 0,
            bwrap: PathBuf::from("/usr/bin/bwrap"),
            work_root: std::env::temp_dir().join("aiunittest-runs"),
            limits: SandboxLimits::default(),
        }
    }
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            cpu_secs: 60,
            wall_secs: 90,
            memory_mib: 1024,
            processes: 256,
            output_bytes: 4 * 1024 * 1024,
        }
    }
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            listen: "0.0.0.0:8080".into(),
            tls: None,
            upstreams: vec!["127.0.0.1:8888".into()],
            upstream_dns: None,
            dns_refresh_secs: 5,
            health_path: "/healthz".into(),
            health_interval_ms: 2_000,
            health_timeout_ms: 1_000,
            max_fails: 3,
            fail_timeout_secs: 30,
            eject_secs: 30,
            connect_timeout_ms: 1_000,
            read_timeout_secs: 60,
            wait_read_timeout_secs: 150,
            operator_networks: vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()],
            max_body_bytes: 2_200_000,
            rate_limit: RateLimitSettings::default(),
            header_timeout_secs: 10,
            keepalive_timeout_secs: 60,
            grace_period_secs: 3,
            graceful_shutdown_timeout_secs: 2,
            upgrade_drain_secs: 150,
            threads: 2,
            metrics_listen: "0.0.0.0:9100".into(),
            work_stealing: false,
            compression_level: 5,
            compression_min_bytes: 1024,
            upgrade_sock: "/tmp/aiut-gateway-upgrade.sock".into(),
        }
    }
}
impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            api_per_sec: 10.0,
            api_burst: 20,
            create_per_sec: 2.0,
            create_burst: 5,
            upload_per_sec: None,
            upload_burst: None,
            max_concurrent_per_ip: 20,
            trusted_networks: Vec::new(),
            ipv4_prefix: 32,
            ipv6_prefix: 64,
        }
    }
}

impl RateLimitSettings {
    /// The task-creation rate and burst: the old `upload_*` names when set, else `create_*`.
    pub fn create_rate(&self) -> (f64, u32) {
        (
            self.upload_per_sec.unwrap_or(self.create_per_sec),
            self.upload_burst.unwrap_or(self.create_burst),
        )
    }
}

impl LimitSettings {
    pub fn source_limits(&self) -> SourceLimits {
        SourceLimits {
            max_bytes: self.max_source_bytes,
        }
    }
}

impl DatabaseSettings {
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

impl WorkerSettings {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    pub fn renew_every(&self) -> Duration {
        Duration::from_secs(self.renew_every_secs)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs)
    }

    /// How long one announcement holds: three heartbeats, so one lost write does not matter.
    pub fn announcement_ttl(&self) -> Duration {
        self.heartbeat() * 3
    }
}

impl GatewaySettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout_secs)
    }

    pub fn wait_read_timeout(&self) -> Duration {
        Duration::from_secs(self.wait_read_timeout_secs)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_secs(self.keepalive_timeout_secs)
    }

    pub fn health_interval(&self) -> Duration {
        Duration::from_millis(self.health_interval_ms)
    }

    pub fn health_timeout(&self) -> Duration {
        Duration::from_millis(self.health_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_list_names_every_field_of_the_deployment_file() {
        let value = toml::Value::try_from(DeploymentFile::default()).expect("serialisable");
        let mut names: Vec<&str> = value
            .as_table()
            .expect("a table")
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        let mut listed = SECTIONS.to_vec();
        listed.sort_unstable();
        assert_eq!(names, listed);
    }

    #[test]
    fn a_written_file_reads_back_the_same() {
        let mut file = DeploymentFile::default();
        file.worker.concurrency = 3;
        file.gateway.rate_limit.trusted_networks = vec!["127.0.0.1/32".into()];
        let text = toml::to_string(&file).expect("serialisable");
        let back: DeploymentFile = toml::from_str(&text).expect("readable");
        assert_eq!(back.worker.concurrency, 3);
        assert_eq!(back.gateway.rate_limit.trusted_networks, ["127.0.0.1/32"]);
        assert_eq!(toml::to_string(&back).expect("serialisable"), text);
    }
}
