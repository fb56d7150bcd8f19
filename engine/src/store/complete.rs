//! Completion: record a batch of activity outcomes and, in the same transaction, apply the
//! scheduler's decision for each — next activity (already leased to the same worker),
//! compensation, scheduled retry, or the workflow's end.
//!
//! Every activity write is fenced on (key, epoch, status) with a checked row count: a worker
//! whose lease was reclaimed writes nothing. The plan for one activity is computed by a pure
//! function ([`plan`]); this module's I/O only carries plans out.

use super::claim::{key_args, Claimed};
use super::db::{args, placeholders, tuples, Arg, Tx};
use super::db::Dialect;
use super::{retry_transient, Error, Result, Store};
use crate::definition::{Definition, Registry, Request};
use crate::model::{
    ActivityError, ActivityKey, ActivityKind, ActivityStatus, AttemptOutcome, Micros, Outcome, WorkflowId,
    WorkflowStatus,
};
use crate::scheduler::{self, Activity, Decision, Event};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What a runner reports for one claimed activity.
#[derive(Debug, Clone)]
pub struct Completion {
    pub claimed: Claimed,
    pub outcome: Outcome,
    /// The request sent; `None` when nothing was sent.
    pub request: Option<Request>,
    /// False when the activity was not run at all (its last lease expired with no attempt
    /// left): no attempt is recorded for it.
    pub executed: bool,
    /// In `[0, 1)`: spreads a retry delay per the step's policy.
    pub jitter: f64,
}

/// What a batch completion did.
#[derive(Debug, Clone, Default)]
pub struct Completed {
    /// Activities that follow, already leased to the completing worker (when it asked).
    pub next: Vec<Claimed>,
    /// Completions dropped because their lease was no longer current.
    pub fenced: Vec<ActivityKey>,
    /// Workflows that reached a terminal status.
    pub finished: Vec<(WorkflowId, WorkflowStatus)>,
    /// The decision taken for each completion that was not fenced.
    pub decisions: Vec<(ActivityKey, Decision)>,
}

/// A workflow row as locked by the completing transaction.
pub(super) struct Locked {
    pub abort_requested: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub failed_step: Option<i64>,
}

/// Everything one decided-on activity writes.
pub(super) struct Plan {
    key: ActivityKey,
    fence_epoch: i64,
    fence_status: ActivityStatus,
    activity_status: ActivityStatus,
    run_at: Option<Micros>,
    request: Option<String>,
    response: Option<String>,
    error: Option<ActivityError>,
    finished_at: Option<Micros>,
    workflow: WorkflowWrite,
    next: Option<(Claimed, u32)>,
    attempt: Option<AttemptRow>,
    decision: Decision,
}

impl Plan {
    /// The same plan, fenced on another current status of the activity (an abort decides on
    /// a `ready` activity, a completion on a `leased` one).
    pub(super) fn fenced_on(mut self, status: ActivityStatus) -> Plan {
        self.fence_status = status;
        self
    }
}

struct WorkflowWrite {
    status: WorkflowStatus,
    current: (u32, ActivityKind),
    outputs: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    failed_step: Option<i64>,
    parked_reason: Option<String>,
}

struct AttemptRow {
    attempt: u32,
    worker: String,
    started_at: Micros,
    outcome: AttemptOutcome,
    error: Option<ActivityError>,
}

/// How the next activity is handed out.
#[derive(Debug, Clone, Copy)]
pub(super) enum Handoff<'a> {
    /// Leased at once to this worker for this long (it continues without a poll).
    Lease { worker: &'a str, ttl_ms: u64 },
    /// Left ready for any worker.
    Ready,
}

impl Store {
    /// Records `completions` (all leased to `worker`) and applies their decisions in one
    /// transaction. With `lease_next_ms`, each next activity comes back leased to `worker`.
    pub async fn complete(
        &self,
        registry: &Registry,
        worker: &str,
        lease_next_ms: Option<u64>,
        completions: &[Completion],
    ) -> Result<Completed> {
        if completions.is_empty() {
            return Ok(Completed::default());
        }
        let handoff = match lease_next_ms {
            Some(ttl_ms) => Handoff::Lease { worker, ttl_ms },
            None => Handoff::Ready,
        };
        retry_transient!(self.complete_once(registry, worker, handoff, completions))
    }

