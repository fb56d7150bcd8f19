//! Retry policies as data, and the pure function that turns a policy and an attempt number
//! into a delay.
//!
//! Not a scheduler: it never sleeps and never draws random numbers. Jitter comes in as an
//! argument in `[0, 1)` so tests and the decision function stay deterministic.

use serde::{Deserialize, Serialize};

/// How often and how fast an activity is retried after a retryable error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (`4` = one try and three retries).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_interval_ms: u64,
    /// Factor applied to the delay after each retry (`2.0` = exponential doubling).
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Upper bound of any one delay.
    pub max_interval_ms: u64,
    /// Spread: a delay `d` becomes a value in `[d * (1 - jitter), d * (1 + jitter))`, then is
    /// capped. `0.0` = no jitter.
    #[serde(default)]
    pub jitter: f64,
}

fn default_multiplier() -> f64 {
    2.0
}

impl RetryPolicy {
    /// The default policy for actions before the pivot (docs/workflows.md), the one the purchase
    /// scenario uses: 3 retries after 1 s, 2 s and 4 s.
    pub const README: RetryPolicy = RetryPolicy {
        max_attempts: 4,
        initial_interval_ms: 1_000,
        multiplier: 2.0,
        max_interval_ms: 4_000,
        jitter: 0.0,
    };

    /// The default for activities that must eventually succeed (post-pivot steps and
    /// compensations): many attempts with capped backoff, about half an hour in all, before
    /// the workflow is parked as `failed`.
    pub const PERSISTENT: RetryPolicy = RetryPolicy {
        max_attempts: 40,
        initial_interval_ms: 1_000,
        multiplier: 2.0,
        max_interval_ms: 60_000,
        jitter: 0.0,
    };

    /// True when an activity that has made `attempts` attempts may make another one.
    pub fn allows_another(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// The delay before the retry that follows attempt number `attempt` (1-based), with
    /// `jitter_sample` in `[0, 1)` spreading it by the policy's jitter.
    pub fn delay_ms(&self, attempt: u32, jitter_sample: f64) -> u64 {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let base = self.initial_interval_ms as f64 * self.multiplier.powi(exponent);
        let spread = 1.0 + self.jitter * (2.0 * jitter_sample.clamp(0.0, 1.0) - 1.0);
        let delay = (base * spread).min(self.max_interval_ms as f64);
        delay.max(0.0).round() as u64
    }

    /// [`RetryPolicy::delay_ms`], but at least `hint_ms` (a participant's `Retry-After`) when
    /// given; a hint never stretches a delay beyond the policy's longest.
    pub fn delay_with_hint_ms(
        &self,
        attempt: u32,
        jitter_sample: f64,
        hint_ms: Option<u64>,
    ) -> u64 {
        let delay = self.delay_ms(attempt, jitter_sample);
        match hint_ms {
            Some(hint) => delay.max(hint.min(self.max_interval_ms)),
            None => delay,
        }
    }

    /// Checks the policy's numbers; the message names the problem.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".into());
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err("multiplier must be a finite number >= 1".into());
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err("jitter must be between 0 and 1".into());
        }
        if self.max_interval_ms < self.initial_interval_ms {
            return Err("max_interval_ms must be >= initial_interval_ms".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_policy_waits_one_two_four_seconds() {
        let p = RetryPolicy::README;
        let delays: Vec<u64> = (1..=3).map(|a| p.delay_ms(a, 0.5)).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000]);
        assert!(p.allows_another(3));
        assert!(!p.allows_another(4), "three retries, then no more");
    }

    #[test]
    fn a_hint_lengthens_a_delay_up_to_the_longest_and_never_shortens_it() {
        let p = RetryPolicy::README; // 1 s, 2 s, 4 s; at most 4 s
        assert_eq!(p.delay_with_hint_ms(1, 0.5, None), 1_000);
        assert_eq!(p.delay_with_hint_ms(1, 0.5, Some(2_500)), 2_500);
        assert_eq!(p.delay_with_hint_ms(2, 0.5, Some(100)), 2_000);
        assert_eq!(p.delay_with_hint_ms(1, 0.5, Some(3_600_000)), 4_000);
    }

    #[test]
    fn delays_are_capped() {
        let p = RetryPolicy::PERSISTENT;
        assert_eq!(p.delay_ms(7, 0.0), 60_000);
        assert_eq!(
            p.delay_ms(1_000, 0.0),
            60_000,
            "large attempt numbers must not overflow"
        );
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let p = RetryPolicy {
            jitter: 0.5,
            ..RetryPolicy::README
        };
        assert_eq!(p.delay_ms(1, 0.0), 500);
        assert_eq!(p.delay_ms(1, 0.5), 1_000);
        assert_eq!(p.delay_ms(1, 0.999_999), 1_500);
        assert_eq!(
            p.delay_ms(3, 0.999_999),
            4_000,
            "the cap applies after jitter"
        );
    }

    #[test]
    fn validation_names_the_problem() {
        let bad = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::README
        };
        assert!(bad.validate().unwrap_err().contains("max_attempts"));
        let bad = RetryPolicy {
            multiplier: 0.5,
            ..RetryPolicy::README
        };
        assert!(bad.validate().unwrap_err().contains("multiplier"));
        let bad = RetryPolicy {
            max_interval_ms: 10,
            ..RetryPolicy::README
        };
        assert!(bad.validate().unwrap_err().contains("max_interval_ms"));
        assert!(RetryPolicy::PERSISTENT.validate().is_ok());
    }

    #[test]
    fn a_maximum_equal_to_the_initial_interval_is_accepted() {
        let flat = RetryPolicy {
            initial_interval_ms: 4_000,
            max_interval_ms: 4_000,
            ..RetryPolicy::README
        };
        assert_eq!(flat.validate(), Ok(()));
        assert_eq!(flat.delay_ms(3, 0.0), 4_000, "a constant delay");
    }

    #[test]
    fn a_policy_without_a_multiplier_doubles() {
        let p: RetryPolicy = toml::from_str(
            "max_attempts = 5\ninitial_interval_ms = 100\nmax_interval_ms = 10000\n",
        )
        .expect("a policy without multiplier and jitter parses");
        assert_eq!(p.multiplier, 2.0);
        assert_eq!(p.jitter, 0.0);
        let delays: Vec<u64> = (1..=4).map(|a| p.delay_ms(a, 0.5)).collect();
        assert_eq!(delays, [100, 200, 400, 800]);
        assert_eq!(p.validate(), Ok(()));
    }
}
