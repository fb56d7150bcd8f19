//! Protecting the participants: [`Protected`] wraps an executor with a circuit breaker
//! ([`crate::breaker`]) and a bulkhead (a cap on calls at once) per service, per worker
//! process. It answers the runner's [`Executor::admit`]: a call to a service whose breaker is
//! open, or whose bulkhead is full, is not made; the runner gives the activity back to the
//! store, due when the breaker half-opens (or shortly, for the bulkhead), and no attempt is
//! spent. The result of every call admitted goes back to the breaker through its guard.
//!
//! Not the classification of answers (that is `engine::outcome`): a retryable outcome is a
//! failure for the breaker, a success or a business error an answer.

use crate::breaker::{Breaker, BreakerConfig, Ended, State, Verdict, DEFAULT_BREAKER};
use engine::definition::Request;
use engine::runner::{Admission, CallGuard, Executor};
use engine::Outcome;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Calls at once per service unless told otherwise.
pub const DEFAULT_BULKHEAD: usize = 32;
/// How long an activity that found the bulkhead full waits before it is due again, in ms.
pub const BULKHEAD_RETRY_MS: u64 = 100;

/// One service's protection settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Protection {
    pub breaker: BreakerConfig,
    /// Most calls to the service in flight at once from this worker.
    pub bulkhead: usize,
}

impl Default for Protection {
    fn default() -> Protection {
        Protection {
            breaker: DEFAULT_BREAKER,
            bulkhead: DEFAULT_BULKHEAD,
        }
    }
}

/// An executor whose calls go through a breaker and a bulkhead per service.
pub struct Protected<E> {
    inner: E,
    services: HashMap<String, Arc<Slot>>,
}

/// One service's breaker and bulkhead.
struct Slot {
    service: String,
    breaker: Mutex<Breaker>,
    in_flight: AtomicUsize,
    bulkhead: usize,
}

impl Slot {
    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        // Plain data that no panic leaves half-written.
        self.breaker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn moved(&self, to: Option<State>) {
        if let Some(to) = to {
            match to {
                State::Open => {
                    tracing::warn!(service = %self.service, open_for_ms = self.breaker().open_for().as_millis() as u64, "circuit breaker opened")
                }
                _ => tracing::info!(service = %self.service, to = to.as_str(), "circuit breaker"),
            }
            engine::metrics::circuit_transition(&self.service, to.as_str(), to.gauge());
        }
    }
}

impl<E> Protected<E> {
    /// Protects calls to each of `services` with its settings from `settings` (a service it
    /// does not name gets `default`). Sets each service's metrics to closed and 0.
    pub fn new<'a>(
        inner: E,
        services: impl IntoIterator<Item = &'a str>,
        default: Protection,
        settings: &HashMap<String, Protection>,
    ) -> Protected<E> {
        let services = services
            .into_iter()
            .map(|name| {
                let p = settings.get(name).copied().unwrap_or(default);
                engine::metrics::protection_started(name);
                let slot = Slot {
                    service: name.to_owned(),
                    breaker: Mutex::new(Breaker::new(p.breaker)),
                    in_flight: AtomicUsize::new(0),
                    bulkhead: p.bulkhead.max(1),
                };
                (name.to_owned(), Arc::new(slot))
            })
            .collect();
        Protected { inner, services }
    }

    /// Every service's breaker state, by service name.
    pub fn states(&self) -> Vec<(String, State)> {
        let mut states: Vec<_> = self
            .services
            .iter()
            .map(|(name, slot)| (name.clone(), slot.breaker().state()))
            .collect();
        states.sort_by(|a, b| a.0.cmp(&b.0));
        states
    }

    /// The state of `service`'s breaker, if it has one.
    pub fn state(&self, service: &str) -> Option<State> {
        self.services.get(service).map(|s| s.breaker().state())
    }
}

impl<E: Executor> Executor for Protected<E> {
    fn execute(&self, request: &Request) -> impl std::future::Future<Output = Outcome> + Send {
        self.inner.execute(request)
    }

    fn admit(&self, request: &Request) -> Admission {
        let Some(slot) = self.services.get(&request.service) else {
            return self.inner.admit(request);
        };
        // The bulkhead slot first: a probe the breaker lets out must not then be refused.
        if slot.in_flight.fetch_add(1, Ordering::AcqRel) >= slot.bulkhead {
            slot.in_flight.fetch_sub(1, Ordering::AcqRel);
            engine::metrics::bulkhead_rejected(&slot.service);
            return Admission::Defer {
                delay_ms: BULKHEAD_RETRY_MS,
            };
        }
        let now = Instant::now();
        let (verdict, moved) = slot.breaker().admit(now);
        slot.moved(moved);
        let probe = match verdict {
            Verdict::Call { probe } => probe,
            Verdict::Defer { until } => {
                slot.in_flight.fetch_sub(1, Ordering::AcqRel);
                engine::metrics::breaker_deferred(&slot.service);
                // Rounded up: due no sooner than the breaker half-opens.
                let delay_ms = until.saturating_duration_since(now).as_millis() as u64 + 1;
                return Admission::Defer { delay_ms };
            }
        };
        let guard = Guard {
            slot: slot.clone(),
            probe,
            finished: false,
        };
        match self.inner.admit(request) {
            Admission::Call(None) => Admission::Call(Some(Box::new(guard))),
            Admission::Call(Some(inner)) => Admission::Call(Some(Box::new(Both(guard, inner)))),
            // Dropping the guard frees the slot and the probe.
            defer @ Admission::Defer { .. } => defer,
        }
    }
}

