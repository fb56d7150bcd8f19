//! Completion: record a batch of activity outcomes and, in the same transaction, apply the
//! scheduler's decision for each — next activity (kept under the same workflow lease),
//! compensation, scheduled retry, or the workflow's end.
//!
//! The batch costs a fixed number of statements whatever its size: one locking read of the
//! workflow rows (the fence: epoch and owner must still match), one multi-row insert of the
//! activities that are done (the journal: each row written once), and only where something
//! changed, one `CASE` update of the workflow rows and one insert of attempt history. A step
//! that succeeds and hands on to the next writes one row. A worker whose lease was taken
//! over writes nothing.

use super::apply::{lock_batch, write_plans};
use super::claim::{key_args, Claimed};
use super::db::{args, tuples, Tx};
use super::plan::{plan, AttemptRow, Handoff};
use super::{Error, Result, Store};
use crate::definition::{Definition, Registry, Request};
use kernel::model::{ActivityKey, Outcome, WorkflowId, WorkflowStatus};
use kernel::scheduler::{Decision, Event};
use std::collections::HashSet;
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

/// A workflow that reached a terminal status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub id: WorkflowId,
    pub workflow_type: String,
    pub status: WorkflowStatus,
    /// From submit to this end, in DB time.
    pub duration_us: i64,
}

/// What a batch completion did.
#[derive(Debug, Clone, Default)]
pub struct Completed {
    /// Activities that follow, already leased to the completing worker (when it asked).
    pub next: Vec<Claimed>,
    /// Completions dropped because their lease was no longer current.
    pub fenced: Vec<ActivityKey>,
    /// Workflows that reached a terminal status.
    pub finished: Vec<Finished>,
    /// The decision taken for each completion that was not fenced.
    pub decisions: Vec<(ActivityKey, Decision)>,
}

impl Completed {
    /// Adds another completion's results to these.
    fn absorb(&mut self, other: Completed) {
        self.next.extend(other.next);
        self.fenced.extend(other.fenced);
        self.finished.extend(other.finished);
        self.decisions.extend(other.decisions);
    }
}

