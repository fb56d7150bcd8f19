//! Carrying out what was decided on a batch of workflows, for completions and for the
//! controls alike: lock the workflow rows (the fence: every decision is checked against the
//! rows as locked), then write the plans — the done activities as one multi-row insert (the
//! journal), the workflow rows where they changed as `CASE` updates, the attempt history.

use super::claim::key_args;
use super::complete::{Completed, Finished};
use super::db::{args, case_update, padded_list, tuples, Arg, Column, Dialect, Tx};
use super::plan::{AttemptRow, Locked, Plan};
use super::{parse_id, parse_name, Result};
use kernel::model::{ActivityKey, Micros, WorkflowId, WorkflowStatus};
use std::collections::HashMap;

/// Most rows one `CASE` update carries.
const CASE_ROWS_MAX: usize = 32;

/// Locks the workflows' rows (in id order, so concurrent batches do not deadlock on each
/// other) and reads the database clock.
pub(super) async fn lock_batch(
    tx: &mut Tx<'_>,
    dialect: Dialect,
    ids: &[WorkflowId],
) -> Result<(HashMap<WorkflowId, Locked>, Micros)> {
    let mut sorted: Vec<String> = ids.iter().map(WorkflowId::to_string).collect();
    sorted.sort();
    sorted.dedup();
    let (list, list_args) = padded_list(&sorted);
    let sql = format!(
        "SELECT id, status, created_at, abort_requested, error_code, error_message, failed_step, epoch, \
         lease_owner, run_at, {} AS now FROM workflows WHERE id IN ({list}) ORDER BY id{}",
        dialect.now(),
        dialect.for_update()
    );
    let rows = tx.fetch_all(&sql, list_args).await?;
    let mut now = 0;
    let mut locked = HashMap::with_capacity(rows.len());
    for row in rows {
        now = row.int("now")?;
        let id = parse_id(&row.text("id")?)?;
        let l = Locked {
            created_at: row.int("created_at")?,
            status: parse_name(
                &row.text("status")?,
                WorkflowStatus::parse,
                "workflow status",
            )?,
            abort_requested: row.int("abort_requested")? != 0,
            error_code: row.opt_text("error_code")?,
            error_message: row.opt_text("error_message")?,
            failed_step: row.opt_int("failed_step")?,
            epoch: row.int("epoch")?,
            lease_owner: row.opt_text("lease_owner")?,
            lease_expires_at: row.opt_int("run_at")?,
        };
        locked.insert(id, l);
    }
    if now == 0 {
        let rows = tx
            .fetch_all(&format!("SELECT {} AS now", dialect.now()), vec![])
            .await?;
        now = rows[0].int("now")?;
    }
    Ok((locked, now))
}

/// Carries out plans whose fence was checked under lock: the done activities as one
/// multi-row insert (the journal), then, only where they changed, the workflow rows (one
/// `CASE` update per chunk) and the history of attempts that did not finish their activity.
pub(super) async fn write_plans(
    tx: &mut Tx<'_>,
    plans: Vec<Plan>,
    now: Micros,
) -> Result<Completed> {
    let mut done = Completed::default();
    if plans.is_empty() {
        return Ok(done);
    }
    insert_journal(tx, &plans, now).await?;
    for release in [true, false] {
        let changed: Vec<&Plan> = plans
            .iter()
            .filter(|p| p.workflow.write && p.workflow.release == release)
            .collect();
        // A `CASE` costs each row a scan of its branches: chunks keep that cost flat.
        for chunk in changed.chunks(CASE_ROWS_MAX) {
            update_workflows(tx, chunk, now, release).await?;
        }
    }
    let mut next = Vec::new();
    let mut attempts = Vec::new();
    for p in plans {
        if p.workflow.status.is_terminal() {
            done.finished.push(Finished {
                id: p.key.workflow_id,
                workflow_type: p.workflow_type.clone(),
                status: p.workflow.status,
                duration_us: now - p.created_at,
            });
        }
        if !p.journal {
            attempts.extend(p.attempt.map(|a| (p.key, a)));
        }
        next.extend(p.next);
        done.decisions.push((p.key, p.decision));
    }
    insert_attempts(tx, &attempts, now).await?;
    done.next = next.into_iter().filter(|c| c.epoch > 0).collect();
    Ok(done)
}

