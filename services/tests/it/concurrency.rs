//! Concurrency on a real pool of parallel connections: many tries against one balance or one
//! product never overdraw or oversell (conditional single-statement updates, which MariaDB's
//! REPEATABLE READ read-modify-write would get wrong), and a confirm racing a cancel settles
//! the reservation exactly one way.

use axum::http::{Method, StatusCode};
use serde_json::json;
use services::Service;
use testkit::TestDb;

use crate::support::{assert_refused, json_request, new_tx, App};

testkit::backend_tests!(
    two_hundred_concurrent_tries_never_overdraw,
    concurrent_stock_tries_never_oversell,
    racing_confirm_and_cancel_settle_one_way,
);

/// Parallel database connections for these tests (MariaDB; SQLite always uses one).
const CONNECTIONS: u32 = 32;

/// 200 concurrent tries of 7 against alice's 1000: exactly 142 succeed (994 reserved), the
/// other 58 are `INSUFFICIENT_BALANCE`, and balance + reserved is still 1000.
async fn two_hundred_concurrent_tries_never_overdraw(db: TestDb) {
    let app = App::start_with(Service::User, &db, |c| c.db_connections_max = CONNECTIONS).await;
    let tries = (0..200).map(|_| {
        let body = json!({ "transaction_id": new_tx(), "user_id": 1, "amount": 7 });
        json_request(Method::POST, "/balance/try", &body)
    });
    let replies = app.concurrently(tries).await;
    let reserved = replies
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    for refused in replies
        .iter()
        .filter(|(status, _)| *status != StatusCode::OK)
    {
        assert_refused(refused, StatusCode::CONFLICT, "INSUFFICIENT_BALANCE");
    }
    assert_eq!(reserved, 142);
    let alice = app
        .row(
            "SELECT balance, reserved, captured FROM users WHERE id = 1",
            3,
        )
        .await;
    assert_eq!(alice, [6, 994, 0]);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM balance_reservations")
            .await,
        142
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM tcc_barrier").await, 142);
}

/// 40 concurrent tries of one Bitcoin against a stock of 10: exactly 10 succeed.
async fn concurrent_stock_tries_never_oversell(db: TestDb) {
    let app = App::start_with(Service::Order, &db, |c| c.db_connections_max = CONNECTIONS).await;
    let tries = (0..40).map(|user| {
        let body =
            json!({ "transaction_id": new_tx(), "user_id": user, "product_id": 1, "quantity": 1 });
        json_request(Method::POST, "/stock/try", &body)
    });
    let replies = app.concurrently(tries).await;
    let reserved = replies
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    assert_eq!(reserved, 10);
    for refused in replies
        .iter()
        .filter(|(status, _)| *status != StatusCode::OK)
    {
        assert_refused(refused, StatusCode::CONFLICT, "OUT_OF_STOCK");
    }
    let bitcoin = app
        .row(
            "SELECT available, reserved, sold FROM products WHERE id = 1",
            3,
        )
        .await;
    assert_eq!(bitcoin, [0, 10, 0]);
}

/// A confirm and a cancel sent together for one reservation: exactly one wins, the other is
/// refused, and the ledger matches the winner. Repeated 20 times.
async fn racing_confirm_and_cancel_settle_one_way(db: TestDb) {
    let app = App::start_with(Service::User, &db, |c| c.db_connections_max = CONNECTIONS).await;
    let mut confirmed = 0;
    for _ in 0..20 {
        let tx = new_tx();
        let body = json!({ "transaction_id": tx, "user_id": 3, "amount": 10 });
        assert_eq!(app.post("/balance/try", body).await.0, StatusCode::OK);
        let phases = ["/balance/confirm", "/balance/cancel"]
            .map(|path| json_request(Method::POST, path, &json!({ "transaction_id": tx })));
        let replies = app.concurrently(phases).await;
        let winners: Vec<_> = replies
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .collect();
        assert_eq!(winners.len(), 1, "{replies:?}");
        let loser = replies
            .iter()
            .find(|(status, _)| *status != StatusCode::OK)
            .expect("a loser");
        let expected_code = if winners[0].1["status"] == "confirmed" {
            confirmed += 1;
            "ALREADY_CONFIRMED"
        } else {
            "CANCELLED"
        };
        assert_refused(loser, StatusCode::CONFLICT, expected_code);
    }
    let charlie = app
        .row(
            "SELECT balance, reserved, captured FROM users WHERE id = 3",
            3,
        )
        .await;
    assert_eq!(charlie, [2000 - 10 * confirmed, 0, 10 * confirmed]);
}
