//! The engine's Prometheus metrics (docs/metrics.md), recorded through the `metrics` facade;
//! the binary installs the exporter. Labels are bounded: workflow type, step name, outcome,
//! HTTP method, route template and status — never a workflow or user id.
//!
//! Not a registry of its own and not an exporter: a thin, named layer so every call site
//! uses the same names and labels.

use kernel::model::AttemptOutcome;
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use std::time::Duration;

/// Describes every metric and exports the unlabelled counters at 0, so dashboards and alerts
/// see them before the first event. Idempotent.
pub fn describe() {
    describe_counter!(
        "sagaflow_workflows_submitted_total",
        "Workflows created by submits"
    );
    describe_counter!(
        "sagaflow_workflows_finished_total",
        "Workflows that reached a terminal status, by outcome"
    );
    describe_histogram!(
        "sagaflow_workflow_duration_seconds",
        Unit::Seconds,
        "From submit to the terminal status (DB time)"
    );
    describe_counter!(
        "sagaflow_activity_attempts_total",
        "Attempts of activities, by step and outcome"
    );
    describe_histogram!(
        "sagaflow_activity_duration_seconds",
        Unit::Seconds,
        "One attempt's execution, by step"
    );
    describe_counter!(
        "sagaflow_retries_scheduled_total",
        "Retries scheduled after a retryable error, by step"
    );
    describe_counter!(
        "sagaflow_compensations_total",
        "Compensations scheduled, by the step they undo"
    );
    describe_counter!(
        "sagaflow_lease_expirations_total",
        "Leases that expired and were reclaimed by a worker"
    );
    describe_counter!(
        "sagaflow_fenced_writes_total",
        "Completions dropped because their lease was no longer current"
    );
    describe_counter!(
        "sagaflow_db_retries_total",
        "Whole database transactions run again, by database and reason (conflict, node)"
    );
    describe_gauge!(
        "sagaflow_db_node_in_use",
        "1 for the cluster node a multi-host database URL uses now, 0 for its other nodes"
    );
    describe_counter!(
        "sagaflow_db_failovers_total",
        "Moves of a multi-host database to another node, by database"
    );
    describe_counter!(
        "sagaflow_activities_isolated_total",
        "Activities parked because the store could not process them (a corrupt row, a refused write), by operation"
    );
    describe_gauge!(
        "sagaflow_ready_activities",
        "Activities due and waiting for a worker (sampled)"
    );
    describe_gauge!(
        "sagaflow_overdue_activities",
        "Leased activities whose lease has expired (sampled)"
    );
    describe_gauge!(
        "sagaflow_parked_workflows",
        "Workflows parked as failed, waiting for an operator (sampled)"
    );
    describe_gauge!(
        "sagaflow_worker_inflight_activities",
        "Activities this worker is executing"
    );
    describe_gauge!("sagaflow_worker_up", "1 per running worker process");
    describe_counter!(
        "sagaflow_worker_loop_restarts_total",
        "Claim loops restarted after a panic"
    );
    describe_gauge!(
        "sagaflow_worker_last_claim_timestamp_seconds",
        Unit::Seconds,
        "Unix time of this worker's latest claim"
    );
    describe_histogram!(
        "sagaflow_claim_duration_seconds",
        Unit::Seconds,
        "One claim transaction"
    );
    describe_counter!(
        "http_requests_total",
        "HTTP requests served by the API, by route and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request handling time, by route"
    );
    describe_gauge!(
        "sagaflow_circuit_state",
        "This worker's circuit breaker per participant service: 0 closed, 1 half-open, 2 open"
    );
    describe_counter!(
        "sagaflow_circuit_transitions_total",
        "Circuit breaker transitions per service, by the state entered"
    );
    describe_counter!(
        "sagaflow_breaker_deferred_total",
        "Activities given back uncalled (no attempt spent) because the service's breaker was open or its probes busy"
    );
    describe_counter!(
        "sagaflow_bulkhead_rejected_total",
        "Activities given back uncalled (no attempt spent) because the service's bulkhead was full"
    );
    describe_counter!(
        "http_requests_shed_total",
        "API requests refused 503 OVERLOADED at the cap on requests in flight"
    );
    describe_counter!(
        "http_submits_rate_limited_total",
        "Submits refused 429 RATE_LIMITED by the per-caller submit rate"
    );
    describe_counter!(
        "sagaflow_http_auth_failures_total",
        "API requests refused 401 (or 403 for a missing scope), by reason"
    );
    for reason in AUTH_FAILURE_REASONS {
        counter!("sagaflow_http_auth_failures_total", "reason" => reason).absolute(0);
    }
    counter!("http_requests_shed_total").absolute(0);
    counter!("http_submits_rate_limited_total").absolute(0);
    counter!("sagaflow_lease_expirations_total").absolute(0);
    counter!("sagaflow_fenced_writes_total").absolute(0);
    counter!("sagaflow_worker_loop_restarts_total").absolute(0);
}

