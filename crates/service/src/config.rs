//! One configuration loader for every binary: compiled-in defaults, then an optional TOML file,
//! then the environment.
//!
//! - the file is the one `AIUT_CONFIG` names (it must exist), else `aiunittest.toml` in the
//!   working folder when present; one file serves the whole deployment, and each binary reads
//!   only its own sections, ignoring the others' without knowing their types;
//! - `DATABASE_URL` and `REDIS_URL` are honoured as the usual names of the two URLs, below the
//!   `AIUT_` forms;
//! - `AIUT_<SECTION>__<FIELD>` overrides one field (`AIUT_SERVER__PORT=9000`), nested ones with
//!   one more `__` (`AIUT_GATEWAY__RATE_LIMIT__API_PER_SEC=50`); lists are TOML arrays.
//!
//! A section name that no binary knows (see [`SECTIONS`]) is refused, from the file or from a
//! variable; a misspelt field inside a section is refused by the section's own type. Secrets
//! (passwords in URLs, keys) come only from the environment or the file the operator points at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::sections::SECTIONS;

/// Names the deployment's file.
pub const FILE_VARIABLE: &str = "AIUT_CONFIG";
/// Read when present in the working folder and `AIUT_CONFIG` is not set.
pub const DEFAULT_FILE: &str = "aiunittest.toml";

/// A binary's settings from this process's environment (see the module's documentation).
pub fn load<T: Serialize + DeserializeOwned>(defaults: &T) -> anyhow::Result<T> {
    load_from(defaults, explicit_file())
}

/// The file `AIUT_CONFIG` names, if it is set.
pub fn explicit_file() -> Option<PathBuf> {
    std::env::var_os(FILE_VARIABLE).map(PathBuf::from)
}

/// The same with the file given instead of read from `AIUT_CONFIG`.
pub fn load_from<T: Serialize + DeserializeOwned>(
    defaults: &T,
    explicit_file: Option<PathBuf>,
) -> anyhow::Result<T> {
    deployment_figment(defaults, explicit_file)?
        .extract()
        .context("invalid configuration")
}

/// The deployment's layers over `defaults`, with every section name checked.
pub fn deployment_figment<T: Serialize>(
    defaults: &T,
    explicit_file: Option<PathBuf>,
) -> anyhow::Result<Figment> {
    let figment = defaults_then_file(defaults, explicit_file, FILE_VARIABLE, Some(DEFAULT_FILE))?
        .merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database.url".into()),
        )
        .merge(Env::raw().only(&["REDIS_URL"]).map(|_| "redis.url".into()))
        // Only variables shaped `AIUT_<SECTION>__<FIELD>` are settings: `AIUT_CONFIG` names the
        // file, and other `AIUT_` variables (the operations tooling's) are not this file's.
        .merge(
            Env::prefixed("AIUT_")
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        );
    refuse_unknown_sections(&figment)?;
    Ok(figment)
}

/// `defaults`, then the TOML file `explicit_file` (named by `variable`, so it must exist) or else
/// `default_file` when present. The deployment's loader and the model simulator's (which has a
/// file and variables of its own) both start here.
pub fn defaults_then_file<T: Serialize>(
    defaults: &T,
    explicit_file: Option<PathBuf>,
    variable: &str,
    default_file: Option<&str>,
) -> anyhow::Result<Figment> {
    let figment = Figment::from(Serialized::defaults(defaults));
    Ok(match (explicit_file, default_file) {
        (Some(path), _) => {
            anyhow::ensure!(
                path.is_file(),
                "{variable} names {}, which is not a file",
                path.display()
            );
            figment.merge(Toml::file_exact(path))
        }
        (None, Some(name)) if Path::new(name).is_file() => figment.merge(Toml::file_exact(name)),
        (None, _) => figment,
    })
}

