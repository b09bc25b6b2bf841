//! The gateway's own view of the api replicas: who is there, who is healthy, who is ejected, how
//! busy each one is. Pingora's `LoadBalancer` rebuilds its selector whenever membership changes,
//! which would lose per-backend counters, so the state lives here and the selection is
//! [`pick_backend`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::metrics::{BackendSeries, Metrics};

/// What the selection needs to know of one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub address: SocketAddr,
    /// Healthy by the active checks, not ejected, and still a member.
    pub available: bool,
    pub in_flight: u64,
}

/// Least in-flight among the available backends not yet tried for this request; ties go
/// round-robin, starting from `cursor`.
pub fn pick_backend(
    candidates: &[Candidate],
    tried: &[SocketAddr],
    cursor: usize,
) -> Option<usize> {
    let count = candidates.len();
    let mut best: Option<(usize, u64)> = None;
    for offset in 0..count {
        let index = (cursor.wrapping_add(offset)) % count;
        let candidate = &candidates[index];
        if !candidate.available || tried.contains(&candidate.address) {
            continue;
        }
        // Strictly less: among equals the first in rotation order wins.
        if best.is_none_or(|(_, least)| candidate.in_flight < least) {
            best = Some((index, candidate.in_flight));
        }
    }
    best.map(|(index, _)| index)
}

/// Thresholds of the passive ejection (nginx `max_fails` / `fail_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EjectionPolicy {
    /// Failures within `window` that eject a backend; 0 never ejects.
    pub max_fails: u32,
    pub window: Duration,
    pub eject_for: Duration,
}

/// Recent failures of one backend and whether it is ejected.
#[derive(Debug, Clone, Default)]
pub struct PassiveState {
    failures: VecDeque<Instant>,
    ejected_until: Option<Instant>,
}

impl PassiveState {
    /// Records a failed request; true when this failure ejects the backend.
    pub fn record_failure(&mut self, now: Instant, policy: &EjectionPolicy) -> bool {
        if policy.max_fails == 0 || self.is_ejected(now) {
            return false;
        }
        self.failures.push_back(now);
        while self
            .failures
            .front()
            .is_some_and(|first| now.saturating_duration_since(*first) >= policy.window)
        {
            self.failures.pop_front();
        }
        if self.failures.len() >= policy.max_fails as usize {
            self.failures.clear();
            self.ejected_until = Some(now + policy.eject_for);
            true
        } else {
            false
        }
    }

    /// A response from the backend clears its failure record (as nginx does).
    pub fn record_success(&mut self) {
        self.failures.clear();
    }

    /// Ends an ejection early: a health check failed and the next one passes (a restarted
    /// replica), which is better news than the ejection's timer can know.
    pub fn lift(&mut self) {
        self.failures.clear();
        self.ejected_until = None;
    }

    pub fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|until| until > now)
    }

    /// Time left out of rotation; zero when not ejected.
    pub fn ejected_for(&self, now: Instant) -> Duration {
        self.ejected_until
            .map(|until| until.saturating_duration_since(now))
            .unwrap_or_default()
    }
}

/// Consecutive health-check failures that mark a backend unhealthy.
pub const UNHEALTHY_AFTER: u32 = 2;

/// The active health checks' verdict on one backend. New backends start healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthState {
    pub healthy: bool,
    consecutive_failures: u32,
}

impl Default for HealthState {
    fn default() -> Self {
        HealthState {
            healthy: true,
            consecutive_failures: 0,
        }
    }
}

impl HealthState {
    /// Takes one check's result; true when the verdict changed.
    pub fn observe(&mut self, passed: bool) -> bool {
        let was = self.healthy;
        if passed {
            self.consecutive_failures = 0;
            self.healthy = true;
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            if self.consecutive_failures >= UNHEALTHY_AFTER {
                self.healthy = false;
            }
        }
        was != self.healthy
    }
}

pub struct Backend {
    pub address: SocketAddr,
    /// Its metric series (and label), resolved once.
    series: BackendSeries,
    health: Mutex<HealthState>,
    passive: Mutex<PassiveState>,
    in_flight: AtomicU64,
    served: AtomicU64,
    failures: AtomicU64,
    /// Gone from the DNS answer: no new requests, removed once idle.
    draining: AtomicBool,
}

