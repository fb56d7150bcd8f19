//! Fault injection: off by default, set by config or `PUT /admin/faults`; injected errors fail
//! before any effect, injected latency delays, and a response dropped after commit is resolved
//! by a retry that applies the effect once.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;
use services::{faults::Faults, Service};
use testkit::TestDb;

use crate::support::{assert_ok, assert_refused, new_tx, sibling, App};

testkit::backend_tests!(
    dropped_response_then_retry_applies_once,
    injected_errors_fail_before_any_effect,
    faults_from_config_apply_from_the_start,
    injected_latency_delays_each_request,
    invalid_fault_settings_are_refused,
    seeded_dice_repeat_their_decisions,
    chosen_keys_fail_their_first_calls_only,
);

const ALICE_SQL: &str = "SELECT balance, reserved, captured FROM users WHERE id = 1";

/// With drop-after-commit on, try and confirm answer 503 although their effect committed; the
/// retries with the same transaction id succeed and nothing is applied twice.
async fn dropped_response_then_retry_applies_once(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    let tx = new_tx();
    let try_body = json!({ "transaction_id": tx, "user_id": 1, "amount": 100 });
    let confirm_body = json!({ "transaction_id": tx });

    app.set_faults(json!({ "drop_after_commit_rate": 1.0 }))
        .await;
    let dropped = app.post("/balance/try", try_body.clone()).await;
    assert_refused(
        &dropped,
        StatusCode::SERVICE_UNAVAILABLE,
        "RESPONSE_DROPPED",
    );
    assert_eq!(
        app.row(ALICE_SQL, 3).await,
        [900, 100, 0],
        "the try committed"
    );
    let dropped = app.post("/balance/confirm", confirm_body.clone()).await;
    assert_refused(
        &dropped,
        StatusCode::SERVICE_UNAVAILABLE,
        "RESPONSE_DROPPED",
    );
    assert_eq!(
        app.row(ALICE_SQL, 3).await,
        [900, 0, 100],
        "the confirm committed"
    );

    app.set_faults(json!({})).await;
    assert_ok(&app.post("/balance/try", try_body).await, &tx, "reserved");
    assert_ok(
        &app.post("/balance/confirm", confirm_body).await,
        &tx,
        "confirmed",
    );
    assert_eq!(app.row(ALICE_SQL, 3).await, [900, 0, 100], "applied once");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM balance_reservations")
            .await,
        1
    );
}

/// With an error rate of 1 every phase answers 503 `INJECTED_FAULT` and nothing is written;
/// the settings read back from `GET /admin/faults`.
async fn injected_errors_fail_before_any_effect(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    app.set_faults(json!({ "error_rate": 1.0 })).await;
    let (status, faults) = app.get("/admin/faults").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        faults,
        json!({ "error_rate": 1.0, "latency_ms": 0, "drop_after_commit_rate": 0.0,
                "fail_first_calls": 0, "fail_first_share": 0.0 })
    );

    let tx = new_tx();
    let body = json!({ "transaction_id": tx, "user_id": 1, "amount": 100 });
    assert_refused(
        &app.post("/balance/try", body).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "INJECTED_FAULT",
    );
    let cancel = json!({ "transaction_id": tx });
    assert_refused(
        &app.post("/balance/cancel", cancel).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "INJECTED_FAULT",
    );
    assert_eq!(app.row(ALICE_SQL, 3).await, [1000, 0, 0]);
    assert!(app.barrier(&tx).await.is_empty());
    let (status, counts) = app.get("/admin/faults/counts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counts, json!({ "requests": 2, "injected_errors": 2 }));
    app.set_faults(json!({})).await;
    let ok = json!({ "transaction_id": new_tx(), "user_id": 1, "amount": 100 });
    app.post("/balance/try", ok).await;
    let (_, counts) = app.get("/admin/faults/counts").await;
    assert_eq!(
        counts,
        json!({ "requests": 3, "injected_errors": 2 }),
        "a request let through counts as a request only"
    );
}

