//! Capped exponential backoff with bounded jitter, configured by the chart's
//! `initialRetryDelaySeconds`, `maxRetryDelaySeconds` and `retryDelayFactor`.
//! Used for retries inside one API call and by the sidecar's polling loop.

use std::time::Duration;

/// Retry configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
    /// Attempts per API call before its error is returned to the caller.
    pub attempts_per_call: u32,
}

impl Default for RetryPolicy {
    /// The chart's defaults (5 s, 300 s, x1.5), three attempts per call.
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(300),
            factor: 1.5,
            attempts_per_call: 3,
        }
    }
}

/// Why a retry policy was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RetryPolicyError {
    #[error("initialRetryDelaySeconds must be more than 0")]
    ZeroInitial,
    #[error("maxRetryDelaySeconds ({max:?}) must be at least initialRetryDelaySeconds ({initial:?})")]
    MaxBelowInitial { initial: Duration, max: Duration },
    #[error("retryDelayFactor must be a number of at least 1.0, found {0}")]
    Factor(f64),
}

impl RetryPolicy {
    pub fn validate(self) -> Result<Self, RetryPolicyError> {
        if self.initial.is_zero() {
            return Err(RetryPolicyError::ZeroInitial);
        }
        if self.max < self.initial {
            return Err(RetryPolicyError::MaxBelowInitial { initial: self.initial, max: self.max });
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(RetryPolicyError::Factor(self.factor));
        }
        Ok(self)
    }

    pub fn backoff(self) -> Backoff {
        Backoff { policy: self, attempt: 0 }
    }
}

/// The share of the ceiling a delay may fall short of it by.
const JITTER: f64 = 0.1;

/// The delay sequence of one run of failures.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    attempt: u32,
}

impl Backoff {
    /// The ceiling for the next delay: `initial * factor^attempt`, capped.
    pub fn ceiling(&self) -> Duration {
        let exponent = self.attempt.min(64) as i32;
        let secs = self.policy.initial.as_secs_f64() * self.policy.factor.powi(exponent);
        Duration::from_secs_f64(secs.min(self.policy.max.as_secs_f64()))
    }

    /// The next delay, drawn uniformly from `[90%, 100%]` of the ceiling:
    /// at the 300 s cap a 30 s spread, enough that many nodes never poll in
    /// step, while the mean (95% of the ceiling) keeps the load on the API
    /// within 10% of one request per `maxRetryDelaySeconds`. (Full jitter,
    /// `[0, ceiling]`, would halve the interval and double the load.)
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(1.0 - JITTER * rand::random::<f64>())
    }

    /// Back to the initial delay after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap_and_stay_within_it() {
        let policy = RetryPolicy {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(10),
            factor: 2.0,
            attempts_per_call: 3,
        };
        let mut backoff = policy.backoff();
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            ceilings.push(backoff.ceiling().as_secs());
            let delay = backoff.next_delay();
            assert!(delay <= Duration::from_secs(10));
        }
        assert_eq!(ceilings, vec![2, 4, 8, 10, 10, 10]);
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_secs(2));
    }

    #[test]
    fn delays_at_the_cap_spread_but_average_within_ten_percent_of_it() {
        let policy = RetryPolicy { initial: Duration::from_secs(300), ..RetryPolicy::default() };
        let mut backoff = policy.backoff();
        let delays: Vec<f64> = (0..10_000).map(|_| backoff.next_delay().as_secs_f64()).collect();
        let mean = delays.iter().sum::<f64>() / delays.len() as f64;
        assert!((mean - 300.0).abs() <= 30.0, "mean {mean} s");
        assert!(delays.iter().all(|d| (270.0..=300.0).contains(d)));
        let spread = delays.iter().cloned().fold(f64::MAX, f64::min)..delays.iter().cloned().fold(0.0, f64::max);
        assert!(spread.end - spread.start > 25.0, "nodes do not poll in step: {spread:?}");
    }

    #[test]
    fn a_policy_that_would_spin_or_shrink_is_refused_with_the_value_name() {
        let zero = RetryPolicy { initial: Duration::ZERO, ..RetryPolicy::default() };
        assert!(zero.validate().unwrap_err().to_string().contains("initialRetryDelaySeconds"));
        let shrinking = RetryPolicy { factor: 0.5, ..RetryPolicy::default() };
        assert!(shrinking.validate().unwrap_err().to_string().contains("retryDelayFactor"));
        let inverted = RetryPolicy { max: Duration::from_secs(1), ..RetryPolicy::default() };
        assert!(inverted.validate().unwrap_err().to_string().contains("maxRetryDelaySeconds"));
    }
}
