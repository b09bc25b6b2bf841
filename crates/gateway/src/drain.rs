//! When the process may leave after a signal. Pingora's own shutdown sleeps a fixed grace period
//! and then cancels whatever is still running; a `generate-test` wait (up to two minutes) in
//! flight in an old process after an upgrade would be cut. So the gateway counts the requests it
//! is answering (event streams aside: their clients resume on the successor) and leaves by
//! itself: after SIGQUIT as soon as none is left (or `upgrade_drain_secs` have passed), after
//! SIGTERM at the end of the grace period plus the time in-flight requests get.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The requests being answered that a shutdown must wait for.
#[derive(Debug, Clone, Default)]
pub struct Pending(Arc<AtomicUsize>);

impl Pending {
    /// Counts one more request until the guard is dropped (with the request's context).
    pub fn enter(&self) -> PendingGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        PendingGuard(Arc::clone(&self.0))
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
pub struct PendingGuard(Arc<AtomicUsize>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The signal that ends the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// SIGTERM: serve on for the grace period, then give in-flight requests their time.
    Stop,
    /// SIGQUIT: the sockets went to a successor; answer what is in flight, then leave.
    Upgrade,
}

/// How long the process stays at most, and from when it may leave early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Before this, the process stays whatever is in flight (SIGTERM's grace period).
    pub serve_on: Duration,
    /// After this, the process leaves whatever is in flight.
    pub at_most: Duration,
}

impl Schedule {
    pub fn of(
        ending: Ending,
        grace_period: Duration,
        graceful_timeout: Duration,
        upgrade_drain: Duration,
    ) -> Schedule {
        match ending {
            Ending::Stop => Schedule {
                serve_on: grace_period,
                at_most: grace_period + graceful_timeout,
            },
            Ending::Upgrade => Schedule {
                serve_on: Duration::ZERO,
                at_most: upgrade_drain,
            },
        }
    }

    /// Whether the process may leave `since` the signal with `pending` requests in flight.
    pub fn may_leave(&self, since: Duration, pending: usize) -> bool {
        since >= self.at_most || (since >= self.serve_on && pending == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(3);
    const TIMEOUT: Duration = Duration::from_secs(2);
    const DRAIN: Duration = Duration::from_secs(150);

    #[test]
    fn after_an_upgrade_the_process_stays_exactly_while_it_answers() {
        let upgrade = Schedule::of(Ending::Upgrade, GRACE, TIMEOUT, DRAIN);
        assert!(upgrade.may_leave(Duration::ZERO, 0), "nothing in flight");
        assert!(!upgrade.may_leave(Duration::from_secs(100), 1), "a wait");
        assert!(upgrade.may_leave(DRAIN, 1), "bounded");
    }

    #[test]
    fn a_stop_serves_on_for_the_grace_period_then_drains_briefly() {
        let stop = Schedule::of(Ending::Stop, GRACE, TIMEOUT, DRAIN);
        assert!(!stop.may_leave(Duration::from_secs(1), 0), "serving on");
        assert!(stop.may_leave(GRACE, 0));
        assert!(!stop.may_leave(Duration::from_secs(4), 2));
        assert!(stop.may_leave(GRACE + TIMEOUT, 2), "cut as before");
    }

    #[test]
    fn guards_count_what_is_in_flight() {
        let pending = Pending::default();
        let first = pending.enter();
        let second = pending.enter();
        assert_eq!(pending.count(), 2);
        drop(first);
        assert_eq!(pending.count(), 1);
        drop(second);
        assert_eq!(pending.count(), 0);
    }
}
