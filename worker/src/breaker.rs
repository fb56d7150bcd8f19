//! The circuit breaker of one participant service in one worker process: a pure state machine
//! (closed, open, half-open) driven by calls admitted and their results, with the clock passed
//! in. No I/O, no timers, no metrics: [`crate::protect`] holds one per service and records the
//! transitions this module reports.
//!
//! - **Closed**: every call goes out. A run of `failures` transient failures in a row, or a
//!   failure ratio of at least `ratio` over the calls that ended in the last `window` (once
//!   there are `min_calls` of them), opens it.
//! - **Open** until `open_for` has passed: no call goes out; callers are told when it will
//!   half-open.
//! - **Half-open**: `probes` calls go out at once; the others are told to come back after the
//!   current open interval. A probe's success closes the breaker (and resets the interval); a
//!   probe's failure opens it again for twice the interval, at most `open_max`.
//!
//! Business errors are the participant answering: they count as successes here. Results of
//! calls admitted while closed that end once the breaker is open or half-open change nothing
//! (they say nothing about the service since it opened).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How one breaker trips and recovers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Transient failures in a row that open the breaker.
    pub failures: u32,
    /// Failure share over the window that opens it (with at least `min_calls` calls).
    pub ratio: f64,
    /// How far back the ratio looks.
    pub window: Duration,
    /// Fewest calls in the window for the ratio to count.
    pub min_calls: u32,
    /// First open interval.
    pub open: Duration,
    /// Longest open interval (each failed probe doubles it up to this).
    pub open_max: Duration,
    /// Calls let through at once while half-open.
    pub probes: u32,
}

/// The defaults of `sagaflow worker`'s `--breaker-*` flags.
pub const DEFAULT_BREAKER: BreakerConfig = BreakerConfig {
    failures: 5,
    ratio: 0.5,
    window: Duration::from_secs(10),
    min_calls: 10,
    open: Duration::from_secs(5),
    open_max: Duration::from_secs(60),
    probes: 1,
};

/// Where a breaker stands, as exported in `sagaflow_circuit_state` (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    HalfOpen,
    Open,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::HalfOpen => "half_open",
            State::Open => "open",
        }
    }

    /// The gauge value: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> f64 {
        match self {
            State::Closed => 0.0,
            State::HalfOpen => 1.0,
            State::Open => 2.0,
        }
    }
}

/// What [`Breaker::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Call; `probe` when the call is one of the half-open breaker's probes (its result
    /// decides the state: report it with `probe` set).
    Call { probe: bool },
    /// Do not call before `until`.
    Defer { until: Instant },
}

/// How an admitted call ended, for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The service answered: a success or a business error.
    Answered,
    /// A transient failure: a timeout, a connection error, a 5xx.
    Failed,
}