/// An admitted call: holds its bulkhead slot (and probe) until it ends or is dropped.
struct Guard {
    slot: Arc<Slot>,
    probe: bool,
    finished: bool,
}

impl CallGuard for Guard {
    fn finished(mut self: Box<Self>, outcome: &Outcome) {
        let ended = match outcome {
            Outcome::Retryable(_) => Ended::Failed,
            Outcome::Success(_) | Outcome::BusinessError(_) => Ended::Answered,
        };
        let moved = self
            .slot
            .breaker()
            .record(Instant::now(), self.probe, ended);
        self.slot.moved(moved);
        self.finished = true;
    }
}

/// This executor's guard, then the wrapped executor's.
struct Both(Guard, Box<dyn CallGuard>);

impl CallGuard for Both {
    fn finished(self: Box<Self>, outcome: &Outcome) {
        let Both(guard, inner) = *self;
        Box::new(guard).finished(outcome);
        inner.finished(outcome);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.slot.in_flight.fetch_sub(1, Ordering::AcqRel);
        if !self.finished {
            self.slot.breaker().abandon(self.probe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::ActivityError;
    use std::time::Duration;

    /// Answers every call with a 503-like retryable error.
    struct Down;

    impl Executor for Down {
        async fn execute(&self, _request: &Request) -> Outcome {
            Outcome::Retryable(ActivityError::new("HTTP_503", "down"))
        }
    }

    fn request(service: &str) -> Request {
        Request {
            service: service.into(),
            method: "POST".into(),
            path: "/x".into(),
            body: serde_json::json!({}),
            idempotency_key: "k".into(),
            timeout_ms: 1_000,
        }
    }

    fn protected(bulkhead: usize, failures: u32) -> Protected<Down> {
        let p = Protection {
            breaker: BreakerConfig {
                failures,
                min_calls: 1_000,
                open: Duration::from_secs(60),
                ..DEFAULT_BREAKER
            },
            bulkhead,
        };
        let mut settings = HashMap::new();
        settings.insert(
            "order".to_owned(),
            Protection {
                bulkhead: 1,
                ..Protection::default()
            },
        );
        Protected::new(Down, ["payment", "order"], p, &settings)
    }

    fn call(admission: Admission) -> Box<dyn CallGuard> {
        match admission {
            Admission::Call(Some(guard)) => guard,
            Admission::Call(None) => panic!("no guard"),
            Admission::Defer { delay_ms } => panic!("deferred by {delay_ms} ms"),
        }
    }

    #[test]
    fn the_bulkhead_caps_calls_at_once_and_frees_a_slot_when_a_call_ends_or_is_dropped() {
        let p = protected(2, 100);
        let r = request("payment");
        let first = call(p.admit(&r));
        let second = call(p.admit(&r));
        assert!(matches!(
            p.admit(&r),
            Admission::Defer {
                delay_ms: BULKHEAD_RETRY_MS
            }
        ));
        first.finished(&Outcome::Success(serde_json::json!({})));
        let third = call(p.admit(&r));
        drop(second);
        let _fourth = call(p.admit(&r));
        assert!(matches!(p.admit(&r), Admission::Defer { .. }));
        drop(third);
        // Per service: order has its own bulkhead of 1 (its override).
        let o = request("order");
        let _held = call(p.admit(&o));
        assert!(matches!(p.admit(&o), Admission::Defer { .. }));
    }

    #[test]
    fn an_open_breaker_defers_until_it_half_opens_and_unknown_services_are_admitted() {
        let p = protected(32, 2);
        let r = request("payment");
        for _ in 0..2 {
            call(p.admit(&r)).finished(&Outcome::Retryable(ActivityError::new("HTTP_503", "x")));
        }
        assert_eq!(p.state("payment"), Some(State::Open));
        match p.admit(&r) {
            Admission::Defer { delay_ms } => {
                assert!((59_000..=60_001).contains(&delay_ms), "{delay_ms}")
            }
            Admission::Call(_) => panic!("called while open"),
        }
        // A business error never opens it.
        let o = request("order");
        for _ in 0..20 {
            call(p.admit(&o)).finished(&Outcome::BusinessError(ActivityError::new("NOPE", "4xx")));
        }
        assert_eq!(p.state("order"), Some(State::Closed));
        assert!(matches!(p.admit(&request("other")), Admission::Call(None)));
    }
}
