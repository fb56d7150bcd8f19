//! The API's JSON wire types: what clients send (bodies, query strings) and what they get
//! back, with timestamps as RFC 3339 strings.
//!
//! Not the store's records: those are converted here, so a change in the store never changes
//! the wire by accident. `openapi` describes these types; keep the two in step.

use crate::definition::{Definition, FieldType};
use crate::store::{ActivityRecord, AttemptRecord, WorkflowRecord, WorkflowSummary};
use chrono::{DateTime, Utc};
use kernel::model::{
    ActivityError, ActivityKind, ActivityStatus, AttemptOutcome, Micros, WorkflowId, WorkflowStatus,
};
use kernel::retry::RetryPolicy;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A database time on the wire. Stored times are microseconds from the database clock; one
/// outside chrono's range (a corrupt row) shows as the epoch rather than failing the read.
pub type Time = DateTime<Utc>;

pub(super) fn time(micros: Micros) -> Time {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// `POST /v1/workflows`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    #[serde(rename = "type")]
    pub workflow_type: String,
    pub input: Value,
}

/// The query of submit and get.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    pub wait: Option<String>,
}

/// The query of `GET /v1/workflows`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<WorkflowStatus>,
    #[serde(rename = "type")]
    pub workflow_type: Option<String>,
    /// Only the workflow submitted with exactly this `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    pub limit: Option<u32>,
    /// The last id of the previous page.
    pub cursor: Option<WorkflowId>,
}

/// The answer of submit, abort and retry.
#[derive(Debug, Serialize)]
pub struct StatusAnswer {
    pub id: WorkflowId,
    pub status: WorkflowStatus,
}

/// One workflow with its journal.
#[derive(Debug, Serialize)]
pub struct Workflow {
    pub id: WorkflowId,
    #[serde(rename = "type")]
    pub workflow_type: String,
    pub version: u32,
    pub status: WorkflowStatus,
    pub current_step: u32,
    pub current_kind: ActivityKind,
    pub input: Value,
    /// Each finished step's output, by step name.
    pub outputs: BTreeMap<String, Value>,
    /// The first forward failure: why the workflow was compensated.
    pub error: Option<ActivityError>,
    pub failed_step: Option<u32>,
    /// Why the workflow is parked as `failed`.
    pub parked_reason: Option<String>,
    pub abort_requested: bool,
    pub idempotency_key: Option<String>,
    /// Who submitted it, last asked to abort it, last retried it: a JWT's `sub` or a static
    /// token's name (`token:` and 8 hex digits); `null` without auth or when nobody did.
    pub submitted_by: Option<String>,
    pub aborted_by: Option<String>,
    pub retried_by: Option<String>,
    pub created_at: Time,
    pub updated_at: Time,
    pub finished_at: Option<Time>,
    /// The journal: every activity (a step's action or compensation), in creation order.
    pub activities: Vec<Activity>,
}

/// One journal entry with all its attempts.
#[derive(Debug, Serialize)]
pub struct Activity {
    pub step: u32,
    /// The step's name.
    pub name: String,
    pub kind: ActivityKind,
    pub status: ActivityStatus,
    /// Attempts started so far.
    pub attempt: u32,
    pub max_attempts: u32,
    /// When it is next due (ready) or when its lease expires (leased).
    pub run_at: Option<Time>,
    pub lease_owner: Option<String>,
    pub request: Option<Value>,
    pub response: Option<Value>,
    pub error: Option<ActivityError>,
    pub created_at: Time,
    pub finished_at: Option<Time>,
    pub attempts: Vec<Attempt>,
}

/// One attempt of an activity.
#[derive(Debug, Serialize)]
pub struct Attempt {
    pub attempt: u32,
    pub worker: Option<String>,
    pub started_at: Time,
    pub finished_at: Time,
    pub duration_us: i64,
    pub outcome: AttemptOutcome,
    pub error: Option<ActivityError>,
}

/// A page of `GET /v1/workflows`, newest first.
#[derive(Debug, Serialize)]
pub struct WorkflowList {
    pub workflows: Vec<WorkflowLine>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<WorkflowId>,
}

