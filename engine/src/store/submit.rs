//! Submit: a workflow row (due at once; its journal starts empty), with an optional
//! idempotency key. Everything is checked before anything is written.
//!
//! Concurrent submits are group-committed: a background task takes every submit waiting in
//! its queue and writes them together (one transaction, one multi-row insert per table), so
//! the commit rate does not bound the submit rate. A batch that fails is retried one submit
//! at a time, so one bad submit (or an idempotency-key race) never fails its neighbours.

use super::db::{args, is_unique_violation, padded_list};
use super::{parse_id, parse_json, parse_name, retry_transient, Error, Result, Store};
use crate::definition::{Definition, Registry};
use kernel::model::{ActivityKind, WorkflowId, WorkflowStatus};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Most submits written in one transaction.
const SUBMIT_BATCH_MAX: usize = 128;
/// Submit transactions in flight at once (one commits while the next batch fills).
const SUBMIT_WRITERS_MAX: usize = 2;
/// Times one submit written alone is tried again after losing a race for its idempotency
/// key (each retry reads the winner, so one is enough unless the winner was rolled back).
const KEY_RACE_RETRIES_MAX: u32 = 4;

/// A workflow to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWorkflow {
    pub workflow_type: String,
    pub input: Value,
    /// Same key and same request: the existing workflow is returned instead of a new one.
    pub idempotency_key: Option<String>,
    /// Who submits it (the API's authenticated subject); `None` without auth. A repeat with
    /// the same key answers the first submit's workflow, with the first submitter.
    pub submitted_by: Option<String>,
}

/// The answer to a submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    pub id: WorkflowId,
    pub status: WorkflowStatus,
    /// False when an earlier submit with the same idempotency key created the workflow.
    pub created: bool,
}

/// A checked submit waiting to be written.
pub(super) struct Pending {
    /// Chosen before anything is written, so a submit written again after an unknown
    /// outcome (a lost `COMMIT` answer) can never create a second workflow: the id is the
    /// primary key.
    id: WorkflowId,
    def: Arc<Definition>,
    new: NewWorkflow,
    /// The input as stored (compact JSON).
    input: String,
}

type Queued = (Pending, oneshot::Sender<Result<Submitted>>);

/// The queue of the group-commit task.
pub(super) type SubmitQueue = mpsc::Sender<Queued>;