impl Store {
    /// Records `completions` (all leased to `worker`) and applies their decisions in one
    /// transaction. With `lease_next_ms`, each next activity comes back under the same
    /// workflow lease (its expiry unchanged: the heartbeat renews it); without, the lease is
    /// given back and the next activity is due for any worker.
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
            Some(ttl_ms) => Handoff::Lease { ttl_ms },
            None => Handoff::Ready,
        };
        match self
            .complete_retrying(registry, worker, handoff, completions, false)
            .await
        {
            Err(err) if err.is_row_specific() => {
                tracing::warn!(error = %err, completions = completions.len(), "batch completion failed on a row; completing row by row");
                self.complete_row_by_row(registry, worker, handoff, completions)
                    .await
            }
            other => other,
        }
    }

    /// [`Store::complete_once`] through the retry loop. After a node failure the failed
    /// `COMMIT` may have gone through unanswered, so the reruns check which activities are
    /// recorded already (as every run does with `verify`).
    async fn complete_retrying(
        &self,
        registry: &Registry,
        worker: &str,
        handoff: Handoff,
        completions: &[Completion],
        verify: bool,
    ) -> Result<Completed> {
        dbha::retry::run_after(&self.database, self.pool.failover(), |rerun| {
            self.complete_once(registry, worker, handoff, completions, verify || rerun)
        })
        .await
    }

    /// Completes each completion in a transaction of its own, so one that cannot be written
    /// costs only itself: it is parked with its workflow, and the others apply.
    async fn complete_row_by_row(
        &self,
        registry: &Registry,
        worker: &str,
        handoff: Handoff,
        completions: &[Completion],
    ) -> Result<Completed> {
        let mut all = Completed::default();
        for c in completions {
            let one = std::slice::from_ref(c);
            // Checking for an activity recorded already: a duplicate journal row (the batch's
            // refusal may be one) means an earlier run applied it, not that it cannot be.
            match self
                .complete_retrying(registry, worker, handoff, one, true)
                .await
            {
                Ok(done) => all.absorb(done),
                Err(err) if err.is_row_specific() => {
                    let key = c.claimed.key;
                    tracing::error!(activity = %key, error = %err, "outcome cannot be recorded; parking its workflow");
                    let reason = format!(
                        "the outcome of attempt {} ({}) could not be recorded: {err}",
                        c.claimed.attempt,
                        c.outcome.attempt_outcome()
                    );
                    let id = key.workflow_id.to_string();
                    self.isolate(&id, Some(c.claimed.epoch), &reason, "complete")
                        .await?;
                }
                Err(err) => return Err(err),
            }
        }
        Ok(all)
    }

    async fn complete_once(
        &self,
        registry: &Registry,
        worker: &str,
        handoff: Handoff,
        completions: &[Completion],
        verify: bool,
    ) -> Result<Completed> {
        let mut tx = self.begin().await?;
        let result = self
            .complete_in(&mut tx, registry, worker, handoff, completions, verify)
            .await;
        if result.is_ok() {
            // Crash window: everything written, nothing committed (the transaction rolls
            // back).
            fail::fail_point!("store::before_complete_commit");
        }
        tx.settle(result).await
    }

    async fn complete_in(
        &self,
        tx: &mut Tx<'_>,
        registry: &Registry,
        worker: &str,
        handoff: Handoff,
        completions: &[Completion],
        verify: bool,
    ) -> Result<Completed> {
        let ids: Vec<WorkflowId> = completions
            .iter()
            .map(|c| c.claimed.key.workflow_id)
            .collect();
        let (locked, now) = lock_batch(tx, self.dialect(), &ids).await?;
        let recorded = match verify {
            true => recorded_activities(tx, completions).await?,
            false => HashSet::new(),
        };
        let mut plans = Vec::with_capacity(completions.len());
        let mut fenced = Vec::new();
        let mut handed_over = Vec::new();
        for c in completions {
            let key = c.claimed.key;
            let held = locked
                .get(&key.workflow_id)
                .filter(|l| l.holds(c.claimed.epoch, worker));
            if held.is_some() && recorded.contains(&key) {
                // Applied by the run whose answer was lost; if that run handed the next
                // activity to this worker (which never heard of it), give that lease back so
                // it is claimed now rather than after it expires.
                tracing::warn!(activity = %key, epoch = c.claimed.epoch, "completion recorded already (its commit's answer was lost)");
                handed_over.push((key.workflow_id, c.claimed.epoch));
                fenced.push(key);
                continue;
            }
            let Some(wf) = held else {
                tracing::warn!(activity = %key, epoch = c.claimed.epoch, "fenced: lease no longer current");
                fenced.push(key);
                continue;
            };
            let def = definition_of(registry, &c.claimed)?;
            // Participant-provided values are bounded here too, whatever executor ran.
            let outcome = kernel::outcome::bounded(&c.outcome).unwrap_or_else(|| c.outcome.clone());
            let attempt = c.executed.then(|| AttemptRow {
                attempt: c.claimed.attempt,
                epoch: c.claimed.epoch,
                worker: worker.to_owned(),
                started_at: c.claimed.claimed_at,
                outcome: outcome.attempt_outcome(),
                error: outcome.error().cloned(),
            });
            let event = Event::Finished(outcome);
            let mut p = plan(def, wf, &c.claimed, &event, c.jitter, now, handoff);
            p.request = c
                .request
                .as_ref()
                .map(|r| serde_json::to_string(r).expect("requests serialize"));
            p.attempt = attempt;
            plans.push(p);
        }
        let mut done = write_plans(tx, plans, now).await?;
        for (id, epoch) in handed_over {
            let sql = "UPDATE workflows SET run_at = ?, lease_owner = NULL \
                       WHERE id = ? AND epoch = ? AND lease_owner = ?";
            tx.execute(sql, args![now, id.to_string(), epoch, worker])
                .await?;
        }
        done.fenced = fenced;
        Ok(done)
    }
}

/// Which of the completions' activities the journal holds already (finished: an
/// activity's row is written when it finishes).
async fn recorded_activities(
    tx: &mut Tx<'_>,
    completions: &[Completion],
) -> Result<HashSet<ActivityKey>> {
    let keys: Vec<ActivityKey> = completions.iter().map(|c| c.claimed.key).collect();
    let sql = format!(
        "SELECT workflow_id, step, kind FROM activities WHERE (workflow_id, step, kind) IN ({})",
        tuples(keys.len(), 3)
    );
    let rows = tx
        .fetch_all(&sql, keys.iter().flat_map(key_args).collect())
        .await?;
    let found: HashSet<(String, i64, String)> = rows
        .iter()
        .map(|r| Ok((r.text("workflow_id")?, r.int("step")?, r.text("kind")?)))
        .collect::<Result<_>>()?;
    Ok(keys
        .into_iter()
        .filter(|k| {
            found.contains(&(
                k.workflow_id.to_string(),
                i64::from(k.step),
                k.kind.as_str().to_owned(),
            ))
        })
        .collect())
}

pub(super) fn definition_of<'r>(
    registry: &'r Registry,
    c: &Claimed,
) -> Result<&'r Arc<Definition>> {
    registry
        .get(&c.workflow_type, c.version)
        .ok_or_else(|| Error::MissingDefinition {
            id: c.key.workflow_id,
            workflow_type: c.workflow_type.clone(),
            version: c.version,
        })
}
