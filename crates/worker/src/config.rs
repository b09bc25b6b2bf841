//! The worker's settings: the sections of the deployment's configuration it reads (`worker`, and
//! the shared `database`, `redis`, `limits`, `cache`, `models` and `log`), loaded by the one
//! loader every binary uses (`service::config`). The other services' sections are ignored.

use std::path::PathBuf;

use anyhow::Context;
use domain::ModelRegistry;
use serde::{Deserialize, Serialize};
pub use service::sections::{
    CacheSettings, DatabaseSettings, LimitSettings, LogSettings, ModelKeySettings, RedisSettings,
    RunnerSettings, ValidationSettings, WorkerSettings,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub worker: WorkerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub limits: LimitSettings,
    /// How long fresh results stay in the result cache: the same section the api reads.
    pub cache: CacheSettings,
    /// Seeds the registry in Postgres at start (see `store::models`).
    pub models: ModelRegistry,
    /// The keys the stored model API keys are opened with (from `AIUT_MODEL_KEYS__…`).
    pub model_keys: ModelKeySettings,
    pub log: LogSettings,
    /// How each unit's tests are checked: rounds of feedback, reruns.
    pub validation: ValidationSettings,
    /// The sandbox the tests run in, and its limits.
    pub runner: RunnerSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            worker: WorkerSettings::default(),
            // A worker holds fewer connections than an api replica.
            database: DatabaseSettings {
                max_connections: 10,
                ..DatabaseSettings::default()
            },
            redis: RedisSettings::default(),
            limits: LimitSettings::default(),
            cache: CacheSettings::default(),
            models: ModelRegistry::default(),
            model_keys: ModelKeySettings::default(),
            log: LogSettings::default(),
            validation: ValidationSettings::default(),
            runner: RunnerSettings::default(),
        }
    }
}

impl Settings {
    pub fn load() -> anyhow::Result<Settings> {
        Settings::load_from(service::config::explicit_file())
    }

    /// The same with the file given instead of read from `AIUT_CONFIG`.
    pub fn load_from(file: Option<PathBuf>) -> anyhow::Result<Settings> {
        let settings = service::load_from(&Settings::default(), file)?;
        settings.validate()?;
        Ok(settings)
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
        anyhow::ensure!(
            worker.heartbeat_secs >= 1,
            "worker.heartbeat_secs must be at least 1"
        );
        anyhow::ensure!(
            (1..=10).contains(&self.validation.max_rounds),
            "validation.max_rounds must be between 1 and 10"
        );
        anyhow::ensure!(
            self.validation.reruns <= 20,
            "validation.reruns must be at most 20"
        );
        anyhow::ensure!(
            (1..=300).contains(&self.validation.explore_secs)
                && (10..=60_000).contains(&self.validation.explore_call_timeout_ms)
                && (1..=50).contains(&self.validation.explore_cases_per_unit),
            "validation.explore_secs must be 1 to 300, explore_call_timeout_ms 10 to 60000 and explore_cases_per_unit 1 to 50"
        );
        let limits = &self.runner.limits;
        anyhow::ensure!(
            limits.cpu_secs >= 1
                && limits.wall_secs >= 1
                && limits.memory_mib >= 16
                && limits.processes >= 8,
            "runner.limits must allow at least 1 CPU second, 1 wall-clock second, 16 MiB and 8 processes"
        );
        Ok(())
    }
}

#[cfg(test)]
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn reads_its_sections_of_the_shared_file() {
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
[cache]
result_ttl_secs = 120
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
            let settings = Settings::load_from(None).map_err(|error| error.to_string())?;
            assert_eq!(settings.worker.concurrency, 4);
            assert_eq!(settings.worker.lease_secs, 12);
            assert_eq!(settings.limits.max_running_per_session, 2);
            assert_eq!(settings.models.models.len(), 2);
            assert_eq!(
                settings.cache.result_ttl_secs, 120,
                "the api's cache section"
            );
            Ok(())
        });
    }

    #[test]
    fn refuses_typos_and_bad_timing() {
        Jail::expect_with(|jail| {
            jail.create_file("aiunittest.toml", "[worker]\nconcurency = 4\n")?;
            let result = Settings::load_from(None);
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
