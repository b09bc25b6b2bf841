//! Settings: compiled-in defaults, then an optional TOML file, then the environment.
//!
//! - the TOML file is `AIUT_CONFIG` when set (it must exist), else `aiunittest.toml` in the working
//!   folder when present;
//! - `AIUT_<SECTION>__<FIELD>` overrides one field (`AIUT_SERVER__PORT=9000`);
//! - `DATABASE_URL` and `REDIS_URL` are honoured as the usual names for the two URLs, below the
//!   `AIUT_` forms. Secrets (passwords in those URLs) come only from the environment or the file the
//!   operator points at, never from the defaults.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use domain::{ModelId, ModelRegistry, SourceLimits};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Read when present in the working folder and `AIUT_CONFIG` is not set.
const DEFAULT_FILE: &str = "aiunittest.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub session: SessionSettings,
    pub limits: LimitSettings,
    pub queue: QueueSettings,
    pub cache: CacheSettings,
    pub models: ModelRegistry,
    pub stream: StreamSettings,
    pub log: LogSettings,
    /// The worker's and the gateway's sections of a shared configuration file; the api reads
    /// none of them.
    #[serde(skip_serializing)]
    pub worker: serde::de::IgnoredAny,
    #[serde(skip_serializing)]
    pub gateway: serde::de::IgnoredAny,
}

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub max_source_bytes: usize,
    /// The largest request body; JSON escaping makes a body larger than the source it carries.
    pub max_body_bytes: usize,
    pub max_queued_per_session: u32,
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
    /// How many tasks the deployment's workers run at once (workers × concurrency).
    pub worker_capacity: u32,
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings {
                host: "0.0.0.0".into(),
                port: 8888,
                instance_id: None,
                shutdown_grace_secs: 10,
                body_timeout_secs: 30,
            },
            database: DatabaseSettings {
                url: "postgres://postgres@127.0.0.1:5432/aiunittest".into(),
                max_connections: 20,
                min_connections: 1,
                acquire_timeout_ms: 3_000,
                create_if_missing: true,
                startup_timeout_secs: 30,
            },
            redis: RedisSettings {
                url: "redis://127.0.0.1:6379".into(),
                key_prefix: "aiut:".into(),
                connect_timeout_ms: 1_000,
                response_timeout_ms: 1_000,
            },
            session: SessionSettings {
                cookie_name: "aiut_session".into(),
                ttl_secs: 24 * 60 * 60,
            },
            limits: LimitSettings {
                max_source_bytes: SourceLimits::default().max_bytes,
                max_body_bytes: 2 * SourceLimits::default().max_bytes,
                max_queued_per_session: 20,
                max_running_per_session: 3,
                max_queue_depth: 10_000,
                retry_after_secs: 5,
                max_page_size: 100,
            },
            queue: QueueSettings {
                worker_capacity: 16,
                max_attempts: 3,
            },
            cache: CacheSettings {
                result_ttl_secs: 7 * 24 * 60 * 60,
            },
            models: ModelRegistry::default(),
            stream: StreamSettings {
                heartbeat_secs: 15,
                wait_timeout_secs: 120,
                event_ttl_secs: 3_600,
            },
            log: LogSettings {
                filter: "info".into(),
                json: false,
            },
            worker: serde::de::IgnoredAny,
            gateway: serde::de::IgnoredAny,
        }
    }
}

macro_rules! impl_default_from_settings {
    ($($section:ident: $ty:ty),* $(,)?) => {
        $(impl Default for $ty {
            fn default() -> Self {
                Settings::default().$section
            }
        })*
    };
}

impl_default_from_settings!(
    server: ServerSettings,
    database: DatabaseSettings,
    redis: RedisSettings,
    session: SessionSettings,
    limits: LimitSettings,
    queue: QueueSettings,
    cache: CacheSettings,
    stream: StreamSettings,
    log: LogSettings,
);

impl Settings {
    /// Loads the settings from the process environment.
    pub fn load() -> anyhow::Result<Settings> {
        let explicit = std::env::var_os("AIUT_CONFIG").map(PathBuf::from);
        Settings::figment(explicit)?
            .extract()
            .context("invalid configuration")
    }

    fn figment(explicit_file: Option<PathBuf>) -> anyhow::Result<Figment> {
        layered(&Settings::default(), explicit_file)
    }

