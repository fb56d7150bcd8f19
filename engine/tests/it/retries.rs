use crate::support::*;
use engine::model::{ActivityStatus, AttemptOutcome};
use engine::WorkflowStatus;
use std::sync::Arc;

testkit::backend_tests!(
    retries_are_scheduled_by_the_policy_in_db_time,
    retries_spent_before_the_pivot_compensate
);

/// Two transient failures: retries due 100 ms then 200 ms after each failure, in DB time.
async fn retries_are_scheduled_by_the_policy_in_db_time(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase_fast", 1, 1))
        .await
        .unwrap()
        .id;
    let script = Arc::new(Script::default());
    script
        .then("/balance/try", transient())
        .then("/balance/try", transient());
    let w = runner(&store, &registry, &script, "w");
    for expected_delay_us in [100_000, 200_000] {
        w.run_once().await.unwrap();
        let wf = store.get(id).await.unwrap().unwrap();
        let act = wf
            .activities
            .iter()
            .find(|a| a.name == "reserve_balance")
            .unwrap();
        assert_eq!(act.status, ActivityStatus::Ready);
        let last = act.attempts.last().unwrap();
        assert_eq!(last.outcome, AttemptOutcome::RetryableError);
        assert_eq!(act.run_at.unwrap() - last.finished_at, expected_delay_us);
        assert!(
            w.run_once().await.unwrap().claimed == 0,
            "not due before its time"
        );
        make_due(&db, id).await;
    }
    w.run_once().await.unwrap();
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Completed);
    let act = wf
        .activities
        .iter()
        .find(|a| a.name == "reserve_balance")
        .unwrap();
    let numbers: Vec<u32> = act.attempts.iter().map(|t| t.attempt).collect();
    assert_eq!(numbers, [1, 2, 3]);
}

/// Four transient failures of a reservation spend the README budget: compensate, the
/// uncertain step itself included.
async fn retries_spent_before_the_pivot_compensate(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let script = Arc::new(Script::default());
    for _ in 0..4 {
        script.then("/payments/try", transient());
    }
    drive(&db, &runner(&store, &registry, &script, "w"), id, 10).await;
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Compensated);
    let tail: Vec<String> = script.paths().into_iter().skip(2).collect();
    assert_eq!(
        tail,
        [
            "/payments/try",
            "/payments/try",
            "/payments/try",
            "/payments/try",
            "/payments/cancel",
            "/balance/cancel"
        ]
    );
}
