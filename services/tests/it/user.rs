//! User service rules beyond the shared protocol: seed data, balance refusals that write
//! nothing, and the ledger totals.

use axum::http::StatusCode;
use serde_json::json;
use services::Service;
use testkit::TestDb;

use crate::support::{assert_ok, assert_refused, new_tx, App};

testkit::backend_tests!(
    seed_users_match_the_design,
    insufficient_balance_is_refused_and_writes_nothing,
    unknown_user_is_refused_and_writes_nothing,
    non_positive_amount_is_refused,
    ledger_totals_follow_try_confirm_and_cancel,
);

const USER_SQL: &str = "SELECT balance, reserved, captured FROM users WHERE id = ";

/// A fresh database holds alice 1000, bob 500 and charlie 2000 as users 1, 2 and 3.
async fn seed_users_match_the_design(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    let users: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT id, username, balance FROM users ORDER BY id")
            .fetch_all(app.pool())
            .await
            .expect("users");
    let expected = [(1, "alice", 1000), (2, "bob", 500), (3, "charlie", 2000)]
        .map(|(id, name, balance)| (id, name.to_owned(), balance));
    assert_eq!(users, expected);
}

/// Bob (500) cannot reserve 1000: 409 `INSUFFICIENT_BALANCE`, his balance and the barrier stay
/// untouched, and the same transaction id can still reserve an amount he has.
async fn insufficient_balance_is_refused_and_writes_nothing(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    let tx = new_tx();
    let too_much = json!({ "transaction_id": tx, "user_id": 2, "amount": 1000 });
    assert_refused(
        &app.post("/balance/try", too_much).await,
        StatusCode::CONFLICT,
        "INSUFFICIENT_BALANCE",
    );
    assert_eq!(app.row(&format!("{USER_SQL}2"), 3).await, [500, 0, 0]);
    assert!(app.barrier(&tx).await.is_empty());
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM balance_reservations")
            .await,
        0
    );

    let affordable = json!({ "transaction_id": tx, "user_id": 2, "amount": 500 });
    assert_ok(&app.post("/balance/try", affordable).await, &tx, "reserved");
    assert_eq!(app.row(&format!("{USER_SQL}2"), 3).await, [0, 500, 0]);
}

/// A try for a user that does not exist is 422 `UNKNOWN_USER` and writes nothing.
async fn unknown_user_is_refused_and_writes_nothing(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    let tx = new_tx();
    let body = json!({ "transaction_id": tx, "user_id": 42, "amount": 1 });
    assert_refused(
        &app.post("/balance/try", body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_USER",
    );
    assert!(app.barrier(&tx).await.is_empty());
    assert_eq!(
        app.scalar("SELECT CAST(SUM(balance) AS SIGNED) FROM users")
            .await,
        3500
    );
}

/// Zero and negative amounts are 422 `INVALID_AMOUNT`, and no balance moves.
async fn non_positive_amount_is_refused(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    for amount in [0, -100] {
        let body = json!({ "transaction_id": new_tx(), "user_id": 1, "amount": amount });
        assert_refused(
            &app.post("/balance/try", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_AMOUNT",
        );
    }
    assert_eq!(app.row(&format!("{USER_SQL}1"), 3).await, [1000, 0, 0]);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM tcc_barrier").await, 0);
}

/// `/admin/ledger` sums balance, reserved and captured over all users and counts reservations
/// by status; the three sums stay conserved through try, confirm and cancel.
async fn ledger_totals_follow_try_confirm_and_cancel(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    let (confirmed, cancelled, open) = (new_tx(), new_tx(), new_tx());
    for (tx, user, amount) in [(&confirmed, 1, 300), (&cancelled, 2, 200), (&open, 3, 50)] {
        let body = json!({ "transaction_id": tx, "user_id": user, "amount": amount });
        assert_ok(&app.post("/balance/try", body).await, tx, "reserved");
    }
    assert_ok(
        &app.post("/balance/confirm", json!({ "transaction_id": confirmed }))
            .await,
        &confirmed,
        "confirmed",
    );
    assert_ok(
        &app.post("/balance/cancel", json!({ "transaction_id": cancelled }))
            .await,
        &cancelled,
        "cancelled",
    );

    let ledger = app.ledger().await;
    let expected = json!({
        "users": 3, "balance": 3150, "reserved": 50, "captured": 300,
        "reservations": {
            "reserved": { "count": 1, "amount": 50 },
            "confirmed": { "count": 1, "amount": 300 },
            "cancelled": { "count": 1, "amount": 200 },
        },
    });
    assert_eq!(ledger, expected);
}
