//! Fault injection for tests and demos, off by default, on the TCC and quote routes only:
//! a share of requests fails with 503 before any effect (`error_rate`), every request can be
//! delayed (`latency_ms`), and a share of successful requests has its response replaced by a
//! 503 after the effect committed (`drop_after_commit_rate`): the ambiguous outcome a caller
//! resolves by retrying with the same transaction id. A share of calls can also fail their
//! first few attempts (`fail_first_calls` for a `fail_first_share` of `Idempotency-Key`s),
//! so a caller's retries run to their last attempt. Not a network chaos tool.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{http, AppState};

/// Longest latency that can be injected.
pub const LATENCY_MS_MAX: u64 = 60_000;
/// Most `Idempotency-Key`s remembered for `fail_first_calls` (then the memory starts over).
const FIRST_CALLS_KEYS_MAX: usize = 100_000;

/// Fault settings. Rates are probabilities per request, from 0 (never) to 1 (always).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of requests answered 503 `INJECTED_FAULT` without running.
    pub error_rate: f64,
    /// Delay added before every request.
    pub latency_ms: u64,
    /// Share of successful requests whose response becomes 503 `RESPONSE_DROPPED` after commit.
    pub drop_after_commit_rate: f64,
    /// For a `fail_first_share` of the `Idempotency-Key`s seen, this many first calls are
    /// answered 503 `INJECTED_FAULT` without running (a caller retrying to its last attempt).
    pub fail_first_calls: u32,
    /// Share of keys whose first calls fail (see `fail_first_calls`).
    pub fail_first_share: f64,
}

impl Faults {
    pub fn validate(&self) -> Result<(), Error> {
        let rates = [
            ("error_rate", self.error_rate),
            ("drop_after_commit_rate", self.drop_after_commit_rate),
            ("fail_first_share", self.fail_first_share),
        ];
        if let Some((field, _)) = rates.iter().find(|(_, rate)| !(0.0..=1.0).contains(rate)) {
            return Err(Error::RateOutOfRange { field });
        }
        if self.latency_ms > LATENCY_MS_MAX {
            return Err(Error::LatencyTooLong);
        }
        Ok(())
    }
}

/// Invalid fault settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field} must be between 0 and 1")]
    RateOutOfRange { field: &'static str },
    #[error("latency_ms must be at most {LATENCY_MS_MAX}")]
    LatencyTooLong,
}

impl http::Coded for Error {
    fn status_code(&self) -> (StatusCode, &'static str) {
        (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FAULTS")
    }
}

/// The current settings and the dice, shared by all requests of one service. A fixed seed
/// makes the sequence of decisions reproducible; rates 0 and 1 are deterministic anyway.
#[derive(Clone, Debug)]
pub struct Injector {
    service: &'static str,
    state: Arc<Mutex<Dice>>,
    counts: Arc<Counts>,
}

/// Requests through the injector since the service started, and those it failed: a test
/// counts the calls a participant received while it was down (`GET /admin/faults/counts`).
#[derive(Debug, Default)]
struct Counts {
    requests: AtomicU64,
    injected_errors: AtomicU64,
}

/// `GET /admin/faults/counts`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    /// Requests that reached the TCC and quote routes.
    pub requests: u64,
    /// Of those, the ones answered 503 `INJECTED_FAULT` before running (`error_rate` and
    /// `fail_first_calls`).
    pub injected_errors: u64,
}

#[derive(Debug)]
struct Dice {
    faults: Faults,
    rng: StdRng,
    /// Calls failed so far per chosen key (`None`: a key not chosen).
    first_calls: HashMap<String, Option<u32>>,
}

/// What happens to one request.
struct Plan {
    fail: bool,
    /// Failed as one of its key's first calls.
    fail_first: bool,
    latency: Duration,
    drop_response: bool,
}

impl Injector {
    pub fn new(
        service: &'static str,
        faults: Faults,
        seed: Option<u64>,
    ) -> Result<Injector, Error> {
        faults.validate()?;
        let rng = seed.map_or_else(StdRng::from_entropy, StdRng::seed_from_u64);
        Ok(Injector {
            service,
            state: Arc::new(Mutex::new(Dice {
                faults,
                rng,
                first_calls: HashMap::new(),
            })),
            counts: Arc::default(),
        })
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults
    }

