//! The per-caller rate limit on submits (`POST /v1/workflows` only: reads and operator
//! actions are never limited): a keyed GCRA limiter from `governor`, checked by the
//! [`SubmitAllowed`] extractor before the body is read. Over the limit is 429
//! `RATE_LIMITED` with `Retry-After`, counted in `http_submits_rate_limited_total`.
//!
//! The caller is the authenticated subject when the API asks for credentials (a JWT's `sub`,
//! or a static token's name: the limiter's keys never hold a secret), else the client's IP
//! address. Not an identity without auth: behind a proxy every caller is the proxy's address,
//! which is why the limit is off unless configured.

use super::auth::Caller;
use super::error::Error;
use super::ApiState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Every this many checks, callers whose limit has fully recovered are forgotten, so that a
/// stream of one-time client addresses cannot grow the limiter's map without end.
const FORGET_EVERY: u64 = 4096;

/// A submit rate: `count` per `period`, with bursts of up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitRate {
    pub count: NonZeroU32,
    pub period: Duration,
    pub burst: NonZeroU32,
}

impl SubmitRate {
    /// `count` per `period`, bursts of `count`.
    pub fn new(count: NonZeroU32, period: Duration) -> SubmitRate {
        SubmitRate {
            count,
            period,
            burst: count,
        }
    }

    /// The same rate with bursts of up to `burst`.
    pub fn with_burst(self, burst: NonZeroU32) -> SubmitRate {
        SubmitRate { burst, ..self }
    }

    fn quota(self) -> Quota {
        // One submit is let in every period / count; zero (a rate above one per nanosecond)
        // cannot be a governor quota, so it is the smallest interval instead.
        let interval = (self.period / self.count.get()).max(Duration::from_nanos(1));
        Quota::with_period(interval)
            .expect("the interval is above zero")
            .allow_burst(self.burst)
    }
}

/// `100/s`, `6000/m`, `10/h` (the burst is a flag of its own).
impl FromStr for SubmitRate {
    type Err = String;

    fn from_str(text: &str) -> Result<SubmitRate, String> {
        let wrong = || format!("`{text}` is not a rate such as 100/s, 6000/m or 10/h");
        let (count, unit) = text.trim().split_once('/').ok_or_else(wrong)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| wrong())?;
        let period = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(wrong()),
        };
        Ok(SubmitRate::new(count, period))
    }
}

/// Shown as parsed (`100/s`), with the burst when it differs from the count.
impl fmt::Display for SubmitRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            60 => "m",
            3600 => "h",
            _ => "s",
        };
        write!(f, "{}/{unit}", self.count)?;
        if self.burst != self.count {
            write!(f, " (burst {})", self.burst)?;
        }
        Ok(())
    }
}

/// The limiter of one API.
pub(super) struct SubmitLimiter {
    limiter: DefaultKeyedRateLimiter<u64>,
    /// Hashes callers into keys (SipHash with this process's random keys).
    keys: RandomState,
    checks: AtomicU64,
}

impl SubmitLimiter {
    pub(super) fn new(rate: SubmitRate) -> SubmitLimiter {
        SubmitLimiter {
            limiter: RateLimiter::keyed(rate.quota()),
            keys: RandomState::new(),
            checks: AtomicU64::new(0),
        }
    }

    /// Lets `caller` in, or says how long until it may submit again.
    fn check(&self, caller: u64) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&caller)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// The key of the caller of `parts`: its subject when the auth layer established one (a
    /// JWT's `sub` and a static token's name never share a budget), else its IP address (the
    /// port changes with every connection).
    fn caller(&self, parts: &Parts) -> u64 {
        if let Some(Caller {
            subject: Some(subject),
            by_jwt,
            ..
        }) = parts.extensions.get::<Caller>()
        {
            return self
                .keys
                .hash_one((if *by_jwt { 2u8 } else { 0u8 }, subject));
        }
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        self.keys.hash_one((1u8, address))
    }
}

