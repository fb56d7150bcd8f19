//! Isolation of an activity the store cannot process: a row whose values do not parse, or
//! whose write the database refuses. It is parked with its workflow (`failed`, with the
//! reason, for an operator's retry) so the rest of its batch proceeds.
//!
//! Not the saga's own parking (a must-succeed step out of budget): that is the scheduler's
//! `Decision::Park`, written by a completion.

use super::db::{args, Arg, Row};
use super::{retry_transient, Result, Store};
use crate::metrics;
use std::fmt;

/// Longest parked reason kept (the error's own text may be long).
const REASON_CHARS_MAX: usize = 1_000;

/// A journal key as the row holds it, read without parsing, so that even a row whose
/// values are corrupt can be addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawKey {
    pub workflow_id: String,
    pub step: i64,
    pub kind: String,
}

impl RawKey {
    pub fn from_row(row: &Row) -> Result<RawKey> {
        Ok(RawKey {
            workflow_id: row.text("workflow_id")?,
            step: row.int("step")?,
            kind: row.text("kind")?,
        })
    }

    /// The bound values, in `workflow_id, step, kind` order.
    pub fn args(&self) -> Vec<Arg> {
        args![self.workflow_id.as_str(), self.step, self.kind.as_str()]
    }
}

impl From<kernel::model::ActivityKey> for RawKey {
    fn from(key: kernel::model::ActivityKey) -> RawKey {
        RawKey {
            workflow_id: key.workflow_id.to_string(),
            step: i64::from(key.step),
            kind: key.kind.as_str().to_owned(),
        }
    }
}

impl fmt::Display for RawKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.workflow_id, self.step, self.kind)
    }
}

impl Store {
    /// Parks the unfinished activity `key` (only under lease `epoch`, when given) and its
    /// workflow as `failed` with `reason`. Returns false when the row had moved on (nothing
    /// to park). `operation` labels the metric.
    pub(super) async fn isolate(
        &self,
        key: &RawKey,
        epoch: Option<i64>,
        reason: &str,
        operation: &'static str,
    ) -> Result<bool> {
        let reason: String = reason.chars().take(REASON_CHARS_MAX).collect();
        let parked = retry_transient!(self.isolate_once(key, epoch, &reason))?;
        if parked {
            metrics::isolated(operation);
        }
        Ok(parked)
    }

    async fn isolate_once(&self, key: &RawKey, epoch: Option<i64>, reason: &str) -> Result<bool> {
        let now = self.dialect().now();
        let mut tx = self.begin().await?;
        let mut a = args![reason];
        a.extend(key.args());
        let fence = match epoch {
            Some(epoch) => {
                a.push(Arg::Int(epoch));
                " AND epoch = ? AND status = 'leased'"
            }
            None => "",
        };
        let changed = tx
            .execute(
                &format!(
                    "UPDATE activities SET status = 'failed', run_at = NULL, lease_owner = NULL, \
                     error_code = 'UNPROCESSABLE', error_message = ?, finished_at = {now}, updated_at = {now} \
                     WHERE workflow_id = ? AND step = ? AND kind = ? AND run_at IS NOT NULL{fence}"
                ),
                a,
            )
            .await?;
        if changed == 1 {
            tx.execute(
                &format!(
                    "UPDATE workflows SET status = 'failed', parked_reason = ?, finished_at = {now}, \
                     updated_at = {now} WHERE id = ?"
                ),
                args![reason, key.workflow_id.as_str()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }
}