/// Faults given in the config act from the first request, on the participant routes only:
/// health and admin stay up.
async fn faults_from_config_apply_from_the_start(db: TestDb) {
    let faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    let app = App::start_with(Service::Order, &db, |config| config.faults = faults).await;
    let quote = app
        .post("/quotes", json!({ "product_id": 1, "quantity": 1 }))
        .await;
    assert_refused(&quote, StatusCode::SERVICE_UNAVAILABLE, "INJECTED_FAULT");
    let body = json!({ "transaction_id": new_tx(), "user_id": 1, "product_id": 1, "quantity": 1 });
    assert_refused(
        &app.post("/stock/try", body).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "INJECTED_FAULT",
    );
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);
    assert_eq!(app.ledger().await["available"], 10);
}

/// Injected latency delays each participant request by at least that long.
async fn injected_latency_delays_each_request(db: TestDb) {
    let app = App::start(Service::Payment, &db).await;
    app.set_faults(json!({ "latency_ms": 150 })).await;
    let started = Instant::now();
    let body =
        json!({ "transaction_id": new_tx(), "user_id": 1, "payment_method_id": 1, "amount": 1 });
    assert_eq!(app.post("/payments/try", body).await.0, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "took {:?}",
        started.elapsed()
    );
}

/// Rates outside 0..=1, too much latency and unknown fields are refused and change nothing.
async fn invalid_fault_settings_are_refused(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    app.set_faults(json!({ "latency_ms": 5 })).await;
    for (faults, status, code) in [
        (
            json!({ "error_rate": 1.5 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FAULTS",
        ),
        (
            json!({ "drop_after_commit_rate": -0.1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FAULTS",
        ),
        (
            json!({ "latency_ms": 3_600_000 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FAULTS",
        ),
        (
            json!({ "eror_rate": 1.0 }),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
    ] {
        assert_refused(&app.put("/admin/faults", faults).await, status, code);
    }
    assert_eq!(
        app.state.faults().faults(),
        Faults {
            latency_ms: 5,
            ..Faults::default()
        }
    );
}

/// `fail_first_calls` fails exactly the first calls of each chosen Idempotency-Key, then
/// lets that key through; other keys are never held up by it.
async fn chosen_keys_fail_their_first_calls_only(db: TestDb) {
    let app = App::start(Service::Order, &db).await;
    app.set_faults(json!({ "fail_first_calls": 3, "fail_first_share": 1.0 }))
        .await;
    let quote = |key: &'static str| {
        let app = &app;
        async move {
            app.post_with_key("/quotes", key, json!({ "product_id": 1, "quantity": 1 }))
                .await
                .0
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(quote("wf:0:action").await);
    }
    use StatusCode as S;
    assert_eq!(
        statuses,
        [
            S::SERVICE_UNAVAILABLE,
            S::SERVICE_UNAVAILABLE,
            S::SERVICE_UNAVAILABLE,
            S::OK,
            S::OK
        ]
    );
    assert_eq!(
        quote("wf:1:action").await,
        S::SERVICE_UNAVAILABLE,
        "a new key"
    );
    app.set_faults(json!({ "fail_first_calls": 3, "fail_first_share": 0.0 }))
        .await;
    assert_eq!(quote("wf:2:action").await, S::OK, "no key chosen");
}

/// Two services with the same fault seed fail the same requests: tests can rely on the dice.
async fn seeded_dice_repeat_their_decisions(db: TestDb) {
    let other_db = sibling(&db, "seeded_dice_twin").await;
    let faults = Faults {
        error_rate: 0.5,
        ..Faults::default()
    };
    let mut outcomes = Vec::new();
    for db in [&db, &other_db] {
        let app = App::start_with(Service::Order, db, |config| {
            config.faults = faults;
            config.fault_seed = Some(7);
        })
        .await;
        let mut statuses = Vec::new();
        for _ in 0..32 {
            statuses.push(
                app.post("/quotes", json!({ "product_id": 1, "quantity": 1 }))
                    .await
                    .0,
            );
        }
        outcomes.push(statuses);
    }
    assert_eq!(outcomes[0], outcomes[1]);
    let failed = outcomes[0]
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(
        (1..32).contains(&failed),
        "about half fail at rate 0.5: {failed}"
    );
}