    async fn complete_once(
        &self,
        registry: &Registry,
        worker: &str,
        handoff: Handoff<'_>,
        completions: &[Completion],
    ) -> Result<Completed> {
        let mut tx = self.begin().await?;
        let ids: Vec<WorkflowId> = completions.iter().map(|c| c.claimed.key.workflow_id).collect();
        let (locked, now) = lock_workflows(&mut tx, self.dialect(), &ids).await?;
        let mut plans = Vec::with_capacity(completions.len());
        for c in completions {
            let def = definition_of(registry, &c.claimed)?;
            let wf = locked.get(&c.claimed.key.workflow_id).ok_or(Error::NotFound(c.claimed.key.workflow_id))?;
            let attempt = c.executed.then(|| AttemptRow {
                attempt: c.claimed.attempt,
                worker: worker.to_owned(),
                started_at: c.claimed.claimed_at,
                outcome: c.outcome.attempt_outcome(),
                error: c.outcome.error().cloned(),
            });
            let event = Event::Finished(c.outcome.clone());
            let request = c.request.as_ref().map(|r| serde_json::to_string(r).expect("requests serialize"));
            let p = plan(def, wf, &c.claimed, &event, c.jitter, now, handoff);
            plans.push(Plan { request, attempt, fence_status: ActivityStatus::Leased, ..p });
        }
        let owner = match handoff {
            Handoff::Lease { worker, .. } => Some(worker),
            Handoff::Ready => None,
        };
        let completed = write_plans(&mut tx, plans, now, owner).await?;
        tx.commit().await?;
        Ok(completed)
    }
}

pub(super) fn definition_of<'r>(registry: &'r Registry, c: &Claimed) -> Result<&'r Arc<Definition>> {
    registry.get(&c.workflow_type, c.version).ok_or_else(|| Error::MissingDefinition {
        id: c.key.workflow_id,
        workflow_type: c.workflow_type.clone(),
        version: c.version,
    })
}

/// Locks the workflows' rows (in id order, so concurrent batches never deadlock on them) and
/// reads the database clock.
pub(super) async fn lock_workflows(
    tx: &mut Tx<'_>,
    dialect: Dialect,
    ids: &[WorkflowId],
) -> Result<(HashMap<WorkflowId, Locked>, Micros)> {
    let mut sorted: Vec<String> = ids.iter().map(WorkflowId::to_string).collect();
    sorted.sort();
    sorted.dedup();
    let (now, for_update) = (dialect.now(), dialect.for_update());
    let rows = tx
        .fetch_all(
            &format!(
                "SELECT id, abort_requested, error_code, error_message, failed_step, {now} AS now \
                 FROM workflows WHERE id IN ({}) ORDER BY id{for_update}",
                placeholders(sorted.len())
            ),
            sorted.into_iter().map(Arg::Text).collect(),
        )
        .await?;
    let mut now = 0;
    let mut locked = HashMap::with_capacity(rows.len());
    for row in rows {
        now = row.int("now")?;
        locked.insert(
            super::parse_id(&row.text("id")?)?,
            Locked {
                abort_requested: row.int("abort_requested")? != 0,
                error_code: row.opt_text("error_code")?,
                error_message: row.opt_text("error_message")?,
                failed_step: row.opt_int("failed_step")?,
            },
        );
    }
    Ok((locked, now))
}

