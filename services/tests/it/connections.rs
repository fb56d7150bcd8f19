//! Connections that died while idle: the pools hand out connections without a ping.

use serde_json::json;
use services::Service;
use testkit::TestDb;

use crate::support::{assert_ok, new_tx, App};

/// The pool does not ping a connection before a transaction, so connections that died while
/// idle (a server restart, `wait_timeout`) are passed over: tries and confirms right after
/// all of them were killed succeed, and none is answered 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_while_idle_are_passed_over() {
    let Some(db) = TestDb::mysql("svc_dead_connections").await else {
        return;
    };
    let app = App::start(Service::User, &db).await;
    let txs: Vec<String> = (0..4).map(|_| new_tx()).collect();
    let mut tries = tokio::task::JoinSet::new();
    for tx in txs.clone() {
        let app = app.clone();
        let body = json!({ "transaction_id": tx, "user_id": 3, "amount": 10 });
        tries.spawn(async move { (app.post("/balance/try", body).await, tx) });
    }
    for (answer, tx) in tries.join_all().await {
        assert_ok(&answer, &tx, "reserved");
    }
    assert!(
        db.kill_connections().await >= 1,
        "the pool held connections"
    );

    for tx in &txs {
        let confirm = json!({ "transaction_id": tx });
        assert_ok(
            &app.post("/balance/confirm", confirm).await,
            tx,
            "confirmed",
        );
    }
    assert_eq!(
        app.row(
            "SELECT balance, reserved, captured FROM users WHERE id = 3",
            3
        )
        .await,
        [1960, 0, 40]
    );
}