impl Store {
    /// Starts a workflow of the newest version of its type. Unknown type, bad input, an
    /// oversized input or key, or a key reused for another request: an error, nothing written.
    pub async fn submit(&self, registry: &Registry, new: &NewWorkflow) -> Result<Submitted> {
        let pending = self.check(registry, new)?;
        let Some(queue) = &self.submits else {
            return self.submit_alone(&pending).await;
        };
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((pending, _))) = queue.send((pending, reply)).await {
            return self.submit_alone(&pending).await;
        }
        answer
            .await
            .map_err(|_| Error::Unavailable("the submit writer stopped"))?
    }

    fn check(&self, registry: &Registry, new: &NewWorkflow) -> Result<Pending> {
        let def = registry
            .latest(&new.workflow_type)
            .ok_or_else(|| Error::UnknownType(new.workflow_type.clone()))?;
        let input = serde_json::to_string(&new.input).expect("a JSON value always serializes");
        let max = self.limits.input_bytes_max;
        if input.len() > max {
            return Err(Error::InputTooLarge {
                bytes: input.len(),
                max,
            });
        }
        if let Some(key) = &new.idempotency_key {
            let max = self.limits.idempotency_key_bytes_max;
            if key.len() > max || key.is_empty() {
                return Err(Error::KeyTooLong {
                    bytes: key.len(),
                    max,
                });
            }
        }
        def.check_input(&new.input)?;
        Ok(Pending {
            id: WorkflowId::new(),
            def: def.clone(),
            new: new.clone(),
            input,
        })
    }

    /// Writes one submit in its own transaction. A unique-key violation means either that
    /// this very submit was written before (its id exists: an earlier `COMMIT` whose answer
    /// was lost) or that a concurrent submit took its idempotency key (the retry reads it).
    async fn submit_alone(&self, pending: &Pending) -> Result<Submitted> {
        for _ in 0..=KEY_RACE_RETRIES_MAX {
            match retry_transient!(self.write_submits(std::slice::from_ref(pending))) {
                Ok(mut results) => return results.pop().expect("one result per submit"),
                Err(Error::Database(e)) if is_unique_violation(&e) => {
                    if let Some(found) = self.written(&[pending.id]).await?.pop() {
                        return Ok(found);
                    }
                    if pending.new.idempotency_key.is_none() {
                        return Err(Error::Database(e));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "the idempotency key of this submit was taken and released {} times in a row; try again",
            KEY_RACE_RETRIES_MAX + 1
        )))
    }

    /// The submits among `ids` that are already written (an autocommit read).
    async fn written(&self, ids: &[WorkflowId]) -> Result<Vec<Submitted>> {
        let ids: Vec<String> = ids.iter().map(WorkflowId::to_string).collect();
        let (list, list_args) = padded_list(&ids);
        let rows = self
            .read(
                &format!("SELECT id, status FROM workflows WHERE id IN ({list})"),
                list_args,
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Submitted {
                    id: parse_id(&row.text("id")?)?,
                    status: parse_name(
                        &row.text("status")?,
                        WorkflowStatus::parse,
                        "workflow status",
                    )?,
                    created: true,
                })
            })
            .collect()
    }

    /// Writes `batch` in one transaction: reads the workflows its idempotency keys already
    /// name, then inserts the new workflows (each due at once).
    async fn write_submits(&self, batch: &[Pending]) -> Result<Vec<Result<Submitted>>> {
        let mut tx = self.begin().await?;
        let mut keys: Vec<String> = batch
            .iter()
            .filter_map(|p| p.new.idempotency_key.clone())
            .collect();
        keys.sort();
        keys.dedup();
        let mut known = HashMap::new();
        if !keys.is_empty() {
            let (list, list_args) = padded_list(&keys);
            let sql = format!(
                "SELECT id, idempotency_key, workflow_type, input, status FROM workflows WHERE idempotency_key IN ({list})"
            );
            for row in tx.fetch_all(&sql, list_args).await? {
                let status = parse_name(
                    &row.text("status")?,
                    WorkflowStatus::parse,
                    "workflow status",
                )?;
                let input: Value = parse_json(&row.text("input")?, "workflow input")?;
                let seen = (
                    parse_id(&row.text("id")?)?,
                    row.text("workflow_type")?,
                    input,
                    status,
                );
                let key = row
                    .opt_exact_text("idempotency_key")?
                    .ok_or_else(|| Error::Corrupt("a workflow found by its key has none".into()))?;
                known.insert(key, seen);
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        let mut fresh = Vec::with_capacity(batch.len());
        for p in batch {
            if let Some((id, workflow_type, input, status)) =
                p.new.idempotency_key.as_ref().and_then(|k| known.get(k))
            {
                let same = *workflow_type == p.new.workflow_type && *input == p.new.input;
                results.push(match same {
                    true => Ok(Submitted {
                        id: *id,
                        status: *status,
                        created: false,
                    }),
                    false => Err(Error::IdempotencyConflict { id: *id }),
                });
                continue;
            }
            let id = p.id;
            if let Some(key) = &p.new.idempotency_key {
                let seen = (
                    id,
                    p.new.workflow_type.clone(),
                    p.new.input.clone(),
                    WorkflowStatus::Pending,
                );
                known.insert(key.clone(), seen);
            }
            fresh.push((id, p));
            results.push(Ok(Submitted {
                id,
                status: WorkflowStatus::Pending,
                created: true,
            }));
        }
        self.insert_fresh(&mut tx, &fresh).await?;
        tx.commit().await?;
        // Crash window: committed, but the answer is lost (the connection dropped after the
        // `COMMIT` was sent): the caller cannot tell whether anything was written.
        fail::fail_point!("store::after_submit_commit", |_| Err(Error::Database(
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "failpoint: connection lost after COMMIT"
            ))
        )));
        Ok(results)
    }

    async fn insert_fresh(
        &self,
        tx: &mut super::db::Tx<'_>,
        fresh: &[(WorkflowId, &Pending)],
    ) -> Result<()> {
        if fresh.is_empty() {
            return Ok(());
        }
        let now = self.dialect().now();
        let rows = |tuple: String| vec![tuple; fresh.len()].join(", ");
        let mut workflows = Vec::new();
        for (id, p) in fresh {
            workflows.extend(args![
                id.to_string(),
                p.def.name.as_str(),
                i64::from(p.def.version),
                WorkflowStatus::Pending.as_str(),
                ActivityKind::Action.as_str(),
                p.def.steps[0].name.as_str(),
                p.input.clone(),
                p.new.idempotency_key.clone(),
                ActivityKind::Action.as_str(),
                i64::from(p.def.policy(0, ActivityKind::Action).max_attempts),
                p.new.submitted_by.clone(),
            ]);
        }
        // Due at once; no journal row until the first activity is done.
        let sql = format!(
            "INSERT INTO workflows (id, workflow_type, version, status, current_step, current_kind, current_name, \
             input, outputs, idempotency_key, budget_step, budget_kind, budget_max, submitted_by, run_at, epoch, \
             created_at, updated_at) VALUES {}",
            rows(format!(
                "(?, ?, ?, ?, 0, ?, ?, ?, '{{}}', ?, 0, ?, ?, ?, {now}, 0, {now}, {now})"
            ))
        );
        tx.execute(&sql, workflows).await?;
        Ok(())
    }
}

