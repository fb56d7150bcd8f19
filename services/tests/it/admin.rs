//! The HTTP surface around the TCC phases: admin bulk creation (all or nothing), admin
//! endpoints hidden unless enabled, JSON 404s, `/healthz` and `/metrics`.

use axum::{body::Body, http::Request, http::StatusCode};
use serde_json::json;
use services::Service;
use testkit::TestDb;

use crate::support::{assert_ok, assert_refused, new_tx, sibling, App};

testkit::backend_tests!(
    admin_creates_users_who_can_reserve,
    admin_user_batch_is_all_or_nothing,
    admin_creates_payment_methods_their_owners_can_use,
    admin_creates_products_that_can_be_reserved,
    admin_endpoints_are_404_unless_enabled,
    unknown_paths_get_json_404,
    healthz_reports_the_database,
    metrics_count_phases_by_outcome,
    admin_reads_one_user_and_one_product,
);

/// `GET /admin/users/{id}` and `/admin/products/{id}` show one ledger row as a try moves it;
/// an unknown id is the service's business error.
async fn admin_reads_one_user_and_one_product(db: TestDb) {
    let users = App::start(Service::User, &db).await;
    let (status, alice) = users.get("/admin/users/1").await;
    assert_eq!(status, StatusCode::OK, "{alice}");
    assert_eq!(
        (alice["username"].as_str(), alice["balance"].as_i64()),
        (Some("alice"), Some(1000))
    );
    let tx = new_tx();
    let body = json!({ "transaction_id": tx, "user_id": 1, "amount": 300 });
    assert_ok(&users.post("/balance/try", body).await, &tx, "reserved");
    let (_, alice) = users.get("/admin/users/1").await;
    assert_eq!(
        (alice["balance"].as_i64(), alice["reserved"].as_i64()),
        (Some(700), Some(300))
    );
    assert_refused(
        &users.get("/admin/users/99").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_USER",
    );

    let order_db = sibling(&db, "order").await;
    let orders = App::start(Service::Order, &order_db).await;
    let (status, bitcoin) = orders.get("/admin/products/1").await;
    assert_eq!(status, StatusCode::OK, "{bitcoin}");
    assert_eq!(
        (
            bitcoin["name"].as_str(),
            bitcoin["price"].as_i64(),
            bitcoin["available"].as_i64()
        ),
        (Some("Bitcoin"), Some(100), Some(10))
    );
    assert_refused(
        &orders.get("/admin/products/99").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_PRODUCT",
    );
}

