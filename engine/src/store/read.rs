//! Reading workflows back: one workflow with its journal and attempt history, lists with
//! filters and a cursor, and counts by status. Read-only; never locks.

use super::db::{args, Arg, Row};
use super::{cursor, parse_id, parse_json, parse_name, Result, Store};
use kernel::model::{
    ActivityError, ActivityKind, ActivityStatus, AttemptOutcome, Micros, WorkflowId, WorkflowStatus,
};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One workflow as stored, with its journal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowRecord {
    pub id: WorkflowId,
    pub workflow_type: String,
    pub version: u32,
    pub status: WorkflowStatus,
    pub current_step: u32,
    pub current_kind: ActivityKind,
    pub input: Value,
    pub outputs: BTreeMap<String, Value>,
    /// The first forward failure: why the workflow was compensated.
    pub error: Option<ActivityError>,
    pub failed_step: Option<u32>,
    /// Why the workflow is parked as `failed`.
    pub parked_reason: Option<String>,
    pub abort_requested: bool,
    pub idempotency_key: Option<String>,
    /// Who submitted it, last asked to abort it, last retried it (the API's authenticated
    /// subjects; `None` without auth).
    pub submitted_by: Option<String>,
    pub aborted_by: Option<String>,
    pub retried_by: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub finished_at: Option<Micros>,
    /// The journal, in the order the activities were created.
    pub activities: Vec<ActivityRecord>,
}

/// One journal row with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityRecord {
    pub step: u32,
    pub kind: ActivityKind,
    pub name: String,
    pub status: ActivityStatus,
    pub attempt: u32,
    pub max_attempts: u32,
    /// Next due time while ready; lease expiry while leased.
    pub run_at: Option<Micros>,
    pub lease_owner: Option<String>,
    pub epoch: i64,
    pub request: Option<Value>,
    pub response: Option<Value>,
    pub error: Option<ActivityError>,
    pub created_at: Micros,
    pub finished_at: Option<Micros>,
    pub attempts: Vec<AttemptRecord>,
}

/// One attempt of an activity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    /// The epoch of the lease this attempt ran under: unique and increasing per activity
    /// (attempt numbers repeat when a lease with no attempt left expires again).
    pub epoch: i64,
    pub worker: Option<String>,
    pub started_at: Micros,
    pub finished_at: Micros,
    pub outcome: AttemptOutcome,
    pub error: Option<ActivityError>,
}

/// A workflow in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowSummary {
    pub id: WorkflowId,
    pub workflow_type: String,
    pub status: WorkflowStatus,
    pub created_at: Micros,
    pub finished_at: Option<Micros>,
}

fn error_of(row: &Row) -> Result<Option<ActivityError>> {
    Ok(
        match (row.opt_text("error_code")?, row.opt_text("error_message")?) {
            (Some(code), message) => Some(ActivityError {
                code,
                message: message.unwrap_or_default(),
                retry_after_ms: None,
            }),
            (None, _) => None,
        },
    )
}

fn opt_json(text: Option<String>, what: &str) -> Result<Option<Value>> {
    text.map(|t| parse_json(&t, what)).transpose()
}

