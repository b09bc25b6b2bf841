//! Per-client limits: who the client is (behind trusted proxies too, IPv6 by network), token
//! buckets for request rates, a counter for concurrent requests.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::RateLimitSettings;

/// The time source of the limiters, injectable so tests need not sleep.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// An IPv4 or IPv6 network in CIDR form; a bare address is a network of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> anyhow::Result<Cidr> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| anyhow::anyhow!("{address:?} is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= max)
                .ok_or_else(|| anyhow::anyhow!("prefix {prefix:?} is not 0–{max}"))?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, canonical(address)) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

pub fn is_trusted(networks: &[Cidr], address: IpAddr) -> bool {
    networks.iter().any(|network| network.contains(address))
}

/// An IPv4 client on a dual-stack socket shows up as `::ffff:a.b.c.d`: it is that IPv4 address.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The address a request comes from. From an untrusted peer, the peer. From a trusted proxy, the
/// rightmost address of `X-Forwarded-For` that is not itself a trusted proxy: what the proxies
/// nearest the gateway saw (entries further left are the client's own word, and are not read).
/// A chain of trusted proxies only is from the leftmost; an entry that is not an address, met
/// before the client is found, leaves the peer. `forwarded_for` holds the header's values.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(trusted, peer) {
        return peer;
    }
    let mut nearest_trusted = peer;
    for entry in forwarded_for
        .iter()
        .rev()
        .flat_map(|value| value.rsplit(','))
    {
        let Some(address) = forwarded_address(entry) else {
            return peer;
        };
        if !is_trusted(trusted, address) {
            return address;
        }
        nearest_trusted = address;
    }
    nearest_trusted
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:5000`,
/// `[2001:db8::1]:5000`) or bracketed.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let address = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse::<IpAddr>().ok())
        })?;
    Some(canonical(address))
}

/// How many leading bits of an address name one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPrefixes {
    pub ipv4: u8,
    pub ipv6: u8,
}

impl Default for KeyPrefixes {
    fn default() -> Self {
        KeyPrefixes { ipv4: 32, ipv6: 64 }
    }
}

/// Who a limit counts against: an IPv4 address, or an IPv6 network (a /64 by default, which one
/// subscriber usually holds whole). Written as the address (`203.0.113.5`) when the prefix is
/// the whole address, else in CIDR form (`2001:db8:1:2::/64`); the api is told it in
/// `x-aiut-client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey {
    network: IpAddr,
    prefix: u8,
}

impl ClientKey {
    pub fn of(address: IpAddr, prefixes: KeyPrefixes) -> ClientKey {
        match canonical(address) {
            IpAddr::V4(v4) => {
                let prefix = prefixes.ipv4.min(32);
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                ClientKey {
                    network: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)),
                    prefix,
                }
            }
            IpAddr::V6(v6) => {
                let prefix = prefixes.ipv6.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                ClientKey {
                    network: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)),
                    prefix,
                }
            }
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = if self.network.is_ipv4() { 32 } else { 128 };
        if self.prefix == whole {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

/// Requests that create a task (trailing slashes as the api's router sees them): they count
/// against the create rate, and the gateway gives each its own create token.
pub fn creates_a_task(method: &str, path: &str) -> bool {
    method.eq_ignore_ascii_case("POST")
        && matches!(
            path.trim_end_matches('/'),
            "/api/tasks" | "/api/generate-test" | "/api/generate-test-stream"
        )
}

/// Which rate a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    /// A request that creates a task ([`creates_a_task`]), whatever its body: the stricter
    /// create rate, and the `/api/` rate too.
    Create,
    /// Anything else under `/api/`.
    Api,
    /// Pages, assets and the gateway's own endpoints: no rate, only the concurrency cap.
    Unlimited,
}

impl LimitClass {
    pub fn of(method: &str, path: &str) -> LimitClass {
        if creates_a_task(method, path) {
            LimitClass::Create
        } else if path.starts_with("/api/") {
            LimitClass::Api
        } else {
            LimitClass::Unlimited
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LimitClass::Create => "create",
            LimitClass::Api => "api",
            LimitClass::Unlimited => "none",
        }
    }

    /// The rates a request of this class takes a token from, each of them or none.
    fn buckets(self) -> &'static [Rate] {
        match self {
            LimitClass::Create => &[Rate::Create, Rate::Api],
            LimitClass::Api => &[Rate::Api],
            LimitClass::Unlimited => &[],
        }
    }
}

/// One token bucket of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rate {
    Create,
    Api,
}

