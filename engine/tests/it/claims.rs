use crate::support::*;
use std::collections::HashSet;

testkit::backend_tests!(
    two_claimers_never_hold_the_same_activity,
    ten_claimers_never_hold_the_same_activity
);

async fn two_claimers_never_hold_the_same_activity(db: TestDb) {
    concurrent_claims(db, 2, 60).await
}

/// Ten workers claiming in small batches at once: every due activity is leased exactly once.
async fn ten_claimers_never_hold_the_same_activity(db: TestDb) {
    concurrent_claims(db, 10, 150).await
}

async fn concurrent_claims(db: TestDb, claimers: usize, workflows: usize) {
    let (store, registry) = (store(&db).await, registry());
    for _ in 0..workflows {
        store
            .submit(&registry, &purchase("purchase", 1, 1))
            .await
            .unwrap();
    }
    let tasks: Vec<_> = (0..claimers)
        .map(|i| {
            let (store, registry) = (store.clone(), registry.clone());
            tokio::spawn(async move {
                let mut held = Vec::new();
                loop {
                    let batch = store
                        .claim(&registry, &format!("w{i}"), 7, 60_000)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return held;
                    }
                    held.extend(batch.into_iter().map(|c| (c.key, c.epoch, c.attempt)));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().map(|(k, _, _)| *k).collect();
    assert_eq!(
        all.len(),
        workflows,
        "every activity claimed once, none twice"
    );
    assert_eq!(distinct.len(), workflows);
    assert!(all
        .iter()
        .all(|(_, epoch, attempt)| *epoch == 1 && *attempt == 1));
    let leased = db
        .scalar("SELECT COUNT(*) FROM workflows WHERE lease_owner IS NOT NULL AND epoch = 1")
        .await;
    assert_eq!(leased as usize, workflows);
}