pub fn submitted(workflow_type: &str) {
    counter!("sagaflow_workflows_submitted_total", "type" => workflow_type.to_owned()).increment(1);
}

/// A workflow of `workflow_type` reached `status`, `duration_us` after its submit (DB time).
pub fn finished(workflow_type: &str, status: kernel::model::WorkflowStatus, duration_us: i64) {
    let labels = [
        ("type", workflow_type.to_owned()),
        ("outcome", status.as_str().to_owned()),
    ];
    counter!("sagaflow_workflows_finished_total", &labels).increment(1);
    histogram!("sagaflow_workflow_duration_seconds", &labels)
        .record(duration_us.max(0) as f64 / 1e6);
}

/// One attempt ended (`elapsed`: `None` when nothing ran, as for an expired lease).
pub fn attempt(
    workflow_type: &str,
    step: &str,
    outcome: AttemptOutcome,
    elapsed: Option<Duration>,
) {
    let (t, s) = (workflow_type.to_owned(), step.to_owned());
    counter!("sagaflow_activity_attempts_total", "type" => t.clone(), "step" => s.clone(), "outcome" => outcome.as_str())
        .increment(1);
    if let Some(elapsed) = elapsed {
        histogram!("sagaflow_activity_duration_seconds", "type" => t, "step" => s)
            .record(elapsed.as_secs_f64());
    }
}

/// A lease expired and this worker reclaimed its activity (the lost attempt counts).
pub fn lease_expired(workflow_type: &str, step: &str) {
    counter!("sagaflow_lease_expirations_total").increment(1);
    attempt(workflow_type, step, AttemptOutcome::LeaseExpired, None);
}

pub fn retry_scheduled(workflow_type: &str, step: &str) {
    counter!("sagaflow_retries_scheduled_total", "type" => workflow_type.to_owned(), "step" => step.to_owned())
        .increment(1);
}

pub fn compensation(workflow_type: &str, step: &str) {
    counter!("sagaflow_compensations_total", "type" => workflow_type.to_owned(), "step" => step.to_owned()).increment(1);
}

/// An activity the store could not claim or complete was parked (with its workflow) so the
/// rest of its batch could proceed. `operation`: `claim` or `complete`.
pub fn isolated(operation: &'static str) {
    counter!("sagaflow_activities_isolated_total", "operation" => operation).increment(1);
}

pub fn fenced(count: usize) {
    counter!("sagaflow_fenced_writes_total").increment(count as u64);
    FENCED.add(count as u64);
}

/// Fenced writes of this process's workers in the last `window` (at most ten minutes), for
/// the console's overview: the database holds no trace of a write it refused.
pub fn fenced_recently(window: Duration) -> u64 {
    FENCED.since(window)
}

/// Seconds one [`Recent`] bucket spans, and how many it keeps (ten minutes).
const RECENT_BUCKET_S: u64 = 10;
const RECENT_BUCKETS: usize = 60;

static FENCED: Recent = Recent::new();

/// A counter that remembers when it was counted, in buckets of ten seconds: rare events
/// (fenced writes), so one lock is cheap enough.
struct Recent {
    buckets: std::sync::Mutex<std::collections::VecDeque<(u64, u64)>>,
}

impl Recent {
    const fn new() -> Recent {
        Recent {
            buckets: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }

    fn add(&self, count: u64) {
        self.add_at(wall_seconds() / RECENT_BUCKET_S, count);
    }

    fn since(&self, window: Duration) -> u64 {
        self.since_at(wall_seconds() / RECENT_BUCKET_S, window)
    }

    fn add_at(&self, bucket: u64, count: u64) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.back_mut() {
            Some((b, n)) if *b == bucket => *n += count,
            _ => buckets.push_back((bucket, count)),
        }
        while buckets.len() > RECENT_BUCKETS {
            buckets.pop_front();
        }
    }

    /// Counts in buckets that started less than `window` before bucket `now` ended.
    fn since_at(&self, now: u64, window: Duration) -> u64 {
        let span = window.as_secs().div_ceil(RECENT_BUCKET_S).max(1);
        let first = (now + 1).saturating_sub(span);
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .iter()
            .filter(|(b, _)| (first..=now).contains(b))
            .map(|(_, n)| n)
            .sum()
    }
}

