use crate::support::*;
use engine::model::{ActivityKind, ActivityStatus};
use engine::store::Error;
use engine::WorkflowStatus;
use std::sync::Arc;

testkit::backend_tests!(
    completed_steps_are_compensated_in_reverse_order,
    a_refused_first_reservation_has_nothing_to_compensate,
    abort_before_a_step_starts_compensates_at_once,
    abort_is_refused_after_the_pivot
);

/// Out of stock at reserve_stock: payment then balance are cancelled, in that order; the
/// refused step and the read-only quote are not.
async fn completed_steps_are_compensated_in_reverse_order(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 3, 15))
        .await
        .unwrap()
        .id;
    let script = Arc::new(Script::default());
    script.then("/stock/try", business("OUT_OF_STOCK"));
    runner(&store, &registry, &script, "w")
        .run_once()
        .await
        .unwrap();
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Compensated);
    assert_eq!(
        (wf.error.as_ref().unwrap().code.as_str(), wf.failed_step),
        ("OUT_OF_STOCK", Some(3))
    );
    assert_eq!(
        script.paths(),
        [
            "/quotes",
            "/balance/try",
            "/payments/try",
            "/stock/try",
            "/payments/cancel",
            "/balance/cancel"
        ]
    );
    let compensations: Vec<u32> = wf
        .activities
        .iter()
        .filter(|a| a.kind == ActivityKind::Compensation)
        .map(|a| a.step)
        .collect();
    assert_eq!(compensations, [2, 1], "journal order: reverse of the steps");
    assert!(wf.finished_at.is_some());
    let stock = wf
        .activities
        .iter()
        .find(|a| a.name == "reserve_stock")
        .unwrap();
    assert_eq!(
        (stock.status, stock.attempts.len()),
        (ActivityStatus::Failed, 1),
        "a business error is never retried"
    );
}

/// Insufficient balance at the first reservation: compensated with nothing to undo.
async fn a_refused_first_reservation_has_nothing_to_compensate(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 2, 10))
        .await
        .unwrap()
        .id;
    let script = Arc::new(Script::default());
    script.then("/balance/try", business("INSUFFICIENT_BALANCE"));
    runner(&store, &registry, &script, "w")
        .run_once()
        .await
        .unwrap();
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Compensated);
    assert_eq!(wf.error.unwrap().code, "INSUFFICIENT_BALANCE");
    assert_eq!(script.paths(), ["/quotes", "/balance/try"]);
}

/// An abort while the next action waits (not leased) compensates without running it.
async fn abort_before_a_step_starts_compensates_at_once(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let script = Arc::new(Script::default());
    let mut stepwise = runner(&store, &registry, &script, "w");
    stepwise = engine::runner::Runner::new(
        store.clone(),
        registry.clone(),
        script.clone(),
        engine::runner::RunnerConfig {
            claim_batch_max: 1,
            continue_inline: false,
            ..stepwise.config().clone()
        },
    );
    for _ in 0..3 {
        stepwise.run_once().await.unwrap();
    }
    assert_eq!(
        store.abort(&registry, id, None).await.unwrap(),
        WorkflowStatus::Compensating
    );
    runner(&store, &registry, &script, "w")
        .run_once()
        .await
        .unwrap();
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Compensated);
    assert_eq!(wf.error.unwrap().code, "ABORTED");
    assert_eq!(
        script.paths(),
        [
            "/quotes",
            "/balance/try",
            "/payments/try",
            "/payments/cancel",
            "/balance/cancel"
        ]
    );
    let pending = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    assert_eq!(
        store.abort(&registry, pending, None).await.unwrap(),
        WorkflowStatus::Compensated,
        "nothing ran yet"
    );
    assert!(
        matches!(
            store.abort(&registry, pending, None).await,
            Err(Error::Conflict(_))
        ),
        "already terminal"
    );
}

/// Once past the pivot a workflow only moves forward: abort is refused, nothing changes.
async fn abort_is_refused_after_the_pivot(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let script = Arc::new(Script::default());
    script.then("/balance/confirm", transient());
    runner(&store, &registry, &script, "w")
        .run_once()
        .await
        .unwrap();
    let err = store.abort(&registry, id, None).await.unwrap_err();
    assert!(err.to_string().contains("pivot"), "{err}");
    let wf = store.get(id).await.unwrap().unwrap();
    assert!(!wf.abort_requested);
    assert_eq!(wf.status, WorkflowStatus::Running);
    assert!(matches!(
        store
            .abort(&registry, engine::WorkflowId::new(), None)
            .await,
        Err(Error::NotFound(_))
    ));
}