impl Store {
    /// One workflow with every activity and attempt, or `None`. The activity a workflow is
    /// at (due, leased, or where it parked) is shown from the workflow row's lease and its
    /// history; a done one from its journal row, whose finishing attempt ends its history.
    pub async fn get(&self, id: WorkflowId) -> Result<Option<WorkflowRecord>> {
        let mut tx = self.begin_read().await?;
        let Some(w) = tx
            .fetch_all(
                "SELECT * FROM workflows WHERE id = ?",
                args![id.to_string()],
            )
            .await?
            .pop()
        else {
            return Ok(None);
        };
        let key = id.to_string();
        let acts = tx
            .fetch_all(
                "SELECT * FROM activities WHERE workflow_id = ?",
                args![key.as_str()],
            )
            .await?;
        let tries = tx
            .fetch_all(
                "SELECT * FROM attempts WHERE workflow_id = ? ORDER BY epoch",
                args![key.as_str()],
            )
            .await?;
        let firsts = HashMap::from([(key.clone(), cursor::first(&w)?)]);
        let standing = cursor::standings(&mut tx, std::slice::from_ref(&key), &firsts)
            .await?
            .remove(&key)
            .unwrap_or_default();
        tx.commit().await?;
        let mut by_key: BTreeMap<(u32, ActivityKind), Vec<AttemptRecord>> = BTreeMap::new();
        for t in &tries {
            let key = (
                t.int("step")? as u32,
                parse_name(&t.text("kind")?, ActivityKind::parse, "activity kind")?,
            );
            by_key.entry(key).or_default().push(AttemptRecord {
                attempt: t.int("attempt")? as u32,
                epoch: t.int("epoch")?,
                worker: t.opt_text("worker")?,
                started_at: t.int("started_at")?,
                finished_at: t.int("finished_at")?,
                outcome: parse_name(
                    &t.text("outcome")?,
                    AttemptOutcome::parse,
                    "attempt outcome",
                )?,
                error: error_of(t)?,
            });
        }
        let mut activities = acts
            .iter()
            .map(|a| activity_record(a, &mut by_key))
            .collect::<Result<Vec<_>>>()?;
        activities.sort_by_key(|a| cursor::order(a.step, a.kind));
        let status = parse_name(&w.text("status")?, WorkflowStatus::parse, "workflow status")?;
        let current = match (&standing.cursor, status) {
            (Some(c), s) if !s.is_terminal() || s == WorkflowStatus::Failed => {
                let history = by_key.remove(&(c.step, c.kind)).unwrap_or_default();
                Some(current_record(
                    &w,
                    c,
                    status,
                    history,
                    standing.last_finished_at,
                )?)
            }
            _ => None,
        };
        let (current_step, current_kind) = match (&current, activities.last()) {
            (Some(c), _) => (c.step, c.kind),
            (None, Some(last)) => (last.step, last.kind),
            (None, None) => (0, ActivityKind::Action),
        };
        activities.extend(current);
        Ok(Some(WorkflowRecord {
            id,
            workflow_type: w.text("workflow_type")?,
            version: w.int("version")? as u32,
            status,
            current_step,
            current_kind,
            input: parse_json(&w.text("input")?, "workflow input")?,
            outputs: standing.outputs,
            error: error_of(&w)?,
            failed_step: w.opt_int("failed_step")?.map(|s| s as u32),
            parked_reason: w.opt_text("parked_reason")?,
            abort_requested: w.int("abort_requested")? != 0,
            idempotency_key: w.opt_exact_text("idempotency_key")?,
            submitted_by: w.opt_text("submitted_by")?,
            aborted_by: w.opt_text("aborted_by")?,
            retried_by: w.opt_text("retried_by")?,
            created_at: w.int("created_at")?,
            updated_at: w.int("updated_at")?,
            finished_at: w.opt_int("finished_at")?,
            activities,
        }))
    }

    /// Workflows newest first that pass `filter`, at most `limit`.
    pub async fn list(&self, filter: &ListFilter<'_>, limit: u32) -> Result<Vec<WorkflowSummary>> {
        let mut sql = String::from(
            "SELECT id, workflow_type, status, created_at, finished_at FROM workflows WHERE 1 = 1",
        );
        let mut a: Vec<Arg> = Vec::new();
        if let Some(s) = filter.status {
            sql.push_str(" AND status = ?");
            a.push(s.as_str().into());
        }
        if let Some(t) = filter.workflow_type {
            sql.push_str(" AND workflow_type = ?");
            a.push(t.into());
        }
        if let Some(k) = filter.idempotency_key {
            sql.push_str(" AND idempotency_key = ?");
            a.push(k.into());
        }
        if let Some(b) = filter.before {
            sql.push_str(" AND id < ?");
            a.push(b.to_string().into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        a.push(i64::from(limit).into());
        let mut tx = self.begin_read().await?;
        let rows = tx.fetch_all(&sql, a).await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(WorkflowSummary {
                    id: parse_id(&r.text("id")?)?,
                    workflow_type: r.text("workflow_type")?,
                    status: parse_name(
                        &r.text("status")?,
                        WorkflowStatus::parse,
                        "workflow status",
                    )?,
                    created_at: r.int("created_at")?,
                    finished_at: r.opt_int("finished_at")?,
                })
            })
            .collect()
    }

    /// How many workflows are in each status.
    pub async fn count_by_status(&self) -> Result<BTreeMap<WorkflowStatus, u64>> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT status, COUNT(*) AS n FROM workflows GROUP BY status",
                vec![],
            )
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok((
                    parse_name(&r.text("status")?, WorkflowStatus::parse, "workflow status")?,
                    r.int("n")? as u64,
                ))
            })
            .collect()
    }
}