fn wall_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A claim ran: its duration, and the worker's heartbeat.
pub fn claimed(elapsed: Duration) {
    histogram!("sagaflow_claim_duration_seconds").record(elapsed.as_secs_f64());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    gauge!("sagaflow_worker_last_claim_timestamp_seconds").set(now.as_secs_f64());
}

pub fn inflight(delta: f64) {
    gauge!("sagaflow_worker_inflight_activities").increment(delta);
}

/// A claim loop panicked and the pool restarts it.
pub fn loop_restarted() {
    counter!("sagaflow_worker_loop_restarts_total").increment(1);
}

/// This process runs a worker pool.
pub fn worker_up() {
    gauge!("sagaflow_worker_up").set(1.0);
}

/// The sampled state of the saga database.
pub fn sampled(ready: u64, overdue: u64, parked: u64) {
    gauge!("sagaflow_ready_activities").set(ready as f64);
    gauge!("sagaflow_overdue_activities").set(overdue as f64);
    gauge!("sagaflow_parked_workflows").set(parked as f64);
}

/// A request shed at the cap on requests in flight.
pub fn http_shed() {
    counter!("http_requests_shed_total").increment(1);
}

/// The `reason` labels of `sagaflow_http_auth_failures_total`: one per `api::Failure` kind
/// (its test holds the two together).
pub const AUTH_FAILURE_REASONS: [&str; 10] = [
    "missing",
    "malformed",
    "expired",
    "not_yet_valid",
    "issuer",
    "audience",
    "algorithm",
    "signature",
    "unknown_key",
    "scope",
];

/// A request refused by the auth layer; `reason` is one of [`AUTH_FAILURE_REASONS`].
pub fn http_auth_failure(reason: &'static str) {
    counter!("sagaflow_http_auth_failures_total", "reason" => reason).increment(1);
}

/// A submit refused by the per-caller rate limit.
pub fn http_rate_limited() {
    counter!("http_submits_rate_limited_total").increment(1);
}

pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let (m, r) = (method.to_owned(), route.to_owned());
    counter!("http_requests_total", "method" => m.clone(), "route" => r.clone(), "status" => status.to_string()).increment(1);
    histogram!("http_request_duration_seconds", "method" => m, "route" => r)
        .record(elapsed.as_secs_f64());
}

/// A worker protects calls to `service`: its breaker (closed) and counters start at 0, so
/// dashboards have a series for every configured service before anything happens.
pub fn protection_started(service: &str) {
    let s = service.to_owned();
    gauge!("sagaflow_circuit_state", "service" => s.clone()).set(0.0);
    counter!("sagaflow_breaker_deferred_total", "service" => s.clone()).absolute(0);
    counter!("sagaflow_bulkhead_rejected_total", "service" => s.clone()).absolute(0);
    for to in ["open", "half_open", "closed"] {
        counter!("sagaflow_circuit_transitions_total", "service" => s.clone(), "to" => to)
            .absolute(0);
    }
}

/// `service`'s breaker entered `to` (`closed`, `half_open` or `open`; gauge value 0, 1, 2).
pub fn circuit_transition(service: &str, to: &'static str, gauge_value: f64) {
    let s = service.to_owned();
    gauge!("sagaflow_circuit_state", "service" => s.clone()).set(gauge_value);
    counter!("sagaflow_circuit_transitions_total", "service" => s, "to" => to).increment(1);
}

/// An activity for `service` given back uncalled: its breaker is open (or its probes busy).
pub fn breaker_deferred(service: &str) {
    counter!("sagaflow_breaker_deferred_total", "service" => service.to_owned()).increment(1);
}

/// An activity for `service` given back uncalled: its bulkhead is full.
pub fn bulkhead_rejected(service: &str) {
    counter!("sagaflow_bulkhead_rejected_total", "service" => service.to_owned()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_counts_only_the_window_and_forgets_old_buckets() {
        let recent = Recent::new();
        recent.add_at(100, 2);
        recent.add_at(100, 1);
        recent.add_at(105, 4);
        recent.add_at(106, 5);
        let window = Duration::from_secs(20); // two buckets
        assert_eq!(recent.since_at(106, window), 9);
        assert_eq!(recent.since_at(107, window), 5);
        assert_eq!(recent.since_at(106, Duration::from_secs(600)), 12);
        for b in 200..(200 + RECENT_BUCKETS as u64) {
            recent.add_at(b, 1);
        }
        assert_eq!(recent.buckets.lock().unwrap().len(), RECENT_BUCKETS);
        assert_eq!(
            recent.since_at(300, Duration::from_secs(6_000)),
            RECENT_BUCKETS as u64
        );
    }
}