impl Backend {
    fn new(address: SocketAddr, metrics: &Metrics) -> Self {
        Backend {
            address,
            series: metrics.series(&address.to_string()),
            health: Mutex::new(HealthState::default()),
            passive: Mutex::new(PassiveState::default()),
            in_flight: AtomicU64::new(0),
            served: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            draining: AtomicBool::new(false),
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .healthy
    }

    pub fn is_ejected(&self, now: Instant) -> bool {
        self.passive
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_ejected(now)
    }

    pub fn is_available(&self, now: Instant) -> bool {
        !self.draining.load(Ordering::Relaxed) && self.is_healthy() && !self.is_ejected(now)
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The address as the metrics and the status page name it.
    pub fn label(&self) -> &str {
        self.series.backend()
    }

    pub fn series(&self) -> &BackendSeries {
        &self.series
    }
}

/// One backend's line in `/gateway/status`.
#[derive(Debug, Clone, Serialize)]
pub struct BackendStatus {
    pub address: String,
    pub healthy: bool,
    pub ejected: bool,
    pub ejected_for_secs: f64,
    pub in_flight: u64,
    pub served: u64,
    pub failures: u64,
    pub draining: bool,
}

/// The shared set of backends.
pub struct Registry {
    backends: RwLock<Vec<Arc<Backend>>>,
    cursor: AtomicUsize,
    policy: EjectionPolicy,
    metrics: Arc<Metrics>,
}

impl Registry {
    pub fn new(
        addresses: &[SocketAddr],
        policy: EjectionPolicy,
        metrics: Arc<Metrics>,
    ) -> Registry {
        let registry = Registry {
            backends: RwLock::new(Vec::new()),
            cursor: AtomicUsize::new(0),
            policy,
            metrics,
        };
        registry.reconcile(addresses);
        registry
    }

    pub fn snapshot(&self) -> Vec<Arc<Backend>> {
        self.backends
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.snapshot()
            .iter()
            .filter(|backend| !backend.draining.load(Ordering::Relaxed))
            .map(|backend| backend.address)
            .collect()
    }

    /// Picks a backend for a request and counts it in flight there.
    pub fn acquire(&self, tried: &[SocketAddr], now: Instant) -> Option<InFlight> {
        let backend = {
            // Under the read lock rather than on a copy of the list: a request clones only the
            // backend it gets.
            let backends = self.backends.read().unwrap_or_else(PoisonError::into_inner);
            let candidates: Vec<Candidate> = backends
                .iter()
                .map(|backend| Candidate {
                    address: backend.address,
                    available: backend.is_available(now),
                    in_flight: backend.in_flight(),
                })
                .collect();
            let cursor = self.cursor.fetch_add(1, Ordering::Relaxed);
            let index = pick_backend(&candidates, tried, cursor)?;
            Arc::clone(&backends[index])
        };
        backend.in_flight.fetch_add(1, Ordering::Relaxed);
        self.metrics.in_flight_changed(backend.series(), 1);
        Some(InFlight {
            backend,
            metrics: Arc::clone(&self.metrics),
        })
    }

    /// Counts a failed request against a backend; may eject it.
    pub fn record_failure(&self, backend: &Backend, now: Instant) {
        backend.failures.fetch_add(1, Ordering::Relaxed);
        let ejected = backend
            .passive
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record_failure(now, &self.policy);
        if ejected {
            tracing::warn!(backend = %backend.address, eject_for = ?self.policy.eject_for,
                "backend ejected after repeated failures");
            self.metrics.ejected(backend.label());
            self.publish_up(backend, now);
        }
    }

    /// Counts an answered request.
    pub fn record_served(&self, backend: &Backend) {
        backend.served.fetch_add(1, Ordering::Relaxed);
        backend
            .passive
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record_success();
    }

    /// Takes one health check's result for the backend at `address`.
    pub fn record_health(&self, address: SocketAddr, passed: bool, now: Instant) {
        let Some(backend) = self
            .snapshot()
            .into_iter()
            .find(|backend| backend.address == address)
        else {
            return;
        };
        let (changed, recovered) = {
            let mut health = backend
                .health
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // A check that passes after failing ones: the backend was down and is back.
            let recovered = passed && (health.consecutive_failures > 0 || !health.healthy);
            (health.observe(passed), recovered)
        };
        if recovered {
            backend
                .passive
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .lift();
        }
        if changed {
            if passed {
                tracing::info!(backend = %address, "backend healthy");
            } else {
                tracing::warn!(backend = %address, "backend unhealthy");
            }
        }
        self.publish_up(&backend, now);
    }

    /// Sets the `up` gauge of every backend (ejections expire without an event).
    pub fn publish_all(&self, now: Instant) {
        for backend in self.snapshot() {
            self.publish_up(&backend, now);
        }
    }

    fn publish_up(&self, backend: &Backend, now: Instant) {
        self.metrics
            .set_up(backend.label(), backend.is_available(now));
    }

    /// Makes the membership match `addresses`: new ones join (healthy until checked), missing
    /// ones drain and leave once they have nothing in flight.
    pub fn reconcile(&self, addresses: &[SocketAddr]) {
        let mut backends = self
            .backends
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for backend in backends.iter() {
            let wanted = addresses.contains(&backend.address);
            let was_draining = backend.draining.swap(!wanted, Ordering::Relaxed);
            if was_draining && wanted {
                tracing::info!(backend = %backend.address, "backend back in the answer");
            } else if !was_draining && !wanted {
                tracing::info!(backend = %backend.address, "backend left the answer; draining");
            }
        }
        for address in addresses {
            if !backends.iter().any(|backend| backend.address == *address) {
                tracing::info!(backend = %address, "backend added");
                backends.push(Arc::new(Backend::new(*address, &self.metrics)));
                self.metrics.set_up(&address.to_string(), true);
            }
        }
        backends.retain(|backend| {
            let gone = backend.draining.load(Ordering::Relaxed) && backend.in_flight() == 0;
            if gone {
                tracing::info!(backend = %backend.address, "backend removed");
                self.metrics.forget_backend(backend.label());
            }
            !gone
        });
    }

    pub fn status(&self, now: Instant) -> Vec<BackendStatus> {
        self.snapshot()
            .iter()
            .map(|backend| {
                let passive = backend
                    .passive
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                BackendStatus {
                    address: backend.label().to_owned(),
                    healthy: backend.is_healthy(),
                    ejected: passive.is_ejected(now),
                    ejected_for_secs: (passive.ejected_for(now).as_secs_f64() * 10.0).round()
                        / 10.0,
                    in_flight: backend.in_flight(),
                    served: backend.served.load(Ordering::Relaxed),
                    failures: backend.failures.load(Ordering::Relaxed),
                    draining: backend.draining.load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}

/// A request in flight at a backend; the count goes down when this is dropped, however the request
/// ends (answer, retry elsewhere, client abort, end of an event stream).
pub struct InFlight {
    backend: Arc<Backend>,
    metrics: Arc<Metrics>,
}

impl InFlight {
    pub fn backend(&self) -> &Arc<Backend> {
        &self.backend
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.backend.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.metrics.in_flight_changed(self.backend.series(), -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn candidate(port: u16, available: bool, in_flight: u64) -> Candidate {
        Candidate {
            address: address(port),
            available,
            in_flight,
        }
    }

    #[test]
    fn picks_the_least_busy_available_backend() {
        let candidates = [
            candidate(1, true, 5),
            candidate(2, true, 1),
            candidate(3, false, 0),
            candidate(4, true, 3),
        ];
        for cursor in 0..8 {
            assert_eq!(pick_backend(&candidates, &[], cursor), Some(1));
        }
    }

    #[test]
    fn ties_rotate_round_robin() {
        let candidates = [
            candidate(1, true, 0),
            candidate(2, true, 0),
            candidate(3, true, 0),
        ];
        let picks: Vec<_> = (0..6)
            .map(|cursor| pick_backend(&candidates, &[], cursor))
            .collect();
        assert_eq!(
            picks,
            [Some(0), Some(1), Some(2), Some(0), Some(1), Some(2)]
        );
    }

    #[test]
    fn skips_tried_backends_and_gives_up_when_none_is_left() {
        let candidates = [
            candidate(1, true, 0),
            candidate(2, true, 9),
            candidate(3, false, 0),
        ];
        assert_eq!(pick_backend(&candidates, &[address(1)], 0), Some(1));
        assert_eq!(
            pick_backend(&candidates, &[address(1), address(2)], 0),
            None
        );
        assert_eq!(pick_backend(&[], &[], 3), None);
    }

    fn policy() -> EjectionPolicy {
        EjectionPolicy {
            max_fails: 3,
            window: Duration::from_secs(30),
            eject_for: Duration::from_secs(30),
        }
    }

    #[test]
    fn ejects_after_max_fails_within_the_window_and_expires() {
        let start = Instant::now();
        let mut state = PassiveState::default();
        assert!(!state.record_failure(start, &policy()));
        assert!(!state.record_failure(start + Duration::from_secs(1), &policy()));
        assert!(state.record_failure(start + Duration::from_secs(2), &policy()));
        let after = start + Duration::from_secs(2);
        assert!(state.is_ejected(after));
        assert_eq!(state.ejected_for(after), Duration::from_secs(30));
        assert!(state.is_ejected(after + Duration::from_secs(29)));
        assert!(!state.is_ejected(after + Duration::from_secs(30)));
        assert_eq!(
            state.ejected_for(after + Duration::from_secs(31)),
            Duration::ZERO
        );
    }

    #[test]
    fn old_failures_leave_the_window_and_successes_clear_them() {
        let start = Instant::now();
        let mut state = PassiveState::default();
        state.record_failure(start, &policy());
        state.record_failure(start + Duration::from_secs(1), &policy());
        // The first two are 30 s old by now: this is only the first within the window.
        assert!(!state.record_failure(start + Duration::from_secs(31), &policy()));
        assert!(!state.is_ejected(start + Duration::from_secs(31)));
        state.record_success();
        let later = start + Duration::from_secs(32);
        assert!(!state.record_failure(later, &policy()));
        assert!(!state.record_failure(later, &policy()));
        assert!(state.record_failure(later, &policy()));
    }

    #[test]
    fn zero_max_fails_never_ejects() {
        let never = EjectionPolicy {
            max_fails: 0,
            ..policy()
        };
        let now = Instant::now();
        let mut state = PassiveState::default();
        for _ in 0..10 {
            assert!(!state.record_failure(now, &never));
        }
        assert!(!state.is_ejected(now));
    }

    #[test]
    fn health_needs_two_failures_to_fall_and_one_success_to_rise() {
        let mut health = HealthState::default();
        assert!(health.healthy, "new backends start healthy");
        assert!(!health.observe(false));
        assert!(health.healthy);
        assert!(health.observe(false));
        assert!(!health.healthy);
        assert!(!health.observe(false));
        assert!(health.observe(true));
        assert!(health.healthy);
        // A success in between resets the count.
        health.observe(false);
        health.observe(true);
        health.observe(false);
        assert!(health.healthy);
    }

    #[test]
    fn registry_counts_in_flight_and_drains_removed_backends() {
        let metrics = Arc::new(Metrics::new());
        let registry = Registry::new(&[address(1), address(2)], policy(), metrics);
        let now = Instant::now();
        let first = registry.acquire(&[], now).expect("a backend");
        let second = registry.acquire(&[], now).expect("a backend");
        assert_ne!(
            first.backend().address,
            second.backend().address,
            "least in flight spreads"
        );
        let kept = first.backend().address;
        let leaving = second.backend().address;
        registry.reconcile(&[kept, address(3)]);
        assert_eq!(registry.snapshot().len(), 3, "leaving one still in flight");
        assert!(registry.addresses().contains(&address(3)));
        assert!(!registry.addresses().contains(&leaving));
        let third = registry.acquire(&[kept], now).expect("the new one");
        assert_eq!(
            third.backend().address,
            address(3),
            "draining is not picked"
        );
        drop(second);
        registry.reconcile(&[kept, address(3)]);
        assert_eq!(registry.snapshot().len(), 2);
        drop(first);
        drop(third);
        assert!(
            registry
                .status(now)
                .iter()
                .all(|status| status.in_flight == 0)
        );
    }

    #[test]
    fn registry_ejects_and_health_checks_remove_from_rotation() {
        let metrics = Arc::new(Metrics::new());
        let registry = Registry::new(&[address(1), address(2)], policy(), metrics);
        let now = Instant::now();
        let backend = registry.snapshot()[0].clone();
        for _ in 0..3 {
            registry.record_failure(&backend, now);
        }
        for _ in 0..4 {
            let picked = registry.acquire(&[], now).expect("the other");
            assert_eq!(picked.backend().address, address(2));
        }
        registry.record_health(address(2), false, now);
        registry.record_health(address(2), false, now);
        assert!(registry.acquire(&[], now).is_none());
        let later = now + Duration::from_secs(31);
        assert_eq!(
            registry.acquire(&[], later).map(|f| f.backend().address),
            Some(address(1)),
            "ejection expired"
        );
        let status = registry.status(now);
        assert!(status[0].ejected && status[0].failures == 3);
        assert!(!status[1].healthy);
    }

    #[test]
    fn a_backend_seen_down_and_back_by_the_health_checks_returns_before_its_ejection_ends() {
        let metrics = Arc::new(Metrics::new());
        let registry = Registry::new(&[address(1), address(2)], policy(), metrics);
        let now = Instant::now();
        let backend = registry.snapshot()[0].clone();
        for _ in 0..3 {
            registry.record_failure(&backend, now);
        }
        // Still failing its checks: it stays out.
        registry.record_health(address(1), false, now);
        assert!(registry.status(now)[0].ejected);
        // Passing again after being seen down: back at once, with a clean record.
        registry.record_health(address(1), true, now);
        let status = registry.status(now);
        assert!(status[0].healthy && !status[0].ejected, "{status:?}");
        let picked: Vec<SocketAddr> = (0..2)
            .map(|_| {
                registry
                    .acquire(&[], now)
                    .expect("a backend")
                    .backend()
                    .address
            })
            .collect();
        assert!(picked.contains(&address(1)), "{picked:?}");
    }

    #[test]
    fn passing_checks_alone_do_not_lift_an_ejection() {
        let metrics = Arc::new(Metrics::new());
        let registry = Registry::new(&[address(1), address(2)], policy(), metrics);
        let now = Instant::now();
        let backend = registry.snapshot()[0].clone();
        for _ in 0..3 {
            registry.record_failure(&backend, now);
        }
        // A backend that fails requests but answers its health checks stays ejected.
        registry.record_health(address(1), true, now);
        assert!(registry.status(now)[0].ejected);
    }
}
