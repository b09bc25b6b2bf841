//! Which hosts a forge URL may point at. A URL comes from a user, so without a check it could make
//! this service reach its own loopback, the cloud's metadata address or the private network. Every
//! address a host resolves to is checked; the addresses found are then the only ones connected to
//! (pinned in the HTTP client and in git), so a second resolution cannot swap in another.

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;

use ipnet::IpNet;
use url::{Host, Url};

use crate::error::ForgeError;

/// Address ranges that are not the public internet: loopback, private, link-local (the cloud's
/// metadata address among them), shared (CGNAT), documentation, benchmarking, multicast and
/// reserved. IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry.
static NON_PUBLIC: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ]
    .iter()
    .filter_map(|range| range.parse().ok())
    .collect()
});

/// The decision: public addresses are always allowed; a non-public one only inside `allowed`
/// (a company's own GitLab on `10.0.0.0/8`, or loopback for tests). Plain `http` is refused
/// unless `allow_plain_http` is set, and even then only to hosts inside `allowed`, never across
/// the internet, where the token would travel in clear.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    allowed: Vec<IpNet>,
    allow_plain_http: bool,
}

/// A host that passed the policy, with the addresses it resolved to.
#[derive(Debug, Clone)]
pub struct CheckedHost {
    pub host: String,
    pub port: u16,
    /// Empty when the host is an IP address itself (nothing to resolve, nothing to pin).
    pub resolved: Vec<SocketAddr>,
}

impl NetworkPolicy {
    /// Public hosts over HTTPS only: what a deployment uses unless told otherwise.
    pub fn public_only() -> NetworkPolicy {
        NetworkPolicy::default()
    }

    pub fn new(allowed: Vec<IpNet>, allow_plain_http: bool) -> NetworkPolicy {
        NetworkPolicy {
            allowed,
            allow_plain_http,
        }
    }

    /// Loopback allowed, over plain http too: for a forge started by tests on this machine.
    pub fn loopback() -> NetworkPolicy {
        let loopback = ["127.0.0.0/8", "::1/128"]
            .iter()
            .filter_map(|range| range.parse().ok())
            .collect();
        NetworkPolicy::new(loopback, true)
    }

    /// Whether plain `http` is allowed at all (to hosts inside the allowed ranges).
    pub fn allows_plain_http(&self) -> bool {
        self.allow_plain_http
    }

    /// Parses a forge or repository URL and checks it: `https` (or `http` as above), no user name
    /// or password in it, no query or fragment, and a host whose every address is allowed.
    pub async fn check(&self, text: &str) -> Result<(Url, CheckedHost), ForgeError> {
        let url = parse_url(text)?;
        let host = self.check_host(&url).await?;
        Ok((url, host))
    }

    async fn check_host(&self, url: &Url) -> Result<CheckedHost, ForgeError> {
        let port = url
            .port_or_known_default()
            .ok_or_else(|| ForgeError::InvalidUrl("the URL has no port".into()))?;
        let (name, addresses, resolved) = match url.host() {
            Some(Host::Ipv4(address)) => (address.to_string(), vec![IpAddr::V4(address)], false),
            Some(Host::Ipv6(address)) => (address.to_string(), vec![IpAddr::V6(address)], false),
            Some(Host::Domain(domain)) => {
                let found: Vec<IpAddr> = tokio::net::lookup_host((domain, port))
                    .await
                    .map_err(|error| ForgeError::HostRefused {
                        host: domain.to_owned(),
                        reason: format!("it does not resolve ({error})"),
                    })?
                    .map(|address| address.ip())
                    .collect();
                (domain.to_owned(), found, true)
            }
            None => return Err(ForgeError::InvalidUrl("the URL has no host".into())),
        };
        if addresses.is_empty() {
            return Err(ForgeError::HostRefused {
                host: name,
                reason: "it resolves to no address".into(),
            });
        }
        for address in &addresses {
            if !is_public(*address) && !self.allowed.iter().any(|net| net.contains(address)) {
                return Err(ForgeError::HostRefused {
                    host: name,
                    reason: format!("{address} is not a public address"),
                });
            }
        }
        if url.scheme() == "http" {
            let all_allowed = addresses
                .iter()
                .all(|address| self.allowed.iter().any(|net| net.contains(address)));
            if !self.allow_plain_http || !all_allowed {
                return Err(ForgeError::InvalidUrl(
                    "plain http is not allowed; use https".into(),
                ));
            }
        }
        let resolved = if resolved {
            addresses
                .into_iter()
                .map(|address| SocketAddr::new(address, port))
                .collect()
        } else {
            Vec::new()
        };
        Ok(CheckedHost {
            host: name,
            port,
            resolved,
        })
    }
}

