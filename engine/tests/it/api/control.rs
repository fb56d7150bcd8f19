//! Abort and retry through the API: which statuses allow them.

use super::*;
use crate::support::{drive, runner, transient, Script};

testkit::backend_tests!(abort_and_retry_answer_by_workflow_status);

/// Abort: 200 before anything ran (compensated at once), then 409 once terminal or past the
/// pivot. Retry: 409 unless parked as failed, then 200 and the workflow resumes. Both 404
/// for an unknown workflow.
async fn abort_and_retry_answer_by_workflow_status(db: TestDb) {
    let app = App::new(db).await;
    let fresh = app.submit(&purchase("purchase", 1, 1), None).await.body["id"].clone();
    let fresh = fresh.as_str().unwrap();
    let aborted = app.post(&format!("/v1/workflows/{fresh}/abort")).await;
    assert_eq!(aborted.status, StatusCode::OK, "{}", aborted.body);
    assert_eq!(aborted.body, json!({"id": fresh, "status": "compensated"}));
    let again = app.post(&format!("/v1/workflows/{fresh}/abort")).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "CONFLICT")
    );
    let retry = app.post(&format!("/v1/workflows/{fresh}/retry")).await;
    assert_eq!(
        (retry.status, retry.code()),
        (StatusCode::CONFLICT, "CONFLICT")
    );

    // execute_payment (after the pivot) fails until its budget is spent: parked as failed.
    let parked = app
        .submit(&purchase("purchase_fast", 1, 1), None)
        .await
        .body["id"]
        .clone();
    let parked = parked.as_str().unwrap();
    let script = Arc::new(Script::default());
    for _ in 0..3 {
        script.then("/payments/confirm", transient());
    }
    let worker = runner(&app.store, &app.registry, &script, "w");
    drive(&app.db, &worker, parked.parse().unwrap(), 10).await;
    assert_eq!(
        app.get(&format!("/v1/workflows/{parked}")).await.body["status"],
        "failed"
    );
    let abort = app.post(&format!("/v1/workflows/{parked}/abort")).await;
    assert_eq!(
        (abort.status, abort.code()),
        (StatusCode::CONFLICT, "CONFLICT")
    );
    let retry = app.post(&format!("/v1/workflows/{parked}/retry")).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert_eq!(retry.body["status"], "running");
    let past_pivot = app.post(&format!("/v1/workflows/{parked}/abort")).await;
    assert_eq!(
        (past_pivot.status, past_pivot.code()),
        (StatusCode::CONFLICT, "CONFLICT")
    );
    worker.run_once().await.expect("run");
    assert_eq!(
        app.get(&format!("/v1/workflows/{parked}")).await.body["status"],
        "completed"
    );

    let unknown = engine::WorkflowId::new();
    for action in ["abort", "retry"] {
        let reply = app.post(&format!("/v1/workflows/{unknown}/{action}")).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::NOT_FOUND, "NOT_FOUND")
        );
    }
}
