//! `GET /v1/overview`: the console's first page in one answer — workflows by type and status,
//! finished per bucket over the last minutes, lease expiries, fenced writes and each
//! participant service's error rate.
//!
//! The database gives the raw counts ([`crate::store::Store::overview`]); here they become wire
//! figures: empty buckets filled in, steps named by their service through the loaded
//! definitions. Fenced writes are the one figure the database does not hold (a refused write
//! leaves no row): they come from this process's workers, when it runs any.

use super::error::Error;
use super::wire::{time, FinishedBucket, Overview, ServiceCalls, TypeStatusCount};
use super::ApiState;
use crate::definition::Registry;
use crate::store::{Buckets, OutcomeCount, OverviewCounts};
use axum::extract::State;
use axum::Json;
use kernel::model::{AttemptOutcome, WorkflowStatus};
use std::collections::BTreeMap;

/// Seconds the overview looks back.
pub(super) const WINDOW_S: u64 = 600;
/// Seconds per bar of the finished chart.
pub(super) const BUCKET_S: u64 = 10;
/// Most finished (and, again, most unfinished) workflows whose attempts are counted.
pub(super) const SAMPLE_MAX: u32 = 1_000;
/// The service named for a step of a type or version this process has not loaded.
const UNKNOWN_SERVICE: &str = "(not loaded)";

/// The handler.
pub(super) async fn overview(State(state): State<ApiState>) -> Result<Json<Overview>, Error> {
    let buckets = Buckets {
        width: (BUCKET_S * 1_000_000) as i64,
        count: (WINDOW_S / BUCKET_S) as u32,
    };
    let counts = state.store.overview(buckets, SAMPLE_MAX).await?;
    let fenced = state
        .local_workers
        .then(|| crate::metrics::fenced_recently(std::time::Duration::from_secs(WINDOW_S)));
    Ok(Json(render(&counts, buckets, &state.registry, fenced)))
}

/// The wire answer from the store's counts.
fn render(
    counts: &OverviewCounts,
    buckets: Buckets,
    registry: &Registry,
    fenced_writes: Option<u64>,
) -> Overview {
    let mut finished: Vec<FinishedBucket> = (0..buckets.count)
        .map(|i| FinishedBucket {
            at: time(counts.since + i64::from(i) * buckets.width),
            ..FinishedBucket::default()
        })
        .collect();
    for f in &counts.finished {
        let bucket = &mut finished[f.bucket as usize];
        match f.status {
            WorkflowStatus::Completed => bucket.completed += f.count,
            WorkflowStatus::Compensated => bucket.compensated += f.count,
            WorkflowStatus::Failed => bucket.failed += f.count,
            // finished_at is set on terminal workflows only; a retried one keeps its old
            // stamp until it ends again, so it is not counted while it runs.
            _ => {}
        }
    }
    Overview {
        now: time(counts.now),
        window_s: WINDOW_S,
        bucket_s: BUCKET_S,
        counts: counts
            .counts
            .iter()
            .map(|c| TypeStatusCount {
                workflow_type: c.workflow_type.clone(),
                status: c.status,
                count: c.count,
            })
            .collect(),
        finished,
        lease_expiries: counts.lease_expiries,
        fenced_writes,
        services: per_service(&counts.outcomes, registry),
        sampled_workflows_max: SAMPLE_MAX,
    }
}

