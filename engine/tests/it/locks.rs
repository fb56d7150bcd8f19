//! A refused control leaves no lock behind. Claims lock workflow rows with `SKIP LOCKED`, so
//! a transaction that was dropped instead of ended (rolled back a moment later, in a task of
//! its own) made the next claim skip the workflow it had locked: the model test found an
//! expired lease that no claim would take right after a refused operator retry.

use crate::support::*;
use engine::store::Error;
use engine::WorkflowId;

testkit::backend_tests!(a_refused_abort_or_retry_leaves_the_workflow_claimable_at_once);

/// Workflows that a locking read skipping locked rows sees right now (MariaDB); SQLite
/// locks the whole database, and nothing is left to check once a call returned.
async fn unlocked(db: &TestDb, id: WorkflowId) -> i64 {
    if !db.is_mysql() {
        return 1;
    }
    db.scalar(&format!(
        "SELECT COUNT(*) FROM (SELECT id FROM workflows WHERE id = '{id}' FOR UPDATE SKIP LOCKED) t"
    ))
    .await
}

async fn a_refused_abort_or_retry_leaves_the_workflow_claimable_at_once(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let claimed = store.claim(&registry, "w1", 1, 30_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    for _ in 0..20 {
        // Running, so an operator's retry is refused.
        match store.retry(&registry, id, None).await {
            Err(Error::Conflict(_)) => {}
            other => panic!("retry of a running workflow: {other:?}"),
        }
        assert_eq!(
            unlocked(&db, id).await,
            1,
            "the refused retry's lock is gone"
        );
    }
    // Past its pivot an abort is refused too.
    let mut c = claimed[0].clone();
    for step in 0..4 {
        let done = store
            .complete(
                &registry,
                "w1",
                Some(30_000),
                &[engine::store::Completion {
                    claimed: c.clone(),
                    outcome: engine::model::Outcome::Success(serde_json::json!({"amount": 100})),
                    request: None,
                    executed: true,
                    jitter: 0.0,
                }],
            )
            .await
            .unwrap();
        c = done
            .next
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("step {step} hands on"));
    }
    for _ in 0..20 {
        match store.abort(&registry, id, None).await {
            Err(Error::Conflict(_)) => {}
            other => panic!("abort past the pivot: {other:?}"),
        }
        assert_eq!(
            unlocked(&db, id).await,
            1,
            "the refused abort's lock is gone"
        );
    }
    // And a worker taking the workflow over finds it at once.
    make_due(&db, id).await;
    let taken = store.claim(&registry, "w2", 1, 30_000).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!((taken[0].key.step, taken[0].reclaimed), (4, true));
}
