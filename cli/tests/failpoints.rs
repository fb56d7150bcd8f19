//! Targeted crash windows (`fail` failpoints, feature `failpoints`): a worker dies at the
//! worst moments — after the participant answered but before the completion commits, during
//! a compensation, right after the pivot — and another worker resumes from the journal with
//! each participant effect applied exactly once. One test binary of its own: failpoints are
//! global to the process, so the tests run one at a time.

use engine::runner::{Runner, RunnerConfig};
use engine::store::NewWorkflow;
use engine::{Registry, Store, WorkflowId, WorkflowStatus};
use serde_json::{json, Value};
use services::Service;
use std::net::SocketAddr;
use std::sync::Arc;
use testkit::TestDb;
use tokio::sync::Mutex;
use worker::{HttpExecutor, Services};

/// Failpoints are process-global: one scenario at a time.
static SERIAL: Mutex<()> = Mutex::const_new(());

struct System {
    saga: TestDb,
    store: Store,
    registry: Arc<Registry>,
    executor: Arc<HttpExecutor>,
    running: Vec<(Service, services::Running, TestDb)>,
}

impl System {
    async fn start() -> System {
        let mut running = Vec::new();
        let mut map = Services::default();
        for service in [Service::User, Service::Payment, Service::Order] {
            let db = TestDb::sqlite(service.name());
            let mut config = services::Config::new(db.url.clone());
            config.admin_enabled = true;
            let state = services::AppState::connect(service, &config, None)
                .await
                .unwrap();
            let r = services::spawn(state, SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .unwrap();
            map.insert(service.name(), r.url());
            running.push((service, r, db));
        }
        let saga = TestDb::sqlite("saga");
        let store = sagaflow::open_store(&saga.url, 4).await.unwrap();
        System {
            saga,
            store,
            registry: Arc::new(Registry::shipped()),
            executor: Arc::new(HttpExecutor::new(map)),
            running,
        }
    }

    fn runner(&self, id: &str) -> Runner<HttpExecutor> {
        Runner::new(
            self.store.clone(),
            self.registry.clone(),
            self.executor.clone(),
            RunnerConfig::new(id),
        )
    }

    async fn ledger(&self, service: Service) -> Value {
        let url = self
            .running
            .iter()
            .find(|(s, ..)| *s == service)
            .unwrap()
            .1
            .url();
        reqwest::get(format!("{url}/admin/ledger"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn submit(&self, user_id: i64, quantity: i64) -> WorkflowId {
        let input = json!({"user_id": user_id, "product_id": 1, "quantity": quantity, "payment_method_id": user_id});
        let new = NewWorkflow {
            workflow_type: "purchase".into(),
            input,
            idempotency_key: None,
            submitted_by: None,
        };
        self.store.submit(&self.registry, &new).await.unwrap().id
    }

    /// Worker "crasher" runs until `failpoint` (armed with `actions`) panics it (its task dies mid-work);
    /// then the lease expires (backdated, not slept) and worker "survivor" finishes.
    async fn crash_then_resume(
        &self,
        id: WorkflowId,
        failpoint: &str,
        actions: &str,
    ) -> engine::store::WorkflowRecord {
        fail::cfg(failpoint, actions).unwrap();
        let crasher = self.runner("crasher");
        let crashed = tokio::spawn(async move { crasher.run_once().await }).await;
        fail::remove(failpoint);
        assert!(
            crashed.is_err_and(|e| e.is_panic()),
            "the failpoint crashed the worker"
        );
        let held = self
            .saga
            .execute(
                "UPDATE workflows SET run_at = run_at - 86400000000 WHERE lease_owner IS NOT NULL",
            )
            .await;
        assert_eq!(held, 1, "the dead worker held exactly one lease");
        let survivor = self.runner("survivor");
        for _ in 0..20 {
            survivor.run_once().await.unwrap();
            let wf = self.store.get(id).await.unwrap().unwrap();
            if wf.status.is_terminal() {
                return wf;
            }
        }
        panic!("workflow {id} did not finish after the crash");
    }
}

fn lost_attempts(wf: &engine::store::WorkflowRecord) -> Vec<(String, u32)> {
    wf.activities
        .iter()
        .flat_map(|a| a.attempts.iter().map(move |t| (a, t)))
        .filter(|(_, t)| t.outcome == engine::model::AttemptOutcome::LeaseExpired)
        .map(|(a, t)| (format!("{}:{}", a.name, a.kind), t.attempt))
        .collect()
}

/// Crash after reserve_payment answered, before its completion committed: the step runs
/// again (same transaction id), the payment is reserved once, the purchase completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_participant_answered_before_the_commit() {
    let _serial = SERIAL.lock().await;
    let scenario = fail::FailScenario::setup();
    let system = System::start().await;
    let id = system.submit(1, 1).await;
    // quote and reserve_balance pass; the third call (reserve_payment) answers, then the worker dies.
    let wf = system
        .crash_then_resume(id, "runner::after_call", "2*off->panic")
        .await;
    scenario.teardown();
    assert_eq!(wf.status, WorkflowStatus::Completed);
    assert_eq!(
        lost_attempts(&wf),
        [("reserve_payment:action".to_owned(), 1)]
    );
    let payment = system.ledger(Service::Payment).await;
    assert_eq!(
        payment["payments"]["executed"],
        json!({"count": 1, "amount": 100}),
        "{payment}"
    );
    let user = system.ledger(Service::User).await;
    assert_eq!(
        (user["captured"].as_i64(), user["reserved"].as_i64()),
        (Some(100), Some(0)),
        "{user}"
    );
}

/// Crash inside the commit of a completion (everything written, nothing committed): the
/// journal shows no trace, the step is redone once, the effect stands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_the_completion_commits() {
    let _serial = SERIAL.lock().await;
    let scenario = fail::FailScenario::setup();
    let system = System::start().await;
    let id = system.submit(1, 1).await;
    let wf = system
        .crash_then_resume(id, "store::before_complete_commit", "1*off->panic")
        .await;
    scenario.teardown();
    assert_eq!(wf.status, WorkflowStatus::Completed);
    assert_eq!(
        lost_attempts(&wf),
        [("reserve_balance:action".to_owned(), 1)]
    );
    let user = system.ledger(Service::User).await;
    assert_eq!(
        (user["captured"].as_i64(), user["balance"].as_i64()),
        (Some(100), Some(3_400)),
        "{user}"
    );
}

/// Crash while compensating (the payment cancel answered, not journaled): the cancel runs
/// again, releases once, and the balance is released after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_compensation() {
    let _serial = SERIAL.lock().await;
    let scenario = fail::FailScenario::setup();
    let system = System::start().await;
    let id = system.submit(3, 15).await; // out of stock: cancel payment, then balance
    let wf = system
        .crash_then_resume(id, "runner::after_compensation_call", "panic")
        .await;
    scenario.teardown();
    assert_eq!(wf.status, WorkflowStatus::Compensated);
    assert_eq!(
        lost_attempts(&wf),
        [("reserve_payment:compensation".to_owned(), 1)]
    );
    let payment = system.ledger(Service::Payment).await;
    assert_eq!(
        payment["payments"]["cancelled"],
        json!({"count": 1, "amount": 1500}),
        "{payment}"
    );
    let user = system.ledger(Service::User).await;
    assert_eq!(
        (
            user["reserved"].as_i64(),
            user["captured"].as_i64(),
            user["balance"].as_i64()
        ),
        (Some(0), Some(0), Some(3_500)),
        "{user}"
    );
}

/// Crash right after the pivot (the last reservation's completion committed, the first
/// confirm leased to the dead worker): the survivor confirms everything once; nothing is
/// compensated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_right_after_the_pivot() {
    let _serial = SERIAL.lock().await;
    let scenario = fail::FailScenario::setup();
    let system = System::start().await;
    let id = system.submit(1, 1).await;
    // Completions of quote, reserve_balance, reserve_payment pass; reserve_stock's commits, then the worker dies.
    let wf = system
        .crash_then_resume(id, "runner::after_complete", "3*off->panic")
        .await;
    scenario.teardown();
    assert_eq!(wf.status, WorkflowStatus::Completed);
    assert_eq!(
        lost_attempts(&wf),
        [("confirm_balance:action".to_owned(), 1)]
    );
    assert!(
        wf.activities
            .iter()
            .all(|a| a.kind == engine::ActivityKind::Action),
        "nothing compensated"
    );
    let order = system.ledger(Service::Order).await;
    assert_eq!(
        (order["sold"].as_i64(), order["orders"]["count"].as_i64()),
        (Some(1), Some(1)),
        "{order}"
    );
}

/// Defect 4: a group-committed submit whose `COMMIT` answer is lost (the server committed)
/// is not written again: the client gets the id that was committed, and there is one
/// workflow, not two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_commit_answer_does_not_duplicate_a_keyless_submit() {
    let _serial = SERIAL.lock().await;
    let scenario = fail::FailScenario::setup();
    let system = System::start().await;
    fail::cfg("store::after_submit_commit", "1*return").unwrap();
    let id = system.submit(1, 1).await;
    fail::remove("store::after_submit_commit");
    scenario.teardown();
    let rows = system.saga.scalar("SELECT COUNT(*) FROM workflows").await;
    assert_eq!(rows, 1, "written once");
    let stored = system
        .saga
        .scalar(&format!("SELECT COUNT(*) FROM workflows WHERE id = '{id}'"))
        .await;
    assert_eq!(stored, 1, "the answer names the committed workflow");
}