/// Adds up attempt outcomes by the service of their step, in service order.
fn per_service(outcomes: &[OutcomeCount], registry: &Registry) -> Vec<ServiceCalls> {
    let mut services: BTreeMap<String, ServiceCalls> = BTreeMap::new();
    for o in outcomes {
        let service = registry
            .get(&o.workflow_type, o.version)
            .and_then(|def| def.steps.get(o.step as usize))
            .map_or(UNKNOWN_SERVICE, |step| step.service.as_str());
        let calls = services
            .entry(service.to_owned())
            .or_insert_with(|| ServiceCalls {
                service: service.to_owned(),
                ..ServiceCalls::default()
            });
        match o.outcome {
            AttemptOutcome::Succeeded => calls.calls += o.count,
            AttemptOutcome::RetryableError => {
                calls.calls += o.count;
                calls.retryable_errors += o.count;
            }
            AttemptOutcome::BusinessError => {
                calls.calls += o.count;
                calls.business_errors += o.count;
            }
            AttemptOutcome::LeaseExpired => calls.lease_expiries += o.count,
            // An aborted activity never called its participant.
            AttemptOutcome::Aborted => {}
        }
    }
    services.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FinishedCount;

    fn registry() -> Registry {
        Registry::shipped()
    }

    fn outcome(step: u32, outcome: AttemptOutcome, count: u64) -> OutcomeCount {
        OutcomeCount {
            workflow_type: "purchase".into(),
            version: 1,
            step,
            outcome,
            count,
        }
    }

    #[test]
    fn outcomes_are_added_up_by_the_service_of_their_step() {
        let registry = registry();
        let def = registry.get("purchase", 1).expect("purchase v1");
        let service_of = |step: usize| def.steps[step].service.clone();
        let payment = def
            .steps
            .iter()
            .position(|s| s.service == "payment")
            .expect("a payment step") as u32;
        let rows = vec![
            outcome(0, AttemptOutcome::Succeeded, 5),
            outcome(payment, AttemptOutcome::Succeeded, 4),
            outcome(payment, AttemptOutcome::RetryableError, 3),
            outcome(payment, AttemptOutcome::BusinessError, 1),
            outcome(payment, AttemptOutcome::LeaseExpired, 2),
            outcome(payment, AttemptOutcome::Aborted, 7),
        ];
        let services = per_service(&rows, &registry);
        let paid = services
            .iter()
            .find(|s| s.service == "payment")
            .expect("payment is listed");
        assert_eq!(
            (
                paid.calls,
                paid.retryable_errors,
                paid.business_errors,
                paid.lease_expiries
            ),
            (8, 3, 1, 2)
        );
        let first = services
            .iter()
            .find(|s| s.service == service_of(0))
            .expect("the first step's service is listed");
        assert!(first.calls >= 5);
        let unknown = per_service(
            &[OutcomeCount {
                workflow_type: "gone".into(),
                ..outcome(0, AttemptOutcome::Succeeded, 1)
            }],
            &registry,
        );
        assert_eq!(unknown[0].service, UNKNOWN_SERVICE);
    }

    #[test]
    fn every_bucket_is_present_and_finishes_land_in_theirs() {
        let buckets = Buckets {
            width: 10_000_000,
            count: 6,
        };
        let counts = OverviewCounts {
            now: 1_000_000_000,
            since: buckets.start(1_000_000_000),
            counts: Vec::new(),
            finished: vec![
                FinishedCount {
                    bucket: 0,
                    status: WorkflowStatus::Completed,
                    count: 3,
                },
                FinishedCount {
                    bucket: 5,
                    status: WorkflowStatus::Compensated,
                    count: 2,
                },
                FinishedCount {
                    bucket: 5,
                    status: WorkflowStatus::Failed,
                    count: 1,
                },
            ],
            lease_expiries: 4,
            outcomes: Vec::new(),
        };
        let answer = render(&counts, buckets, &registry(), None);
        assert_eq!(answer.finished.len(), 6);
        let figures: Vec<(u64, u64, u64)> = answer
            .finished
            .iter()
            .map(|b| (b.completed, b.compensated, b.failed))
            .collect();
        assert_eq!(
            figures,
            [
                (3, 0, 0),
                (0, 0, 0),
                (0, 0, 0),
                (0, 0, 0),
                (0, 0, 0),
                (0, 2, 1)
            ]
        );
        assert_eq!(
            answer.finished[1].at - answer.finished[0].at,
            chrono::Duration::seconds(10)
        );
        assert_eq!(answer.lease_expiries, 4);
        assert_eq!(answer.fenced_writes, None);
    }
}