/// A token bucket: `burst` tokens at most, refilled at `rate` per second; a request takes one.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    pub fn full(burst: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: f64::from(burst),
            updated: now,
        }
    }

    /// Takes a token, or says how long until one is available.
    pub fn take(&mut self, rate: f64, burst: u32, now: Instant) -> Result<(), Duration> {
        self.available(rate, burst, now)?;
        self.tokens -= 1.0;
        Ok(())
    }

    /// Refills, then says whether a token is there (without taking it), or how long until one is.
    fn available(&mut self, rate: f64, burst: u32, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(burst));
        self.updated = now;
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }

    fn is_full(&self, rate: f64, burst: u32, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens + elapsed * rate >= f64::from(burst)
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the request rate; retry after this long.
    Rate(Duration),
    /// Too many requests of this client in flight.
    Concurrency,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Rate(_) => "rate",
            Refusal::Concurrency => "concurrency",
        }
    }

    /// Whole seconds for `Retry-After`, at least 1.
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Refusal::Rate(wait) => wait.as_secs_f64().ceil().max(1.0) as u64,
            Refusal::Concurrency => 1,
        }
    }
}

/// Buckets beyond this many are swept of the full (idle) ones, so a scan of many addresses
/// cannot grow the map without bound.
const SWEEP_ABOVE: usize = 10_000;

pub struct RateLimiter {
    settings: RateLimitSettings,
    trusted: Vec<Cidr>,
    prefixes: KeyPrefixes,
    clock: Arc<dyn Clock>,
    buckets: Mutex<HashMap<(ClientKey, Rate), TokenBucket>>,
    in_flight: Arc<InFlightCounts>,
}

type InFlightCounts = Mutex<HashMap<ClientKey, u32>>;

