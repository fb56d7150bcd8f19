use crate::support::*;
use engine::store::Error;
use engine::WorkflowStatus;

testkit::backend_tests!(
    submit_writes_workflow_and_first_activity,
    same_key_same_input_returns_existing,
    concurrent_submits_with_one_key_make_one_workflow
);

/// A submit stores the workflow and its first activity, ready at once.
async fn submit_writes_workflow_and_first_activity(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let s = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap();
    assert!(s.created);
    assert_eq!(s.status, WorkflowStatus::Pending);
    let wf = store.get(s.id).await.unwrap().expect("stored");
    assert_eq!(
        (wf.workflow_type.as_str(), wf.version, wf.current_step),
        ("purchase", 1, 0)
    );
    assert_eq!(wf.input["quantity"], 1);
    assert_eq!(wf.activities.len(), 1);
    let first = &wf.activities[0];
    assert_eq!(
        (first.name.as_str(), first.attempt, first.max_attempts),
        ("quote", 0, 4)
    );
    assert!(
        first.run_at.unwrap() <= store.now().await.unwrap(),
        "due at once in DB time"
    );
}

/// Same key and same input: the existing workflow; same key and other input: refused.
async fn same_key_same_input_returns_existing(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let mut new = purchase("purchase", 1, 1);
    new.idempotency_key = Some("order-42".into());
    let first = store.submit(&registry, &new).await.unwrap();
    let again = store.submit(&registry, &new).await.unwrap();
    assert_eq!((again.id, again.created), (first.id, false));
    new.input["quantity"] = 2.into();
    match store.submit(&registry, &new).await {
        Err(Error::IdempotencyConflict { id }) => assert_eq!(id, first.id),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM workflows").await, 1);
    // The journal starts empty: an activity's row is written once it is done.
    assert_eq!(db.scalar("SELECT COUNT(*) FROM activities").await, 0);
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM workflows WHERE run_at IS NOT NULL AND lease_owner IS NULL"
        )
        .await,
        1,
        "due at once"
    );
}

/// Twenty concurrent submits with one key create exactly one workflow.
async fn concurrent_submits_with_one_key_make_one_workflow(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let mut new = purchase("purchase", 2, 1);
    new.idempotency_key = Some("same".into());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, registry, new) = (store.clone(), registry.clone(), new.clone());
            tokio::spawn(async move { store.submit(&registry, &new).await.unwrap() })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert!(
        results.iter().all(|r| r.id == results[0].id),
        "one id for all"
    );
    assert_eq!(
        results.iter().filter(|r| r.created).count(),
        1,
        "exactly one submit created it"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM workflows").await, 1);
}
