//! Migration 0003 (the lean journal) carries workflows in flight over: a database written by
//! the old schema (one row per activity, leased or due, attempt history for every attempt)
//! is migrated, read back the same, and its workflows run on to the end.

use crate::support::{drive, registry, runner, Script, TestDb};
use engine::model::{ActivityKind, ActivityStatus, AttemptOutcome, WorkflowStatus};
use engine::{Store, WorkflowId};
use sqlx::migrate::Migrator;
use std::sync::Arc;

testkit::backend_tests!(workflows_in_flight_survive_the_lean_journal_migration);

const PENDING: &str = "00000000-0000-7000-8000-00000000000a";
const RUNNING: &str = "00000000-0000-7000-8000-00000000000b";
const PARKED: &str = "00000000-0000-7000-8000-00000000000c";
const DONE: &str = "00000000-0000-7000-8000-00000000000d";
const STEPS: [&str; 7] = [
    "quote",
    "reserve_balance",
    "reserve_payment",
    "reserve_stock",
    "confirm_balance",
    "execute_payment",
    "confirm_order",
];
/// A time in the past (µs): every old row was written then.
const T: i64 = 1_700_000_000_000_000;
/// Far in the future: a lease that has not expired.
const LATER: i64 = 4_000_000_000_000_000;

/// Applies the saga migrations up to and including `last`: the files copied into a
/// directory of their own (same bytes, same checksums as the ones the store embeds).
async fn migrate_to(db: &TestDb, last: i64) {
    let dialect = if db.is_mysql() { "mysql" } else { "sqlite" };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations/saga")
        .join(dialect);
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(&source).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let version: i64 = name.split('_').next().unwrap().parse().expect("numbered");
        if version <= last {
            std::fs::copy(&path, dir.path().join(&name)).expect("copy");
        }
    }
    let migrator = Migrator::new(dir.path()).await.expect("migrator");
    if db.is_mysql() {
        let pool = sqlx::MySqlPool::connect(&db.url).await.expect("connect");
        migrator.run(&pool).await.expect("migrate");
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("connect");
        migrator.run(&pool).await.expect("migrate");
        pool.close().await;
    }
}

fn workflow(id: &str, status: &str, current: usize, outputs: &str) -> String {
    format!(
        "INSERT INTO workflows (id, workflow_type, version, status, current_step, current_kind, input, outputs, \
         created_at, updated_at) VALUES ('{id}', 'purchase_fast', 1, '{status}', {current}, 'action', \
         '{{\"user_id\": 1, \"product_id\": 1, \"quantity\": 1, \"payment_method_id\": 1}}', '{outputs}', {T}, {T})"
    )
}

/// An old activity row: `live` is `None` once finished, else (status, run_at, owner).
fn activity(
    id: &str,
    step: usize,
    status: &str,
    attempt: i64,
    epoch: i64,
    run_at: Option<i64>,
    owner: Option<&str>,
) -> String {
    let name = STEPS[step];
    let finished = if run_at.is_none() {
        format!("{}", T + step as i64)
    } else {
        "NULL".into()
    };
    let run_at = run_at.map_or("NULL".into(), |t| t.to_string());
    let owner = owner.map_or("NULL".into(), |o| format!("'{o}'"));
    let response = if status == "succeeded" {
        "'{\"amount\": 100}'"
    } else {
        "NULL"
    };
    format!(
        "INSERT INTO activities (workflow_id, step, kind, workflow_type, version, name, status, attempt, max_attempts, \
         run_at, lease_owner, epoch, claimed_at, response, created_at, updated_at, finished_at) VALUES \
         ('{id}', {step}, 'action', 'purchase_fast', 1, '{name}', '{status}', {attempt}, 3, {run_at}, {owner}, {epoch}, \
         {T}, {response}, {created}, {T}, {finished})",
        created = T + step as i64 - 1,
    )
}

fn attempt(id: &str, step: usize, attempt: i64, epoch: i64, outcome: &str) -> String {
    format!(
        "INSERT INTO attempts (workflow_id, step, kind, attempt, epoch, worker, started_at, finished_at, outcome) \
         VALUES ('{id}', {step}, 'action', {attempt}, {epoch}, 'old', {T}, {T}, '{outcome}')"
    )
}

fn quotes(steps: usize) -> String {
    let map: Vec<String> = STEPS[..steps]
        .iter()
        .map(|s| format!("\"{s}\": {{\"amount\": 100}}"))
        .collect();
    format!("{{{}}}", map.join(", "))
}

