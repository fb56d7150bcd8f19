//! The pure part of a completion: given the locked workflow, a leased activity and what
//! happened to it, every value the transaction writes ([`Plan`]).
//!
//! No I/O: `complete` reads the state, calls [`plan`], and writes the plans in batch.

use crate::definition::Definition;
use crate::model::{
    ActivityError, ActivityKey, ActivityKind, ActivityStatus, AttemptOutcome, Micros, Outcome,
    WorkflowStatus,
};
use crate::scheduler::{self, Activity, Decision, Event};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A leased activity, with what its execution needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub key: ActivityKey,
    /// The step's name.
    pub name: String,
    pub workflow_type: String,
    pub version: u32,
    /// This attempt's number (1-based; an expired lease counted as one).
    pub attempt: u32,
    /// The activity's attempt budget: the step's policy, raised by each operator retry.
    pub max_attempts: u32,
    /// The lease's epoch: every later write of this activity is fenced on it.
    pub epoch: i64,
    /// Database time at which this lease was taken.
    pub claimed_at: Micros,
    /// Database time at which this lease expires unless renewed.
    pub lease_expires_at: Micros,
    /// The lease of the last attempt expired and no attempt is left: complete this activity
    /// as failed without running it.
    pub exhausted: bool,
    /// Taken over from a worker whose lease expired (that attempt was recorded as lost).
    pub reclaimed: bool,
    pub input: Arc<Value>,
    /// Outputs of the steps completed so far, by step name.
    pub outputs: Arc<BTreeMap<String, Value>>,
}

/// A workflow row and its one unfinished activity, as locked by a completing transaction.
#[derive(Debug, Clone)]
pub struct Locked {
    /// When the workflow was submitted (DB time).
    pub created_at: Micros,
    pub abort_requested: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub failed_step: Option<i64>,
    /// The unfinished activity (`run_at` set): its key, epoch and status.
    pub active: Option<(ActivityKey, i64, ActivityStatus)>,
}

impl Locked {
    /// True when `key` at `epoch` is still the workflow's current activity in `status`:
    /// the fence every completion passes before it writes.
    pub fn holds(&self, key: ActivityKey, epoch: i64, status: ActivityStatus) -> bool {
        self.active == Some((key, epoch, status))
    }
}

/// Everything one decided-on activity writes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub key: ActivityKey,
    pub workflow_type: String,
    /// When the workflow was submitted (DB time).
    pub created_at: Micros,
    pub activity_status: ActivityStatus,
    pub run_at: Option<Micros>,
    pub request: Option<String>,
    pub response: Option<String>,
    pub error: Option<ActivityError>,
    pub finished_at: Option<Micros>,
    pub workflow: WorkflowWrite,
    /// The activity that follows (its `max_attempts` is its budget).
    pub next: Option<Claimed>,
    pub attempt: Option<AttemptRow>,
    pub decision: Decision,
}

/// The workflow row's new values.
#[derive(Debug, Clone)]
pub struct WorkflowWrite {
    pub status: WorkflowStatus,
    pub current: (u32, ActivityKind),
    /// New outputs (JSON), `None` when unchanged.
    pub outputs: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub failed_step: Option<i64>,
    pub parked_reason: Option<String>,
}

/// One attempt for the history.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub attempt: u32,
    /// The lease's epoch: the history row's key.
    pub epoch: i64,
    pub worker: String,
    pub started_at: Micros,
    pub outcome: AttemptOutcome,
    pub error: Option<ActivityError>,
}

/// How the next activity is handed out.
#[derive(Debug, Clone, Copy)]
pub enum Handoff {
    /// Leased at once, for this long, to the completing worker (it continues without a poll).
    Lease { ttl_ms: u64 },
    /// Left ready for any worker.
    Ready,
}

/// What `event` on the activity `c` writes, given the locked workflow `wf`.
pub fn plan(
    def: &Definition,
    wf: &Locked,
    c: &Claimed,
    event: &Event,
    jitter: f64,
    now: Micros,
    handoff: Handoff,
) -> Plan {
    let key = c.key;
    let decision = scheduler::decide(def, wf.abort_requested, activity(def, c), event, jitter);
    let activity_status = decision.activity_status(event);
    let success = success(event);
    let (outputs, next_outputs) = outputs(c, success);
    let error = activity_error(event);
    let mut workflow = workflow_write(wf, key, &decision, outputs, error.as_ref());
    let (run_at, next) = schedule(&decision, now);
    let next = next.map(|(step, kind)| {
        workflow.current = (step, kind);
        let next_key = ActivityKey { step, kind, ..key };
        next_claimed(def, c, next_key, next_outputs, now, handoff)
    });
    Plan {
        key,
        workflow_type: c.workflow_type.clone(),
        created_at: wf.created_at,
        activity_status,
        run_at,
        request: None,
        response: success.map(Value::to_string),
        error: if success.is_some() { None } else { error },
        finished_at: (activity_status != ActivityStatus::Ready).then_some(now),
        workflow,
        next,
        attempt: None,
        decision,
    }
}