impl RateLimiter {
    pub fn new(settings: RateLimitSettings, trusted: Vec<Cidr>, clock: Arc<dyn Clock>) -> Self {
        let prefixes = KeyPrefixes {
            ipv4: settings.ipv4_prefix,
            ipv6: settings.ipv6_prefix,
        };
        RateLimiter {
            settings,
            trusted,
            prefixes,
            clock,
            buckets: Mutex::new(HashMap::new()),
            in_flight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn is_trusted(&self, client: IpAddr) -> bool {
        is_trusted(&self.trusted, client)
    }

    /// The key the limits count `client` against.
    pub fn key_of(&self, client: IpAddr) -> ClientKey {
        ClientKey::of(client, self.prefixes)
    }

    /// Admits a request of `client` (the address [`client_address`] found) or says why not. The
    /// returned slot holds the client's concurrency count until it is dropped (at the end of the
    /// request, whatever ends it). A trusted proxy that is itself the client is exempt.
    pub fn admit(&self, client: IpAddr, class: LimitClass) -> Result<ConcurrencySlot, Refusal> {
        if self.is_trusted(client) {
            return Ok(ConcurrencySlot::none());
        }
        let key = self.key_of(client);
        self.check_rate(key, class)?;
        self.acquire_slot(key)
    }

    fn rate_of(&self, rate: Rate) -> Option<(f64, u32)> {
        let (per_sec, burst) = match rate {
            Rate::Create => self.settings.create_rate(),
            Rate::Api => (self.settings.api_per_sec, self.settings.api_burst),
        };
        (per_sec > 0.0).then_some((per_sec, burst.max(1)))
    }

    /// Takes a token from each of the class's buckets, or from none when one of them is empty
    /// (then the longest wait is the answer).
    fn check_rate(&self, key: ClientKey, class: LimitClass) -> Result<(), Refusal> {
        let rates: Vec<(Rate, f64, u32)> = class
            .buckets()
            .iter()
            .filter_map(|rate| {
                self.rate_of(*rate)
                    .map(|(per_sec, burst)| (*rate, per_sec, burst))
            })
            .collect();
        if rates.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > SWEEP_ABOVE {
            buckets.retain(|(_, rate), bucket| {
                self.rate_of(*rate)
                    .is_some_and(|(per_sec, burst)| !bucket.is_full(per_sec, burst, now))
            });
        }
        let mut wait = None;
        for (rate, per_sec, burst) in &rates {
            let bucket = buckets
                .entry((key, *rate))
                .or_insert_with(|| TokenBucket::full(*burst, now));
            if let Err(until) = bucket.available(*per_sec, *burst, now) {
                wait = wait.max(Some(until));
            }
        }
        if let Some(wait) = wait {
            return Err(Refusal::Rate(wait));
        }
        for (rate, _, _) in &rates {
            if let Some(bucket) = buckets.get_mut(&(key, *rate)) {
                bucket.tokens -= 1.0;
            }
        }
        Ok(())
    }

    fn acquire_slot(&self, key: ClientKey) -> Result<ConcurrencySlot, Refusal> {
        let limit = self.settings.max_concurrent_per_ip;
        if limit == 0 {
            return Ok(ConcurrencySlot::none());
        }
        let mut counts = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key).or_insert(0);
        if *count >= limit {
            return Err(Refusal::Concurrency);
        }
        *count += 1;
        Ok(ConcurrencySlot {
            held: Some((key, Arc::clone(&self.in_flight))),
        })
    }
}

/// One of a client's concurrent requests; gives its place back when dropped.
pub struct ConcurrencySlot {
    held: Option<(ClientKey, Arc<InFlightCounts>)>,
}

impl ConcurrencySlot {
    fn none() -> Self {
        ConcurrencySlot { held: None }
    }
}

impl Drop for ConcurrencySlot {
    fn drop(&mut self) {
        if let Some((client, counts)) = self.held.take() {
            let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = counts.get_mut(&client) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    counts.remove(&client);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ManualClock(Mutex<Instant>);

    impl ManualClock {
        fn advance(&self, by: Duration) {
            let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            *now += by;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn limiter(settings: RateLimitSettings, trusted: &[&str]) -> (RateLimiter, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
        let trusted = trusted
            .iter()
            .map(|text| Cidr::parse(text).expect("test network"))
            .collect();
        (RateLimiter::new(settings, trusted, clock.clone()), clock)
    }

    #[test]
    fn cidr_membership() {
        let network = Cidr::parse("10.1.0.0/16").expect("valid");
        assert!(network.contains(ip("10.1.200.3")));
        assert!(!network.contains(ip("10.2.0.1")));
        assert!(network.contains(ip("::ffff:10.1.0.9")), "mapped IPv4");
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("valid")
                .contains(ip("8.8.8.8"))
        );
        assert!(
            Cidr::parse("127.0.0.1")
                .expect("valid")
                .contains(ip("127.0.0.1"))
        );
        assert!(
            !Cidr::parse("127.0.0.1")
                .expect("valid")
                .contains(ip("127.0.0.2"))
        );
        let v6 = Cidr::parse("fd00::/8").expect("valid");
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("not-an-ip/8").is_err());
    }

    #[test]
    fn every_task_creation_is_classed_create_whatever_its_body() {
        for path in [
            "/api/tasks",
            "/api/tasks/",
            "/api/generate-test",
            "/api/generate-test/",
            "/api/generate-test-stream",
        ] {
            assert_eq!(LimitClass::of("POST", path), LimitClass::Create, "{path}");
            assert_eq!(LimitClass::of("post", path), LimitClass::Create, "{path}");
            assert!(creates_a_task("POST", path), "{path}");
        }
        assert_eq!(LimitClass::of("GET", "/api/tasks"), LimitClass::Api);
        assert_eq!(
            LimitClass::of("POST", "/api/tasks/7/cancel"),
            LimitClass::Api
        );
        assert_eq!(LimitClass::of("DELETE", "/api/tasks/7"), LimitClass::Api);
        assert_eq!(LimitClass::of("POST", "/api/tasksx"), LimitClass::Api);
        assert!(!creates_a_task("PUT", "/api/tasks"));
        assert_eq!(LimitClass::of("GET", "/"), LimitClass::Unlimited);
        assert_eq!(
            LimitClass::of("GET", "/static/app.js"),
            LimitClass::Unlimited
        );
    }

    #[test]
    fn clients_are_ipv4_addresses_and_ipv6_networks() {
        let prefixes = KeyPrefixes::default();
        let key = |text: &str| ClientKey::of(ip(text), prefixes).to_string();
        assert_eq!(key("203.0.113.5"), "203.0.113.5");
        assert_eq!(
            key("::ffff:203.0.113.5"),
            "203.0.113.5",
            "mapped IPv4 is IPv4"
        );
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2::1"), prefixes),
            ClientKey::of(ip("2001:db8:1:2:ffff::9"), prefixes),
            "one /64, one client"
        );
        assert_ne!(
            ClientKey::of(ip("2001:db8:1:2::1"), prefixes),
            ClientKey::of(ip("2001:db8:1:3::1"), prefixes)
        );
        let wide = KeyPrefixes { ipv4: 24, ipv6: 48 };
        assert_eq!(
            ClientKey::of(ip("198.51.100.77"), wide).to_string(),
            "198.51.100.0/24"
        );
        assert_eq!(
            ClientKey::of(ip("2001:db8:7:9::1"), wide).to_string(),
            "2001:db8:7::/48"
        );
        let whole = KeyPrefixes {
            ipv4: 32,
            ipv6: 128,
        };
        assert_eq!(
            ClientKey::of(ip("2001:db8::5"), whole).to_string(),
            "2001:db8::5"
        );
    }

    #[test]
    fn the_client_behind_trusted_proxies_is_the_nearest_untrusted_address() {
        let trusted = [
            Cidr::parse("10.0.0.0/8").expect("valid"),
            Cidr::parse("127.0.0.1").expect("valid"),
        ];
        let client = |peer: &str, chain: &[&str]| client_address(ip(peer), chain, &trusted);
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(client("198.51.100.1", &["203.0.113.9"]), ip("198.51.100.1"));
        // A trusted peer: the rightmost untrusted entry; what the client wrote further left is
        // not read, even when it is not an address.
        assert_eq!(client("10.0.0.2", &["203.0.113.5"]), ip("203.0.113.5"));
        assert_eq!(
            client("127.0.0.1", &["6.6.6.6, 203.0.113.5, 10.1.1.1"]),
            ip("203.0.113.5")
        );
        assert_eq!(
            client("127.0.0.1", &["not an address, 203.0.113.5"]),
            ip("203.0.113.5")
        );
        // Several header lines are one list.
        assert_eq!(
            client("10.0.0.2", &["203.0.113.5", "10.9.9.9"]),
            ip("203.0.113.5")
        );
        // Ports, brackets and mapped addresses.
        assert_eq!(client("10.0.0.2", &["203.0.113.5:4711"]), ip("203.0.113.5"));
        assert_eq!(client("10.0.0.2", &["[2001:db8::7]:80"]), ip("2001:db8::7"));
        assert_eq!(client("10.0.0.2", &["[2001:db8::7]"]), ip("2001:db8::7"));
        assert_eq!(
            client("::ffff:10.0.0.2", &["::ffff:203.0.113.5"]),
            ip("203.0.113.5")
        );
        // No chain, an empty one, or trusted proxies only: the peer or the leftmost proxy.
        assert_eq!(client("10.0.0.2", &[]), ip("10.0.0.2"));
        assert_eq!(client("10.0.0.2", &["10.5.5.5, 10.6.6.6"]), ip("10.5.5.5"));
        // Malformed where the proxies wrote it: the peer.
        assert_eq!(
            client("10.0.0.2", &["203.0.113.5, garbage"]),
            ip("10.0.0.2")
        );
        assert_eq!(client("10.0.0.2", &[""]), ip("10.0.0.2"));
        assert_eq!(
            client("10.0.0.2", &["203.0.113.5,,10.1.1.1"]),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(3, start);
        for _ in 0..3 {
            assert!(bucket.take(2.0, 3, start).is_ok());
        }
        let wait = bucket.take(2.0, 3, start).expect_err("burst used up");
        assert_eq!(wait, Duration::from_millis(500));
        assert!(
            bucket
                .take(2.0, 3, start + Duration::from_millis(499))
                .is_err()
        );
        assert!(
            bucket
                .take(2.0, 3, start + Duration::from_millis(1_000))
                .is_ok()
        );
        // A long pause refills to the burst, not beyond.
        let later = start + Duration::from_secs(100);
        for _ in 0..3 {
            assert!(bucket.take(2.0, 3, later).is_ok());
        }
        assert!(bucket.take(2.0, 3, later).is_err());
    }

    #[test]
    fn limiter_applies_per_client_and_per_class() {
        let settings = RateLimitSettings {
            api_per_sec: 1.0,
            api_burst: 2,
            create_per_sec: 0.5,
            create_burst: 1,
            max_concurrent_per_ip: 0,
            ..RateLimitSettings::default()
        };
        let (limiter, clock) = limiter(settings, &[]);
        let client = ip("192.0.2.1");
        assert!(limiter.admit(client, LimitClass::Api).is_ok());
        assert!(limiter.admit(client, LimitClass::Api).is_ok());
        let refusal = limiter
            .admit(client, LimitClass::Api)
            .err()
            .expect("third within a second is refused");
        assert_eq!(refusal, Refusal::Rate(Duration::from_secs(1)));
        assert_eq!(refusal.retry_after_secs(), 1);
        assert!(
            limiter.admit(ip("192.0.2.2"), LimitClass::Api).is_ok(),
            "other IP"
        );
        assert!(
            limiter.admit(client, LimitClass::Create).is_err(),
            "a create counts against the /api/ rate too, which is used up"
        );
        assert!(limiter.admit(client, LimitClass::Unlimited).is_ok());
        clock.advance(Duration::from_secs(1));
        assert!(limiter.admit(client, LimitClass::Create).is_ok());
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            limiter.admit(client, LimitClass::Create).err(),
            Some(Refusal::Rate(Duration::from_secs(1))),
            "the create bucket is half full"
        );
        assert!(
            limiter.admit(client, LimitClass::Api).is_ok(),
            "a refused create took no /api/ token"
        );
    }

    #[test]
    fn creates_are_limited_whatever_the_api_rate() {
        let settings = RateLimitSettings {
            api_per_sec: 100.0,
            api_burst: 100,
            max_concurrent_per_ip: 0,
            ..RateLimitSettings::default()
        };
        let (limiter, _clock) = limiter(settings, &[]);
        let client = ip("198.51.100.20");
        let admitted = (0..20)
            .filter(|_| limiter.admit(client, LimitClass::Create).is_ok())
            .count();
        assert_eq!(admitted, 5, "the default create burst");
        assert!(limiter.admit(client, LimitClass::Api).is_ok());
    }

    #[test]
    fn the_old_upload_settings_still_set_the_create_rate() {
        let settings = RateLimitSettings {
            upload_per_sec: Some(1.0),
            upload_burst: Some(2),
            max_concurrent_per_ip: 0,
            ..RateLimitSettings::default()
        };
        let (limiter, _clock) = limiter(settings, &[]);
        let client = ip("198.51.100.21");
        let admitted = (0..10)
            .filter(|_| limiter.admit(client, LimitClass::Create).is_ok())
            .count();
        assert_eq!(admitted, 2);
    }

    #[test]
    fn an_ipv6_network_is_one_client() {
        let settings = RateLimitSettings {
            api_per_sec: 1.0,
            api_burst: 2,
            max_concurrent_per_ip: 3,
            ..RateLimitSettings::default()
        };
        let (limiter, _clock) = limiter(settings, &[]);
        assert!(
            limiter
                .admit(ip("2001:db8:5:6::1"), LimitClass::Api)
                .is_ok()
        );
        assert!(
            limiter
                .admit(ip("2001:db8:5:6::2"), LimitClass::Api)
                .is_ok()
        );
        assert!(
            limiter
                .admit(ip("2001:db8:5:6:ffff::3"), LimitClass::Api)
                .is_err(),
            "a third address of the same /64 shares its bucket"
        );
        assert!(
            limiter
                .admit(ip("2001:db8:5:7::1"), LimitClass::Api)
                .is_ok()
        );
        let _slots: Vec<_> = (1..=3)
            .map(|n| {
                limiter
                    .admit(ip(&format!("2001:db8:9:9::{n}")), LimitClass::Unlimited)
                    .expect("within the cap")
            })
            .collect();
        assert_eq!(
            limiter
                .admit(ip("2001:db8:9:9::4"), LimitClass::Unlimited)
                .err(),
            Some(Refusal::Concurrency),
            "the concurrency cap holds the /64 too"
        );
        assert_eq!(
            limiter.key_of(ip("::ffff:192.0.2.8")).to_string(),
            "192.0.2.8"
        );
    }

    #[test]
    fn zero_rate_disables_and_trusted_clients_are_exempt() {
        let settings = RateLimitSettings {
            api_per_sec: 0.0,
            api_burst: 0,
            create_per_sec: 1.0,
            create_burst: 1,
            max_concurrent_per_ip: 1,
            ..RateLimitSettings::default()
        };
        let (limiter, _clock) = limiter(settings, &["10.0.0.0/8"]);
        let trusted = ip("10.3.3.3");
        let mut slots = Vec::new();
        for _ in 0..50 {
            slots.push(limiter.admit(trusted, LimitClass::Create).expect("trusted"));
        }
        let outsider = ip("198.51.100.7");
        let slot = limiter
            .admit(outsider, LimitClass::Api)
            .expect("no api rate");
        drop(slot);
        let _held = limiter
            .admit(outsider, LimitClass::Api)
            .expect("slot free again");
    }

    #[test]
    fn concurrency_slots_are_returned_on_drop() {
        let settings = RateLimitSettings {
            api_per_sec: 0.0,
            create_per_sec: 0.0,
            max_concurrent_per_ip: 2,
            ..RateLimitSettings::default()
        };
        let (limiter, _clock) = limiter(settings, &[]);
        let client = ip("203.0.113.9");
        let first = limiter.admit(client, LimitClass::Api).expect("1 of 2");
        let _second = limiter.admit(client, LimitClass::Api).expect("2 of 2");
        assert_eq!(
            limiter.admit(client, LimitClass::Api).err(),
            Some(Refusal::Concurrency)
        );
        drop(first);
        assert!(limiter.admit(client, LimitClass::Api).is_ok());
    }
}
