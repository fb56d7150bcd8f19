use crate::support::*;
use engine::definition::Request;
use engine::model::{ActivityStatus, AttemptOutcome};
use engine::runner::{Admission, CallGuard, Executor, Runner, RunnerConfig};
use engine::{Outcome, WorkflowStatus};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

testkit::backend_tests!(
    a_long_activity_keeps_its_lease_by_heartbeat,
    a_stopping_runner_gives_back_what_it_has_not_started,
    a_deferred_activity_is_given_back_uncalled_without_an_attempt
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

/// Defers every call to the `user` service by a minute while `defer` is set; admits the
/// others with a guard that counts the outcomes it is told.
#[derive(Default)]
struct Deferring {
    defer: std::sync::atomic::AtomicBool,
    calls: std::sync::Mutex<Vec<String>>,
    told: Arc<std::sync::Mutex<Vec<AttemptOutcome>>>,
}

struct Told(Arc<std::sync::Mutex<Vec<AttemptOutcome>>>);

impl CallGuard for Told {
    fn finished(self: Box<Self>, outcome: &Outcome) {
        self.0.lock().unwrap().push(outcome.attempt_outcome());
    }
}

impl Executor for Deferring {
    async fn execute(&self, request: &Request) -> Outcome {
        self.calls.lock().unwrap().push(request.path.clone());
        Outcome::Success(json!({"amount": 100}))
    }

    fn admit(&self, request: &Request) -> Admission {
        if request.service == "user" && self.defer.load(std::sync::atomic::Ordering::SeqCst) {
            return Admission::Defer { delay_ms: 60_000 };
        }
        Admission::Call(Some(Box::new(Told(self.told.clone()))))
    }
}

/// An activity its executor does not admit is not called: the runner gives it back due after
/// the delay (the workflow stays at that step, unleased, with no attempt recorded), reports
/// it, and asks for a wake-up then; once admitted it runs as attempt 1.
async fn a_deferred_activity_is_given_back_uncalled_without_an_attempt(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let executor = Arc::new(Deferring::default());
    executor
        .defer
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let runner = Runner::new(
        store.clone(),
        registry.clone(),
        executor.clone(),
        RunnerConfig::new("protected"),
    );
    let report = runner.run_once().await.unwrap();
    assert_eq!(
        (report.executed, report.deferred, report.finished),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(
        report.next_retry_ms,
        Some(60_000),
        "a wake-up when it is due"
    );
    assert_eq!(*executor.calls.lock().unwrap(), ["/quotes"]);
    assert_eq!(
        *executor.told.lock().unwrap(),
        [AttemptOutcome::Succeeded],
        "the admitted call's guard was told its outcome"
    );
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!((wf.status, wf.current_step), (WorkflowStatus::Running, 1));
    let balance = wf
        .activities
        .iter()
        .find(|a| a.name == "reserve_balance")
        .unwrap();
    assert_eq!(
        (balance.status, balance.attempt, balance.lease_owner.clone()),
        (ActivityStatus::Ready, 0, None)
    );
    assert!(balance.attempts.is_empty());
    let now = store.now().await.unwrap();
    assert!(
        balance.run_at.unwrap() >= now + 59_000_000,
        "due in a minute"
    );
    assert!(runner.run_once().await.unwrap().claimed == 0, "not due yet");
    executor
        .defer
        .store(false, std::sync::atomic::Ordering::SeqCst);
    make_due(&db, id).await;
    let report = runner.run_once().await.unwrap();
    assert_eq!(report.deferred, 0);
    let wf = store.get(id).await.unwrap().unwrap();
    let balance = wf
        .activities
        .iter()
        .find(|a| a.name == "reserve_balance")
        .unwrap();
    assert_eq!(
        balance.attempts.first().map(|t| t.attempt),
        Some(1),
        "{wf:?}"
    );
}
