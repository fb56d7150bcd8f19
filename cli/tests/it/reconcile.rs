use crate::support::*;
use sagaflow::demo;
use sagaflow::reconcile::{reconcile, Expected};
use std::time::Duration;

const MAX_AGE: Duration = Duration::from_secs(300);
const LEASE_GRACE: Duration = Duration::from_secs(60);

testkit::backend_tests!(reconcile_passes_on_a_clean_run_and_reports_each_corruption);

/// After the README cases the books balance; then a tampered ledger row and a tampered
/// journal row are each reported, and the run fails.
async fn reconcile_passes_on_a_clean_run_and_reports_each_corruption(db: TestDb) {
    let dbs = Databases::fresh(db).await;
    let dev = start_system(&dbs, engine::Registry::shipped().into()).await;
    let rows = demo::run_cases(&reqwest::Client::new(), &dev.api_url(), None)
        .await
        .unwrap();
    dev.stop().await.unwrap();
    let seeded = Expected {
        money: Some(3_500),
        stock: Some(10),
    };
    let clean = reconcile(&dbs.urls(), seeded, MAX_AGE, LEASE_GRACE)
        .await
        .unwrap();
    assert!(clean.ok(), "{:?}", clean.mismatches);
    assert_eq!(clean.by_status.values().sum::<u64>(), 4);

    dbs.user
        .execute("UPDATE users SET captured = captured + 1 WHERE id = 1")
        .await;
    let bob = rows[1].workflow["id"].as_str().unwrap().to_owned();
    dbs.saga
        .execute(&format!(
            "UPDATE workflows SET status = 'completed' WHERE id = '{bob}'"
        ))
        .await;
    let dirty = reconcile(&dbs.urls(), seeded, MAX_AGE, LEASE_GRACE)
        .await
        .unwrap();
    let text = dirty.mismatches.join("\n");
    assert!(text.contains("user 1: reserved 0 / settled 101"), "{text}");
    assert!(text.contains("money not conserved"), "{text}");
    assert!(text.contains(&format!("completed {bob}: user")), "{text}");
    assert!(!dirty.ok());
}
