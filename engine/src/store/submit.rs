//! Submit: a workflow and its first activity in one transaction, with an optional
//! idempotency key. Everything is checked before anything is written.

use super::db::{args, is_unique_violation};
use super::{parse_id, parse_json, parse_name, retry_transient, Error, Result, Store};
use crate::definition::{Definition, Registry};
use crate::model::{ActivityKind, WorkflowId, WorkflowStatus};
use serde_json::Value;

/// A workflow to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWorkflow {
    pub workflow_type: String,
    pub input: Value,
    /// Same key and same request: the existing workflow is returned instead of a new one.
    pub idempotency_key: Option<String>,
}

/// The answer to a submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    pub id: WorkflowId,
    pub status: WorkflowStatus,
    /// False when an earlier submit with the same idempotency key created the workflow.
    pub created: bool,
}

impl Store {
    /// Starts a workflow of the newest version of its type. Unknown type, bad input, an
    /// oversized input or key, or a key reused for another request: an error, nothing written.
    pub async fn submit(&self, registry: &Registry, new: &NewWorkflow) -> Result<Submitted> {
        let def = registry
            .latest(&new.workflow_type)
            .ok_or_else(|| Error::UnknownType(new.workflow_type.clone()))?;
        let input = serde_json::to_string(&new.input).expect("a JSON value always serializes");
        if input.len() > self.limits.input_bytes_max {
            return Err(Error::InputTooLarge {
                bytes: input.len(),
                max: self.limits.input_bytes_max,
            });
        }
        if let Some(key) = &new.idempotency_key {
            if key.len() > self.limits.idempotency_key_bytes_max || key.is_empty() {
                return Err(Error::KeyTooLong {
                    bytes: key.len(),
                    max: self.limits.idempotency_key_bytes_max,
                });
            }
        }
        def.check_input(&new.input)?;
        loop {
            match retry_transient!(self.submit_once(def, new, &input)) {
                // A concurrent submit with the same key won the insert: read its workflow.
                Err(Error::Database(err))
                    if is_unique_violation(&err) && new.idempotency_key.is_some() =>
                {
                    continue
                }
                other => return other,
            }
        }
    }

    async fn submit_once(
        &self,
        def: &Definition,
        new: &NewWorkflow,
        input: &str,
    ) -> Result<Submitted> {
        let mut tx = self.begin().await?;
        if let Some(key) = &new.idempotency_key {
            let rows = tx
                .fetch_all("SELECT id, workflow_type, input, status FROM workflows WHERE idempotency_key = ?", args![key.as_str()])
                .await?;
            if let Some(row) = rows.first() {
                let id = parse_id(&row.text("id")?)?;
                let same_input =
                    parse_json::<Value>(&row.text("input")?, "workflow input")? == new.input;
                if row.text("workflow_type")? != new.workflow_type || !same_input {
                    return Err(Error::IdempotencyConflict { id });
                }
                let status = parse_name(
                    &row.text("status")?,
                    WorkflowStatus::parse,
                    "workflow status",
                )?;
                return Ok(Submitted {
                    id,
                    status,
                    created: false,
                });
            }
        }
        let id = WorkflowId::new();
        let now = self.dialect().now();
        tx.execute(
            &format!(
                "INSERT INTO workflows (id, workflow_type, version, status, current_step, current_kind, input, \
                 outputs, idempotency_key, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?, '{{}}', ?, {now}, {now})"
            ),
            args![
                id.to_string(),
                def.name.as_str(),
                i64::from(def.version),
                WorkflowStatus::Pending.as_str(),
                ActivityKind::Action.as_str(),
                input,
                new.idempotency_key.clone(),
            ],
        )
        .await?;
        tx.execute(
            &format!(
                "INSERT INTO activities (workflow_id, step, kind, workflow_type, name, status, attempt, max_attempts, \
                 run_at, epoch, created_at, updated_at) VALUES (?, 0, ?, ?, ?, 'ready', 0, ?, {now}, 0, {now}, {now})"
            ),
            args![
                id.to_string(),
                ActivityKind::Action.as_str(),
                def.name.as_str(),
                def.steps[0].name.as_str(),
                i64::from(def.policy(0, ActivityKind::Action).max_attempts),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Submitted {
            id,
            status: WorkflowStatus::Pending,
            created: true,
        })
    }
}
