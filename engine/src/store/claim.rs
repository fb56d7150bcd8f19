//! Claims (batch leasing of due workflows), lease renewal and release.
//!
//! The lease is the workflow's: owner, epoch and expiry (`run_at`) on its row. A claim is one
//! short transaction: select due workflows (`FOR UPDATE SKIP LOCKED` on MySQL; SQLite holds
//! the database write lock), bump their epoch and lease them. A workflow never claimed before
//! starts at its first step and costs nothing more; one taken over (a retry fell due, a lease
//! expired, an operator retried it) is resumed from its journal, and an expired lease is
//! recorded as a lost attempt. Not the execution of what was claimed (that is `runner`).

use super::cursor::{self, Cursor, Standing};
use super::db::{args, padded_list, tuples, Arg, Row, Tx};
use super::{parse_id, parse_json, retry_transient, Error, Result, Store};
use crate::definition::Registry;
use kernel::model::{ActivityKey, AttemptOutcome, Micros, WorkflowStatus};
pub use kernel::plan::Claimed;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Largest claim batch: bounds statement sizes (bound parameters) and the work one worker
/// holds at once.
pub const CLAIM_BATCH_MAX: u32 = 128;

/// The workflow columns a claim reads.
const DUE_COLUMNS: &str =
    "id, workflow_type, version, status, epoch, lease_owner, claimed_at, input, \
     current_name, budget_step, budget_kind, budget_max";

/// Which due workflows a claim may take: the types and versions its worker has loaded (a
/// worker without a definition never claims them: rolling deploys), and optionally one only
/// (claiming one by one).
struct Filter<'a> {
    versions: &'a [(String, u32)],
    only: Option<&'a str>,
}

impl Filter<'_> {
    /// `AND …` conditions and their values.
    fn sql(&self) -> (String, Vec<Arg>) {
        let mut args = Vec::with_capacity(self.versions.len() * 2 + 1);
        let pairs: Vec<&str> = self
            .versions
            .iter()
            .map(|(name, version)| {
                args.extend(args![name.as_str(), i64::from(*version)]);
                "(workflow_type = ? AND version = ?)"
            })
            .collect();
        let mut sql = format!(" AND ({})", pairs.join(" OR "));
        if let Some(id) = self.only {
            sql.push_str(" AND id = ?");
            args.push(id.into());
        }
        (sql, args)
    }
}

