//! Payment service rules beyond the shared protocol: seeded payment methods, ownership of the
//! payment method, and the ledger totals.

use axum::http::StatusCode;
use serde_json::json;
use services::Service;
use testkit::TestDb;

use crate::support::{assert_ok, assert_refused, new_tx, App};

testkit::backend_tests!(
    seed_payment_methods_belong_to_users_1_to_3,
    payment_method_of_someone_else_is_refused,
    non_positive_amount_is_refused,
    ledger_sums_payments_by_status,
);

/// A fresh database holds payment methods 1, 2 and 3 owned by users 1, 2 and 3.
async fn seed_payment_methods_belong_to_users_1_to_3(db: TestDb) {
    let app = App::start(Service::Payment, &db).await;
    let owners: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, user_id FROM payment_methods ORDER BY id")
            .fetch_all(app.pool())
            .await
            .expect("payment methods");
    assert_eq!(owners, [(1, 1), (2, 2), (3, 3)]);
}

/// Another user's method, an unknown method and an unknown user are each 422
/// `INVALID_PAYMENT_METHOD` with no payment row and no barrier row.
async fn payment_method_of_someone_else_is_refused(db: TestDb) {
    let app = App::start(Service::Payment, &db).await;
    for (user_id, payment_method_id) in [(1, 2), (3, 1), (1, 99), (42, 1)] {
        let tx = new_tx();
        let body = json!({
            "transaction_id": tx, "user_id": user_id,
            "payment_method_id": payment_method_id, "amount": 100,
        });
        let reply = app.post("/payments/try", body).await;
        assert_refused(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PAYMENT_METHOD",
        );
        assert!(app.barrier(&tx).await.is_empty());
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM payment_transactions")
            .await,
        0
    );
}

/// Zero and negative amounts are 422 `INVALID_AMOUNT` and write nothing.
async fn non_positive_amount_is_refused(db: TestDb) {
    let app = App::start(Service::Payment, &db).await;
    for amount in [0, -1] {
        let body = json!({
            "transaction_id": new_tx(), "user_id": 1, "payment_method_id": 1, "amount": amount,
        });
        let reply = app.post("/payments/try", body).await;
        assert_refused(&reply, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_AMOUNT");
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM tcc_barrier").await, 0);
}

/// `/admin/ledger` counts and sums payments by status.
async fn ledger_sums_payments_by_status(db: TestDb) {
    let app = App::start(Service::Payment, &db).await;
    let (executed, cancelled, open) = (new_tx(), new_tx(), new_tx());
    for (tx, user, amount) in [(&executed, 1, 300), (&cancelled, 2, 200), (&open, 3, 50)] {
        let body = json!({
            "transaction_id": tx, "user_id": user, "payment_method_id": user, "amount": amount,
        });
        assert_ok(&app.post("/payments/try", body).await, tx, "reserved");
    }
    let reply = app
        .post("/payments/confirm", json!({ "transaction_id": executed }))
        .await;
    assert_ok(&reply, &executed, "executed");
    let reply = app
        .post("/payments/cancel", json!({ "transaction_id": cancelled }))
        .await;
    assert_ok(&reply, &cancelled, "cancelled");

    let expected = json!({
        "payment_methods": 3,
        "payments": {
            "reserved": { "count": 1, "amount": 50 },
            "executed": { "count": 1, "amount": 300 },
            "cancelled": { "count": 1, "amount": 200 },
        },
    });
    assert_eq!(app.ledger().await, expected);
}