async fn workflows_in_flight_survive_the_lean_journal_migration(db: TestDb) {
    migrate_to(&db, 2).await;
    let mut sql = vec![
        // Submitted, never claimed.
        workflow(PENDING, "pending", 0, "{}"),
        activity(PENDING, 0, "ready", 0, 0, Some(T), None),
        // Step 1 leased (its second attempt) after a transient failure; step 0 done.
        workflow(RUNNING, "running", 1, &quotes(1)),
        activity(RUNNING, 0, "succeeded", 1, 1, None, None),
        attempt(RUNNING, 0, 1, 1, "succeeded"),
        activity(RUNNING, 1, "leased", 2, 2, Some(LATER), Some("old-worker")),
        attempt(RUNNING, 1, 1, 1, "retryable_error"),
        // Parked at step 4 (after the pivot) after a refusal.
        workflow(PARKED, "failed", 4, &quotes(4)),
    ];
    for step in 0..4 {
        sql.push(activity(PARKED, step, "succeeded", 1, 1, None, None));
        sql.push(attempt(PARKED, step, 1, 1, "succeeded"));
    }
    sql.push(activity(PARKED, 4, "failed", 1, 1, None, None));
    sql.push(attempt(PARKED, 4, 1, 1, "business_error"));
    sql.push(workflow(DONE, "completed", 6, &quotes(7)));
    for step in 0..7 {
        sql.push(activity(DONE, step, "succeeded", 1, 1, None, None));
        sql.push(attempt(DONE, step, 1, 1, "succeeded"));
    }
    for s in &sql {
        assert_eq!(db.execute(s).await, 1, "{s}");
    }

    let store = Store::connect(&db.url, 4).await.expect("connect");
    store
        .migrate()
        .await
        .expect("migrate 0003 over the old rows");
    let id = |text: &str| -> WorkflowId { text.parse().expect("an id") };

    // Read back as before: the current activities with their leases and history.
    let pending = store.get(id(PENDING)).await.unwrap().unwrap();
    assert_eq!(pending.status, WorkflowStatus::Pending);
    let first = &pending.activities[..];
    assert_eq!(first.len(), 1);
    assert_eq!(
        (
            first[0].name.as_str(),
            first[0].status,
            first[0].attempt,
            first[0].max_attempts
        ),
        ("quote", ActivityStatus::Ready, 0, 3)
    );
    let running = store.get(id(RUNNING)).await.unwrap().unwrap();
    assert_eq!(running.outputs.len(), 1, "quote's answer");
    let acts = &running.activities;
    assert_eq!(acts.len(), 2);
    assert_eq!(
        acts[0]
            .attempts
            .iter()
            .map(|a| a.outcome)
            .collect::<Vec<_>>(),
        vec![AttemptOutcome::Succeeded],
        "the finishing attempt moved onto its row, not kept twice"
    );
    assert_eq!(
        (
            acts[1].status,
            acts[1].attempt,
            acts[1].epoch,
            acts[1].lease_owner.as_deref()
        ),
        (ActivityStatus::Leased, 2, 2, Some("old-worker"))
    );
    let parked = store.get(id(PARKED)).await.unwrap().unwrap();
    let stuck = parked.activities.last().unwrap();
    assert_eq!(
        (stuck.step, stuck.kind, stuck.status, stuck.attempt),
        (4, ActivityKind::Action, ActivityStatus::Failed, 1)
    );
    let done = store.get(id(DONE)).await.unwrap().unwrap();
    assert_eq!(done.activities.len(), 7);
    assert!(done
        .activities
        .iter()
        .all(|a| a.status == ActivityStatus::Succeeded && a.attempts.len() == 1));

    // And they run on: the old lease expires and is taken over, the parked one is retried.
    let (registry, script) = (registry(), Arc::new(Script::default()));
    let runner = runner(&store, &registry, &script, "new-worker");
    drive(&db, &runner, id(PENDING), 20).await;
    // The old worker's lease runs out.
    let expire = format!("UPDATE workflows SET run_at = {T} WHERE id = '{RUNNING}'");
    assert_eq!(db.execute(&expire).await, 1);
    drive(&db, &runner, id(RUNNING), 20).await;
    store
        .retry(&registry, id(PARKED), Some("operator"))
        .await
        .expect("retry");
    drive(&db, &runner, id(PARKED), 20).await;
    for wf in [PENDING, RUNNING, PARKED, DONE] {
        let record = store.get(id(wf)).await.unwrap().unwrap();
        assert_eq!(record.status, WorkflowStatus::Completed, "{wf}");
        assert_eq!(record.activities.len(), 7, "{wf}");
        // Migration 0005: rows written before it have no subjects; a later retry records one.
        let retried_by = (wf == PARKED).then(|| "operator".to_owned());
        assert_eq!(
            (record.submitted_by, record.aborted_by, record.retried_by),
            (None, None, retried_by),
            "{wf}"
        );
    }
    let step1 = store.get(id(RUNNING)).await.unwrap().unwrap().activities[1].clone();
    assert_eq!(
        step1.attempts.iter().map(|a| a.outcome).collect::<Vec<_>>(),
        vec![
            AttemptOutcome::RetryableError,
            AttemptOutcome::LeaseExpired,
            AttemptOutcome::Succeeded
        ]
    );
    assert_eq!(step1.attempt, 3);
}
