//! Capped exponential backoff with full jitter, configured by the chart's
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

    /// The next delay, drawn uniformly from `[0, ceiling]` ("full jitter"),
    /// so that many nodes failing together do not retry together.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(rand::random::<f64>())
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
    fn a_policy_that_would_spin_or_shrink_is_refused_with_the_value_name() {
        let zero = RetryPolicy { initial: Duration::ZERO, ..RetryPolicy::default() };
        assert!(zero.validate().unwrap_err().to_string().contains("initialRetryDelaySeconds"));
        let shrinking = RetryPolicy { factor: 0.5, ..RetryPolicy::default() };
        assert!(shrinking.validate().unwrap_err().to_string().contains("retryDelayFactor"));
        let inverted = RetryPolicy { max: Duration::from_secs(1), ..RetryPolicy::default() };
        assert!(inverted.validate().unwrap_err().to_string().contains("maxRetryDelaySeconds"));
    }
}
