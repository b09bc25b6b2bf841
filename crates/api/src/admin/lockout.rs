//! The growing delay after failed logins, per client address and per account: the first
//! [`FREE_FAILURES`] minus one failures cost nothing, then each failure locks the key for twice as
//! long as the one before, from [`FIRST_DELAY`] up to [`MAX_DELAY`]. The counts live in Postgres
//! (`store::admin`) so every replica applies them; these are the plain rules.

use std::time::Duration;

/// The failure that starts the first delay.
pub const FREE_FAILURES: u32 = 3;
/// The delay the [`FREE_FAILURES`]th failure starts.
pub const FIRST_DELAY: Duration = Duration::from_secs(30);
/// No delay is longer: a locked-out administrator gets another try within this.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// A count whose last failure is older than this starts again.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// How long the `failures`th failure in a row locks its key; `None` before [`FREE_FAILURES`].
pub fn delay_after(failures: u32) -> Option<Duration> {
    let doublings = failures.checked_sub(FREE_FAILURES)?;
    // 2^5 × 30 s is past the cap already; the shift must not overflow for large counts.
    let factor = 1u32 << doublings.min(16);
    Some(FIRST_DELAY.saturating_mul(factor).min(MAX_DELAY))
}

/// `Retry-After` for a lock with `remaining` left: whole seconds, rounded up, never zero (a client
/// told 0 would come back while the lock still holds).
pub fn retry_after_secs(remaining: Duration) -> u64 {
    let whole = remaining.as_secs();
    let seconds = if remaining.subsec_nanos() > 0 {
        whole.saturating_add(1)
    } else {
        whole
    };
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failures_are_free() {
        assert_eq!(delay_after(0), None);
        assert_eq!(delay_after(1), None);
        assert_eq!(delay_after(2), None);
    }

    #[test]
    fn the_delay_doubles_from_the_third_failure_up_to_the_cap() {
        assert_eq!(delay_after(3), Some(Duration::from_secs(30)));
        assert_eq!(delay_after(4), Some(Duration::from_secs(60)));
        assert_eq!(delay_after(5), Some(Duration::from_secs(120)));
        assert_eq!(delay_after(7), Some(Duration::from_secs(480)));
        assert_eq!(delay_after(8), Some(MAX_DELAY));
        assert_eq!(delay_after(50), Some(MAX_DELAY));
        assert_eq!(delay_after(u32::MAX), Some(MAX_DELAY));
    }

    #[test]
    fn delays_never_shrink() {
        let mut previous = Duration::ZERO;
        for failures in 0..100 {
            let delay = delay_after(failures).unwrap_or_default();
            assert!(delay >= previous, "failure {failures}");
            assert!(delay <= MAX_DELAY);
            previous = delay;
        }
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
        assert_eq!(retry_after_secs(Duration::from_millis(29_001)), 30);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
