//! The read behind waiting for results: which of the workflows someone waits on are terminal.
//!
//! One primary-key lookup for a whole batch of ids, so a process answers all its waiters with
//! one query per poll, and none when nobody waits. Read-only; never locks.

use super::db::{args, padded_list};
use super::{parse_id, parse_name, Result, Store};
use crate::model::{WorkflowId, WorkflowStatus};

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
        let (list, mut a) = padded_list(&ids);
        a.extend(args![
            WorkflowStatus::Completed.as_str(),
            WorkflowStatus::Compensated.as_str(),
            WorkflowStatus::Failed.as_str(),
        ]);
        let sql = format!(
            "SELECT id, status FROM workflows WHERE id IN ({list}) AND status IN (?, ?, ?)"
        );
        let mut tx = self.begin_read().await?;
        let rows = tx.fetch_all(&sql, a).await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let status =
                    parse_name(&r.text("status")?, WorkflowStatus::parse, "workflow status")?;
                debug_assert!(status.is_terminal(), "the query selects terminal rows");
                Ok((parse_id(&r.text("id")?)?, status))
            })
            .collect()
    }
}
