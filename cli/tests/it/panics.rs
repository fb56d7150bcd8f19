//! A claim loop that panics: the worker pool restarts it (after a backoff) and goes on
//! serving, and its totals count the restart.

use crate::support::*;
use engine::definition::Request;
use engine::runner::{Executor, Runner, RunnerConfig};
use engine::{Outcome, Store, WorkflowStatus};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use worker::{PoolConfig, Wake};

/// The user whose first call panics.
const POISON_USER: i64 = 666;

/// Answers every call `{"amount": 100}`, except the first call for [`POISON_USER`], which
/// panics (as a bug met by one batch would).
#[derive(Default)]
struct PanicsOnce {
    panicked: AtomicBool,
}

impl Executor for PanicsOnce {
    async fn execute(&self, request: &Request) -> Outcome {
        if request.body["user_id"] == POISON_USER && !self.panicked.swap(true, Ordering::SeqCst) {
            panic!("injected executor panic");
        }
        Outcome::Success(json!({"amount": 100}))
    }
}

/// A pool of one claim loop whose executor panics: the loop is restarted, the workflows
/// submitted after the panic complete (so the restarted loop serves them), the poisoned one
/// ends once its lease expires, and the totals count one restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_claim_loop_is_restarted_and_serves_on() {
    let db = TestDb::sqlite("loop_panic");
    let store = Store::connect(&db.url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    let registry = fast_registry();
    let executor = Arc::new(PanicsOnce::default());
    let mut config = RunnerConfig::new("panicky");
    config.lease_ttl_ms = 500;
    config.heartbeat_ms = 100;
    config.claim_batch_max = 1;
    let runner = Runner::new(store.clone(), registry.clone(), executor.clone(), config);
    let pool_config = PoolConfig {
        concurrency: 1,
        poll_interval_min_ms: 5,
        poll_interval_max_ms: 50,
        drain_timeout_ms: 5_000,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let pool = tokio::spawn(worker::run(runner, pool_config, Wake::local(), async {
        let _ = stopped.await;
    }));

    let submit = |user: i64| {
        let (store, registry) = (store.clone(), registry.clone());
        async move {
            let input =
                json!({"user_id": user, "product_id": 1, "quantity": 1, "payment_method_id": user});
            let new = engine::store::NewWorkflow {
                workflow_type: "purchase".into(),
                input,
                idempotency_key: None,
                submitted_by: None,
            };
            store.submit(&registry, &new).await.expect("submit").id
        }
    };
    let poisoned = submit(POISON_USER).await;
    eventually(10, "the executor panicked", || {
        let panicked = executor.panicked.load(Ordering::SeqCst);
        async move { panicked.then_some(()) }
    })
    .await;
    let mut after = Vec::new();
    for user in 1..=5 {
        after.push(submit(user).await);
    }
    for id in after.iter().chain([&poisoned]) {
        let store = store.clone();
        let status = eventually(30, "a workflow ends", || {
            let store = store.clone();
            async move {
                let record = store.get(*id).await.expect("read")?;
                record.status.is_terminal().then_some(record.status)
            }
        })
        .await;
        if *id != poisoned {
            assert_eq!(status, WorkflowStatus::Completed, "workflow {id}");
        }
    }

    stop.send(()).expect("the pool still runs");
    let totals = pool.await.expect("the pool itself never panics");
    assert_eq!(totals.restarts, 1, "{totals:?}");
    assert!(
        totals.finished >= 5,
        "the restarted loop finished the rest: {totals:?}"
    );
}
