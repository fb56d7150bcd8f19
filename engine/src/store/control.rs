//! Operator and user controls: abort a workflow, retry a parked (`failed`) one.
//!
//! Both run the same plans as a completion (see `complete`), so an abort of a workflow whose
//! next action has not started is decided by the scheduler exactly like any other event.

use super::claim::{key_args, Claimed};
use super::complete::{lock_batch, write_plans};
use super::db::{args, Row, Tx};
use super::plan::{plan, Handoff};
use super::{parse_json, parse_name, retry_transient, Error, Result, Store};
use crate::definition::{Definition, Registry};
use kernel::model::{ActivityKey, ActivityKind, ActivityStatus, WorkflowId, WorkflowStatus};
use kernel::scheduler::Event;
use std::sync::Arc;

/// The workflow columns the controls need.
struct Head {
    def: Arc<Definition>,
    status: WorkflowStatus,
    current: ActivityKey,
}

impl Store {
    /// Asks a workflow to stop. Before the pivot it is compensated: at once if its next action
    /// has not started, else when the running attempt ends. Returns the status after the
    /// request. Past the pivot, or once terminal, it is refused ([`Error::Conflict`]).
    pub async fn abort(&self, registry: &Registry, id: WorkflowId) -> Result<WorkflowStatus> {
        retry_transient!(self.abort_once(registry, id))
    }

    async fn abort_once(&self, registry: &Registry, id: WorkflowId) -> Result<WorkflowStatus> {
        let mut tx = self.begin().await?;
        let head = self.lock_head(&mut tx, registry, id).await?;
        match head.status {
            s if s.is_terminal() => {
                return Err(Error::Conflict(format!("workflow {id} is already {s}")))
            }
            WorkflowStatus::Compensating => return Ok(WorkflowStatus::Compensating),
            _ => {}
        }
        if head.def.step(head.current.step).after_pivot {
            return Err(Error::Conflict(format!(
                "workflow {id} is past its pivot: it can only move forward to completion"
            )));
        }
        tx.execute(
            "UPDATE workflows SET abort_requested = 1 WHERE id = ?",
            args![id.to_string()],
        )
        .await?;
        let row = tx
            .fetch_all(
                &format!(
                    "SELECT a.status, a.attempt, a.max_attempts, a.epoch, a.name, w.input, w.outputs FROM activities a \
                     JOIN workflows w ON w.id = a.workflow_id \
                     WHERE a.workflow_id = ? AND a.step = ? AND a.kind = ?{}",
                    self.dialect().for_update()
                ),
                key_args(&head.current),
            )
            .await?
            .pop()
            .ok_or_else(|| Error::Corrupt(format!("workflow {id} has no current activity")))?;
        if row.text("status")? != ActivityStatus::Ready.as_str() {
            // Leased: the worker applies the abort when its attempt ends.
            tx.commit().await?;
            return Ok(head.status);
        }
        let claimed = waiting_activity(&head, &row)?;
        let (locked, now) = lock_batch(&mut tx, self.dialect(), &[id]).await?;
        let wf = &locked[&id];
        assert!(
            wf.holds(claimed.key, claimed.epoch, ActivityStatus::Ready),
            "the activity row is locked"
        );
        let p = plan(
            &head.def,
            wf,
            &claimed,
            &Event::Aborted,
            0.0,
            now,
            Handoff::Ready,
        );
        let done = write_plans(&mut tx, vec![p], now, None).await?;
        tx.commit().await?;
        let status = done
            .finished
            .first()
            .map_or(WorkflowStatus::Compensating, |f| f.status);
        Ok(status)
    }

    /// Gives a parked (`failed`) workflow's stuck activity a fresh retry budget and makes it
    /// due at once. Any other status is refused ([`Error::Conflict`]).
    pub async fn retry(&self, registry: &Registry, id: WorkflowId) -> Result<WorkflowStatus> {
        retry_transient!(self.retry_once(registry, id))
    }

    async fn retry_once(&self, registry: &Registry, id: WorkflowId) -> Result<WorkflowStatus> {
        let mut tx = self.begin().await?;
        let head = self.lock_head(&mut tx, registry, id).await?;
        if head.status != WorkflowStatus::Failed {
            return Err(Error::Conflict(format!(
                "only a failed (parked) workflow can be retried; workflow {id} is {}",
                head.status
            )));
        }
        let budget = head
            .def
            .policy(head.current.step, head.current.kind)
            .max_attempts;
        let now = self.dialect().now();
        let mut a = args![i64::from(budget)];
        a.extend(key_args(&head.current));
        let changed = tx
            .execute(
                &format!(
                    "UPDATE activities SET status = 'ready', run_at = {now}, max_attempts = attempt + ?, \
                     lease_owner = NULL, finished_at = NULL, updated_at = {now} \
                     WHERE workflow_id = ? AND step = ? AND kind = ? AND status = 'failed'"
                ),
                a,
            )
            .await?;
        if changed != 1 {
            return Err(Error::Corrupt(format!(
                "parked workflow {id} has no failed activity at {}",
                head.current
            )));
        }
        let status = match head.current.kind {
            ActivityKind::Action => WorkflowStatus::Running,
            ActivityKind::Compensation => WorkflowStatus::Compensating,
        };
        tx.execute(
            &format!(
                "UPDATE workflows SET status = ?, parked_reason = NULL, finished_at = NULL, updated_at = {now} WHERE id = ?"
            ),
            args![status.as_str(), id.to_string()],
        )
        .await?;
        tx.commit().await?;
        Ok(status)
    }

    /// Locks a workflow's row and reads its definition, status and current activity.
    async fn lock_head(
        &self,
        tx: &mut Tx<'_>,
        registry: &Registry,
        id: WorkflowId,
    ) -> Result<Head> {
        let row = tx
            .fetch_all(
                &format!(
                    "SELECT workflow_type, version, status, current_step, current_kind FROM workflows WHERE id = ?{}",
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
        Ok(Head {
            def,
            status: parse_name(
                &row.text("status")?,
                WorkflowStatus::parse,
                "workflow status",
            )?,
            current: ActivityKey {
                workflow_id: id,
                step: row.int("current_step")? as u32,
                kind: parse_name(
                    &row.text("current_kind")?,
                    ActivityKind::parse,
                    "activity kind",
                )?,
            },
        })
    }
}

/// The current, not yet started activity as if claimed, so the plan can decide on it.
fn waiting_activity(head: &Head, row: &Row) -> Result<Claimed> {
    Ok(Claimed {
        key: head.current,
        name: row.text("name")?,
        workflow_type: head.def.name.clone(),
        version: head.def.version,
        attempt: row.int("attempt")? as u32,
        max_attempts: row.int("max_attempts")? as u32,
        epoch: row.int("epoch")?,
        claimed_at: 0,
        lease_expires_at: 0,
        exhausted: false,
        reclaimed: false,
        input: Arc::new(parse_json(&row.text("input")?, "workflow input")?),
        outputs: Arc::new(parse_json(&row.text("outputs")?, "workflow outputs")?),
    })
}