/// Starts the group-commit task for `store` (which must have no queue of its own) and
/// returns its queue. The task ends when every sender is dropped.
pub(super) fn spawn_group_commit(store: Store) -> SubmitQueue {
    assert!(
        store.submits.is_none(),
        "the group-commit task writes directly"
    );
    let (queue, mut waiting) = mpsc::channel::<Queued>(SUBMIT_BATCH_MAX * 4);
    let writers = Arc::new(Semaphore::new(SUBMIT_WRITERS_MAX));
    tokio::spawn(async move {
        loop {
            let permit = writers.clone().acquire_owned().await.expect("never closed");
            let Some(first) = waiting.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < SUBMIT_BATCH_MAX {
                match waiting.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let store = store.clone();
            tokio::spawn(async move {
                store.write_group(batch).await;
                drop(permit);
            });
        }
    });
    queue
}

impl Store {
    /// Writes a group in one transaction. When it fails (possibly at or after `COMMIT`, so
    /// possibly written), first finds out which of its submits exist, answers those, and
    /// only then writes the others one by one.
    async fn write_group(&self, batch: Vec<Queued>) {
        let (pending, replies): (Vec<Pending>, Vec<_>) = batch.into_iter().unzip();
        let err = match retry_transient!(self.write_submits(&pending)) {
            Ok(results) => {
                for (result, reply) in results.into_iter().zip(replies) {
                    let _ = reply.send(result);
                }
                return;
            }
            Err(err) => err,
        };
        tracing::debug!(error = %err, submits = pending.len(), "group submit failed; writing one by one");
        let ids: Vec<WorkflowId> = pending.iter().map(|p| p.id).collect();
        let written = match retry_transient!(self.written(&ids)) {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(error = %err, "cannot tell which submits of a failed group were written");
                for reply in replies {
                    let _ = reply.send(Err(Error::Unavailable(
                        "the database did not answer; the submit may or may not have been made",
                    )));
                }
                return;
            }
        };
        for (p, reply) in pending.iter().zip(replies) {
            let result = match written.iter().find(|w| w.id == p.id) {
                Some(found) => Ok(*found),
                None => self.submit_alone(p).await,
            };
            let _ = reply.send(result);
        }
    }
}
