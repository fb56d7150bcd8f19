//! Worker processes that die or are told to stop: the journal and the leases carry the
//! work to another worker, and every participant effect happens once.

use crate::support::*;
use engine::model::AttemptOutcome;
use engine::WorkflowStatus;
use services::Service;
use std::process::Command;

testkit::backend_tests!(
    a_killed_worker_s_workflow_is_finished_by_the_other,
    sigterm_drains_without_losing_work
);

/// SIGKILL the worker holding a workflow mid-way: the other worker finishes it from the
/// journaled step after the lease expires, and each participant applied its effect once.
async fn a_killed_worker_s_workflow_is_finished_by_the_other(db: TestDb) {
    let dbs = Databases::fresh(db).await;
    let participants = Participants::start(&dbs, 150).await;
    let store = open(&dbs).await;
    let registry = engine::Registry::shipped();
    let mut workers = [
        spawn_worker(&dbs.saga.url, &participants.flag(), "w1", &[]),
        spawn_worker(&dbs.saga.url, &participants.flag(), "w2", &[]),
    ];
    let id = store.submit(&registry, &purchase(1)).await.unwrap().id;
    let holder = eventually(20, "a worker holding a later step", || async {
        let wf = store.get(id).await.unwrap()?;
        let held = wf
            .activities
            .iter()
            .find(|a| a.step >= 2 && a.lease_owner.is_some())?;
        held.lease_owner.clone()
    })
    .await;
    let victim = if holder == "w1" { 0 } else { 1 };
    workers[victim].kill().expect("SIGKILL");
    workers[victim].wait().unwrap();
    let wf = eventually(30, "the workflow to complete", || async {
        let wf = store.get(id).await.unwrap()?;
        wf.status.is_terminal().then_some(wf)
    })
    .await;
    workers[1 - victim].kill().unwrap();
    workers[1 - victim].wait().unwrap();
    assert_eq!(
        wf.status,
        WorkflowStatus::Completed,
        "{:?}",
        wf.parked_reason
    );
    let attempts: Vec<_> = wf.activities.iter().flat_map(|a| &a.attempts).collect();
    let expired = attempts
        .iter()
        .filter(|t| t.outcome == AttemptOutcome::LeaseExpired)
        .collect::<Vec<_>>();
    assert_eq!(
        expired.len(),
        1,
        "the killed worker's step was reclaimed once: {attempts:?}"
    );
    assert_eq!(expired[0].worker.as_deref(), Some(holder.as_str()));
    let survivor = if victim == 0 { "w2" } else { "w1" };
    assert!(
        wf.activities
            .iter()
            .flat_map(|a| &a.attempts)
            .any(|t| t.worker.as_deref() == Some(survivor)),
        "the other worker took over"
    );
    let user = participants.ledger(Service::User).await;
    assert_eq!(
        (
            user["captured"].as_i64(),
            user["reserved"].as_i64(),
            user["balance"].as_i64()
        ),
        (Some(100), Some(0), Some(3400)),
        "{user}"
    );
    let order = participants.ledger(Service::Order).await;
    assert_eq!(
        (order["sold"].as_i64(), order["orders"]["count"].as_i64()),
        (Some(1), Some(1)),
        "{order}"
    );
    let payment = participants.ledger(Service::Payment).await;
    assert_eq!(payment["payments"]["executed"]["count"], 1, "{payment}");
}

/// SIGTERM during load: the worker exits cleanly holding no lease, nothing is lost, and a
/// new worker finishes every workflow.
async fn sigterm_drains_without_losing_work(db: TestDb) {
    let dbs = Databases::fresh(db).await;
    let participants = Participants::start(&dbs, 30).await;
    let store = open(&dbs).await;
    let registry = engine::Registry::shipped();
    let mut first = spawn_worker(&dbs.saga.url, &participants.flag(), "first", &[]);
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            store
                .submit(&registry, &purchase(1 + i % 3))
                .await
                .unwrap()
                .id,
        );
    }
    eventually(20, "some workflows to finish", || async {
        let done = count(&store, WorkflowStatus::Completed).await;
        (done >= 2).then_some(())
    })
    .await;
    let term = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let exit = first.wait().unwrap();
    assert!(exit.success(), "a drained worker exits 0: {exit}");
    let leased = dbs
        .saga
        .scalar("SELECT COUNT(*) FROM workflows WHERE lease_owner IS NOT NULL")
        .await;
    assert_eq!(leased, 0, "no lease is left behind");
    let mut second = spawn_worker(&dbs.saga.url, &participants.flag(), "second", &[]);
    eventually(40, "every workflow to end", || async {
        let counts = store.count_by_status().await.unwrap();
        let done: u64 = counts
            .iter()
            .filter(|(s, _)| s.is_terminal())
            .map(|(_, n)| n)
            .sum();
        (done == ids.len() as u64).then_some(())
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();
    let completed = count(&store, WorkflowStatus::Completed).await;
    let user = participants.ledger(Service::User).await;
    assert_eq!(
        user["captured"].as_i64(),
        Some(100 * completed as i64),
        "{user}"
    );
    assert_eq!(user["reserved"].as_i64(), Some(0));
    assert_eq!(
        user["balance"].as_i64().unwrap() + user["captured"].as_i64().unwrap(),
        3500,
        "money is conserved"
    );
}
