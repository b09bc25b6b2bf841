//! The deployment record, `state.json`: every service with the command that starts it, so `stop`,
//! `restart`, `status` and `logs` work from any shell without repeating the deploy's options.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// What a service is; decides its start order, how it is stopped and restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Postgres,
    Redis,
    Simulator,
    Api,
    Worker,
    Gateway,
    Prometheus,
    Exporter,
}

impl Kind {
    /// Our own services write their log file themselves, rotated by size (`[log] file`); their
    /// stdout and stderr keep only what comes before the logger or outside it (a panic).
    pub fn writes_own_log(self) -> bool {
        matches!(
            self,
            Kind::Simulator | Kind::Api | Kind::Worker | Kind::Gateway
        )
    }
}

/// How to tell that a service is ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "kebab-case")]
pub enum Health {
    /// Any 2xx answer to a GET.
    Http { url: String },
    /// `pg_isready` against the port.
    Postgres { pg_isready: PathBuf, port: u16 },
    /// `PING` answered `PONG`, after `AUTH` with the password when there is one.
    Redis {
        port: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<super::secrets::Secret>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// Unique, e.g. `api-2`.
    pub name: String,
    pub kind: Kind,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Set on top of the inherited environment, from which every `AIUT_*`, `DATABASE_URL` and
    /// `REDIS_URL` is removed first so a stray variable in the operator's shell changes nothing.
    pub env: BTreeMap<String, String>,
    /// Uid and gid to run as (Postgres refuses to run as root).
    pub run_as: Option<(u32, u32)>,
    /// The port it serves, for the status table.
    pub port: Option<u16>,
    pub health: Health,
    pub log: PathBuf,
    pub pid: Option<u32>,
    /// Seconds since the Unix epoch.
    pub started_at: Option<u64>,
}

impl ServiceRecord {
    /// Where the process's stdout and stderr go: its log, or beside it for a service that writes
    /// its log itself (`api-1.log` → `api-1.console.log`).
    pub fn console_log(&self) -> PathBuf {
        if self.kind.writes_own_log() {
            self.log.with_extension("console.log")
        } else {
            self.log.clone()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    /// Where users and the load test reach the stack.
    pub gateway_url: String,
    pub gateway_metrics_url: String,
    pub prometheus_url: Option<String>,
    /// The Cargo profile the binaries were built with.
    pub profile: String,
    pub database: String,
    pub redis: String,
    pub deployed_at: u64,
    pub services: Vec<ServiceRecord>,
}

impl Deployment {
    pub fn service(&self, name: &str) -> Option<&ServiceRecord> {
        self.services.iter().find(|service| service.name == name)
    }

    pub fn service_mut(&mut self, name: &str) -> Option<&mut ServiceRecord> {
        self.services
            .iter_mut()
            .find(|service| service.name == name)
    }

    /// The services a name selects, as the operator types it: an exact name (`api-2`), else
    /// every numbered one of a kind (`api` for `api-1`, `api-2` …).
    pub fn select(&self, name: &str) -> Vec<&ServiceRecord> {
        let exact: Vec<&ServiceRecord> = self
            .services
            .iter()
            .filter(|service| service.name == name)
            .collect();
        if !exact.is_empty() {
            return exact;
        }
        self.services
            .iter()
            .filter(|service| {
                service
                    .name
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|number| number.parse::<u32>().is_ok())
            })
            .collect()
    }
}

/// The state folder: `AIUT_STATE_DIR` when set, else `.aiut` in the project.
pub fn state_dir() -> PathBuf {
    match std::env::var_os("AIUT_STATE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => crate::project_root().join(".aiut"),
    }
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// The recorded deployment, if any.
pub fn load(dir: &Path) -> anyhow::Result<Option<Deployment>> {
    let path = state_file(dir);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let deployment = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a deployment record", path.display()))?;
    Ok(Some(deployment))
}

/// Writes the record atomically. Mode 0600: the environment and probes it keeps hold the database
/// and Redis passwords.
pub fn save(dir: &Path, deployment: &Deployment) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = state_file(dir);
    let temporary = dir.join("state.json.tmp");
    let text = serde_json::to_string_pretty(deployment)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&temporary, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub fn remove(dir: &Path) -> anyhow::Result<()> {
    match fs::remove_file(state_file(dir)) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).context("cannot remove the deployment record"),
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(names: &[&str]) -> Deployment {
        Deployment {
            gateway_url: String::new(),
            gateway_metrics_url: String::new(),
            prometheus_url: None,
            profile: "release".into(),
            database: String::new(),
            redis: String::new(),
            deployed_at: 0,
            services: names
                .iter()
                .map(|name| ServiceRecord {
                    name: (*name).into(),
                    kind: Kind::Api,
                    program: "/bin/true".into(),
                    args: Vec::new(),
                    env: BTreeMap::new(),
                    run_as: None,
                    port: None,
                    health: Health::Redis {
                        port: 1,
                        password: None,
                    },
                    log: format!("/logs/{name}.log").into(),
                    pid: None,
                    started_at: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_kind_selects_its_numbered_services_and_a_name_itself() {
        let deployment = deployment(&["api-1", "api-2", "api-gw", "worker-1", "redis"]);
        let names = |name| {
            deployment
                .select(name)
                .iter()
                .map(|service| service.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("api"), ["api-1", "api-2"]);
        assert_eq!(names("api-2"), ["api-2"]);
        assert_eq!(names("redis"), ["redis"]);
        assert!(names("postgres").is_empty());
    }

    #[test]
    fn a_record_survives_the_round_trip_through_its_file() {
        let folder = std::env::temp_dir().join(format!("aiut-state-{}", std::process::id()));
        let original = deployment(&["api-1", "gateway"]);
        save(&folder, &original).expect("saved");
        let mode = fs::metadata(state_file(&folder))
            .expect("a file")
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let loaded = load(&folder).expect("readable").expect("present");
        assert_eq!(loaded.services.len(), 2);
        assert_eq!(loaded.services[1].name, "gateway");
        remove(&folder).expect("removed");
        assert!(load(&folder).expect("readable").is_none());
        let _ = fs::remove_dir_all(folder);
    }
}
