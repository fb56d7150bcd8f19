use crate::support::*;
use engine::model::{ActivityKind, ActivityStatus};
use engine::store::Error;
use engine::WorkflowStatus;
use std::sync::Arc;

testkit::backend_tests!(
    a_post_pivot_step_is_parked_never_compensated_and_retried_by_an_operator,
    a_failing_compensation_parks_the_workflow
);

/// execute_payment keeps failing after the pivot: retried to its budget, parked as failed,
/// nothing compensated; an operator retry with the participant back finishes it.
async fn a_post_pivot_step_is_parked_never_compensated_and_retried_by_an_operator(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase_fast", 1, 1))
        .await
        .unwrap()
        .id;
    let script = Arc::new(Script::default());
    for _ in 0..3 {
        script.then("/payments/confirm", transient());
    }
    let w = runner(&store, &registry, &script, "w");
    assert!(
        matches!(
            store.retry(&registry, id, None).await,
            Err(Error::Conflict(_))
        ),
        "only parked workflows"
    );
    drive(&db, &w, id, 10).await;
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Failed);
    let reason = wf.parked_reason.clone().unwrap();
    assert!(
        reason.contains("execute_payment") && reason.contains("HTTP_503"),
        "{reason}"
    );
    assert!(
        wf.activities.iter().all(|a| a.kind == ActivityKind::Action),
        "never compensated"
    );
    let pay = wf
        .activities
        .iter()
        .find(|a| a.name == "execute_payment")
        .unwrap();
    assert_eq!(
        (pay.status, pay.attempts.len()),
        (ActivityStatus::Failed, 3)
    );
    assert_eq!(
        w.run_once().await.unwrap().claimed,
        0,
        "a parked workflow stays parked"
    );

    assert_eq!(
        store.retry(&registry, id, None).await.unwrap(),
        WorkflowStatus::Running
    );
    w.run_once().await.unwrap();
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Completed);
    assert!(wf.parked_reason.is_none());
    let pay = wf
        .activities
        .iter()
        .find(|a| a.name == "execute_payment")
        .unwrap();
    assert_eq!(
        (pay.attempts.len(), pay.max_attempts),
        (4, 6),
        "a fresh budget on top of the spent one"
    );
}

/// A cancel that keeps failing parks the workflow in compensation; retry resumes there.
async fn a_failing_compensation_parks_the_workflow(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase_fast", 1, 1))
        .await
        .unwrap()
        .id;
    let script = Arc::new(Script::default());
    script.then("/payments/try", business("INVALID_PAYMENT_METHOD"));
    script.then("/balance/cancel", business("UNKNOWN_TRANSACTION"));
    let w = runner(&store, &registry, &script, "w");
    drive(&db, &w, id, 10).await;
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Failed);
    assert_eq!(
        wf.error.as_ref().unwrap().code,
        "INVALID_PAYMENT_METHOD",
        "the cause is kept"
    );
    assert!(wf
        .parked_reason
        .unwrap()
        .contains("compensation of `reserve_balance`"));
    assert_eq!(
        store.retry(&registry, id, None).await.unwrap(),
        WorkflowStatus::Compensating
    );
    w.run_once().await.unwrap();
    assert_eq!(
        store.get(id).await.unwrap().unwrap().status,
        WorkflowStatus::Compensated
    );
}
