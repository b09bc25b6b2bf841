//! Exponential backoff with jitter, honouring a server's `Retry-After`.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

/// The retries of one call.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    retries: u32,
    seed: u64,
}

impl Backoff {
    pub fn new(policy: RetryPolicy) -> Backoff {
        let mut bytes = [0u8; 8];
        // Without OS randomness the jitter is merely predictable, which is harmless.
        let _ = getrandom::fill(&mut bytes);
        Backoff::with_seed(policy, u64::from_le_bytes(bytes))
    }

    pub fn with_seed(policy: RetryPolicy, seed: u64) -> Backoff {
        Backoff {
            policy,
            retries: 0,
            seed: seed | 1,
        }
    }

    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The wait before the next retry, or `None` when the retries are used up. The wait is the
    /// server's `Retry-After` when it gave one (capped at the maximum delay), else
    /// `base × 2^retry` with "equal jitter": half fixed, half random, so many workers that failed
    /// together do not come back together.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        if self.retries >= self.policy.max_retries {
            return None;
        }
        let exponent = self.retries.min(20);
        self.retries += 1;
        if let Some(retry_after) = retry_after {
            return Some(retry_after.min(self.policy.max_delay));
        }
        let ceiling = self
            .policy
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.policy.max_delay);
        let half = ceiling / 2;
        let jitter_range = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
        let jitter = Duration::from_micros(self.next_random() % jitter_range);
        Some(half + jitter)
    }

    /// xorshift64: enough randomness for jitter.
    fn next_random(&mut self) -> u64 {
        let mut x = self.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        }
    }

    #[test]
    fn delays_grow_within_bounds_and_stop_after_the_last_retry() {
        for seed in 0..50 {
            let mut backoff = Backoff::with_seed(policy(), seed);
            let expected_ceilings = [100, 200, 400, 500];
            for ceiling in expected_ceilings {
                let delay = backoff.next_delay(None).expect("a retry left");
                let ceiling = Duration::from_millis(ceiling);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "{delay:?} for {ceiling:?}"
                );
            }
            assert_eq!(backoff.next_delay(None), None);
            assert_eq!(backoff.retries(), 4);
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let mut backoff = Backoff::with_seed(policy(), 7);
        assert_eq!(
            backoff.next_delay(Some(Duration::from_millis(300))),
            Some(Duration::from_millis(300))
        );
        assert_eq!(
            backoff.next_delay(Some(Duration::from_secs(60))),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            backoff.next_delay(Some(Duration::ZERO)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let delays: std::collections::HashSet<Duration> = (0..20)
            .map(|seed| {
                Backoff::with_seed(policy(), seed)
                    .next_delay(None)
                    .expect("a retry")
            })
            .collect();
        assert!(delays.len() > 5, "{delays:?}");
    }
}