/// `POST /admin/users` returns the new ids in request order; the users can reserve at once
/// and the ledger counts their balance.
async fn admin_creates_users_who_can_reserve(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    let body = json!({ "users": [
        { "username": "load-1", "balance": 10_000 },
        { "username": "load-2", "balance": 0 },
    ] });
    let (status, created) = app.post("/admin/users", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let users = created["users"].as_array().expect("users");
    assert_eq!(users.len(), 2);
    assert_eq!(users[1]["username"], "load-2");
    let id = users[0]["id"].as_i64().expect("id");
    assert!(id > 3, "ids continue after the seed users: {id}");

    let tx = new_tx();
    let body = json!({ "transaction_id": tx, "user_id": id, "amount": 10_000 });
    assert_ok(&app.post("/balance/try", body).await, &tx, "reserved");
    let ledger = app.ledger().await;
    assert_eq!(
        (ledger["users"].as_i64(), ledger["balance"].as_i64()),
        (Some(5), Some(3500))
    );
    assert_eq!(ledger["reserved"], 10_000);
}

/// A batch with a taken username or a negative balance creates nobody.
async fn admin_user_batch_is_all_or_nothing(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    let taken = json!({ "users": [{ "username": "dave", "balance": 1 }, { "username": "alice", "balance": 1 }] });
    assert_refused(
        &app.post("/admin/users", taken).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_USERNAME",
    );
    let negative = json!({ "users": [{ "username": "erin", "balance": -1 }] });
    assert_refused(
        &app.post("/admin/users", negative).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_BALANCE",
    );
    let empty = json!({ "users": [] });
    assert_refused(
        &app.post("/admin/users", empty).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_BATCH_SIZE",
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM users").await, 3);
}

/// `POST /admin/payment-methods` gives a user a method that only that user can pay with.
async fn admin_creates_payment_methods_their_owners_can_use(db: TestDb) {
    let app = App::start(Service::Payment, &db).await;
    let body =
        json!({ "payment_methods": [{ "user_id": 4 }, { "user_id": 5, "method_type": "wallet" }] });
    let (status, created) = app.post("/admin/payment-methods", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let method = created["payment_methods"][0]["id"].as_i64().expect("id");
    assert_eq!(created["payment_methods"][1]["user_id"], 5);

    let tx = new_tx();
    let own =
        json!({ "transaction_id": tx, "user_id": 4, "payment_method_id": method, "amount": 5 });
    assert_ok(&app.post("/payments/try", own).await, &tx, "reserved");
    let other = json!({ "transaction_id": new_tx(), "user_id": 5, "payment_method_id": method, "amount": 5 });
    let reply = app.post("/payments/try", other).await;
    assert_refused(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_PAYMENT_METHOD",
    );
    assert_eq!(app.ledger().await["payment_methods"], 5);
}

/// `POST /admin/products` creates stocked products that can be reserved and quoted.
async fn admin_creates_products_that_can_be_reserved(db: TestDb) {
    let app = App::start(Service::Order, &db).await;
    let body = json!({ "products": [{ "name": "Ether", "price": 7, "stock": 1000 }] });
    let (status, created) = app.post("/admin/products", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let product = created["products"][0]["id"].as_i64().expect("id");

    let tx = new_tx();
    let body =
        json!({ "transaction_id": tx, "user_id": 1, "product_id": product, "quantity": 1000 });
    assert_ok(&app.post("/stock/try", body).await, &tx, "reserved");
    let (_, quote) = app
        .post("/quotes", json!({ "product_id": product, "quantity": 3 }))
        .await;
    assert_eq!(quote["amount"], 21);
    let ledger = app.ledger().await;
    assert_eq!(
        (ledger["available"].as_i64(), ledger["reserved"].as_i64()),
        (Some(10), Some(1000))
    );
    let bad = json!({ "products": [{ "name": "", "price": 1, "stock": 1 }] });
    assert_refused(
        &app.post("/admin/products", bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_PRODUCT",
    );
}

/// With admin off, every admin endpoint of every service is a JSON 404 and changes nothing.
async fn admin_endpoints_are_404_unless_enabled(db: TestDb) {
    let (payment_db, order_db) = (
        sibling(&db, "admin_off_pay").await,
        sibling(&db, "admin_off_ord").await,
    );
    let creates = [
        (
            Service::User,
            &db,
            "/admin/users",
            json!({ "users": [{ "username": "x", "balance": 1 }] }),
        ),
        (
            Service::Payment,
            &payment_db,
            "/admin/payment-methods",
            json!({ "payment_methods": [{ "user_id": 1 }] }),
        ),
        (
            Service::Order,
            &order_db,
            "/admin/products",
            json!({ "products": [{ "name": "x", "price": 1, "stock": 1 }] }),
        ),
    ];
    for (service, db, create, body) in creates {
        let app = App::start_with(service, db, |config| config.admin_enabled = false).await;
        assert_refused(
            &app.post(create, body).await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        );
        assert_refused(
            &app.get("/admin/ledger").await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        );
        assert_refused(
            &app.get("/admin/faults").await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        );
        let faults = json!({ "error_rate": 1.0 });
        assert_refused(
            &app.put("/admin/faults", faults).await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        );
        assert_eq!(app.state.faults().faults().error_rate, 0.0);
    }
    let app = App::start_with(Service::User, &db, |config| config.admin_enabled = false).await;
    assert_eq!(app.scalar("SELECT COUNT(*) FROM users").await, 3);
}

/// An unknown path is a JSON 404, not axum's empty one.
async fn unknown_paths_get_json_404(db: TestDb) {
    let app = App::start(Service::Order, &db).await;
    assert_refused(
        &app.get("/nothing/here").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_refused(
        &app.post("/balance/try", json!({})).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

/// `GET /healthz` answers 200 with the service name once the database answers.
async fn healthz_reports_the_database(db: TestDb) {
    let app = App::start(Service::Payment, &db).await;
    let (status, body) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "status": "ok", "service": "payment" }));
}

/// `GET /metrics` exposes `tcc_requests_total` by service, phase and outcome (ok, replayed,
/// rejected) and the duration histogram.
async fn metrics_count_phases_by_outcome(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    let tx = new_tx();
    let body = json!({ "transaction_id": tx, "user_id": 1, "amount": 1 });
    app.post("/balance/try", body.clone()).await;
    app.post("/balance/try", body).await;
    app.post("/balance/confirm", json!({ "transaction_id": new_tx() }))
        .await;

    let request = Request::get("/metrics")
        .body(Body::empty())
        .expect("request");
    let (status, text) = app.send_raw(request).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(text).expect("utf-8");
    for series in [
        r#"tcc_requests_total{service="user",phase="try",outcome="ok"}"#,
        r#"tcc_requests_total{service="user",phase="try",outcome="replayed"}"#,
        r#"tcc_requests_total{service="user",phase="confirm",outcome="rejected"}"#,
        r#"tcc_request_duration_seconds_count{service="user",phase="try"}"#,
    ] {
        assert!(text.contains(series), "missing {series} in:\n{text}");
    }
}
