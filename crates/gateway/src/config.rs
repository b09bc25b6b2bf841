//! Settings: compiled-in defaults, then an optional TOML file, then the environment.
//!
//! - the TOML file is `AIUT_CONFIG` when set (it must exist), else `aiunittest.toml` in the working
//!   folder when present; the gateway reads its `[gateway]` and `[log]` sections and ignores the
//!   sections of the other services, so one file can serve the whole deployment;
//! - `AIUT_GATEWAY__<FIELD>` overrides one field (`AIUT_GATEWAY__LISTEN=0.0.0.0:80`), nested ones
//!   with one more `__` (`AIUT_GATEWAY__RATE_LIMIT__API_PER_SEC=50`); lists are written as TOML
//!   arrays (`AIUT_GATEWAY__UPSTREAMS='["10.0.0.5:8888","10.0.0.6:8888"]'`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::ratelimit::Cidr;

/// Read when present in the working folder and `AIUT_CONFIG` is not set.
const DEFAULT_FILE: &str = "aiunittest.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub gateway: GatewaySettings,
    pub log: LogSettings,
    // The other services' sections of a shared configuration file; the gateway reads none of them.
    #[serde(skip_serializing)]
    pub server: serde::de::IgnoredAny,
    #[serde(skip_serializing)]
    pub database: serde::de::IgnoredAny,
    #[serde(skip_serializing)]
    pub redis: serde::de::IgnoredAny,
    #[serde(skip_serializing)]
    pub session: serde::de::IgnoredAny,
    #[serde(skip_serializing)]
    pub limits: serde::de::IgnoredAny,
    #[serde(skip_serializing)]
    pub queue: serde::de::IgnoredAny,
    #[serde(skip_serializing)]
    pub cache: serde::de::IgnoredAny,
    #[serde(skip_serializing)]
    pub models: serde::de::IgnoredAny,
    #[serde(skip_serializing)]
    pub stream: serde::de::IgnoredAny,
    #[serde(skip_serializing)]
    pub worker: serde::de::IgnoredAny,
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
    /// The largest request body; larger ones are answered 413 (default 2 200 000 bytes, the api's
    /// 2 MiB limit plus room for multipart framing).
    pub max_body_bytes: u64,
    /// Per-client-IP limits, answered with 429.
    pub rate_limit: RateLimitSettings,
    /// After SIGTERM, how long the gateway keeps serving before it stops accepting (default 3 s;
    /// Pingora's own default is 300 s).
    pub grace_period_secs: u64,
    /// After the grace period, how long in-flight requests get to finish (default 2 s).
    pub graceful_shutdown_timeout_secs: u64,
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
    /// Uploads (`POST /api/tasks` with `multipart/form-data`) per second per client IP (default 2;
    /// 0 disables). Uploads count here instead of in the `/api/` limit.
    pub upload_per_sec: f64,
    /// Burst of uploads (default 5).
    pub upload_burst: u32,
    /// Requests one client IP may have in flight at once (default 20; 0 disables).
    pub max_concurrent_per_ip: u32,
    /// Networks exempt from every limit, and whose `X-Forwarded-For` is trusted, in CIDR form
    /// (`["10.0.0.0/8", "127.0.0.1/32"]`; default none).
    pub trusted_networks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `tracing` filter directives, e.g. `info,gateway=debug`; `RUST_LOG` wins when set.
    pub filter: String,
    pub json: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            gateway: GatewaySettings::default(),
            log: LogSettings::default(),
            server: serde::de::IgnoredAny,
            database: serde::de::IgnoredAny,
            redis: serde::de::IgnoredAny,
            session: serde::de::IgnoredAny,
            limits: serde::de::IgnoredAny,
            queue: serde::de::IgnoredAny,
            cache: serde::de::IgnoredAny,
            models: serde::de::IgnoredAny,
            stream: serde::de::IgnoredAny,
            worker: serde::de::IgnoredAny,
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
            max_body_bytes: 2_200_000,
            rate_limit: RateLimitSettings::default(),
            grace_period_secs: 3,
            graceful_shutdown_timeout_secs: 2,
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
            upload_per_sec: 2.0,
            upload_burst: 5,
            max_concurrent_per_ip: 20,
            trusted_networks: Vec::new(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            filter: "info".into(),
            json: false,
        }
    }
}

