//! Order service rules beyond the shared protocol: seed data, quotes, stock refusals that write
//! nothing, the order a confirm creates, and the ledger totals.

use axum::http::StatusCode;
use serde_json::json;
use services::Service;
use testkit::TestDb;

use crate::support::{assert_ok, assert_refused, new_tx, App};

testkit::backend_tests!(
    seed_product_matches_the_design,
    quote_prices_without_reserving,
    out_of_stock_is_refused_and_writes_nothing,
    unknown_product_and_bad_quantity_are_refused,
    confirm_creates_the_order_and_ledger_adds_up,
);

const BITCOIN_SQL: &str = "SELECT price, available, reserved, sold FROM products WHERE id = 1";

/// A fresh database holds product 1 "Bitcoin" at price 100 with a stock of 10.
async fn seed_product_matches_the_design(db: TestDb) {
    let app = App::start(Service::Order, &db).await;
    let name: String = sqlx::query_scalar("SELECT name FROM products WHERE id = 1")
        .fetch_one(app.pool())
        .await
        .expect("product 1");
    assert_eq!(name, "Bitcoin");
    assert_eq!(app.row(BITCOIN_SQL, 4).await, [100, 10, 0, 0]);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM products").await, 1);
}

/// `/quotes` prices `quantity` units (even beyond the stock) and reserves nothing; an unknown
/// product is 422 `UNKNOWN_PRODUCT` and a quantity below 1 is 422 `INVALID_QUANTITY`.
async fn quote_prices_without_reserving(db: TestDb) {
    let app = App::start(Service::Order, &db).await;
    let (status, quote) = app
        .post("/quotes", json!({ "product_id": 1, "quantity": 15 }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        quote,
        json!({ "unit_price": 100, "quantity": 15, "amount": 1500 })
    );

    let unknown = app
        .post("/quotes", json!({ "product_id": 7, "quantity": 1 }))
        .await;
    assert_refused(
        &unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_PRODUCT",
    );
    let zero = app
        .post("/quotes", json!({ "product_id": 1, "quantity": 0 }))
        .await;
    assert_refused(&zero, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_QUANTITY");
    let huge = app
        .post("/quotes", json!({ "product_id": 1, "quantity": i64::MAX }))
        .await;
    assert_refused(&huge, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_QUANTITY");
    assert_eq!(app.row(BITCOIN_SQL, 4).await, [100, 10, 0, 0]);
}

/// Charlie's 15 Bitcoin against a stock of 10 is 409 `OUT_OF_STOCK`; stock, reservations and
/// barrier stay untouched.
async fn out_of_stock_is_refused_and_writes_nothing(db: TestDb) {
    let app = App::start(Service::Order, &db).await;
    let tx = new_tx();
    let body = json!({ "transaction_id": tx, "user_id": 3, "product_id": 1, "quantity": 15 });
    assert_refused(
        &app.post("/stock/try", body).await,
        StatusCode::CONFLICT,
        "OUT_OF_STOCK",
    );
    assert_eq!(app.row(BITCOIN_SQL, 4).await, [100, 10, 0, 0]);
    assert!(app.barrier(&tx).await.is_empty());
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM stock_reservations").await,
        0
    );
}

/// A try for an unknown product is 422 `UNKNOWN_PRODUCT`, one for less than 1 unit 422
/// `INVALID_QUANTITY`; neither writes.
async fn unknown_product_and_bad_quantity_are_refused(db: TestDb) {
    let app = App::start(Service::Order, &db).await;
    let unknown =
        json!({ "transaction_id": new_tx(), "user_id": 1, "product_id": 9, "quantity": 1 });
    assert_refused(
        &app.post("/stock/try", unknown).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_PRODUCT",
    );
    let zero = json!({ "transaction_id": new_tx(), "user_id": 1, "product_id": 1, "quantity": 0 });
    assert_refused(
        &app.post("/stock/try", zero).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_QUANTITY",
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM tcc_barrier").await, 0);
    assert_eq!(app.row(BITCOIN_SQL, 4).await, [100, 10, 0, 0]);
}

/// Confirm moves the stock to sold and writes one order priced at the try; `/admin/ledger`
/// sums stock, reservations by status and orders.
async fn confirm_creates_the_order_and_ledger_adds_up(db: TestDb) {
    let app = App::start(Service::Order, &db).await;
    let (confirmed, cancelled, open) = (new_tx(), new_tx(), new_tx());
    for (tx, user, quantity) in [(&confirmed, 1, 3), (&cancelled, 2, 2), (&open, 3, 1)] {
        let body =
            json!({ "transaction_id": tx, "user_id": user, "product_id": 1, "quantity": quantity });
        assert_ok(&app.post("/stock/try", body).await, tx, "reserved");
    }
    let reply = app
        .post("/stock/confirm", json!({ "transaction_id": confirmed }))
        .await;
    assert_ok(&reply, &confirmed, "confirmed");
    let reply = app
        .post("/stock/cancel", json!({ "transaction_id": cancelled }))
        .await;
    assert_ok(&reply, &cancelled, "cancelled");

    let order: (i64, i64, i64, i64, String) = sqlx::query_as(
        "SELECT user_id, product_id, quantity, total_amount, transaction_id FROM orders",
    )
    .fetch_one(app.pool())
    .await
    .expect("exactly one order");
    assert_eq!(order, (1, 1, 3, 300, confirmed.clone()));
    assert_eq!(app.row(BITCOIN_SQL, 4).await, [100, 6, 1, 3]);

    let expected = json!({
        "products": 1, "available": 6, "reserved": 1, "sold": 3,
        "reservations": {
            "reserved": { "count": 1, "amount": 100 },
            "confirmed": { "count": 1, "amount": 300 },
            "cancelled": { "count": 1, "amount": 200 },
        },
        "orders": { "count": 1, "amount": 300 },
    });
    assert_eq!(app.ledger().await, expected);
}