/// Whole seconds to announce in `Retry-After`: rounded up, at least one, so that a client
/// waiting that long is let in.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// An extractor that lets a submit in, or refuses it with 429 before its body is read.
pub(super) struct SubmitAllowed;

impl FromRequestParts<ApiState> for SubmitAllowed {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Error> {
        let Some(limiter) = &state.submit_limiter else {
            return Ok(SubmitAllowed);
        };
        let caller = limiter.caller(parts);
        limiter
            .check(caller)
            .map(|()| SubmitAllowed)
            .map_err(|wait| {
                crate::metrics::http_rate_limited();
                Error::RateLimited {
                    retry_after_secs: retry_after_secs(wait),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_show_as_written() {
        let rate: SubmitRate = "100/s".parse().unwrap();
        assert_eq!(rate.count.get(), 100);
        assert_eq!(rate.period, Duration::from_secs(1));
        assert_eq!(rate.burst.get(), 100);
        assert_eq!(rate.to_string(), "100/s");
        assert_eq!(
            "6000/m".parse::<SubmitRate>().unwrap().to_string(),
            "6000/m"
        );
        let burst = rate.with_burst(NonZeroU32::new(200).unwrap());
        assert_eq!(burst.to_string(), "100/s (burst 200)");
        for wrong in ["", "100", "0/s", "-1/s", "10/d", "x/s", "10/"] {
            assert!(wrong.parse::<SubmitRate>().is_err(), "{wrong}");
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
    }

    /// The parts of a request from `peer`, authenticated as `subject` (by JWT or not).
    fn parts(peer: &str, subject: Option<(&str, bool)>) -> Parts {
        let request = axum::http::Request::builder().uri("/v1/workflows");
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        let peer: SocketAddr = peer.parse().unwrap();
        parts.extensions.insert(ConnectInfo(peer));
        if let Some((subject, by_jwt)) = subject {
            parts.extensions.insert(Caller {
                subject: Some(subject.to_owned()),
                scopes: super::super::auth::Scopes::all(),
                by_jwt,
            });
        }
        parts
    }

    #[test]
    fn the_caller_is_the_subject_when_authenticated_else_the_ip_address() {
        let rate = SubmitRate::new(NonZeroU32::new(1).unwrap(), Duration::from_secs(1));
        let limiter = SubmitLimiter::new(rate);
        let key = |peer, subject| limiter.caller(&parts(peer, subject));
        // By address: the port does not matter, the IP does.
        let a = key("10.0.0.1:1000", None);
        assert_eq!(a, key("10.0.0.1:2000", None));
        assert_ne!(a, key("10.0.0.2:1000", None));
        // By subject: one budget per subject, wherever it comes from.
        let alice = key("10.0.0.1:1000", Some(("alice", true)));
        assert_eq!(alice, key("10.0.0.2:1000", Some(("alice", true))));
        assert_ne!(alice, key("10.0.0.1:1000", Some(("bob", true))));
        assert_ne!(alice, a, "a subject never shares a budget with an address");
        // A JWT whose `sub` spells a static token's name does not share that token's budget.
        assert_ne!(
            key("10.0.0.1:1000", Some(("token:a81e611a", true))),
            key("10.0.0.1:1000", Some(("token:a81e611a", false)))
        );
    }

    #[test]
    fn a_caller_over_its_burst_waits_and_another_is_not_affected() {
        let rate = SubmitRate::new(NonZeroU32::new(1).unwrap(), Duration::from_secs(60))
            .with_burst(NonZeroU32::new(2).unwrap());
        let limiter = SubmitLimiter::new(rate);
        assert!(limiter.check(1).is_ok());
        assert!(limiter.check(1).is_ok());
        let wait = limiter
            .check(1)
            .expect_err("the third submit is over the burst");
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(
            limiter.check(2).is_ok(),
            "another caller has its own budget"
        );
    }
}