impl Settings {
    /// Loads the settings from the process environment.
    pub fn load() -> anyhow::Result<Settings> {
        let explicit = std::env::var_os("AIUT_CONFIG").map(PathBuf::from);
        let settings: Settings = Settings::figment(explicit)?
            .extract()
            .context("invalid configuration")?;
        settings.validate()?;
        Ok(settings)
    }

    fn figment(explicit_file: Option<PathBuf>) -> anyhow::Result<Figment> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
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
        Ok(figment.merge(Env::prefixed("AIUT_").ignore(&["CONFIG"]).split("__")))
    }

    /// Checks what types cannot: addresses parse, intervals are not zero, networks are CIDRs.
    pub fn validate(&self) -> anyhow::Result<()> {
        let gateway = &self.gateway;
        parse_listen(&gateway.listen).context("gateway.listen")?;
        parse_listen(&gateway.metrics_listen).context("gateway.metrics_listen")?;
        if let Some(tls) = &gateway.tls {
            parse_listen(&tls.listen).context("gateway.tls.listen")?;
            anyhow::ensure!(
                tls.cert_path.is_file(),
                "gateway.tls.cert_path {} is not a file",
                tls.cert_path.display()
            );
            anyhow::ensure!(
                tls.key_path.is_file(),
                "gateway.tls.key_path {} is not a file",
                tls.key_path.display()
            );
        }
        anyhow::ensure!(
            gateway.upstream_dns.is_some() || !gateway.upstreams.is_empty(),
            "set gateway.upstreams or gateway.upstream_dns"
        );
        if let Some(name) = &gateway.upstream_dns {
            anyhow::ensure!(
                name.rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()),
                "gateway.upstream_dns must be host:port, not {name:?}"
            );
        }
        anyhow::ensure!(
            gateway.dns_refresh_secs >= 1,
            "gateway.dns_refresh_secs must be at least 1"
        );
        anyhow::ensure!(
            gateway.health_path.starts_with('/'),
            "gateway.health_path must start with /"
        );
        anyhow::ensure!(
            gateway.health_interval_ms >= 10 && gateway.health_timeout_ms >= 10,
            "gateway.health_interval_ms and health_timeout_ms must be at least 10"
        );
        anyhow::ensure!(
            gateway.connect_timeout_ms >= 1,
            "gateway.connect_timeout_ms must be at least 1"
        );
        anyhow::ensure!(
            gateway.read_timeout_secs >= 1,
            "gateway.read_timeout_secs must be at least 1"
        );
        anyhow::ensure!(gateway.threads >= 1, "gateway.threads must be at least 1");
        anyhow::ensure!(
            gateway.compression_level <= 9,
            "gateway.compression_level must be 0–9"
        );
        let limits = &gateway.rate_limit;
        anyhow::ensure!(
            limits.api_per_sec >= 0.0 && limits.upload_per_sec >= 0.0,
            "gateway.rate_limit rates must not be negative"
        );
        anyhow::ensure!(
            (limits.api_per_sec == 0.0 || limits.api_burst >= 1)
                && (limits.upload_per_sec == 0.0 || limits.upload_burst >= 1),
            "gateway.rate_limit bursts must be at least 1 when the rate is on"
        );
        self.trusted_networks()?;
        Ok(())
    }

    pub fn trusted_networks(&self) -> anyhow::Result<Vec<Cidr>> {
        self.gateway
            .rate_limit
            .trusted_networks
            .iter()
            .map(|text| {
                Cidr::parse(text)
                    .with_context(|| format!("gateway.rate_limit.trusted_networks: {text:?}"))
            })
            .collect()
    }
}

