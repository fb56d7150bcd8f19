//! Submit through the API: idempotency keys, alone and under concurrency.

use super::*;

testkit::backend_tests!(
    a_key_answers_201_then_200_for_the_same_body_and_422_for_another,
    the_submit_hook_runs_once_per_created_workflow,
    twenty_concurrent_submits_with_one_key_make_one_workflow
);

/// One Idempotency-Key: 201 first, 200 with the same id for the same body, 422
/// IDEMPOTENCY_KEY_REUSED for another body (without naming the workflow); submits without a
/// key always create.
async fn a_key_answers_201_then_200_for_the_same_body_and_422_for_another(db: TestDb) {
    let app = App::new(db).await;
    let first = app
        .submit(&purchase("purchase", 1, 1), Some("order-1"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["status"], "pending");
    let id = first.body["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        first.headers[header::LOCATION],
        format!("/v1/workflows/{id}")
    );

    let again = app
        .submit(&purchase("purchase", 1, 1), Some("order-1"))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], id.as_str());

    let other = app
        .submit(&purchase("purchase", 1, 2), Some("order-1"))
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.code(), "IDEMPOTENCY_KEY_REUSED");
    assert!(
        !other.body.to_string().contains(&id),
        "another request's id is not shown"
    );
    assert_eq!(app.workflow_rows().await, 1);

    let a = app.submit(&purchase("purchase", 1, 1), None).await;
    let b = app.submit(&purchase("purchase", 1, 1), None).await;
    assert_eq!(
        (a.status, b.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert_ne!(a.body["id"], b.body["id"]);
    assert_eq!(app.workflow_rows().await, 3);
}

/// Twenty concurrent submits with one key through the router: one 201, nineteen 200, one id,
/// one row.
async fn twenty_concurrent_submits_with_one_key_make_one_workflow(db: TestDb) {
    let app = App::new(db).await;
    let body = purchase("purchase", 2, 1);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let request = submit_request("/v1/workflows", &body, Some("same-key"));
            tokio::spawn(send(app.router(), request))
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("request task"));
    }
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let existing = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!((created, existing), (1, 19));
    assert!(
        replies
            .iter()
            .all(|r| r.body["id"] == replies[0].body["id"]),
        "one id for all"
    );
    assert_eq!(app.workflow_rows().await, 1);
}

/// The submit hook (the workers' wake-up) runs for each created workflow, not for an
/// idempotent repeat nor for a refused submit.
async fn the_submit_hook_runs_once_per_created_workflow(db: TestDb) {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let hook: api::SubmitHook = Arc::new(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    let app = App::build(db, ApiConfig::default(), |s| s.with_on_submit(hook)).await;
    let count = || calls.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        app.submit(&purchase("purchase", 1, 1), Some("k"))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(count(), 1);
    assert_eq!(
        app.submit(&purchase("purchase", 1, 1), Some("k"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.submit(&purchase("refund", 1, 1), None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(count(), 1, "neither a repeat nor a refusal wakes anyone");
    assert_eq!(
        app.submit(&purchase("purchase", 2, 1), None).await.status,
        StatusCode::CREATED
    );
    assert_eq!(count(), 2);
}