/// One row per activity that is done, naming the one that follows.
async fn insert_journal(tx: &mut Tx<'_>, plans: &[Plan], now: Micros) -> Result<()> {
    let rows: Vec<&Plan> = plans.iter().filter(|p| p.journal).collect();
    if rows.is_empty() {
        return Ok(());
    }
    const WIDTH: usize = 24;
    let mut a = Vec::with_capacity(rows.len() * WIDTH);
    for p in &rows {
        let j = &p.journal_row;
        let next = p.next.as_ref();
        a.extend(key_args(&p.key));
        a.extend(args![
            p.workflow_type.as_str(),
            i64::from(j.version),
            j.name.as_str(),
            p.activity_status.as_str(),
            i64::from(j.attempt),
            i64::from(j.max_attempts),
            j.epoch,
            j.started_at,
            p.request.clone(),
            p.response.clone(),
            p.error.as_ref().map(|e| e.code.clone()),
            p.error.as_ref().map(|e| e.message.clone()),
            j.started_at,
            now,
            now,
            next.map(|n| i64::from(n.key.step)),
            next.map(|n| n.key.kind.as_str().to_owned()),
            next.map(|n| n.name.clone()),
            next.map(|n| i64::from(n.max_attempts)),
            p.attempt.as_ref().map(|t| t.worker.clone()),
            p.attempt.as_ref().map(|t| t.outcome.as_str().to_owned()),
        ]);
    }
    tx.execute(
        &format!(
            "INSERT INTO activities (workflow_id, step, kind, workflow_type, version, name, status, attempt, \
             max_attempts, epoch, claimed_at, request, response, error_code, error_message, created_at, \
             updated_at, finished_at, next_step, next_kind, next_name, next_max_attempts, worker, outcome) \
             VALUES {}",
            tuples(rows.len(), WIDTH)
        ),
        a,
    )
    .await?;
    Ok(())
}

/// `release`: the rows' leases are given back (owner cleared, `run_at` the next due time);
/// else they stay as they are.
async fn update_workflows(
    tx: &mut Tx<'_>,
    plans: &[&Plan],
    now: Micros,
    release: bool,
) -> Result<()> {
    let col = |name, wrap, f: &dyn Fn(&Plan) -> Arg| Column {
        name,
        wrap,
        values: plans.iter().map(|p| f(p)).collect(),
    };
    let mut columns = vec![
        col("status", "{}", &|p| p.workflow.status.as_str().into()),
        col("current_step", "{}", &|p| {
            i64::from(p.workflow.current.0).into()
        }),
        col("current_kind", "{}", &|p| {
            p.workflow.current.1.as_str().into()
        }),
        col("outputs", "COALESCE({}, outputs)", &|p| {
            p.workflow.outputs.clone().into()
        }),
        col("error_code", "{}", &|p| {
            p.workflow.error_code.clone().into()
        }),
        col("error_message", "{}", &|p| {
            p.workflow.error_message.clone().into()
        }),
        col("failed_step", "{}", &|p| p.workflow.failed_step.into()),
        col("parked_reason", "{}", &|p| {
            p.workflow.parked_reason.clone().into()
        }),
        col("finished_at", "{}", &|p| {
            p.workflow.status.is_terminal().then_some(now).into()
        }),
    ];
    let mut fixed = vec![("updated_at", Arg::Int(now))];
    if release {
        columns.push(col("run_at", "{}", &|p| p.workflow.run_at.into()));
        fixed.push(("lease_owner", Arg::OptText(None)));
    } else {
        // A kept lease: renewed where the plan says so, else as it is.
        columns.push(col("run_at", "COALESCE({}, run_at)", &|p| {
            p.workflow.run_at.into()
        }));
    }
    let ids: Vec<String> = plans
        .iter()
        .map(|p| p.key.workflow_id.to_string())
        .collect();
    let (sql, a) = case_update("workflows", "id", &ids, &columns, &fixed, "1 = 1");
    let changed = tx.execute(&sql, a).await?;
    assert_eq!(
        changed as usize,
        plans.len(),
        "the workflow rows were locked by this transaction"
    );
    Ok(())
}

async fn insert_attempts(
    tx: &mut Tx<'_>,
    attempts: &[(ActivityKey, AttemptRow)],
    now: Micros,
) -> Result<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let mut a = Vec::with_capacity(attempts.len() * 11);
    for (key, row) in attempts {
        a.extend(key_args(key));
        a.extend(args![
            i64::from(row.attempt),
            row.epoch,
            row.worker.as_str(),
            row.started_at,
            now,
            row.outcome.as_str(),
            row.error.as_ref().map(|e| e.code.clone()),
            row.error.as_ref().map(|e| e.message.clone()),
        ]);
    }
    tx.execute(
        &format!(
            "INSERT INTO attempts (workflow_id, step, kind, attempt, epoch, worker, started_at, finished_at, \
             outcome, error_code, error_message) VALUES {}",
            tuples(attempts.len(), 11)
        ),
        a,
    )
    .await?;
    Ok(())
}