/// The activity as the scheduler counts it. An operator's retry raised the budget past the
/// policy's: the attempts before it are spent, and the policy (count and delays) starts again
/// after them.
fn activity(def: &Definition, c: &Claimed) -> Activity {
    let policy_max = def.policy(c.key.step, c.key.kind).max_attempts;
    Activity {
        step: c.key.step,
        kind: c.key.kind,
        attempt: c.attempt,
        budget_start: c.max_attempts.saturating_sub(policy_max),
    }
}

/// The answer of a successful attempt.
fn success(event: &Event) -> Option<&Value> {
    match event {
        Event::Finished(Outcome::Success(value)) => Some(value),
        _ => None,
    }
}

/// The workflow's new outputs (JSON, `None` when unchanged) and the outputs the next
/// activity sees: a successful action adds its answer under its step's name.
fn outputs(c: &Claimed, success: Option<&Value>) -> (Option<String>, Arc<BTreeMap<String, Value>>) {
    match (success, c.key.kind) {
        (Some(value), ActivityKind::Action) => {
            let mut map: BTreeMap<_, _> = (*c.outputs).clone();
            map.insert(c.name.clone(), value.clone());
            (
                Some(serde_json::to_string(&map).expect("outputs serialize")),
                Arc::new(map),
            )
        }
        _ => (None, c.outputs.clone()),
    }
}

/// The error the event carries (an abort is one too).
fn activity_error(event: &Event) -> Option<ActivityError> {
    match event {
        Event::Finished(outcome) => outcome.error().cloned(),
        Event::Aborted => Some(ActivityError::new(
            "ABORTED",
            "the workflow was aborted before this step ran",
        )),
    }
}

/// The workflow row's new values. The first forward step that did not go forward is the
/// workflow's error (the cause); a later one leaves it as it is.
fn workflow_write(
    wf: &Locked,
    key: ActivityKey,
    decision: &Decision,
    outputs: Option<String>,
    error: Option<&ActivityError>,
) -> WorkflowWrite {
    let mut workflow = WorkflowWrite {
        status: decision.workflow_status(key.kind),
        current: (key.step, key.kind),
        outputs,
        error_code: wf.error_code.clone(),
        error_message: wf.error_message.clone(),
        failed_step: wf.failed_step,
        parked_reason: match decision {
            Decision::Park { reason } => Some(reason.clone()),
            _ => None,
        },
    };
    let went_forward = matches!(
        decision,
        Decision::Next { .. } | Decision::Complete | Decision::Retry { .. }
    );
    if key.kind == ActivityKind::Action && !went_forward && workflow.error_code.is_none() {
        let err = error
            .cloned()
            .unwrap_or_else(|| ActivityError::new("ABORTED", "the workflow was aborted"));
        workflow.error_code = Some(err.code);
        workflow.error_message = Some(err.message);
        workflow.failed_step = Some(i64::from(key.step));
    }
    workflow
}

/// When the decided-on activity runs again (a retry's due time) and which activity follows.
fn schedule(decision: &Decision, now: Micros) -> (Option<Micros>, Option<(u32, ActivityKind)>) {
    match decision {
        Decision::Retry { delay_ms } => (Some(now + (*delay_ms as i64) * 1_000), None),
        Decision::Next { step } => (None, Some((*step, ActivityKind::Action))),
        Decision::Compensate { step } => (None, Some((*step, ActivityKind::Compensation))),
        Decision::Park { .. } | Decision::Complete | Decision::Compensated => (None, None),
    }
}

/// The activity that follows, leased to the completing worker or left ready.
fn next_claimed(
    def: &Definition,
    c: &Claimed,
    key: ActivityKey,
    outputs: Arc<BTreeMap<String, Value>>,
    now: Micros,
    handoff: Handoff,
) -> Claimed {
    let (attempt, epoch, expires) = match handoff {
        Handoff::Lease { ttl_ms } => (1, 1, now + ttl_ms as i64 * 1_000),
        Handoff::Ready => (0, 0, now),
    };
    Claimed {
        key,
        name: def.step(key.step).name.clone(),
        workflow_type: c.workflow_type.clone(),
        version: c.version,
        attempt,
        max_attempts: def.policy(key.step, key.kind).max_attempts,
        epoch,
        claimed_at: now,
        lease_expires_at: expires,
        exhausted: false,
        reclaimed: false,
        input: c.input.clone(),
        outputs,
    }
}

#[cfg(test)]
mod tests;
