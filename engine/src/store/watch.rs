//! The reads behind waiting for results: which of the workflows someone waits on are
//! terminal, and one workflow's status.
//!
//! One primary-key lookup for a whole batch of ids, so a process answers all its waiters with
//! one query per poll, and none when nobody waits. Read-only; never locks.

use super::db::{args, padded_list};
use super::{parse_id, parse_name, Result, Store};
use kernel::model::{WorkflowId, WorkflowStatus};

/// Most ids one [`Store::finished_among`] call may ask about (the `IN` list's size).
const FINISHED_IDS_MAX: usize = 1024;

impl Store {
    /// The workflows of `ids` that are terminal (`completed`, `compensated`, `failed`), with
    /// their status. At most 1024 ids per call.
    ///
    /// Asks by id rather than "finished since t": a transaction that stamped an earlier
    /// `finished_at` may commit after a later one was seen, which a time cursor would miss.
    pub async fn finished_among(
        &self,
        ids: &[WorkflowId],
    ) -> Result<Vec<(WorkflowId, WorkflowStatus)>> {
        assert!(ids.len() <= FINISHED_IDS_MAX, "a bounded IN list");
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let (list, a) = padded_list(&ids);
        // Only the primary key in the condition: a status condition as well makes MariaDB
        // weigh the (status, id) index by one index dive per status × id pair, which cost
        // more than the lookups themselves. Rows that are not terminal are dropped here.
        let sql = format!("SELECT id, status FROM workflows WHERE id IN ({list})");
        let rows = self.read(&sql, a).await?;
        let mut finished = Vec::new();
        for r in &rows {
            let status = parse_name(&r.text("status")?, WorkflowStatus::parse, "workflow status")?;
            if status.is_terminal() {
                finished.push((parse_id(&r.text("id")?)?, status));
            }
        }
        Ok(finished)
    }

    /// The status of workflow `id`, or `None` when there is none: one primary-key read, for
    /// answers that need no more than the status.
    pub async fn status(&self, id: WorkflowId) -> Result<Option<WorkflowStatus>> {
        let rows = self
            .read(
                "SELECT status FROM workflows WHERE id = ?",
                args![id.to_string()],
            )
            .await?;
        rows.first()
            .map(|r| parse_name(&r.text("status")?, WorkflowStatus::parse, "workflow status"))
            .transpose()
    }
}
