//! TCC request metrics (DESIGN.md §9) through the `metrics` facade only:
//! `tcc_requests_total{service,phase,outcome}` and `tcc_request_duration_seconds{service,phase}`.
//! Labels are bounded: outcome is one of `ok`, `replayed`, `rejected` (4xx), `error` (5xx).
//! Installing a recorder is the binary's job.

use std::{future::Future, time::Instant};

use crate::http;

/// Describes the services' metrics (HELP text); the binary calls it once after installing
/// the recorder.
pub fn describe() {
    metrics::describe_counter!(
        "tcc_requests_total",
        "TCC phase requests by service, phase and outcome (ok, replayed, rejected, error)"
    );
    metrics::describe_histogram!(
        "tcc_request_duration_seconds",
        metrics::Unit::Seconds,
        "TCC phase handling time by service and phase"
    );
    metrics::describe_counter!(
        "tcc_injected_faults_total",
        "Faults injected on purpose by service and kind"
    );
}

/// Tells whether a reply repeats an earlier call's result (an idempotent replay).
pub(crate) trait Replayed {
    fn replayed(&self) -> bool {
        false
    }
}

/// Runs one phase handler's work, times and counts it, and shapes the reply.
pub(crate) async fn phase<T, E>(
    service: &'static str,
    phase: &'static str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<axum::Json<T>, http::Error>
where
    T: Replayed,
    http::Error: From<E>,
{
    let started = Instant::now();
    let result = work.await.map_err(http::Error::from);
    let outcome = match &result {
        Ok(reply) if reply.replayed() => "replayed",
        Ok(_) => "ok",
        Err(err) if err.status().is_client_error() => "rejected",
        Err(_) => "error",
    };
    metrics::counter!(
        "tcc_requests_total", "service" => service, "phase" => phase, "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!("tcc_request_duration_seconds", "service" => service, "phase" => phase)
        .record(started.elapsed().as_secs_f64());
    result.map(axum::Json)
}
