//! Claims (batch leasing of due activities), lease renewal and release.
//!
//! A claim is one short transaction: select due rows (`FOR UPDATE SKIP LOCKED` on MySQL;
//! SQLite holds the database write lock), bump their epoch, lease them, and record any lease
//! that expired as a lost attempt. Not the execution of what was claimed (that is `runner`).

use super::db::{args, padded_list, tuples, Arg, Row, Tx};
use super::isolate::RawKey;
use super::{parse_json, parse_key, retry_transient, Result, Store};
use crate::definition::Registry;
use kernel::model::{ActivityKey, AttemptOutcome, Micros};
pub use kernel::plan::Claimed;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Largest claim batch: bounds statement sizes (bound parameters) and the work one worker
/// holds at once.
pub const CLAIM_BATCH_MAX: u32 = 128;

/// A due row as the claim's `SELECT` saw it.
struct Due {
    key: ActivityKey,
    name: String,
    workflow_type: String,
    was_leased: bool,
    attempt: u32,
    max_attempts: u32,
    epoch: i64,
    lease_owner: Option<String>,
    claimed_at: Option<Micros>,
    now: Micros,
}

/// Which due rows a claim may take: the workflow types and versions its worker has loaded
/// (a worker without a definition never claims its activities: rolling deploys), and
/// optionally one row only (claiming row by row).
struct Filter<'a> {
    versions: &'a [(String, u32)],
    only: Option<&'a RawKey>,
}

impl Filter<'_> {
    /// `AND …` conditions and their values.
    fn sql(&self) -> (String, Vec<Arg>) {
        let mut args = Vec::with_capacity(self.versions.len() * 2 + 3);
        let pairs: Vec<&str> = self
            .versions
            .iter()
            .map(|(name, version)| {
                args.extend(args![name.as_str(), i64::from(*version)]);
                "(workflow_type = ? AND version = ?)"
            })
            .collect();
        let mut sql = format!(" AND ({})", pairs.join(" OR "));
        if let Some(key) = self.only {
            sql.push_str(" AND workflow_id = ? AND step = ? AND kind = ?");
            args.extend(key.args());
        }
        (sql, args)
    }
}

impl Store {
    /// Leases up to `batch_max` due activities to `worker` for `lease_ttl_ms`: ready ones
    /// whose `run_at` has come, and leased ones whose lease expired (reclaimed; the lost
    /// attempt is recorded and counts). Only activities of the types and versions `registry`
    /// holds are taken.
    ///
    /// One row never fails the claim of the others: when a batch fails on something a row
    /// holds (a corrupt value, a write the database refuses), the due rows are claimed one by
    /// one and a row that still fails is parked with its workflow (`failed`, with the reason).
    pub async fn claim(
        &self,
        registry: &Registry,
        worker: &str,
        batch_max: u32,
        lease_ttl_ms: u64,
    ) -> Result<Vec<Claimed>> {
        let batch_max = batch_max.clamp(1, CLAIM_BATCH_MAX);
        let versions = registry.versions();
        if versions.is_empty() {
            return Ok(Vec::new());
        }
        let all = Filter {
            versions: &versions,
            only: None,
        };
        match retry_transient!(self.claim_once(&all, worker, batch_max, lease_ttl_ms)) {
            Err(err) if err.is_row_specific() => {
                tracing::warn!(error = %err, "claim failed on a row; claiming row by row");
                self.claim_row_by_row(&versions, worker, batch_max, lease_ttl_ms)
                    .await
            }
            other => other,
        }
    }

    async fn claim_row_by_row(
        &self,
        versions: &[(String, u32)],
        worker: &str,
        batch_max: u32,
        lease_ttl_ms: u64,
    ) -> Result<Vec<Claimed>> {
        let (filter, filter_args) = Filter {
            versions,
            only: None,
        }
        .sql();
        let mut a = filter_args;
        a.push(Arg::Int(i64::from(batch_max)));
        let sql = format!(
            "SELECT workflow_id, step, kind FROM activities WHERE run_at <= {}{filter} ORDER BY run_at LIMIT ?",
            self.dialect().now()
        );
        let keys = self
            .read(&sql, a)
            .await?
            .iter()
            .map(RawKey::from_row)
            .collect::<Result<Vec<_>>>()?;
        let mut claimed = Vec::with_capacity(keys.len());
        for key in &keys {
            let one = Filter {
                versions,
                only: Some(key),
            };
            match retry_transient!(self.claim_once(&one, worker, 1, lease_ttl_ms)) {
                Ok(rows) => claimed.extend(rows),
                Err(err) if err.is_row_specific() => {
                    tracing::error!(activity = %key, error = %err, "activity cannot be claimed; parking its workflow");
                    let reason = format!("the activity could not be claimed: {err}");
                    self.isolate(key, None, &reason, "claim").await?;
                }
                Err(err) => return Err(err),
            }
        }
        Ok(claimed)
    }