/// A workflow in a list.
#[derive(Debug, Serialize)]
pub struct WorkflowLine {
    pub id: WorkflowId,
    #[serde(rename = "type")]
    pub workflow_type: String,
    pub status: WorkflowStatus,
    pub created_at: Time,
    pub finished_at: Option<Time>,
}

/// `GET /v1/workflow-types`.
#[derive(Debug, Serialize)]
pub struct WorkflowTypes {
    pub workflow_types: Vec<WorkflowType>,
}

/// One loaded workflow type and version.
#[derive(Debug, Serialize)]
pub struct WorkflowType {
    pub name: String,
    pub version: u32,
    pub description: String,
    /// The last step before the pivot, if any.
    pub pivot_after: Option<String>,
    /// The input fields every workflow of this type must carry, with their JSON types.
    pub input: BTreeMap<String, FieldType>,
    pub steps: Vec<StepInfo>,
}

/// One step of a workflow type.
#[derive(Debug, Serialize)]
pub struct StepInfo {
    pub name: String,
    pub service: String,
    pub compensable: bool,
    /// True after the pivot: the step only moves forward.
    pub after_pivot: bool,
    /// How the action is retried after a retryable error.
    pub action_retry: RetryPolicy,
    /// How the compensation is retried; `None` when the step has none.
    pub compensation_retry: Option<RetryPolicy>,
    /// Timeout of one call of the action or compensation.
    pub timeout_ms: u64,
}

/// `GET /v1/overview`: what the console's first page shows.
#[derive(Debug, Serialize)]
pub struct Overview {
    /// The database clock when the figures were read.
    pub now: Time,
    pub window_s: u64,
    pub bucket_s: u64,
    /// Workflows by type and status (only pairs that occur).
    pub counts: Vec<TypeStatusCount>,
    /// Workflows finished per bucket, oldest first, every bucket present.
    pub finished: Vec<FinishedBucket>,
    /// Leases that expired in the window: a worker died or stalled and another took over.
    pub lease_expiries: u64,
    /// Writes refused by the lease fence in the window, counted by this process's workers;
    /// `None` in a process that runs none (the workers' metrics count them).
    pub fenced_writes: Option<u64>,
    /// Attempts that ended in the window, per participant service.
    pub services: Vec<ServiceCalls>,
    /// Workflows whose attempts were counted for `services` (a capped sample).
    pub sampled_workflows_max: u32,
}

/// Workflows of one type in one status.
#[derive(Debug, Serialize)]
pub struct TypeStatusCount {
    #[serde(rename = "type")]
    pub workflow_type: String,
    pub status: WorkflowStatus,
    pub count: u64,
}

/// Workflows that finished in one bucket, by terminal status.
#[derive(Debug, Serialize, Default)]
pub struct FinishedBucket {
    /// Start of the bucket.
    pub at: Time,
    pub completed: u64,
    pub compensated: u64,
    pub failed: u64,
}

/// Attempts against one participant service in the window.
#[derive(Debug, Serialize, Default, PartialEq, Eq)]
pub struct ServiceCalls {
    pub service: String,
    /// Attempts that reached an answer or failed in transport (not aborted, not lost leases).
    pub calls: u64,
    /// Timeouts, connection errors, 5xx: the participant's own error rate.
    pub retryable_errors: u64,
    /// Refusals for a business reason (not the participant's failure).
    pub business_errors: u64,
    /// Attempts whose worker lost its lease before it wrote the outcome down.
    pub lease_expiries: u64,
}

impl From<&WorkflowRecord> for Workflow {
    fn from(w: &WorkflowRecord) -> Workflow {
        Workflow {
            id: w.id,
            workflow_type: w.workflow_type.clone(),
            version: w.version,
            status: w.status,
            current_step: w.current_step,
            current_kind: w.current_kind,
            input: w.input.clone(),
            outputs: w.outputs.clone(),
            error: w.error.clone(),
            failed_step: w.failed_step,
            parked_reason: w.parked_reason.clone(),
            abort_requested: w.abort_requested,
            idempotency_key: w.idempotency_key.clone(),
            submitted_by: w.submitted_by.clone(),
            aborted_by: w.aborted_by.clone(),
            retried_by: w.retried_by.clone(),
            created_at: time(w.created_at),
            updated_at: time(w.updated_at),
            finished_at: w.finished_at.map(time),
            activities: journal_order(&w.activities)
                .into_iter()
                .map(Activity::from)
                .collect(),
        }
    }
}

