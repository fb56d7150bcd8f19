use crate::support::*;
use engine::definition::Request;
use engine::model::{ActivityStatus, AttemptOutcome};
use engine::runner::{Executor, Runner, RunnerConfig};
use engine::{Outcome, WorkflowStatus};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

testkit::backend_tests!(
    a_long_activity_keeps_its_lease_by_heartbeat,
    a_stopping_runner_gives_back_what_it_has_not_started
);

/// An executor that holds every call until the test lets it go.
struct Gate(Semaphore);

impl Executor for Gate {
    async fn execute(&self, _request: &Request) -> Outcome {
        self.0.acquire().await.expect("open").forget();
        Outcome::Success(json!({"amount": 100}))
    }
}

/// A call that outlives the lease TTL keeps its lease: the runner renews it while it runs.
async fn a_long_activity_keeps_its_lease_by_heartbeat(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let gate = Arc::new(Gate(Semaphore::new(0)));
    let config = RunnerConfig {
        lease_ttl_ms: 300,
        heartbeat_ms: 50,
        ..RunnerConfig::new("slow")
    };
    let runner = Runner::new(store.clone(), registry.clone(), gate.clone(), config);
    let run = tokio::spawn(async move { runner.run_once().await.unwrap() });
    let first = wait_for_lease(&store, id, None).await;
    let renewed = wait_for_lease(&store, id, Some(first + 300_000)).await;
    assert!(
        renewed > first + 300_000,
        "the lease was extended past its first expiry"
    );
    assert!(
        store
            .claim(&registry, "thief", 1, 1_000)
            .await
            .unwrap()
            .is_empty(),
        "nobody can take a renewed lease"
    );
    gate.0.add_permits(100);
    let report = run.await.unwrap();
    assert_eq!((report.fenced, report.finished), (0, 1));
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Completed);
    assert!(wf
        .activities
        .iter()
        .flat_map(|a| &a.attempts)
        .all(|t| t.outcome == AttemptOutcome::Succeeded));
}

/// Waits (deadline 10 s) until the workflow's current activity is leased with an expiry
/// beyond `after`; returns that expiry.
async fn wait_for_lease(store: &engine::Store, id: engine::WorkflowId, after: Option<i64>) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let wf = store.get(id).await.unwrap().unwrap();
        let leased = wf
            .activities
            .iter()
            .find(|a| a.status == ActivityStatus::Leased)
            .and_then(|a| a.run_at);
        if let Some(run_at) = leased.filter(|r| after.is_none_or(|a| *r > a)) {
            return run_at;
        }
        assert!(Instant::now() < deadline, "no (renewed) lease in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A runner told to stop mid-batch finishes the call in flight and gives the next step back
/// unstarted, without counting an attempt for it.
async fn a_stopping_runner_gives_back_what_it_has_not_started(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Gate(Semaphore::new(0)));
    let runner = Runner::new(
        store.clone(),
        registry.clone(),
        gate.clone(),
        RunnerConfig::new("draining"),
    )
    .with_stop(stop_rx);
    let run = tokio::spawn(async move { runner.run_once().await.unwrap() });
    wait_for_lease(&store, id, None).await;
    stop_tx.send(true).unwrap();
    gate.0.add_permits(100);
    let report = run.await.unwrap();
    assert_eq!((report.executed, report.released), (1, 1));
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.current_step, 1);
    let balance = wf
        .activities
        .iter()
        .find(|a| a.name == "reserve_balance")
        .unwrap();
    assert_eq!(
        (balance.status, balance.attempt, balance.lease_owner.clone()),
        (ActivityStatus::Ready, 0, None)
    );
    assert!(
        balance.run_at.unwrap() <= store.now().await.unwrap(),
        "due at once for another worker"
    );
}
