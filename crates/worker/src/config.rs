//! The worker's settings, layered like the api's: compiled-in defaults, then an optional TOML file
//! (`AIUT_CONFIG`, else `aiunittest.toml` in the working folder), then `DATABASE_URL`/`REDIS_URL`,
//! then `AIUT_<SECTION>__<FIELD>`. The `database`, `redis`, `limits`, `models` and `log` sections
//! are the api's own, so one file configures both; the api's other sections (`server`, `session`,
//! `queue`, `cache`, `stream`) and the gateway's are ignored here, and the api ignores `worker` and
//! `gateway`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use api::config::{DatabaseSettings, LimitSettings, LogSettings, RedisSettings};
use domain::ModelRegistry;
use figment::Figment;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub worker: WorkerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub limits: LimitSettings,
    pub models: ModelRegistry,
    pub log: LogSettings,
    #[serde(skip_serializing)]
    pub server: IgnoredAny,
    #[serde(skip_serializing)]
    pub session: IgnoredAny,
    #[serde(skip_serializing)]
    pub queue: IgnoredAny,
    #[serde(skip_serializing)]
    pub cache: IgnoredAny,
    #[serde(skip_serializing)]
    pub stream: IgnoredAny,
    #[serde(skip_serializing)]
    pub gateway: IgnoredAny,
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
}

impl Default for Settings {
    fn default() -> Self {
        let api = api::Settings::default();
        Settings {
            worker: WorkerSettings {
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
            },
            database: DatabaseSettings {
                max_connections: 10,
                ..api.database
            },
            redis: api.redis,
            limits: api.limits,
            models: api.models,
            log: api.log,
            server: IgnoredAny,
            session: IgnoredAny,
            queue: IgnoredAny,
            cache: IgnoredAny,
            stream: IgnoredAny,
            gateway: IgnoredAny,
        }
    }
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Settings::default().worker
    }
}

impl Settings {
    pub fn load() -> anyhow::Result<Settings> {
        let explicit = std::env::var_os("AIUT_CONFIG").map(PathBuf::from);
        let settings: Settings = Settings::figment(explicit)?
            .extract()
            .context("invalid configuration")?;
        settings.validate()?;
        Ok(settings)
    }

    fn figment(explicit_file: Option<PathBuf>) -> anyhow::Result<Figment> {
        api::config::layered(&Settings::default(), explicit_file)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.models.validate().context("invalid model registry")?;
        let worker = &self.worker;
        anyhow::ensure!(
            worker.concurrency >= 1,
            "worker.concurrency must be at least 1"
        );
        anyhow::ensure!(
            worker.lease_secs >= 2,
            "worker.lease_secs must be at least 2"
        );
        anyhow::ensure!(
            worker.renew_every_secs >= 1 && worker.renew_every_secs * 2 <= worker.lease_secs,
            "worker.renew_every_secs must be at least 1 and at most half of worker.lease_secs"
        );
        anyhow::ensure!(
            worker.poll_interval_ms >= 10,
            "worker.poll_interval_ms must be at least 10"
        );
        Ok(())
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
}

#[cfg(test)]
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn one_file_configures_api_and_worker() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "aiunittest.toml",
                r#"
[server]
port = 9000
[session]
ttl_secs = 600
[gateway]
listen = "0.0.0.0:80"
[worker]
concurrency = 4
[limits]
max_running_per_session = 2
[models]
default = "simulator"
[[models.registry]]
id = "offline"
kind = "offline"
[[models.registry]]
id = "simulator"
kind = "openai"
base_url = "http://127.0.0.1:8090/v1"
"#,
            )?;
            jail.set_env("AIUT_WORKER__LEASE_SECS", "12");
            jail.set_env("AIUT_WORKER__RENEW_EVERY_SECS", "4");
            let settings: Settings = Settings::figment(None)
                .map_err(|error| error.to_string())?
                .extract()?;
            settings.validate().map_err(|error| error.to_string())?;
            assert_eq!(settings.worker.concurrency, 4);
            assert_eq!(settings.worker.lease_secs, 12);
            assert_eq!(settings.limits.max_running_per_session, 2);
            assert_eq!(settings.models.models.len(), 2);

            let api_settings: api::Settings = api::config::layered(&api::Settings::default(), None)
                .map_err(|error| error.to_string())?
                .extract()?;
            assert_eq!(api_settings.server.port, 9000);
            assert_eq!(api_settings.models, settings.models);
            Ok(())
        });
    }

    #[test]
    fn refuses_typos_and_bad_timing() {
        Jail::expect_with(|jail| {
            jail.create_file("aiunittest.toml", "[worker]\nconcurency = 4\n")?;
            let result: Result<Settings, _> = Settings::figment(None)
                .map_err(|error| error.to_string())?
                .extract();
            assert!(result.is_err());
            Ok(())
        });
        let mut settings = Settings::default();
        settings.worker.renew_every_secs = 20;
        assert!(
            settings.validate().is_err(),
            "renewal slower than half the lease"
        );
        assert!(Settings::default().validate().is_ok());
    }
}