/// Reads an environment variable, for model availability: only whether a key is set is asked.
pub fn environment_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn refuse_unknown_sections(figment: &Figment) -> anyhow::Result<()> {
    let sections: BTreeMap<String, IgnoredAny> = figment
        .extract()
        .context("the configuration is not a table of sections")?;
    let unknown: Vec<&str> = sections
        .keys()
        .map(String::as_str)
        .filter(|name| !SECTIONS.contains(name))
        .collect();
    anyhow::ensure!(
        unknown.is_empty(),
        "unknown configuration section(s) {}; the sections are {}",
        unknown.join(", "),
        SECTIONS.join(", ")
    );
    Ok(())
}

#[cfg(test)]
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;
    use serde::Deserialize;

    use super::*;
    use crate::sections::{DatabaseSettings, GatewaySettings, LogSettings, ServerSettings};

    /// A binary that reads three sections of the shared file.
    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Reader {
        server: ServerSettings,
        database: DatabaseSettings,
        log: LogSettings,
    }

    fn read(explicit: Option<PathBuf>) -> Result<Reader, String> {
        load_from(&Reader::default(), explicit).map_err(|error| format!("{error:#}"))
    }

    #[test]
    fn layers_defaults_file_and_environment() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "aiunittest.toml",
                "[server]\nport = 9000\ninstance_id = \"from-file\"\n[log]\njson = true\n",
            )?;
            jail.set_env("AIUT_SERVER__INSTANCE_ID", "from-env");
            jail.set_env("DATABASE_URL", "postgres://db.example/other");
            let settings = read(None)?;
            assert_eq!(settings.server.port, 9000);
            assert_eq!(settings.server.instance_id.as_deref(), Some("from-env"));
            assert!(settings.log.json);
            assert_eq!(settings.server.body_timeout_secs, 30, "default kept");
            assert_eq!(settings.database.url, "postgres://db.example/other");
            Ok(())
        });
    }

    #[test]
    fn the_aiut_form_wins_over_database_url() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://plain/x");
            jail.set_env("AIUT_DATABASE__URL", "postgres://prefixed/x");
            assert_eq!(read(None)?.database.url, "postgres://prefixed/x");
            Ok(())
        });
    }

    #[test]
    fn other_services_sections_are_ignored_without_being_listed() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "shared.toml",
                "[server]\nport = 7000\n[gateway]\nlisten = \"127.0.0.1:81\"\n[worker]\nconcurrency = 4\n",
            )?;
            jail.set_env("AIUT_GATEWAY__RATE_LIMIT__API_BURST", "70");
            // Not settings: the file's own variable and the operations tooling's.
            jail.set_env("AIUT_STATE_DIR", "/somewhere");
            assert_eq!(read(Some("shared.toml".into()))?.server.port, 7000);
            Ok(())
        });
    }

    #[test]
    fn refuses_unknown_sections_and_fields() {
        Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "[servr]\nport = 1\n")?;
            let error = read(Some("typo.toml".into())).expect_err("a misspelt section");
            assert!(error.contains("servr"), "{error}");
            jail.create_file("field.toml", "[server]\nprot = 1\n")?;
            assert!(read(Some("field.toml".into())).is_err(), "a misspelt field");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("AIUT_SERVRE__PORT", "1");
            let error = read(None).expect_err("a misspelt section in a variable");
            assert!(error.contains("servre"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_named_file_must_exist() {
        Jail::expect_with(|_| {
            let error = read(Some("missing.toml".into())).expect_err("no such file");
            assert!(error.contains("AIUT_CONFIG"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn nested_sections_take_variables() {
        #[derive(Debug, Default, Serialize, Deserialize)]
        #[serde(default)]
        struct Gateway {
            gateway: GatewaySettings,
        }
        Jail::expect_with(|jail| {
            jail.set_env(
                "AIUT_GATEWAY__RATE_LIMIT__TRUSTED_NETWORKS",
                "[\"10.0.0.0/8\", \"127.0.0.1/32\"]",
            );
            jail.set_env("AIUT_GATEWAY__MAX_FAILS", "5");
            let settings = load_from(&Gateway::default(), None).map_err(|e| e.to_string())?;
            assert_eq!(settings.gateway.max_fails, 5);
            assert_eq!(settings.gateway.rate_limit.trusted_networks.len(), 2);
            assert_eq!(settings.gateway.rate_limit.create_burst, 5, "default kept");
            Ok(())
        });
    }
}
