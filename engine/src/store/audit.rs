//! A read-only view of the whole journal for reconciliation: every workflow's status, input
//! and outputs, and the leases that outlived their expiry. Read in one transaction.

use super::db::args;
use super::{cursor, parse_id, parse_json, parse_name, Result, Store};
use kernel::model::{ActivityKey, Micros, WorkflowId, WorkflowStatus};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One workflow as reconciliation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditedWorkflow {
    pub id: WorkflowId,
    pub workflow_type: String,
    pub status: WorkflowStatus,
    pub input: Value,
    pub outputs: BTreeMap<String, Value>,
    pub created_at: Micros,
    pub finished_at: Option<Micros>,
}

/// The journal at one moment (DB time `now`).
#[derive(Debug, Clone, Default)]
pub struct Journal {
    pub now: Micros,
    pub workflows: Vec<AuditedWorkflow>,
    /// Activities still leased more than the grace period after their lease expired.
    pub stale_leases: Vec<ActivityKey>,
    /// Attempts lost to an expired lease (a worker died or stalled; another took over).
    pub lease_expired_attempts: u64,
    /// Activities that succeeded at the last attempt their budget allowed, after retries.
    pub last_attempt_successes: u64,
}

impl Store {
    /// Every workflow, and the leases expired for longer than `lease_grace_ms`.
    pub async fn journal(&self, lease_grace_ms: u64) -> Result<Journal> {
        let now_sql = format!("SELECT {} AS now", self.dialect().now());
        let mut tx = self.begin_read().await?;
        let now = tx.fetch_all(&now_sql, vec![]).await?[0].int("now")?;
        let rows = tx
            .fetch_all(
                "SELECT id, workflow_type, status, input, created_at, finished_at FROM workflows",
                vec![],
            )
            .await?;
        // Outputs from the journal: the workflow row has them only once it ended.
        let answers = tx
            .fetch_all(
                "SELECT workflow_id, name, response FROM activities WHERE kind = 'action' AND status = 'succeeded'",
                vec![],
            )
            .await?;
        let stale = tx
            .fetch_all(
                "SELECT id, current_name, budget_max FROM workflows WHERE lease_owner IS NOT NULL AND run_at < ?",
                args![now - lease_grace_ms as i64 * 1_000],
            )
            .await?;
        let stale_ids: Vec<String> = stale
            .iter()
            .map(|r| r.text("id"))
            .collect::<Result<_, _>>()?;
        let firsts = stale
            .iter()
            .map(|r| Ok((r.text("id")?, cursor::first(r)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        let stale_at = cursor::standings(&mut tx, &stale_ids, &firsts).await?;
        let lost = tx
            .fetch_all(
                "SELECT COUNT(*) AS n FROM attempts WHERE outcome = 'lease_expired'",
                vec![],
            )
            .await?;
        let last = tx
            .fetch_all(
                "SELECT COUNT(*) AS n FROM activities WHERE status = 'succeeded' AND attempt = max_attempts \
                 AND attempt > 1",
                vec![],
            )
            .await?;
        tx.commit().await?;
        let lease_expired_attempts = lost[0].int("n")? as u64;
        let last_attempt_successes = last[0].int("n")? as u64;
        let mut outputs: HashMap<String, BTreeMap<String, serde_json::Value>> = HashMap::new();
        for a in &answers {
            if let Some(text) = a.opt_text("response")? {
                outputs
                    .entry(a.text("workflow_id")?)
                    .or_default()
                    .insert(a.text("name")?, parse_json(&text, "activity response")?);
            }
        }
        let workflows = rows
            .iter()
            .map(|r| {
                let id = r.text("id")?;
                Ok(AuditedWorkflow {
                    id: parse_id(&r.text("id")?)?,
                    workflow_type: r.text("workflow_type")?,
                    status: parse_name(
                        &r.text("status")?,
                        WorkflowStatus::parse,
                        "workflow status",
                    )?,
                    input: parse_json(&r.text("input")?, "workflow input")?,
                    outputs: outputs.remove(&id).unwrap_or_default(),
                    created_at: r.int("created_at")?,
                    finished_at: r.opt_int("finished_at")?,
                })
            })
            .collect::<Result<_>>()?;
        let mut stale_leases = Vec::new();
        for (id, standing) in stale_at {
            if let Some(c) = standing.cursor {
                stale_leases.push(ActivityKey {
                    workflow_id: parse_id(&id)?,
                    step: c.step,
                    kind: c.kind,
                });
            }
        }
        Ok(Journal {
            now,
            workflows,
            stale_leases,
            lease_expired_attempts,
            last_attempt_successes,
        })
    }
}

impl Store {
    /// How many workflows `owner` holds leased right now (expired leases included).
    pub async fn leases_held_by(&self, owner: &str) -> Result<u64> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT COUNT(*) AS n FROM workflows WHERE lease_owner = ?",
                args![owner],
            )
            .await?;
        tx.commit().await?;
        Ok(rows[0].int("n")? as u64)
    }
}