    async fn claim_once(
        &self,
        filter: &Filter<'_>,
        worker: &str,
        batch_max: u32,
        lease_ttl_ms: u64,
    ) -> Result<Vec<Claimed>> {
        let d = self.dialect();
        let mut tx = self.begin().await?;
        let (filter_sql, mut select_args) = filter.sql();
        select_args.push(Arg::Int(i64::from(batch_max)));
        let rows = tx
            .fetch_all(
                &format!(
                    "SELECT workflow_id, step, kind, workflow_type, name, status, attempt, max_attempts, epoch, \
                     lease_owner, claimed_at, {} AS now FROM activities WHERE run_at <= {}{filter_sql} \
                     ORDER BY run_at LIMIT ?{}",
                    d.now(),
                    d.now(),
                    d.for_update_skip_locked()
                ),
                select_args,
            )
            .await?;
        if rows.is_empty() {
            // Ended here, not by a drop: a dropped transaction is rolled back a moment later,
            // and until then its locks make the next claims skip rows.
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let due: Vec<Due> = rows.iter().map(Due::from_row).collect::<Result<_>>()?;
        let now = due[0].now;
        let expires = now + lease_ttl_ms as i64 * 1_000;
        let ids: Vec<String> = due.iter().map(|d| d.key.workflow_id.to_string()).collect();
        // Each workflow has at most one unfinished activity (run_at set): the one selected.
        let (list, list_args) = padded_list(&ids);
        let mut update = args![worker, now, expires, now];
        update.extend(list_args);
        tx.execute(
            &format!(
                "UPDATE activities SET status = 'leased', epoch = epoch + 1, \
                 attempt = CASE WHEN attempt < max_attempts THEN attempt + 1 ELSE attempt END, \
                 lease_owner = ?, claimed_at = ?, run_at = ?, updated_at = ? \
                 WHERE run_at IS NOT NULL AND workflow_id IN ({list})"
            ),
            update,
        )
        .await?;
        record_expired(&mut tx, &due, now).await?;
        let workflows = read_workflow_state(&mut tx, &ids).await?;
        tx.commit().await?;
        due.into_iter()
            .map(|d| d.into_claimed(expires, &workflows))
            .collect()
    }

    /// Extends leases still held: `true` per lease renewed, `false` where it was lost.
    pub async fn renew(
        &self,
        leases: &[(ActivityKey, i64)],
        lease_ttl_ms: u64,
    ) -> Result<Vec<bool>> {
        retry_transient!(self.renew_once(leases, lease_ttl_ms))
    }

    async fn renew_once(
        &self,
        leases: &[(ActivityKey, i64)],
        lease_ttl_ms: u64,
    ) -> Result<Vec<bool>> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE activities SET run_at = {} + ? WHERE workflow_id = ? AND step = ? AND kind = ? \
             AND epoch = ? AND status = 'leased'",
            self.dialect().now()
        );
        let mut held = Vec::with_capacity(leases.len());
        for (key, epoch) in leases {
            let mut a = args![lease_ttl_ms as i64 * 1_000];
            a.extend(key_args(key));
            a.push(Arg::Int(*epoch));
            held.push(tx.execute(&sql, a).await? == 1);
        }
        tx.commit().await?;
        Ok(held)
    }

    /// Gives back claimed activities that were not started (a draining worker): they are due
    /// again at once, and the attempt they were claimed for is not counted. (An exhausted
    /// claim took no attempt, so none is given back.)
    pub async fn release(&self, claimed: &[Claimed]) -> Result<usize> {
        retry_transient!(self.release_once(claimed))
    }

    async fn release_once(&self, claimed: &[Claimed]) -> Result<usize> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE activities SET status = 'ready', run_at = {}, lease_owner = NULL, attempt = attempt - ? \
             WHERE workflow_id = ? AND step = ? AND kind = ? AND epoch = ? AND status = 'leased' AND attempt > 0",
            self.dialect().now()
        );
        let mut released = 0;
        for c in claimed {
            let mut a = args![i64::from(!c.exhausted)];
            a.extend(key_args(&c.key));
            a.push(Arg::Int(c.epoch));
            released += tx.execute(&sql, a).await? as usize;
        }
        tx.commit().await?;
        Ok(released)
    }
}