impl Store {
    /// Leases up to `batch_max` due workflows to `worker` for `lease_ttl_ms`, each with the
    /// activity it is at: ready ones whose `run_at` has come, and leased ones whose lease
    /// expired (taken over; the lost attempt is recorded and counts). Only workflows of the
    /// types and versions `registry` holds are taken.
    ///
    /// One row never fails the claim of the others: when a batch fails on something a row
    /// holds (a corrupt value, a write the database refuses), the due workflows are claimed
    /// one by one and one that still fails is parked (`failed`, with the reason).
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
                tracing::warn!(error = %err, "claim failed on a row; claiming one by one");
                self.claim_one_by_one(&versions, worker, batch_max, lease_ttl_ms)
                    .await
            }
            other => other,
        }
    }

    async fn claim_one_by_one(
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
            "SELECT id FROM workflows WHERE run_at <= {}{filter} ORDER BY run_at LIMIT ?",
            self.dialect().now()
        );
        let ids = self
            .read(&sql, a)
            .await?
            .iter()
            .map(|r| r.text("id"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in &ids {
            let one = Filter {
                versions,
                only: Some(id),
            };
            match retry_transient!(self.claim_once(&one, worker, 1, lease_ttl_ms)) {
                Ok(rows) => claimed.extend(rows),
                Err(err) if err.is_row_specific() => {
                    tracing::error!(workflow = %id, error = %err, "workflow cannot be claimed; parking it");
                    let reason = format!("the workflow could not be claimed: {err}");
                    self.isolate(id, None, &reason, "claim").await?;
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
                    "SELECT {DUE_COLUMNS}, {} AS now FROM workflows WHERE run_at <= {}{filter_sql} \
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
        let taken = self.lease(&mut tx, &rows, worker, lease_ttl_ms).await;
        tx.settle(taken).await
    }

    /// Leases the selected workflows `rows` (locked by `tx`) to `worker`.
    async fn lease(
        &self,
        tx: &mut Tx<'_>,
        rows: &[Row],
        worker: &str,
        lease_ttl_ms: u64,
    ) -> Result<Vec<Claimed>> {
        let now = rows[0].int("now")?;
        let expires = now + lease_ttl_ms as i64 * 1_000;
        let due = resume(tx, rows).await?;
        let ids: Vec<String> = due.iter().map(|d| d.id.clone()).collect();
        let (list, list_args) = padded_list(&ids);
        let mut update = args![worker, now, expires, now];
        update.extend(list_args);
        tx.execute(
            &format!(
                "UPDATE workflows SET epoch = epoch + 1, lease_owner = ?, claimed_at = ?, run_at = ?, \
                 status = CASE WHEN status = 'pending' THEN 'running' ELSE status END, updated_at = ? \
                 WHERE id IN ({list})"
            ),
            update,
        )
        .await?;
        record_expired(tx, &due, now).await?;
        due.into_iter()
            .map(|d| d.into_claimed(now, expires))
            .collect()
    }

    /// Extends leases still held, in one statement: `true` per lease renewed, `false` where
    /// it was lost. Leases are the workflows' (`key.workflow_id`, epoch).
    pub async fn renew(
        &self,
        leases: &[(ActivityKey, i64)],
        lease_ttl_ms: u64,
    ) -> Result<Vec<bool>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        retry_transient!(self.renew_once(leases, lease_ttl_ms))
    }

    async fn renew_once(
        &self,
        leases: &[(ActivityKey, i64)],
        lease_ttl_ms: u64,
    ) -> Result<Vec<bool>> {
        let mut unique: Vec<(String, i64)> = leases
            .iter()
            .map(|(k, e)| (k.workflow_id.to_string(), *e))
            .collect();
        unique.sort();
        unique.dedup();
        let mut a = args![lease_ttl_ms as i64 * 1_000];
        for (id, epoch) in &unique {
            a.extend(args![id.as_str(), *epoch]);
        }
        let held = vec!["(id = ? AND epoch = ?)"; unique.len()].join(" OR ");
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                &format!(
                    "UPDATE workflows SET run_at = {} + ? WHERE lease_owner IS NOT NULL AND ({held})",
                    self.dialect().now()
                ),
                a,
            )
            .await?;
        if changed as usize == unique.len() {
            tx.commit().await?;
            return Ok(vec![true; leases.len()]);
        }
        let ids: Vec<String> = unique.iter().map(|(id, _)| id.clone()).collect();
        let (list, list_args) = padded_list(&ids);
        let rows = tx
            .fetch_all(
                &format!("SELECT id, epoch FROM workflows WHERE lease_owner IS NOT NULL AND id IN ({list})"),
                list_args,
            )
            .await?;
        tx.commit().await?;
        let current: HashMap<String, i64> = rows
            .iter()
            .map(|r| Ok((r.text("id")?, r.int("epoch")?)))
            .collect::<Result<_>>()?;
        Ok(leases
            .iter()
            .map(|(k, e)| current.get(&k.workflow_id.to_string()) == Some(e))
            .collect())
    }

    /// Gives back claimed workflows whose activity was not started (a draining worker): they
    /// are due again at once, and the attempt they were claimed for is not counted (nothing
    /// recorded it).
    pub async fn release(&self, claimed: &[Claimed]) -> Result<usize> {
        let now: Vec<(&Claimed, u64)> = claimed.iter().map(|c| (c, 0)).collect();
        retry_transient!(self.release_once(&now))
    }

    /// [`Store::release`], each workflow due again only after its delay in ms (database time):
    /// a worker whose circuit breaker for the participant is open gives the activity back until
    /// the breaker half-opens. Like a release it clears the lease, is fenced on the epoch (a
    /// lease lost meanwhile changes nothing) and spends no attempt: no journal row, no attempt
    /// row. Returns how many were released.
    pub async fn release_after(&self, claimed: &[(&Claimed, u64)]) -> Result<usize> {
        retry_transient!(self.release_once(claimed))
    }

    async fn release_once(&self, claimed: &[(&Claimed, u64)]) -> Result<usize> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE workflows SET run_at = {} + ?, lease_owner = NULL WHERE id = ? AND epoch = ? AND lease_owner IS NOT NULL",
            self.dialect().now()
        );
        let mut released = 0;
        for (c, delay_ms) in claimed {
            let delay_us = i64::try_from(delay_ms.saturating_mul(1_000)).unwrap_or(i64::MAX / 2);
            let a = args![delay_us, c.key.workflow_id.to_string(), c.epoch];
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

/// A due workflow as the claim will hand it out.
struct Due {
    id: String,
    workflow_type: String,
    version: u32,
    cursor: Cursor,
    max_attempts: u32,
    /// Attempts the current activity made before this claim (the lost one included).
    made: u32,
    epoch: i64,
    /// The expired lease taken over: its owner, start and attempt.
    expired: Option<(Option<String>, Micros, u32)>,
    input: Arc<Value>,
    outputs: Arc<BTreeMap<String, Value>>,
}

/// Where each selected workflow stands: a fresh one (never claimed, no journal) is at its
/// first step; the others are read back from their journal and history.
async fn resume(tx: &mut Tx<'_>, rows: &[Row]) -> Result<Vec<Due>> {
    let fresh = |r: &Row| -> Result<bool> {
        Ok(r.int("epoch")? == 0 && r.text("status")? == WorkflowStatus::Pending.as_str())
    };
    let mut taken_over = Vec::new();
    let mut firsts = HashMap::new();
    for r in rows {
        if !fresh(r)? {
            let id = r.text("id")?;
            firsts.insert(id.clone(), cursor::first(r)?);
            taken_over.push(id);
        }
    }
    let standings = cursor::standings(tx, &taken_over, &firsts).await?;
    let made = cursor::attempts_made(tx, &taken_over).await?;
    rows.iter()
        .map(|r| {
            let id = r.text("id")?;
            let standing = match standings.get(&id) {
                Some(s) => s.clone(),
                None => Standing {
                    cursor: Some(cursor::first(r)?),
                    ..Standing::default()
                },
            };
            let cursor = standing.cursor.ok_or_else(|| {
                Error::Corrupt(format!(
                    "workflow {id} is due but its journal names no next activity"
                ))
            })?;
            let max_attempts = cursor::budget(r, &cursor)?;
            let mut done = made
                .get(&(id.clone(), cursor.step, cursor.kind))
                .copied()
                .unwrap_or(0);
            let expired = match r.opt_text("lease_owner")? {
                Some(owner) => {
                    let (lost, _) = cursor::next_attempt(done, max_attempts);
                    done = lost;
                    let started = r.opt_int("claimed_at")?.unwrap_or(0);
                    Some((Some(owner), started, lost))
                }
                None => None,
            };
            parse_id(&id)?;
            Ok(Due {
                workflow_type: r.text("workflow_type")?,
                version: r.int("version")? as u32,
                max_attempts,
                made: done,
                epoch: r.int("epoch")?,
                expired,
                input: Arc::new(parse_json(&r.text("input")?, "workflow input")?),
                outputs: Arc::new(standing.outputs),
                cursor,
                id,
            })
        })
        .collect()
}

/// Records the attempts whose lease expired (their worker vanished) in the history.
async fn record_expired(tx: &mut Tx<'_>, due: &[Due], now: Micros) -> Result<()> {
    let expired: Vec<&Due> = due.iter().filter(|d| d.expired.is_some()).collect();
    if expired.is_empty() {
        return Ok(());
    }
    let mut a = Vec::with_capacity(expired.len() * 9);
    for d in &expired {
        let (owner, started, attempt) = d.expired.clone().expect("filtered");
        a.extend(args![
            d.id.as_str(),
            i64::from(d.cursor.step),
            d.cursor.kind.as_str(),
            i64::from(attempt),
            d.epoch,
            owner,
            if started > 0 { started } else { now },
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

impl Due {
    fn into_claimed(self, now: Micros, expires: Micros) -> Result<Claimed> {
        let (attempt, exhausted) = cursor::next_attempt(self.made, self.max_attempts);
        Ok(Claimed {
            key: ActivityKey {
                workflow_id: parse_id(&self.id)?,
                step: self.cursor.step,
                kind: self.cursor.kind,
            },
            name: self.cursor.name,
            workflow_type: self.workflow_type,
            version: self.version,
            attempt,
            max_attempts: self.max_attempts,
            epoch: self.epoch + 1,
            claimed_at: now,
            lease_expires_at: expires,
            exhausted,
            reclaimed: self.expired.is_some(),
            input: self.input,
            outputs: self.outputs,
        })
    }
}