/// The pure part: what `event` on the activity `c` writes, given the locked workflow.
pub(super) fn plan(
    def: &Definition,
    wf: &Locked,
    c: &Claimed,
    event: &Event,
    jitter: f64,
    now: Micros,
    handoff: Handoff<'_>,
) -> Plan {
    let key = c.key;
    let activity = Activity { step: key.step, kind: key.kind, attempt: c.attempt };
    let decision = scheduler::decide(def, wf.abort_requested, activity, event, jitter);
    let activity_status = decision.activity_status(event);
    let status = decision.workflow_status(key.kind);
    let success = match event {
        Event::Finished(Outcome::Success(value)) => Some(value),
        _ => None,
    };
    let mut outputs = None;
    let mut next_outputs = c.outputs.clone();
    if let (Some(value), ActivityKind::Action) = (success, key.kind) {
        let mut map: BTreeMap<_, _> = (*c.outputs).clone();
        map.insert(c.name.clone(), value.clone());
        outputs = Some(serde_json::to_string(&map).expect("outputs serialize"));
        next_outputs = Arc::new(map);
    }
    let error = match event {
        Event::Finished(outcome) => outcome.error().cloned(),
        Event::Aborted => Some(ActivityError::new("ABORTED", "the workflow was aborted before this step ran")),
    };
    let mut workflow = WorkflowWrite {
        status,
        current: (key.step, key.kind),
        outputs,
        error_code: wf.error_code.clone(),
        error_message: wf.error_message.clone(),
        failed_step: wf.failed_step,
        parked_reason: None,
    };
    // The first failure of a forward step is the workflow's error (why it is compensating).
    let failed_forward = key.kind == ActivityKind::Action && !matches!(decision, Decision::Next { .. } | Decision::Complete | Decision::Retry { .. });
    if failed_forward && workflow.error_code.is_none() {
        let err = error.clone().unwrap_or_else(|| ActivityError::new("ABORTED", "the workflow was aborted"));
        workflow.error_code = Some(err.code);
        workflow.error_message = Some(err.message);
        workflow.failed_step = Some(i64::from(key.step));
    }
    let (run_at, next) = match &decision {
        Decision::Retry { delay_ms } => (Some(now + (*delay_ms as i64) * 1_000), None),
        Decision::Next { step } => (None, Some((*step, ActivityKind::Action))),
        Decision::Compensate { step } => (None, Some((*step, ActivityKind::Compensation))),
        Decision::Park { reason } => {
            workflow.parked_reason = Some(reason.clone());
            (None, None)
        }
        Decision::Complete | Decision::Compensated => (None, None),
    };
    let next = next.map(|(step, kind)| {
        workflow.current = (step, kind);
        let max_attempts = def.policy(step, kind).max_attempts;
        (next_claimed(def, c, step, kind, next_outputs, now, handoff), max_attempts)
    });
    Plan {
        key,
        fence_epoch: c.epoch,
        fence_status: ActivityStatus::Leased,
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

fn next_claimed(
    def: &Definition,
    c: &Claimed,
    step: u32,
    kind: ActivityKind,
    outputs: Arc<BTreeMap<String, Value>>,
    now: Micros,
    handoff: Handoff<'_>,
) -> Claimed {
    let (attempt, epoch, expires) = match handoff {
        Handoff::Lease { ttl_ms, .. } => (1, 1, now + ttl_ms as i64 * 1_000),
        Handoff::Ready => (0, 0, now),
    };
    Claimed {
        key: ActivityKey { workflow_id: c.key.workflow_id, step, kind },
        name: def.step(step).name.clone(),
        workflow_type: c.workflow_type.clone(),
        version: c.version,
        attempt,
        epoch,
        claimed_at: now,
        lease_expires_at: expires,
        exhausted: false,
        input: c.input.clone(),
        outputs,
    }
}

/// Carries out plans: fenced activity updates, workflow updates, then the next activities
/// and the attempt history as multi-row inserts.
/// `owner`: the worker that next activities are leased to (`None`: they are left ready).
pub(super) async fn write_plans(tx: &mut Tx<'_>, plans: Vec<Plan>, now: Micros, owner: Option<&str>) -> Result<Completed> {
    let mut done = Completed::default();
    let mut inserts = Vec::new();
    let mut attempts = Vec::new();
    for p in plans {
        if !update_activity(tx, &p, now).await? {
            tracing::warn!(activity = %p.key, epoch = p.fence_epoch, "fenced: lease no longer current");
            done.fenced.push(p.key);
            continue;
        }
        update_workflow(tx, &p, now).await?;
        if p.workflow.status.is_terminal() {
            done.finished.push((p.key.workflow_id, p.workflow.status));
        }
        if let Some(a) = p.attempt {
            attempts.push((p.key, a));
        }
        if let Some(next) = p.next {
            inserts.push(next);
        }
        done.decisions.push((p.key, p.decision));
    }
    insert_next(tx, &inserts, now, owner).await?;
    insert_attempts(tx, &attempts, now).await?;
    done.next = inserts.into_iter().filter(|(c, _)| c.epoch > 0).map(|(c, _)| c).collect();
    Ok(done)
}

async fn update_activity(tx: &mut Tx<'_>, p: &Plan, now: Micros) -> Result<bool> {
    let (code, message) = match &p.error {
        Some(e) => (Some(e.code.clone()), Some(e.message.clone())),
        None => (None, None),
    };
    let mut a = args![p.activity_status.as_str(), p.run_at, p.request.clone(), p.response.clone(), code, message, now, p.finished_at];
    a.extend(key_args(&p.key));
    a.extend(args![p.fence_epoch, p.fence_status.as_str()]);
    let changed = tx
        .execute(
            "UPDATE activities SET status = ?, run_at = ?, lease_owner = NULL, request = COALESCE(?, request), \
             response = ?, error_code = ?, error_message = ?, updated_at = ?, finished_at = ? \
             WHERE workflow_id = ? AND step = ? AND kind = ? AND epoch = ? AND status = ?",
            a,
        )
        .await?;
    assert!(changed <= 1, "a journal key names one row");
    Ok(changed == 1)
}

async fn update_workflow(tx: &mut Tx<'_>, p: &Plan, now: Micros) -> Result<()> {
    let w = &p.workflow;
    let finished_at = w.status.is_terminal().then_some(now);
    let a = args![
        w.status.as_str(),
        i64::from(w.current.0),
        w.current.1.as_str(),
        w.outputs.clone(),
        w.error_code.clone(),
        w.error_message.clone(),
        w.failed_step,
        w.parked_reason.clone(),
        now,
        finished_at,
        p.key.workflow_id.to_string(),
    ];
    let changed = tx
        .execute(
            "UPDATE workflows SET status = ?, current_step = ?, current_kind = ?, outputs = COALESCE(?, outputs), \
             error_code = ?, error_message = ?, failed_step = ?, parked_reason = ?, updated_at = ?, finished_at = ? \
             WHERE id = ?",
            a,
        )
        .await?;
    assert_eq!(changed, 1, "the workflow row was locked by this transaction");
    Ok(())
}

async fn insert_next(tx: &mut Tx<'_>, next: &[(Claimed, u32)], now: Micros, owner: Option<&str>) -> Result<()> {
    if next.is_empty() {
        return Ok(());
    }
    let mut a = Vec::with_capacity(next.len() * 14);
    for (c, max_attempts) in next {
        let leased = c.epoch > 0;
        a.extend(key_args(&c.key));
        a.extend(args![
            c.workflow_type.as_str(),
            c.name.as_str(),
            if leased { "leased" } else { "ready" },
            i64::from(c.attempt),
            i64::from(*max_attempts),
            c.lease_expires_at,
            leased.then_some(c.claimed_at),
            c.epoch,
            owner.filter(|_| leased).map(str::to_owned),
            now,
            now,
        ]);
    }
    tx.execute(
        &format!(
            "INSERT INTO activities (workflow_id, step, kind, workflow_type, name, status, attempt, max_attempts, \
             run_at, claimed_at, epoch, lease_owner, created_at, updated_at) VALUES {}",
            tuples(next.len(), 14)
        ),
        a,
    )
    .await?;
    Ok(())
}

async fn insert_attempts(tx: &mut Tx<'_>, attempts: &[(ActivityKey, AttemptRow)], now: Micros) -> Result<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let mut a = Vec::with_capacity(attempts.len() * 10);
    for (key, row) in attempts {
        a.extend(key_args(key));
        a.extend(args![
            i64::from(row.attempt),
            row.worker.as_str(),
            row.started_at,
            now,
            row.outcome.as_str(),
            row.error.as_ref().map(|e| e.code.clone()),
            row.error.as_ref().map(|e| e.message.clone()),
        ]);
    }
    tx.execute(
        &format!(
            "INSERT INTO attempts (workflow_id, step, kind, attempt, worker, started_at, finished_at, outcome, \
             error_code, error_message) VALUES {}",
            tuples(attempts.len(), 10)
        ),
        a,
    )
    .await?;
    Ok(())
}

