//! The api's settings: the sections of the deployment's configuration it reads, loaded by the
//! one loader every binary uses (`service::config`: defaults → TOML → `AIUT_…__…` variables, with
//! `DATABASE_URL` and `REDIS_URL`). The worker's and the gateway's sections are ignored here.

use std::path::PathBuf;

use anyhow::Context;
use domain::{ModelRegistry, SourceLimits};
use serde::{Deserialize, Serialize};

use crate::admin::AdminPassword;
pub use service::sections::{
    AdminSettings, CacheSettings, DatabaseSettings, GitSettings, LimitSettings, LogSettings,
    ModelKeySettings, QueueSettings, RedisSettings, ServerSettings, SessionSettings,
    StreamSettings,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub session: SessionSettings,
    pub admin: AdminSettings,
    pub limits: LimitSettings,
    pub queue: QueueSettings,
    pub cache: CacheSettings,
    /// Seeds the registry in Postgres at start (see `store::models`).
    pub models: ModelRegistry,
    /// The keys model API keys are sealed under (from `AIUT_MODEL_KEYS__…`).
    pub model_keys: ModelKeySettings,
    /// Which forges may be reached, and the key session tokens are sealed under.
    pub git: GitSettings,
    pub stream: StreamSettings,
    pub log: LogSettings,
    /// From `AIUT_ADMIN_PASSWORD` only: never read from or written to a file.
    #[serde(skip)]
    pub admin_password: Option<AdminPassword>,
}

impl Settings {
    /// Loads the settings from the process environment.
    pub fn load() -> anyhow::Result<Settings> {
        Settings::load_from(service::config::explicit_file())
    }

    /// The same with the file given instead of read from `AIUT_CONFIG`.
    pub fn load_from(file: Option<PathBuf>) -> anyhow::Result<Settings> {
        let mut settings: Settings = service::load_from(&Settings::default(), file)?;
        settings.admin_password = AdminPassword::from_environment();
        Ok(settings)
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
        anyhow::ensure!(
            self.admin.idle_timeout_secs >= 1
                && self.admin.lifetime_secs >= self.admin.idle_timeout_secs,
            "admin.idle_timeout_secs must be at least 1 and admin.lifetime_secs at least that"
        );
        anyhow::ensure!(
            self.admin.lifetime_secs <= 30 * 24 * 60 * 60,
            "admin.lifetime_secs must be at most 30 days"
        );
        Ok(())
    }

    pub fn source_limits(&self) -> SourceLimits {
        self.limits.source_limits()
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
            let settings = Settings::load_from(None).map_err(|error| error.to_string())?;
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
    fn the_admin_password_comes_from_its_variable_only() {
        Jail::expect_with(|jail| {
            jail.set_env("AIUT_ADMIN__IDLE_TIMEOUT_SECS", "60");
            let settings = Settings::load_from(None).map_err(|error| error.to_string())?;
            assert!(settings.admin_password.is_none(), "no default password");
            assert_eq!(settings.admin.idle_timeout_secs, 60);
            assert_eq!(settings.admin.lifetime_secs, 8 * 60 * 60, "default kept");
            assert_eq!(settings.admin.cookie_name, "aiut_admin");

            jail.set_env(AdminPassword::VARIABLE, "");
            let settings = Settings::load_from(None).map_err(|error| error.to_string())?;
            assert!(settings.admin_password.is_none(), "empty is unset");

            jail.set_env(AdminPassword::VARIABLE, "from-the-environment");
            let settings = Settings::load_from(None).map_err(|error| error.to_string())?;
            assert!(settings.admin_password.is_some());
            // Never written out with the settings, nor shown by their Debug.
            let written = serde_json::to_string(&settings).map_err(|error| error.to_string())?;
            assert!(!written.contains("from-the-environment"), "{written}");
            assert!(!format!("{settings:?}").contains("from-the-environment"));

            // Nor read from the file.
            jail.create_file("aiunittest.toml", "[admin]\npassword = \"x\"\n")?;
            assert!(
                Settings::load_from(None).is_err(),
                "not a setting of the file"
            );
            Ok(())
        });
        let mut settings = Settings::default();
        settings.admin.lifetime_secs = settings.admin.idle_timeout_secs - 1;
        assert!(
            settings.validate().is_err(),
            "a lifetime shorter than the idle timeout"
        );
    }

    #[test]
    fn the_aiut_form_wins_over_database_url() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://plain/x");
            jail.set_env("AIUT_DATABASE__URL", "postgres://prefixed/x");
            let settings = Settings::load_from(None).map_err(|error| error.to_string())?;
            assert_eq!(settings.database.url, "postgres://prefixed/x");
            Ok(())
        });
    }

    #[test]
    fn refuses_unknown_keys_and_bad_models() {
        Jail::expect_with(|jail| {
            jail.create_file("aiunittest.toml", "[server]\nprot = 1\n")?;
            let result = Settings::load_from(None);
            assert!(result.is_err(), "a typo in a key must not pass silently");
            Ok(())
        });
        let mut settings = Settings::default();
        settings.models.default = Some(domain::ModelId::parse("gpt-x").expect("valid id"));
        assert!(settings.validate().is_err());
        assert!(Settings::default().validate().is_ok());
    }
}