/// The activities in the order they ran, from their keys alone: actions forward, then
/// compensations backward. (Creation times can tie: SQLite's clock counts milliseconds.)
fn journal_order(activities: &[ActivityRecord]) -> Vec<&ActivityRecord> {
    let mut ordered: Vec<&ActivityRecord> = activities.iter().collect();
    ordered.sort_by_key(|a| match a.kind {
        ActivityKind::Action => (a.kind, i64::from(a.step)),
        ActivityKind::Compensation => (a.kind, -i64::from(a.step)),
    });
    ordered
}

impl From<&ActivityRecord> for Activity {
    fn from(a: &ActivityRecord) -> Activity {
        Activity {
            step: a.step,
            name: a.name.clone(),
            kind: a.kind,
            status: a.status,
            attempt: a.attempt,
            max_attempts: a.max_attempts,
            run_at: a.run_at.map(time),
            lease_owner: a.lease_owner.clone(),
            request: a.request.clone(),
            response: a.response.clone(),
            error: a.error.clone(),
            created_at: time(a.created_at),
            finished_at: a.finished_at.map(time),
            attempts: a.attempts.iter().map(Attempt::from).collect(),
        }
    }
}

impl From<&AttemptRecord> for Attempt {
    fn from(t: &AttemptRecord) -> Attempt {
        Attempt {
            attempt: t.attempt,
            worker: t.worker.clone(),
            started_at: time(t.started_at),
            finished_at: time(t.finished_at),
            duration_us: t.finished_at - t.started_at,
            outcome: t.outcome,
            error: t.error.clone(),
        }
    }
}

impl From<&WorkflowSummary> for WorkflowLine {
    fn from(w: &WorkflowSummary) -> WorkflowLine {
        WorkflowLine {
            id: w.id,
            workflow_type: w.workflow_type.clone(),
            status: w.status,
            created_at: time(w.created_at),
            finished_at: w.finished_at.map(time),
        }
    }
}

impl From<&Definition> for WorkflowType {
    fn from(def: &Definition) -> WorkflowType {
        WorkflowType {
            name: def.name.clone(),
            version: def.version,
            description: def.description.clone(),
            pivot_after: def.pivot.map(|p| def.steps[p].name.clone()),
            input: def.input.clone(),
            steps: def
                .steps
                .iter()
                .map(|s| StepInfo {
                    name: s.name.clone(),
                    service: s.service.clone(),
                    compensable: s.compensation.is_some(),
                    after_pivot: s.after_pivot,
                    action_retry: s.action_retry,
                    compensation_retry: s.compensation.as_ref().map(|_| s.compensation_retry),
                    timeout_ms: s.timeout_ms,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(step: u32, kind: ActivityKind) -> ActivityRecord {
        ActivityRecord {
            step,
            kind,
            name: format!("s{step}"),
            status: ActivityStatus::Succeeded,
            attempt: 1,
            max_attempts: 1,
            run_at: None,
            lease_owner: None,
            epoch: 1,
            request: None,
            response: None,
            error: None,
            created_at: 0,
            finished_at: None,
            attempts: Vec::new(),
        }
    }

    #[test]
    fn the_journal_runs_actions_forward_then_compensations_backward() {
        use ActivityKind::{Action, Compensation};
        let stored = [
            (2, Compensation),
            (3, Action),
            (0, Action),
            (1, Compensation),
            (2, Action),
        ]
        .map(|(step, kind)| activity(step, kind));
        let order: Vec<(u32, ActivityKind)> = journal_order(&stored)
            .iter()
            .map(|a| (a.step, a.kind))
            .collect();
        assert_eq!(
            order,
            [
                (0, Action),
                (2, Action),
                (3, Action),
                (2, Compensation),
                (1, Compensation)
            ]
        );
    }
}
