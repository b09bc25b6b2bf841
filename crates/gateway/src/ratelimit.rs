//! Per-client-IP limits: token buckets for request rates, a counter for concurrent requests, and
//! the trusted networks exempt from both.

use std::collections::HashMap;
use std::net::IpAddr;
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
        // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
        let address = match address {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match (self.network, address) {
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

/// Which rate a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    /// `POST /api/tasks` with a multipart body: the stricter upload rate.
    Upload,
    /// Anything else under `/api/`.
    Api,
    /// Pages, assets and the gateway's own endpoints: no rate, only the concurrency cap.
    Unlimited,
}

impl LimitClass {
    pub fn of(method: &str, path: &str, content_type: Option<&str>) -> LimitClass {
        let multipart = content_type.is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
        if method.eq_ignore_ascii_case("POST")
            && path.trim_end_matches('/') == "/api/tasks"
            && multipart
        {
            LimitClass::Upload
        } else if path.starts_with("/api/") {
            LimitClass::Api
        } else {
            LimitClass::Unlimited
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LimitClass::Upload => "upload",
            LimitClass::Api => "api",
            LimitClass::Unlimited => "none",
        }
    }
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
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(burst));
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
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
    clock: Arc<dyn Clock>,
    buckets: Mutex<HashMap<(IpAddr, LimitClass), TokenBucket>>,
    in_flight: Arc<InFlightCounts>,
}

type InFlightCounts = Mutex<HashMap<IpAddr, u32>>;

impl RateLimiter {
    pub fn new(settings: RateLimitSettings, trusted: Vec<Cidr>, clock: Arc<dyn Clock>) -> Self {
        RateLimiter {
            settings,
            trusted,
            clock,
            buckets: Mutex::new(HashMap::new()),
            in_flight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn is_trusted(&self, client: IpAddr) -> bool {
        is_trusted(&self.trusted, client)
    }

    /// Admits a request or says why not. The returned slot holds the client's concurrency count
    /// until it is dropped (at the end of the request, whatever ends it).
    pub fn admit(&self, client: IpAddr, class: LimitClass) -> Result<ConcurrencySlot, Refusal> {
        if self.is_trusted(client) {
            return Ok(ConcurrencySlot::none());
        }
        self.check_rate(client, class)?;
        self.acquire_slot(client)
    }

    fn rate_of(&self, class: LimitClass) -> Option<(f64, u32)> {
        let (rate, burst) = match class {
            LimitClass::Upload => (self.settings.upload_per_sec, self.settings.upload_burst),
            LimitClass::Api => (self.settings.api_per_sec, self.settings.api_burst),
            LimitClass::Unlimited => return None,
        };
        (rate > 0.0).then_some((rate, burst.max(1)))
    }

    fn check_rate(&self, client: IpAddr, class: LimitClass) -> Result<(), Refusal> {
        let Some((rate, burst)) = self.rate_of(class) else {
            return Ok(());
        };
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > SWEEP_ABOVE {
            buckets.retain(|(_, class), bucket| {
                self.rate_of(*class)
                    .is_some_and(|(rate, burst)| !bucket.is_full(rate, burst, now))
            });
        }
        buckets
            .entry((client, class))
            .or_insert_with(|| TokenBucket::full(burst, now))
            .take(rate, burst, now)
            .map_err(Refusal::Rate)
    }

    fn acquire_slot(&self, client: IpAddr) -> Result<ConcurrencySlot, Refusal> {
        let limit = self.settings.max_concurrent_per_ip;
        if limit == 0 {
            return Ok(ConcurrencySlot::none());
        }
        let mut counts = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(client).or_insert(0);
        if *count >= limit {
            return Err(Refusal::Concurrency);
        }
        *count += 1;
        Ok(ConcurrencySlot {
            held: Some((client, Arc::clone(&self.in_flight))),
        })
    }
}

/// One of a client's concurrent requests; gives its place back when dropped.
pub struct ConcurrencySlot {
    held: Option<(IpAddr, Arc<InFlightCounts>)>,
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
    fn classifies_requests() {
        let multipart = Some("multipart/form-data; boundary=x");
        assert_eq!(
            LimitClass::of("POST", "/api/tasks", multipart),
            LimitClass::Upload
        );
        assert_eq!(
            LimitClass::of("POST", "/api/tasks", Some("application/json")),
            LimitClass::Api
        );
        assert_eq!(LimitClass::of("GET", "/api/tasks", None), LimitClass::Api);
        assert_eq!(LimitClass::of("GET", "/", None), LimitClass::Unlimited);
        assert_eq!(
            LimitClass::of("GET", "/static/app.js", None),
            LimitClass::Unlimited
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
    fn limiter_applies_per_ip_and_per_class() {
        let settings = RateLimitSettings {
            api_per_sec: 1.0,
            api_burst: 2,
            upload_per_sec: 1.0,
            upload_burst: 1,
            max_concurrent_per_ip: 0,
            trusted_networks: Vec::new(),
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
            limiter.admit(client, LimitClass::Upload).is_ok(),
            "own bucket"
        );
        assert!(limiter.admit(client, LimitClass::Upload).is_err());
        assert!(limiter.admit(client, LimitClass::Unlimited).is_ok());
        clock.advance(Duration::from_secs(1));
        assert!(limiter.admit(client, LimitClass::Api).is_ok());
    }

    #[test]
    fn zero_rate_disables_and_trusted_networks_are_exempt() {
        let settings = RateLimitSettings {
            api_per_sec: 0.0,
            api_burst: 0,
            upload_per_sec: 1.0,
            upload_burst: 1,
            max_concurrent_per_ip: 1,
            trusted_networks: Vec::new(),
        };
        let (limiter, _clock) = limiter(settings, &["10.0.0.0/8"]);
        let trusted = ip("10.3.3.3");
        let mut slots = Vec::new();
        for _ in 0..50 {
            slots.push(limiter.admit(trusted, LimitClass::Upload).expect("trusted"));
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
            upload_per_sec: 0.0,
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