/// The bound values of a journal key, in `workflow_id, step, kind` order.
pub(super) fn key_args(key: &ActivityKey) -> Vec<Arg> {
    args![
        key.workflow_id.to_string(),
        i64::from(key.step),
        key.kind.as_str()
    ]
}

/// Records the attempts whose lease expired (their worker vanished) in the history.
async fn record_expired(tx: &mut Tx<'_>, due: &[Due], now: Micros) -> Result<()> {
    let expired: Vec<&Due> = due.iter().filter(|d| d.was_leased).collect();
    if expired.is_empty() {
        return Ok(());
    }
    let mut a = Vec::with_capacity(expired.len() * 9);
    for d in &expired {
        a.extend(key_args(&d.key));
        a.extend(args![
            i64::from(d.attempt),
            d.epoch,
            d.lease_owner.clone(),
            d.claimed_at.unwrap_or(now),
            now
        ]);
        a.push(Arg::Text(AttemptOutcome::LeaseExpired.as_str().into()));
    }
    tx.execute(
        &format!(
            "INSERT INTO attempts (workflow_id, step, kind, attempt, epoch, worker, started_at, finished_at, outcome) \
             VALUES {}",
            tuples(expired.len(), 9)
        ),
        a,
    )
    .await?;
    Ok(())
}

type WorkflowState = (u32, Arc<Value>, Arc<BTreeMap<String, Value>>);

/// Version, input and outputs of each workflow, by id.
async fn read_workflow_state(
    tx: &mut Tx<'_>,
    ids: &[String],
) -> Result<HashMap<String, WorkflowState>> {
    let (list, list_args) = padded_list(ids);
    let sql = format!("SELECT id, version, input, outputs FROM workflows WHERE id IN ({list})");
    let rows = tx.fetch_all(&sql, list_args).await?;
    rows.iter()
        .map(|r| {
            let state = (
                r.int("version")? as u32,
                Arc::new(parse_json(&r.text("input")?, "workflow input")?),
                Arc::new(parse_json(&r.text("outputs")?, "workflow outputs")?),
            );
            Ok((r.text("id")?, state))
        })
        .collect()
}

impl Due {
    fn from_row(row: &Row) -> Result<Due> {
        Ok(Due {
            key: parse_key(row)?,
            name: row.text("name")?,
            workflow_type: row.text("workflow_type")?,
            was_leased: row.text("status")? == "leased",
            attempt: row.int("attempt")? as u32,
            max_attempts: row.int("max_attempts")? as u32,
            epoch: row.int("epoch")?,
            lease_owner: row.opt_text("lease_owner")?,
            claimed_at: row.opt_int("claimed_at")?,
            now: row.int("now")?,
        })
    }

    fn into_claimed(
        self,
        expires: Micros,
        workflows: &HashMap<String, WorkflowState>,
    ) -> Result<Claimed> {
        let id = self.key.workflow_id.to_string();
        let (version, input, outputs) = workflows.get(&id).cloned().ok_or_else(|| {
            super::Error::Corrupt(format!("activity {} has no workflow", self.key))
        })?;
        let exhausted = self.attempt >= self.max_attempts;
        Ok(Claimed {
            key: self.key,
            name: self.name,
            workflow_type: self.workflow_type,
            version,
            attempt: if exhausted {
                self.attempt
            } else {
                self.attempt + 1
            },
            max_attempts: self.max_attempts,
            epoch: self.epoch + 1,
            claimed_at: self.now,
            lease_expires_at: expires,
            exhausted,
            reclaimed: self.was_leased,
            input,
            outputs,
        })
    }
}