/// One service's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    state: Inner,
    /// Transient failures in a row while closed.
    in_a_row: u32,
    /// Ends of calls while closed, oldest first: (when, failed).
    window: VecDeque<(Instant, bool)>,
    /// The current open interval.
    open_for: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: u32 },
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Breaker {
        Breaker {
            config,
            state: Inner::Closed,
            in_a_row: 0,
            window: VecDeque::new(),
            open_for: config.open,
        }
    }

    pub fn state(&self) -> State {
        match self.state {
            Inner::Closed => State::Closed,
            Inner::Open { .. } => State::Open,
            Inner::HalfOpen { .. } => State::HalfOpen,
        }
    }

    /// The current open interval (grows with failed probes, reset when closed).
    pub fn open_for(&self) -> Duration {
        self.open_for
    }

    /// Whether a call may go out at `now`, and the transition this made, if any (an open
    /// breaker whose interval has passed half-opens here).
    pub fn admit(&mut self, now: Instant) -> (Verdict, Option<State>) {
        let mut moved = None;
        if let Inner::Open { until } = self.state {
            if now < until {
                return (Verdict::Defer { until }, None);
            }
            self.state = Inner::HalfOpen { probing: 0 };
            moved = Some(State::HalfOpen);
        }
        let verdict = match &mut self.state {
            Inner::Closed => Verdict::Call { probe: false },
            Inner::HalfOpen { probing } if *probing < self.config.probes => {
                *probing += 1;
                Verdict::Call { probe: true }
            }
            Inner::HalfOpen { .. } => Verdict::Defer {
                until: now + self.open_for,
            },
            Inner::Open { .. } => unreachable!("half-opened above"),
        };
        (verdict, moved)
    }

    /// Records how an admitted call ended at `now`; returns the transition, if any.
    pub fn record(&mut self, now: Instant, probe: bool, result: Ended) -> Option<State> {
        match (self.state, probe) {
            (Inner::Closed, false) => self.record_closed(now, result),
            (Inner::HalfOpen { .. }, true) => match result {
                Ended::Answered => {
                    self.close();
                    Some(State::Closed)
                }
                Ended::Failed => {
                    self.open_for = (self.open_for * 2).min(self.config.open_max);
                    self.state = Inner::Open {
                        until: now + self.open_for,
                    };
                    Some(State::Open)
                }
            },
            // A late result of a call admitted before the state changed.
            _ => None,
        }
    }

    /// An admitted call was abandoned without a result (its task was cancelled): frees its
    /// probe slot.
    pub fn abandon(&mut self, probe: bool) {
        if let (Inner::HalfOpen { probing }, true) = (&mut self.state, probe) {
            *probing = probing.saturating_sub(1);
        }
    }

    fn record_closed(&mut self, now: Instant, result: Ended) -> Option<State> {
        let failed = result == Ended::Failed;
        self.in_a_row = if failed { self.in_a_row + 1 } else { 0 };
        self.window.push_back((now, failed));
        while let Some((at, _)) = self.window.front() {
            if now.saturating_duration_since(*at) > self.config.window {
                self.window.pop_front();
            } else {
                break;
            }
        }
        let calls = self.window.len();
        let failures = self.window.iter().filter(|(_, f)| *f).count();
        let by_ratio = calls >= self.config.min_calls as usize
            && failures as f64 >= self.config.ratio * calls as f64;
        if failed && (self.in_a_row >= self.config.failures || by_ratio) {
            self.in_a_row = 0;
            self.window.clear();
            self.open_for = self.config.open;
            self.state = Inner::Open {
                until: now + self.open_for,
            };
            return Some(State::Open);
        }
        None
    }

    fn close(&mut self) {
        self.state = Inner::Closed;
        self.in_a_row = 0;
        self.window.clear();
        self.open_for = self.config.open;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            failures: 3,
            ratio: 0.5,
            window: Duration::from_secs(10),
            min_calls: 4,
            open: Duration::from_secs(1),
            open_max: Duration::from_secs(3),
            probes: 1,
        }
    }

    const CALL: Verdict = Verdict::Call { probe: false };
    const PROBE: Verdict = Verdict::Call { probe: true };

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// Calls and ends `results` one by one at `at`; the transitions made.
    fn run(b: &mut Breaker, at: Instant, results: &[Ended]) -> Vec<State> {
        let mut moved = Vec::new();
        for r in results {
            let (verdict, m) = b.admit(at);
            moved.extend(m);
            let Verdict::Call { probe } = verdict else {
                panic!("deferred while running {results:?}")
            };
            moved.extend(b.record(at, probe, *r));
        }
        moved
    }

    use Ended::{Answered as OK, Failed as FAIL};

    #[test]
    fn closed_opens_after_the_run_of_failures_and_a_success_resets_the_run() {
        let t = Instant::now();
        let mut b = Breaker::new(BreakerConfig {
            min_calls: 100,
            ..config()
        });
        assert_eq!(run(&mut b, t, &[FAIL, FAIL, OK, FAIL, FAIL]), []);
        assert_eq!(b.state(), State::Closed);
        assert_eq!(run(&mut b, t, &[FAIL]), [State::Open]);
        assert_eq!(
            b.admit(t).0,
            Verdict::Defer {
                until: t + secs(1.0)
            }
        );
    }

    #[test]
    fn closed_opens_on_the_ratio_once_the_window_has_enough_calls() {
        let t = Instant::now();
        let mut b = Breaker::new(BreakerConfig {
            failures: 100,
            ..config()
        });
        // Two failures of three calls: over the ratio, under min_calls.
        assert_eq!(run(&mut b, t, &[FAIL, OK, FAIL]), []);
        // The fourth call, a failure: 3 of 4.
        assert_eq!(run(&mut b, t, &[FAIL]), [State::Open]);
    }

    #[test]
    fn the_ratio_forgets_calls_older_than_the_window() {
        let t = Instant::now();
        let mut b = Breaker::new(BreakerConfig {
            failures: 100,
            ..config()
        });
        assert_eq!(run(&mut b, t, &[FAIL, FAIL, FAIL]), []);
        // 11 s later the three failures are out of the window: 1 of 4 calls.
        let later = t + secs(11.0);
        assert_eq!(run(&mut b, later, &[OK, OK, OK, FAIL]), []);
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn business_errors_count_as_answers_and_never_open_it() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        assert_eq!(run(&mut b, t, &[OK; 50]), []);
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn open_defers_until_the_interval_then_half_opens_with_one_probe() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        run(&mut b, t, &[FAIL, FAIL, FAIL]);
        let until = t + secs(1.0);
        assert_eq!(b.admit(t + secs(0.5)), (Verdict::Defer { until }, None));
        assert_eq!(b.admit(until), (PROBE, Some(State::HalfOpen)));
        assert_eq!(b.state(), State::HalfOpen);
        // The probe is out: others come back after the open interval.
        assert_eq!(
            b.admit(until),
            (
                Verdict::Defer {
                    until: until + secs(1.0)
                },
                None
            )
        );
    }

    #[test]
    fn a_probe_success_closes_it_and_resets_the_interval() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        run(&mut b, t, &[FAIL, FAIL, FAIL]);
        let (_, _) = b.admit(t + secs(1.0));
        assert_eq!(b.record(t + secs(1.0), true, FAIL), Some(State::Open));
        assert_eq!(b.open_for(), secs(2.0));
        assert_eq!(b.admit(t + secs(3.0)), (PROBE, Some(State::HalfOpen)));
        assert_eq!(b.record(t + secs(3.0), true, OK), Some(State::Closed));
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.open_for(), secs(1.0));
        assert_eq!(b.admit(t + secs(3.0)), (CALL, None));
        // The run of failures starts over.
        assert_eq!(run(&mut b, t + secs(3.0), &[FAIL, FAIL]), []);
    }

    #[test]
    fn failed_probes_reopen_it_for_a_doubling_interval_capped_at_open_max() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        run(&mut b, t, &[FAIL, FAIL, FAIL]);
        let mut at = t;
        for want in [2.0, 3.0, 3.0] {
            at += b.open_for();
            assert_eq!(b.admit(at), (PROBE, Some(State::HalfOpen)));
            assert_eq!(b.record(at, true, FAIL), Some(State::Open));
            assert_eq!(b.open_for(), secs(want));
            assert_eq!(
                b.admit(at + secs(want - 0.1)).0,
                Verdict::Defer {
                    until: at + secs(want)
                }
            );
        }
    }

    #[test]
    fn half_open_lets_the_configured_probes_through_and_an_abandoned_probe_frees_its_slot() {
        let t = Instant::now();
        let mut b = Breaker::new(BreakerConfig {
            probes: 2,
            ..config()
        });
        run(&mut b, t, &[FAIL, FAIL, FAIL]);
        let at = t + secs(1.0);
        assert_eq!(b.admit(at).0, PROBE);
        assert_eq!(b.admit(at).0, PROBE);
        assert!(matches!(b.admit(at).0, Verdict::Defer { .. }));
        b.abandon(true);
        assert_eq!(b.admit(at).0, PROBE);
    }

    #[test]
    fn late_results_of_calls_admitted_while_closed_change_nothing() {
        let t = Instant::now();
        let mut b = Breaker::new(config());
        // Four calls out at once while closed.
        for _ in 0..4 {
            assert_eq!(b.admit(t).0, CALL);
        }
        assert_eq!(b.record(t, false, FAIL), None);
        assert_eq!(b.record(t, false, FAIL), None);
        assert_eq!(b.record(t, false, FAIL), Some(State::Open));
        // The fourth ends after it opened: neither a success nor a failure moves it.
        assert_eq!(b.record(t, false, OK), None);
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.admit(t + secs(1.0)), (PROBE, Some(State::HalfOpen)));
        assert_eq!(b.record(t + secs(1.0), false, OK), None);
        assert_eq!(b.state(), State::HalfOpen);
    }
}