    pub fn counts(&self) -> FaultCounts {
        FaultCounts {
            requests: self.counts.requests.load(Ordering::Relaxed),
            injected_errors: self.counts.injected_errors.load(Ordering::Relaxed),
        }
    }

    pub fn set(&self, faults: Faults) -> Result<(), Error> {
        faults.validate()?;
        self.lock().faults = faults;
        Ok(())
    }

    fn plan(&self, key: Option<&str>) -> Plan {
        let mut dice = self.lock();
        let Faults {
            error_rate,
            latency_ms,
            drop_after_commit_rate,
            fail_first_calls,
            fail_first_share,
        } = dice.faults;
        let fail_first = match key {
            Some(key) if fail_first_calls > 0 => {
                dice.fail_first(key, fail_first_calls, fail_first_share)
            }
            _ => false,
        };
        Plan {
            fail: dice.rng.gen_bool(error_rate),
            fail_first,
            latency: Duration::from_millis(latency_ms),
            drop_response: dice.rng.gen_bool(drop_after_commit_rate),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Dice> {
        // The lock guards plain data that no panic can leave half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn count(&self, kind: &'static str) {
        metrics::counter!("tcc_injected_faults_total", "service" => self.service, "kind" => kind)
            .increment(1);
    }
}

impl Dice {
    /// True while this call of `key` is one of the first `calls` of a key chosen (with
    /// probability `share`) the first time it was seen.
    fn fail_first(&mut self, key: &str, calls: u32, share: f64) -> bool {
        if self.first_calls.len() >= FIRST_CALLS_KEYS_MAX && !self.first_calls.contains_key(key) {
            self.first_calls.clear();
        }
        let rng = &mut self.rng;
        let failed = self
            .first_calls
            .entry(key.to_owned())
            .or_insert_with(|| rng.gen_bool(share).then_some(0));
        match failed {
            Some(n) if *n < calls => {
                *n += 1;
                true
            }
            _ => false,
        }
    }
}

/// Middleware on the TCC and quote routes.
pub(crate) async fn inject(
    State(injector): State<Injector>,
    request: Request,
    next: Next,
) -> Response {
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok());
    let plan = injector.plan(key);
    injector.counts.requests.fetch_add(1, Ordering::Relaxed);
    if plan.fail_first || plan.fail {
        injector
            .counts
            .injected_errors
            .fetch_add(1, Ordering::Relaxed);
    }
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    if plan.fail_first {
        injector.count("fail_first");
        let message = "fault injection: one of this call's first attempts failed before running";
        return http::Error::new(StatusCode::SERVICE_UNAVAILABLE, "INJECTED_FAULT", message)
            .into_response();
    }
    if plan.fail {
        injector.count("error");
        let message = "fault injection: request failed before running";
        return http::Error::new(StatusCode::SERVICE_UNAVAILABLE, "INJECTED_FAULT", message)
            .into_response();
    }
    let response = next.run(request).await;
    if plan.drop_response && response.status().is_success() {
        injector.count("drop_after_commit");
        let message = "fault injection: the effect was committed but the response dropped";
        return http::Error::new(StatusCode::SERVICE_UNAVAILABLE, "RESPONSE_DROPPED", message)
            .into_response();
    }
    response
}

/// `GET /admin/faults`.
pub(crate) async fn get(State(app): State<AppState>) -> axum::Json<Faults> {
    axum::Json(app.faults().faults())
}

/// `GET /admin/faults/counts`.
pub(crate) async fn counts(State(app): State<AppState>) -> axum::Json<FaultCounts> {
    axum::Json(app.faults().counts())
}

/// `PUT /admin/faults` with the whole settings (missing fields are 0).
pub(crate) async fn put(
    State(app): State<AppState>,
    http::Json(faults): http::Json<Faults>,
) -> Result<axum::Json<Faults>, http::Error> {
    app.faults().set(faults)?;
    tracing::info!(?faults, "fault injection changed");
    Ok(axum::Json(faults))
}