    /// Checks what types cannot: the default model is among the available ones, limits are sane.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.models.validate().context("invalid model registry")?;
        anyhow::ensure!(
            self.limits.max_body_bytes >= self.limits.max_source_bytes,
            "limits.max_body_bytes must be at least limits.max_source_bytes"
        );
        anyhow::ensure!(
            self.limits.max_page_size >= 1,
            "limits.max_page_size must be at least 1"
        );
        anyhow::ensure!(
            self.stream.heartbeat_secs >= 1,
            "stream.heartbeat_secs must be at least 1"
        );
        anyhow::ensure!(
            self.session.ttl_secs >= 60,
            "session.ttl_secs must be at least 60"
        );
        Ok(())
    }

    pub fn source_limits(&self) -> SourceLimits {
        SourceLimits {
            max_bytes: self.limits.max_source_bytes,
        }
    }

    /// The model a task gets when it names none (see [`ModelRegistry::default_model`]).
    pub fn default_model(&self) -> anyhow::Result<ModelId> {
        self.models
            .default_model(&environment_lookup)
            .map(|spec| spec.id.clone())
            .context("no model of the registry is available")
    }
}

/// The layers every service's settings are read from, over `defaults`: the TOML file
/// (`explicit_file`, which must exist, else `aiunittest.toml` when present), then `DATABASE_URL`
/// and `REDIS_URL`, then `AIUT_<SECTION>__<FIELD>`. The worker reads its settings through this
/// too, so one file and one environment configure both.
pub fn layered<T: Serialize>(
    defaults: &T,
    explicit_file: Option<PathBuf>,
) -> anyhow::Result<Figment> {
    let mut figment = Figment::from(Serialized::defaults(defaults));
    match explicit_file {
        Some(path) => {
            anyhow::ensure!(
                path.is_file(),
                "AIUT_CONFIG names {}, which is not a file",
                path.display()
            );
            figment = figment.merge(Toml::file_exact(path));
        }
        None if std::path::Path::new(DEFAULT_FILE).is_file() => {
            figment = figment.merge(Toml::file_exact(DEFAULT_FILE));
        }
        None => {}
    }
    Ok(figment
        .merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database.url".into()),
        )
        .merge(Env::raw().only(&["REDIS_URL"]).map(|_| "redis.url".into()))
        .merge(Env::prefixed("AIUT_").ignore(&["CONFIG"]).split("__")))
}

/// Reads an environment variable, for model availability: only whether a key is set is asked.
pub fn environment_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl DatabaseSettings {
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

#[cfg(test)]
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn layers_defaults_file_and_environment() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "aiunittest.toml",
                "[server]\nport = 9000\ninstance_id = \"from-file\"\n[limits]\nmax_queued_per_session = 5\n",
            )?;
            jail.set_env("AIUT_SERVER__INSTANCE_ID", "from-env");
            jail.set_env("DATABASE_URL", "postgres://db.example/other");
            jail.set_env("AIUT_REDIS__KEY_PREFIX", "custom:");
            let settings: Settings = Settings::figment(None)
                .map_err(|error| error.to_string())?
                .extract()?;
            assert_eq!(settings.server.port, 9000);
            assert_eq!(settings.server.instance_id.as_deref(), Some("from-env"));
            assert_eq!(settings.limits.max_queued_per_session, 5);
            assert_eq!(settings.limits.max_running_per_session, 3, "default kept");
            assert_eq!(settings.database.url, "postgres://db.example/other");
            assert_eq!(settings.redis.key_prefix, "custom:");
            Ok(())
        });
    }

    #[test]
    fn the_aiut_form_wins_over_database_url() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://plain/x");
            jail.set_env("AIUT_DATABASE__URL", "postgres://prefixed/x");
            let settings: Settings = Settings::figment(None)
                .map_err(|error| error.to_string())?
                .extract()?;
            assert_eq!(settings.database.url, "postgres://prefixed/x");
            Ok(())
        });
    }

    #[test]
    fn refuses_unknown_keys_and_bad_models() {
        Jail::expect_with(|jail| {
            jail.create_file("aiunittest.toml", "[server]\nprot = 1\n")?;
            let result: Result<Settings, _> = Settings::figment(None)
                .map_err(|error| error.to_string())?
                .extract();
            assert!(result.is_err(), "a typo in a key must not pass silently");
            Ok(())
        });
        let mut settings = Settings::default();
        settings.models.default = Some(ModelId::parse("gpt-x").expect("valid id"));
        assert!(settings.validate().is_err());
        assert!(Settings::default().validate().is_ok());
    }
}