/// The URL's shape, before any address is looked at.
fn parse_url(text: &str) -> Result<Url, ForgeError> {
    let text = text.trim();
    if text.len() > 2048 {
        return Err(ForgeError::InvalidUrl("the URL is too long".into()));
    }
    let url = Url::parse(text).map_err(|error| ForgeError::InvalidUrl(error.to_string()))?;
    // `ext::`, `file://`, `ssh://`, `git://`: only the two HTTP schemes reach a forge.
    if !matches!(url.scheme(), "https" | "http") {
        return Err(ForgeError::InvalidUrl(format!(
            "the scheme {:?} is not allowed; use https",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ForgeError::InvalidUrl(
            "a user name or password in the URL is not allowed; the token is given apart".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ForgeError::InvalidUrl(
            "a query or fragment in the URL is not allowed".into(),
        ));
    }
    Ok(url)
}

fn is_public(address: IpAddr) -> bool {
    let address = match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    !NON_PUBLIC.iter().any(|net| net.contains(&address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranges_all_parse() {
        assert_eq!(NON_PUBLIC.len(), 26);
    }

    #[test]
    fn public_and_non_public_addresses_are_told_apart() {
        for public in ["140.82.112.3", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public(public.parse().expect("an address")), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "255.255.255.255",
        ] {
            assert!(
                !is_public(private.parse().expect("an address")),
                "{private}"
            );
        }
    }

    #[tokio::test]
    async fn hostile_urls_are_refused() {
        let policy = NetworkPolicy::public_only();
        for text in [
            "ext::sh -c touch% /tmp/pwned",
            "file:///etc/passwd",
            "ssh://git@example.com/x.git",
            "git://example.com/x.git",
            "git@github.com:acme/widgets.git",
            "https://user:secret@github.com/acme/widgets.git",
            "https://ghp_token@github.com/acme/widgets.git",
            "https://github.com/acme/widgets.git?access_token=x",
            "https://127.0.0.1/acme/widgets.git",
            "https://[::1]/x.git",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:10.0.0.1]/x.git",
            "https://localhost/x.git",
            "https://0x7f000001/x.git",
            "http://140.82.112.3/acme/widgets.git",
        ] {
            assert!(policy.check(text).await.is_err(), "{text:?} was accepted");
        }
    }

    #[tokio::test]
    async fn loopback_is_reached_only_when_allowed() {
        let url = "http://127.0.0.1:9/acme/widgets.git";
        assert!(NetworkPolicy::public_only().check(url).await.is_err());
        let (_, host) = NetworkPolicy::loopback().check(url).await.expect("allowed");
        assert_eq!((host.host.as_str(), host.port), ("127.0.0.1", 9));
        // Allowed ranges without plain http: https only.
        let https_only = NetworkPolicy::new(vec!["127.0.0.0/8".parse().expect("a net")], false);
        assert!(https_only.check(url).await.is_err());
        assert!(
            https_only
                .check("https://127.0.0.1:9/acme/widgets.git")
                .await
                .is_ok()
        );
        // A name is checked by what it resolves to, and the addresses are kept for pinning.
        let (_, host) = NetworkPolicy::loopback()
            .check("http://localhost:9/x.git")
            .await
            .expect("localhost is loopback");
        assert!(!host.resolved.is_empty());
        assert!(
            host.resolved
                .iter()
                .all(|address| address.ip().is_loopback())
        );
    }
}
