use crate::support::*;
use engine::model::Outcome;
use engine::runner::{Executor, Runner, RunnerConfig};
use engine::store::NewWorkflow;
use engine::{Registry, WorkflowStatus};
use sagaflow::reconcile::{reconcile, Expected};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use worker::{HttpExecutor, Services};

testkit::backend_tests!(a_zombie_try_arriving_after_a_refusal_reserves_nothing);

/// Defect 3 (TCC hanging): a worker freezes with its Try on the wire; the step is reclaimed
/// and refused; the saga compensates, cancelling that step too; when the frozen Try finally
/// reaches the participant it is refused, and reconcile finds nothing left reserved.
async fn a_zombie_try_arriving_after_a_refusal_reserves_nothing(db: TestDb) {
    let dbs = Databases::fresh(db).await;
    let participants = Participants::start(&dbs, 0).await;
    let store = open(&dbs).await;
    let registry = Arc::new(Registry::shipped());
    let executor = Arc::new(HttpExecutor::new(
        Services::parse(&participants.flag()).unwrap(),
    ));
    let runner = |id: &str| {
        Runner::new(
            store.clone(),
            registry.clone(),
            executor.clone(),
            RunnerConfig::new(id),
        )
    };
    let alice_buys_five = NewWorkflow {
        workflow_type: "purchase".into(),
        input: json!({"user_id": 1, "product_id": 1, "quantity": 5, "payment_method_id": 1}),
        idempotency_key: None,
        submitted_by: None,
    };
    let id = store.submit(&registry, &alice_buys_five).await.unwrap().id;

    // The zombie prices the purchase, is handed reserve_balance, renders its Try and freezes.
    let zombie = runner("zombie");
    let quote = store.claim(&registry, "zombie", 1, 30_000).await.unwrap();
    let held = zombie
        .run_batch(quote, &mut Default::default())
        .await
        .unwrap();
    assert_eq!(held[0].name, "reserve_balance");
    let late_try = registry
        .get("purchase", 1)
        .unwrap()
        .render(
            id,
            held[0].key.step,
            held[0].key.kind,
            &held[0].input,
            &held[0].outputs,
        )
        .unwrap();

    // Its lease expires. Meanwhile alice spends her balance, so the reclaimed Try is refused.
    dbs.saga
        .execute("UPDATE workflows SET run_at = run_at - 86400000000 WHERE lease_owner IS NOT NULL")
        .await;
    dbs.user
        .execute("UPDATE users SET balance = 0 WHERE id = 1")
        .await;
    let survivor = runner("survivor");
    for _ in 0..5 {
        survivor.run_once().await.unwrap();
    }
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Compensated);
    assert_eq!(wf.error.as_ref().unwrap().code, "INSUFFICIENT_BALANCE");
    let cancelled: Vec<_> = wf
        .activities
        .iter()
        .filter(|a| a.kind == engine::ActivityKind::Compensation)
        .map(|a| (a.name.as_str(), a.status))
        .collect();
    assert_eq!(
        cancelled,
        [("reserve_balance", engine::model::ActivityStatus::Succeeded)],
        "the refused step's own cancel ran (an earlier attempt's outcome was unknown)"
    );

    // Her balance is back; the zombie's Try reaches the participant at last.
    dbs.user
        .execute("UPDATE users SET balance = 1000 WHERE id = 1")
        .await;
    let answer = executor.execute(&late_try).await;
    assert!(
        matches!(answer, Outcome::BusinessError(_)),
        "the cancel blocks the late Try: {answer:?}"
    );
    let user = participants.ledger(services::Service::User).await;
    assert_eq!(user["reserved"].as_i64(), Some(0), "{user}");
    let report = reconcile(
        &dbs.urls(),
        Expected {
            money: Some(3_500),
            stock: Some(10),
        },
        Duration::from_secs(300),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(report.ok(), "{:?}", report.mismatches);
}
