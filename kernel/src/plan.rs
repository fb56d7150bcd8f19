//! The pure part of a completion: given the locked workflow, a leased activity and what
//! happened to it, every value the transaction writes ([`Plan`]).
//!
//! No I/O: `complete` reads the state, calls [`plan`], and writes the plans in batch.
//!
//! The lease is the workflow's (owner, epoch, expiry on its row), kept while its worker runs
//! step after step. A plan writes at most one journal row (the activity, once it is done), an
//! attempt-history row only for an attempt that did not finish the activity (a retry, a
//! park), and the workflow row only on a transition: compensation starts, a retry is
//! scheduled, the lease is given back, the workflow parks or ends.

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
    /// The workflow lease's epoch: every write under this lease is fenced on it.
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

/// A workflow row, as locked by a completing transaction.
#[derive(Debug, Clone)]
pub struct Locked {
    /// When the workflow was submitted (DB time).
    pub created_at: Micros,
    pub status: WorkflowStatus,
    pub abort_requested: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub failed_step: Option<i64>,
    /// The lease: its epoch, holder (`None`: nobody holds the workflow) and expiry (the
    /// row's `run_at` while held).
    pub epoch: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Micros>,
}

impl Locked {
    /// True when `owner` still holds the workflow's lease taken at `epoch`: the fence every
    /// completion passes before it writes. Every claim raises the epoch; giving the lease
    /// back (a retry's wait, a ready handoff, a park, the end) clears the owner.
    pub fn holds(&self, epoch: i64, owner: &str) -> bool {
        self.epoch == epoch
            && self.lease_owner.as_deref() == Some(owner)
            && !self.status.is_terminal()
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
    /// When the activity runs again (a retry's due time); `None` when it is done or parked.
    pub run_at: Option<Micros>,
    /// The activity is done (succeeded or failed, and the workflow went on or ended): one
    /// journal row, written once. A retry or a park leaves it the workflow's current one.
    pub journal: bool,
    /// The activity as its journal row records it.
    pub journal_row: JournalRow,
    pub request: Option<String>,
    pub response: Option<String>,
    pub error: Option<ActivityError>,
    pub finished_at: Option<Micros>,
    pub workflow: WorkflowWrite,
    /// The activity that follows (its `max_attempts` is its budget).
    pub next: Option<Claimed>,
    /// This attempt (`None`: the activity was not run). On the journal row when the activity
    /// is done; a history row of its own otherwise.
    pub attempt: Option<AttemptRow>,
    pub decision: Decision,
}

/// The workflow row's new values.
#[derive(Debug, Clone)]
pub struct WorkflowWrite {
    /// False when nothing on the row changes (the worker goes on under the same lease).
    pub write: bool,
    pub status: WorkflowStatus,
    pub current: (u32, ActivityKind),
    /// The lease is given back (a retry's wait, a ready handoff, a park, the end); false
    /// when the worker goes on under it (a compensation starts).
    pub release: bool,
    /// When the workflow next needs a worker once the lease is given back: a retry's due
    /// time, now for a ready handoff, `None` once it parked or ended. While the lease is
    /// kept: its new expiry when the handoff renews it, else `None` (unchanged).
    pub run_at: Option<Micros>,
    /// Outputs of every successful action so far (JSON), when the row is written; `None`
    /// when this attempt added none and the row is not written.
    pub outputs: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub failed_step: Option<i64>,
    pub parked_reason: Option<String>,
}

/// What a journal row records of its activity besides the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub name: String,
    pub version: u32,
    /// The attempt that finished the activity.
    pub attempt: u32,
    pub max_attempts: u32,
    /// The lease it ran under.
    pub epoch: i64,
    pub started_at: Micros,
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
    /// Kept by the completing worker under the workflow's lease (it continues without a
    /// poll). A lease with less than half of `ttl_ms` left is renewed to `ttl_ms` on the
    /// way (it may even have expired with nobody taking over).
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
    let lease = kept_lease(wf, now, handoff);
    let next = next.map(|(step, kind)| {
        workflow.current = (step, kind);
        let next_key = ActivityKey { step, kind, ..key };
        next_claimed(def, c, next_key, next_outputs.clone(), now, lease)
    });
    let ready_handoff = next.is_some() && matches!(handoff, Handoff::Ready);
    let renewed = match lease {
        Some((expires, true)) if next.is_some() => Some(expires),
        _ => None,
    };
    workflow.write = workflow.status != wf.status
        || ready_handoff
        || run_at.is_some()
        || renewed.is_some()
        || workflow.status.is_terminal()
        || workflow.parked_reason.is_some();
    workflow.release = next.is_none() || ready_handoff;
    workflow.run_at = match (ready_handoff, workflow.release) {
        (true, _) => Some(now),
        (false, true) => run_at,
        (false, false) => renewed,
    };
    if workflow.write && workflow.outputs.is_none() {
        workflow.outputs = Some(serde_json::to_string(&*next_outputs).expect("outputs serialize"));
    }
    let journal = activity_status != ActivityStatus::Ready && workflow.parked_reason.is_none();
    Plan {
        key,
        workflow_type: c.workflow_type.clone(),
        created_at: wf.created_at,
        activity_status,
        run_at,
        journal,
        journal_row: JournalRow {
            name: c.name.clone(),
            version: c.version,
            attempt: c.attempt,
            max_attempts: c.max_attempts,
            epoch: c.epoch,
            started_at: c.claimed_at,
        },
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
        write: false,
        status: decision.workflow_status(key.kind),
        current: (key.step, key.kind),
        release: true,
        run_at: None,
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

/// With a handoff under the lease: its expiry, and whether it must be renewed to get there
/// (less than half the TTL was left).
fn kept_lease(wf: &Locked, now: Micros, handoff: Handoff) -> Option<(Micros, bool)> {
    match handoff {
        Handoff::Lease { ttl_ms } => {
            let ttl = ttl_ms as i64 * 1_000;
            match wf.lease_expires_at {
                Some(expires) if expires - now >= ttl / 2 => Some((expires, false)),
                _ => Some((now + ttl, true)),
            }
        }
        Handoff::Ready => None,
    }
}

/// The activity that follows: under the same lease (same epoch; the worker goes on without
/// a write unless the lease needed renewing), or left ready for any worker (the lease is
/// given back). `lease`: the kept lease's expiry.
fn next_claimed(
    def: &Definition,
    c: &Claimed,
    key: ActivityKey,
    outputs: Arc<BTreeMap<String, Value>>,
    now: Micros,
    lease: Option<(Micros, bool)>,
) -> Claimed {
    let (attempt, epoch, expires) = match lease {
        Some((expires, _)) => (1, c.epoch, expires),
        None => (0, 0, now),
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
