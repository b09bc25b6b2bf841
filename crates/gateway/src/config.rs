//! The gateway's settings: the `[gateway]` and `[log]` sections of the deployment's configuration
//! (types in `service::sections`), loaded by the one loader every binary uses (`service::config`:
//! defaults → TOML → `AIUT_GATEWAY__<FIELD>`, nested ones with one more `__`
//! (`AIUT_GATEWAY__RATE_LIMIT__API_PER_SEC=50`), lists as TOML arrays
//! (`AIUT_GATEWAY__UPSTREAMS='["10.0.0.5:8888","10.0.0.6:8888"]'`)). The other services' sections
//! are ignored; the gateway knows no database and no Redis.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};
pub use service::sections::{GatewaySettings, LogSettings, RateLimitSettings, TlsSettings};

use crate::ratelimit::Cidr;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub gateway: GatewaySettings,
    pub log: LogSettings,
}

impl Settings {
    /// Loads the settings from the process environment.
    pub fn load() -> anyhow::Result<Settings> {
        Settings::load_from(service::config::explicit_file())
    }

    /// The same with the file given instead of read from `AIUT_CONFIG`.
    pub fn load_from(file: Option<PathBuf>) -> anyhow::Result<Settings> {
        let settings = service::load_from(&Settings::default(), file)?;
        settings.validate()?;
        Ok(settings)
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
        anyhow::ensure!(
            gateway.wait_read_timeout_secs >= gateway.read_timeout_secs,
            "gateway.wait_read_timeout_secs must be at least gateway.read_timeout_secs"
        );
        anyhow::ensure!(gateway.threads >= 1, "gateway.threads must be at least 1");
        anyhow::ensure!(
            gateway.compression_level <= 9,
            "gateway.compression_level must be 0–9"
        );
        anyhow::ensure!(
            gateway.header_timeout_secs >= 1 && gateway.keepalive_timeout_secs >= 1,
            "gateway.header_timeout_secs and keepalive_timeout_secs must be at least 1"
        );
        let limits = &gateway.rate_limit;
        let (create_per_sec, create_burst) = limits.create_rate();
        anyhow::ensure!(
            limits.api_per_sec >= 0.0 && create_per_sec >= 0.0,
            "gateway.rate_limit rates must not be negative"
        );
        anyhow::ensure!(
            (limits.api_per_sec == 0.0 || limits.api_burst >= 1)
                && (create_per_sec == 0.0 || create_burst >= 1),
            "gateway.rate_limit bursts must be at least 1 when the rate is on"
        );
        anyhow::ensure!(
            limits.ipv4_prefix <= 32 && limits.ipv6_prefix <= 128,
            "gateway.rate_limit.ipv4_prefix must be 0–32 and ipv6_prefix 0–128"
        );
        self.trusted_networks()?;
        self.operator_networks()?;
        Ok(())
    }

    /// The settings under their old names, to be renamed (a warning at start).
    pub fn deprecated_keys(&self) -> Vec<&'static str> {
        let limits = &self.gateway.rate_limit;
        let mut keys = Vec::new();
        if limits.upload_per_sec.is_some() {
            keys.push("gateway.rate_limit.upload_per_sec (now create_per_sec)");
        }
        if limits.upload_burst.is_some() {
            keys.push("gateway.rate_limit.upload_burst (now create_burst)");
        }
        keys
    }

    pub fn operator_networks(&self) -> anyhow::Result<Vec<Cidr>> {
        self.gateway
            .operator_networks
            .iter()
            .map(|text| {
                Cidr::parse(text).with_context(|| format!("gateway.operator_networks: {text:?}"))
            })
            .collect()
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

/// Resolves the static upstream list once; a name that does not resolve is an error.
pub fn resolve_static_upstreams(gateway: &GatewaySettings) -> anyhow::Result<Vec<SocketAddr>> {
    let mut addresses = Vec::new();
    for upstream in &gateway.upstreams {
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
            let settings = Settings::load_from(None).map_err(|error| error.to_string())?;
            assert_eq!(settings.gateway.listen, "127.0.0.1:81");
            assert_eq!(settings.gateway.max_fails, 5);
            assert_eq!(settings.gateway.upstream_dns.as_deref(), Some("api:8888"));
            assert_eq!(settings.gateway.rate_limit.api_per_sec, 50.0);
            assert_eq!(settings.gateway.rate_limit.api_burst, 70);
            assert_eq!(settings.gateway.rate_limit.create_burst, 5, "default kept");
            assert_eq!(settings.gateway.rate_limit.ipv6_prefix, 64, "default kept");
            assert_eq!(settings.gateway.header_timeout_secs, 10, "default kept");
            assert!(settings.deprecated_keys().is_empty());
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
    fn the_old_upload_keys_still_set_the_create_rate() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "aiunittest.toml",
                "[gateway.rate_limit]\nupload_per_sec = 0.5\n",
            )?;
            jail.set_env("AIUT_GATEWAY__RATE_LIMIT__UPLOAD_BURST", "3");
            let settings = Settings::load_from(None).map_err(|error| error.to_string())?;
            assert_eq!(settings.gateway.rate_limit.create_rate(), (0.5, 3));
            assert_eq!(settings.deprecated_keys().len(), 2);
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.create_file(
                "aiunittest.toml",
                "[gateway]\nheader_timeout_secs = 4\n\
                 [gateway.rate_limit]\ncreate_per_sec = 0.25\ncreate_burst = 2\nipv6_prefix = 56\n",
            )?;
            let settings = Settings::load_from(None).map_err(|error| error.to_string())?;
            assert_eq!(settings.gateway.rate_limit.create_rate(), (0.25, 2));
            assert_eq!(settings.gateway.rate_limit.ipv6_prefix, 56);
            assert_eq!(settings.gateway.header_timeout_secs, 4);
            assert!(settings.deprecated_keys().is_empty());
            Ok(())
        });
    }

    #[test]
    fn refuses_unknown_keys_in_its_own_sections() {
        Jail::expect_with(|jail| {
            jail.create_file("aiunittest.toml", "[gateway]\nlisen = \"0.0.0.0:1\"\n")?;
            let result = Settings::load_from(None);
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
        let mut settings = Settings::default();
        settings.gateway.rate_limit.ipv4_prefix = 33;
        assert!(settings.validate().is_err());
        let mut settings = Settings::default();
        settings.gateway.header_timeout_secs = 0;
        assert!(settings.validate().is_err());
    }
}
