//! Operator and user controls: abort a workflow, retry a parked (`failed`) one.
//!
//! Both run the same plans as a completion (see `complete`), so an abort of a workflow that
//! nobody holds (its next action waits) is decided by the scheduler exactly like any other
//! event; one that a worker holds is decided by that worker when its attempt ends.

use super::apply::{lock_batch, write_plans};
use super::claim::Claimed;
use super::cursor::{self, Cursor};
use super::db::{args, Tx};
use super::plan::{plan, Handoff};
use super::{parse_json, parse_name, retry_transient, Error, Result, Store};
use crate::definition::{Definition, Registry};
use kernel::model::{ActivityKey, ActivityKind, WorkflowId, WorkflowStatus};
use kernel::scheduler::Event;
use std::collections::HashMap;
use std::sync::Arc;

/// The workflow as the controls see it.
struct Head {
    def: Arc<Definition>,
    status: WorkflowStatus,
    /// The activity it is at (`None` once it ended).
    current: Option<Cursor>,
    /// Its budget (an operator's retry may have raised the journal's).
    max_attempts: u32,
    /// Attempts the current activity has made.
    made: u32,
    held: bool,
    epoch: i64,
    input: String,
    outputs: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Store {
    /// Asks a workflow to stop. Before the pivot it is compensated: at once if nobody holds
    /// it (its next action waits), else when the running attempt ends. Returns the status
    /// after the request. Past the pivot, or once terminal, it is refused ([`Error::Conflict`]).
    /// `by` (the caller's subject, `None` without auth) is recorded as `aborted_by` in the
    /// update that sets the request: the last caller whose abort was taken.
    pub async fn abort(
        &self,
        registry: &Registry,
        id: WorkflowId,
        by: Option<&str>,
    ) -> Result<WorkflowStatus> {
        retry_transient!(self.abort_once(registry, id, by))
    }

    async fn abort_once(
        &self,
        registry: &Registry,
        id: WorkflowId,
        by: Option<&str>,
    ) -> Result<WorkflowStatus> {
        let mut tx = self.begin().await?;
        let result = self.abort_in(&mut tx, registry, id, by).await;
        tx.settle(result).await
    }

    async fn abort_in(
        &self,
        tx: &mut Tx<'_>,
        registry: &Registry,
        id: WorkflowId,
        by: Option<&str>,
    ) -> Result<WorkflowStatus> {
        let head = self.lock_head(tx, registry, id).await?;
        match head.status {
            s if s.is_terminal() => {
                return Err(Error::Conflict(format!("workflow {id} is already {s}")))
            }
            WorkflowStatus::Compensating => return Ok(WorkflowStatus::Compensating),
            _ => {}
        }
        let current = head
            .current
            .clone()
            .ok_or_else(|| Error::Corrupt(format!("workflow {id} has no current activity")))?;
        if head.def.step(current.step).after_pivot {
            return Err(Error::Conflict(format!(
                "workflow {id} is past its pivot: it can only move forward to completion"
            )));
        }
        tx.execute(
            "UPDATE workflows SET abort_requested = 1, aborted_by = ? WHERE id = ?",
            args![by.map(str::to_owned), id.to_string()],
        )
        .await?;
        if head.held {
            // Leased: the worker applies the abort when its attempt ends.
            return Ok(head.status);
        }
        let (locked, now) = lock_batch(tx, self.dialect(), &[id]).await?;
        let claimed = Claimed {
            claimed_at: now,
            ..waiting_activity(id, &head, &current)?
        };
        let p = plan(
            &head.def,
            &locked[&id],
            &claimed,
            &Event::Aborted,
            0.0,
            now,
            Handoff::Ready,
        );
        let done = write_plans(tx, vec![p], now).await?;
        let status = done
            .finished
            .first()
            .map_or(WorkflowStatus::Compensating, |f| f.status);
        Ok(status)
    }

    /// Gives a parked (`failed`) workflow's stuck activity a fresh retry budget and makes it
    /// due at once. Any other status is refused ([`Error::Conflict`]). `by` (the caller's
    /// subject, `None` without auth) is recorded as `retried_by`: the last retry's caller.
    pub async fn retry(
        &self,
        registry: &Registry,
        id: WorkflowId,
        by: Option<&str>,
    ) -> Result<WorkflowStatus> {
        retry_transient!(self.retry_once(registry, id, by))
    }

    async fn retry_once(
        &self,
        registry: &Registry,
        id: WorkflowId,
        by: Option<&str>,
    ) -> Result<WorkflowStatus> {
        let mut tx = self.begin().await?;
        let result = self.retry_in(&mut tx, registry, id, by).await;
        tx.settle(result).await
    }

    async fn retry_in(
        &self,
        tx: &mut Tx<'_>,
        registry: &Registry,
        id: WorkflowId,
        by: Option<&str>,
    ) -> Result<WorkflowStatus> {
        let head = self.lock_head(tx, registry, id).await?;
        if head.status != WorkflowStatus::Failed {
            return Err(Error::Conflict(format!(
                "only a failed (parked) workflow can be retried; workflow {id} is {}",
                head.status
            )));
        }
        let current = head.current.clone().ok_or_else(|| {
            Error::Corrupt(format!("parked workflow {id} has no current activity"))
        })?;
        let budget = head.def.policy(current.step, current.kind).max_attempts;
        let status = match current.kind {
            ActivityKind::Action => WorkflowStatus::Running,
            ActivityKind::Compensation => WorkflowStatus::Compensating,
        };
        let now = self.dialect().now();
        tx.execute(
            &format!(
                "UPDATE workflows SET status = ?, parked_reason = NULL, finished_at = NULL, run_at = {now}, \
                 lease_owner = NULL, budget_step = ?, budget_kind = ?, budget_max = ?, retried_by = ?, \
                 updated_at = {now} WHERE id = ?"
            ),
            args![
                status.as_str(),
                i64::from(current.step),
                current.kind.as_str(),
                i64::from(head.made + budget),
                by.map(str::to_owned),
                id.to_string()
            ],
        )
        .await?;
        Ok(status)
    }

    /// Locks a workflow's row and reads its definition, status and where it stands.
    async fn lock_head(
        &self,
        tx: &mut Tx<'_>,
        registry: &Registry,
        id: WorkflowId,
    ) -> Result<Head> {
        let row = tx
            .fetch_all(
                &format!(
                    "SELECT workflow_type, version, status, current_name, budget_step, budget_kind, budget_max, \
                     lease_owner, epoch, input FROM workflows WHERE id = ?{}",
                    self.dialect().for_update()
                ),
                args![id.to_string()],
            )
            .await?
            .pop()
            .ok_or(Error::NotFound(id))?;
        let (workflow_type, version) = (row.text("workflow_type")?, row.int("version")? as u32);
        let def =
            registry
                .get(&workflow_type, version)
                .cloned()
                .ok_or(Error::MissingDefinition {
                    id,
                    workflow_type,
                    version,
                })?;
        let key = id.to_string();
        let ids = [key.clone()];
        let firsts = HashMap::from([(key.clone(), cursor::first(&row)?)]);
        let standing = cursor::standings(tx, &ids, &firsts)
            .await?
            .remove(&key)
            .unwrap_or_default();
        let made = cursor::attempts_made(tx, &ids).await?;
        let (max_attempts, made) = match &standing.cursor {
            Some(c) => (
                cursor::budget(&row, c)?,
                made.get(&(key, c.step, c.kind)).copied().unwrap_or(0),
            ),
            None => (0, 0),
        };
        Ok(Head {
            def,
            status: parse_name(
                &row.text("status")?,
                WorkflowStatus::parse,
                "workflow status",
            )?,
            current: standing.cursor,
            max_attempts,
            made,
            held: row.opt_text("lease_owner")?.is_some(),
            epoch: row.int("epoch")?,
            input: row.text("input")?,
            outputs: standing.outputs,
        })
    }
}

/// The current, not yet started activity as if claimed, so the plan can decide on it.
fn waiting_activity(id: WorkflowId, head: &Head, current: &Cursor) -> Result<Claimed> {
    Ok(Claimed {
        key: ActivityKey {
            workflow_id: id,
            step: current.step,
            kind: current.kind,
        },
        name: current.name.clone(),
        workflow_type: head.def.name.clone(),
        version: head.def.version,
        attempt: head.made,
        max_attempts: head.max_attempts,
        epoch: head.epoch,
        claimed_at: 0,
        lease_expires_at: 0,
        exhausted: false,
        reclaimed: false,
        input: Arc::new(parse_json(&head.input, "workflow input")?),
        outputs: Arc::new(head.outputs.clone()),
    })
}