impl GatewaySettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout_secs)
    }

    pub fn health_interval(&self) -> Duration {
        Duration::from_millis(self.health_interval_ms)
    }

    pub fn health_timeout(&self) -> Duration {
        Duration::from_millis(self.health_timeout_ms)
    }

    /// Resolves the static upstream list once; a name that does not resolve is an error.
    pub fn resolve_static_upstreams(&self) -> anyhow::Result<Vec<SocketAddr>> {
        let mut addresses = Vec::new();
        for upstream in &self.upstreams {
            let resolved = upstream
                .to_socket_addrs()
                .with_context(|| format!("cannot resolve upstream {upstream:?}"))?;
            for address in resolved {
                if !addresses.contains(&address) {
                    addresses.push(address);
                }
            }
        }
        Ok(addresses)
    }
}

fn parse_listen(address: &str) -> anyhow::Result<SocketAddr> {
    address
        .parse()
        .with_context(|| format!("{address:?} is not an ip:port address"))
}

#[cfg(test)]
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn layers_defaults_file_and_environment_and_ignores_other_services() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "aiunittest.toml",
                "[server]\nport = 9000\n[database]\nurl = \"postgres://x\"\n[worker]\nconcurrency = 4\n\
                 [models]\ndefault = \"gpt\"\n\
                 [gateway]\nlisten = \"127.0.0.1:81\"\nmax_fails = 5\n\
                 [gateway.rate_limit]\napi_per_sec = 50.0\n",
            )?;
            jail.set_env("AIUT_GATEWAY__UPSTREAM_DNS", "api:8888");
            jail.set_env("AIUT_GATEWAY__RATE_LIMIT__API_BURST", "70");
            jail.set_env(
                "AIUT_GATEWAY__RATE_LIMIT__TRUSTED_NETWORKS",
                "[\"10.0.0.0/8\", \"127.0.0.1/32\"]",
            );
            jail.set_env("AIUT_SERVER__PORT", "7000");
            let settings: Settings = Settings::figment(None)
                .map_err(|error| error.to_string())?
                .extract()?;
            assert_eq!(settings.gateway.listen, "127.0.0.1:81");
            assert_eq!(settings.gateway.max_fails, 5);
            assert_eq!(settings.gateway.upstream_dns.as_deref(), Some("api:8888"));
            assert_eq!(settings.gateway.rate_limit.api_per_sec, 50.0);
            assert_eq!(settings.gateway.rate_limit.api_burst, 70);
            assert_eq!(settings.gateway.rate_limit.upload_burst, 5, "default kept");
            assert_eq!(
                settings
                    .trusted_networks()
                    .map_err(|e| e.to_string())?
                    .len(),
                2
            );
            assert_eq!(settings.gateway.eject_secs, 30, "default kept");
            Ok(())
        });
    }

    #[test]
    fn refuses_unknown_keys_in_its_own_sections() {
        Jail::expect_with(|jail| {
            jail.create_file("aiunittest.toml", "[gateway]\nlisen = \"0.0.0.0:1\"\n")?;
            let result: Result<Settings, _> = Settings::figment(None)
                .map_err(|error| error.to_string())?
                .extract();
            assert!(result.is_err(), "a typo in a key must not pass silently");
            Ok(())
        });
    }

    #[test]
    fn validation_catches_bad_values() {
        assert!(Settings::default().validate().is_ok());
        let mut settings = Settings::default();
        settings.gateway.listen = "nowhere".into();
        assert!(settings.validate().is_err());
        let mut settings = Settings::default();
        settings.gateway.rate_limit.trusted_networks = vec!["10.0.0.0/33".into()];
        assert!(settings.validate().is_err());
        let mut settings = Settings::default();
        settings.gateway.upstreams.clear();
        assert!(settings.validate().is_err());
        settings.gateway.upstream_dns = Some("api".into());
        assert!(settings.validate().is_err(), "a port is needed");
        settings.gateway.upstream_dns = Some("api:8888".into());
        assert!(settings.validate().is_ok());
    }
}
