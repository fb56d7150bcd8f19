//! Isolation of a workflow the store cannot process: a row whose values do not parse, or
//! whose write the database refuses. It is parked (`failed`, with the
//! reason, for an operator's retry) so the rest of its batch proceeds.
//!
//! Not the saga's own parking (a must-succeed step out of budget): that is the scheduler's
//! `Decision::Park`, written by a completion.

use super::db::{args, Arg};
use super::{retry_transient, Result, Store};
use crate::metrics;

/// Longest parked reason kept (the error's own text may be long).
const REASON_CHARS_MAX: usize = 1_000;

impl Store {
    /// Parks the workflow `id` (only under lease `epoch`, when given) as `failed` with
    /// `reason`; its current activity stays where it was, for an operator's retry. Returns
    /// false when the workflow had moved on (nothing to park). `operation` labels the metric.
    pub(super) async fn isolate(
        &self,
        id: &str,
        epoch: Option<i64>,
        reason: &str,
        operation: &'static str,
    ) -> Result<bool> {
        let reason: String = reason.chars().take(REASON_CHARS_MAX).collect();
        let parked = retry_transient!(self.isolate_once(id, epoch, &reason))?;
        if parked {
            metrics::isolated(operation);
        }
        Ok(parked)
    }

    async fn isolate_once(&self, id: &str, epoch: Option<i64>, reason: &str) -> Result<bool> {
        let now = self.dialect().now();
        let mut tx = self.begin().await?;
        let mut a = args![reason, reason, id];
        let fence = match epoch {
            Some(epoch) => {
                a.push(Arg::Int(epoch));
                " AND epoch = ? AND lease_owner IS NOT NULL"
            }
            None => "",
        };
        let changed = tx
            .execute(
                &format!(
                    "UPDATE workflows SET status = 'failed', parked_reason = ?, run_at = NULL, lease_owner = NULL, \
                     error_code = COALESCE(error_code, 'UNPROCESSABLE'), \
                     error_message = COALESCE(error_message, ?), finished_at = {now}, updated_at = {now} \
                     WHERE id = ? AND run_at IS NOT NULL{fence}"
                ),
                a,
            )
            .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }
}