/// The activity a workflow is at, from its row (lease, budget) and its history.
fn current_record(
    w: &Row,
    c: &cursor::Cursor,
    status: WorkflowStatus,
    attempts: Vec<AttemptRecord>,
    since: Option<Micros>,
) -> Result<ActivityRecord> {
    let max_attempts = cursor::budget(w, c)?;
    let made = attempts.iter().map(|t| t.attempt).max().unwrap_or(0);
    let lease_owner = w.opt_text("lease_owner")?;
    let (status, attempt) = match (status, &lease_owner) {
        (WorkflowStatus::Failed, _) => (ActivityStatus::Failed, made),
        (_, Some(_)) => (
            ActivityStatus::Leased,
            cursor::next_attempt(made, max_attempts).0,
        ),
        (_, None) => (ActivityStatus::Ready, made),
    };
    let error = attempts.last().and_then(|t| t.error.clone());
    Ok(ActivityRecord {
        step: c.step,
        kind: c.kind,
        name: c.name.clone(),
        status,
        attempt,
        max_attempts,
        run_at: w.opt_int("run_at")?,
        lease_owner,
        epoch: w.int("epoch")?,
        request: None,
        response: None,
        error,
        created_at: since.unwrap_or(w.int("created_at")?),
        finished_at: w
            .opt_int("finished_at")?
            .filter(|_| status == ActivityStatus::Failed),
        attempts,
    })
}

fn activity_record(
    a: &Row,
    attempts: &mut BTreeMap<(u32, ActivityKind), Vec<AttemptRecord>>,
) -> Result<ActivityRecord> {
    let key = super::parse_key(a)?;
    let mut history = attempts.remove(&(key.step, key.kind)).unwrap_or_default();
    if let Some(outcome) = a.opt_text("outcome")? {
        history.push(AttemptRecord {
            attempt: a.int("attempt")? as u32,
            epoch: a.int("epoch")?,
            worker: a.opt_text("worker")?,
            started_at: a.opt_int("claimed_at")?.unwrap_or(0),
            finished_at: a.opt_int("finished_at")?.unwrap_or(0),
            outcome: parse_name(&outcome, AttemptOutcome::parse, "attempt outcome")?,
            error: error_of(a)?,
        });
    }
    Ok(ActivityRecord {
        step: key.step,
        kind: key.kind,
        name: a.text("name")?,
        status: parse_name(&a.text("status")?, ActivityStatus::parse, "activity status")?,
        attempt: a.int("attempt")? as u32,
        max_attempts: a.int("max_attempts")? as u32,
        run_at: a.opt_int("run_at")?,
        lease_owner: a.opt_text("lease_owner")?,
        epoch: a.int("epoch")?,
        request: opt_json(a.opt_text("request")?, "activity request")?,
        response: opt_json(a.opt_text("response")?, "activity response")?,
        error: error_of(a)?,
        created_at: a.int("created_at")?,
        finished_at: a.opt_int("finished_at")?,
        attempts: history,
    })
}

/// Which workflows a list answers; every filter set must hold.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter<'a> {
    pub status: Option<WorkflowStatus>,
    pub workflow_type: Option<&'a str>,
    /// Exactly this key (byte for byte, as submits compare keys).
    pub idempotency_key: Option<&'a str>,
    /// The cursor: only ids below it (the last id of the previous page).
    pub before: Option<WorkflowId>,
}

/// What the database holds right now, for the operators' gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Workflows due and waiting for a worker.
    pub ready: u64,
    /// Leased workflows whose lease has expired (a worker died or stalls).
    pub overdue: u64,
    /// Workflows parked as `failed`.
    pub parked: u64,
}

impl Store {
    /// Counts the backlog: due ready workflows, expired leases, parked workflows.
    pub async fn backlog(&self) -> Result<Backlog> {
        let now = self.dialect().now();
        let mut tx = self.begin_read().await?;
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN lease_owner IS NULL THEN 1 ELSE 0 END), 0) AS SIGNED) AS ready, \
             CAST(COALESCE(SUM(CASE WHEN lease_owner IS NOT NULL THEN 1 ELSE 0 END), 0) AS SIGNED) AS overdue \
             FROM workflows WHERE run_at <= {now}"
        );
        let sql = match self.dialect() {
            super::Dialect::MySql => sql,
            super::Dialect::Sqlite => sql.replace("AS SIGNED", "AS INTEGER"),
        };
        let due = tx.fetch_all(&sql, vec![]).await?;
        let parked = tx
            .fetch_all(
                "SELECT COUNT(*) AS n FROM workflows WHERE status = 'failed'",
                vec![],
            )
            .await?;
        tx.commit().await?;
        Ok(Backlog {
            ready: due[0].int("ready")? as u64,
            overdue: due[0].int("overdue")? as u64,
            parked: parked[0].int("n")? as u64,
        })
    }
}
