//! The TCC rules every participant keeps (user, payment, order), each scenario run against
//! each service on both backends: idempotent phases, no hanging reservation, refused confirm
//! without try, refused cancel after confirm and confirm after cancel, twin tries applied once,
//! malformed requests answered with a JSON 400 and no write.

use axum::http::{Method, StatusCode};
use serde_json::json;
use testkit::TestDb;

use crate::support::{assert_ok, assert_refused, json_request, new_tx, App, Held, Participant};

/// Generates, per participant, one test per scenario and backend:
/// `protocol::{user,payment,order}::{sqlite,mysql}::scenario`.
macro_rules! for_each_participant {
    ($($scenario:ident),* $(,)?) => {
        for_each_participant!(@one user, USER, $($scenario),*);
        for_each_participant!(@one payment, PAYMENT, $($scenario),*);
        for_each_participant!(@one order, ORDER, $($scenario),*);
    };
    (@one $module:ident, $participant:ident, $($scenario:ident),*) => {
        mod $module {
            $(
                async fn $scenario(db: testkit::TestDb) {
                    super::$scenario(&crate::support::$participant, db).await
                }
            )*
            testkit::backend_tests!($($scenario),*);
        }
    };
}

for_each_participant!(
    repeated_try_and_confirm_apply_once,
    repeated_cancel_releases_once,
    cancel_before_try_blocks_the_late_try,
    confirm_without_try_is_refused,
    cancel_after_confirm_is_refused,
    confirm_after_cancel_is_refused,
    concurrent_twin_tries_apply_once,
    malformed_requests_get_json_400_and_write_nothing,
);

/// Try and confirm each run twice take effect once, and the replay gets the same reply.
async fn repeated_try_and_confirm_apply_once(p: &Participant, db: TestDb) {
    let app = App::start(p.service, &db).await;
    let tx = new_tx();
    let first_try = p.try_(&app, &tx).await;
    assert_ok(&first_try, &tx, "reserved");
    assert_eq!(p.try_(&app, &tx).await, first_try);
    p.assert_held(&app, Held::Reserved).await;

    let first_confirm = p.confirm(&app, &tx).await;
    assert_eq!(first_confirm.0, StatusCode::OK, "{}", first_confirm.1);
    assert_eq!(p.confirm(&app, &tx).await, first_confirm);
    assert_eq!(
        p.try_(&app, &tx).await,
        first_try,
        "a try replayed after confirm"
    );
    p.assert_held(&app, Held::Confirmed).await;
    assert_eq!(app.barrier(&tx).await, ["confirm:applied", "try:applied"]);
}

/// Cancel after try gives the reservation back once, however often it is repeated.
async fn repeated_cancel_releases_once(p: &Participant, db: TestDb) {
    let app = App::start(p.service, &db).await;
    let tx = new_tx();
    assert_ok(&p.try_(&app, &tx).await, &tx, "reserved");
    for _ in 0..3 {
        assert_ok(&p.cancel(&app, &tx).await, &tx, "cancelled");
    }
    p.assert_held(&app, Held::Released).await;
    assert_eq!(p.reservation(&app, &tx).await.as_deref(), Some("cancelled"));
    assert_eq!(app.barrier(&tx).await, ["cancel:applied", "try:applied"]);
}

/// A cancel that arrives before its try is recorded, and the late try is refused with no
/// effect: no hanging reservation.
async fn cancel_before_try_blocks_the_late_try(p: &Participant, db: TestDb) {
    let app = App::start(p.service, &db).await;
    let tx = new_tx();
    assert_ok(&p.cancel(&app, &tx).await, &tx, "cancelled");
    assert_eq!(app.barrier(&tx).await, ["cancel:applied", "try:blocked"]);

    assert_refused(&p.try_(&app, &tx).await, StatusCode::CONFLICT, "CANCELLED");
    assert_refused(&p.try_(&app, &tx).await, StatusCode::CONFLICT, "CANCELLED");
    p.assert_held(&app, Held::Untouched).await;
    assert_eq!(p.reservation(&app, &tx).await, None);
    assert_ok(&p.cancel(&app, &tx).await, &tx, "cancelled");
}

/// Confirm without a try is refused and leaves no trace, so a later try still works.
async fn confirm_without_try_is_refused(p: &Participant, db: TestDb) {
    let app = App::start(p.service, &db).await;
    let tx = new_tx();
    assert_refused(
        &p.confirm(&app, &tx).await,
        StatusCode::CONFLICT,
        "NOT_RESERVED",
    );
    assert!(app.barrier(&tx).await.is_empty());
    p.assert_held(&app, Held::Untouched).await;

    assert_ok(&p.try_(&app, &tx).await, &tx, "reserved");
    p.assert_held(&app, Held::Reserved).await;
}

/// Cancel after confirm is refused and the confirmed effect stays.
async fn cancel_after_confirm_is_refused(p: &Participant, db: TestDb) {
    let app = App::start(p.service, &db).await;
    let tx = new_tx();
    assert_ok(&p.try_(&app, &tx).await, &tx, "reserved");
    assert_eq!(p.confirm(&app, &tx).await.0, StatusCode::OK);
    assert_refused(
        &p.cancel(&app, &tx).await,
        StatusCode::CONFLICT,
        "ALREADY_CONFIRMED",
    );
    p.assert_held(&app, Held::Confirmed).await;
    assert_eq!(app.barrier(&tx).await, ["confirm:applied", "try:applied"]);
}

/// Confirm after cancel is refused, whether the try had run or not.
async fn confirm_after_cancel_is_refused(p: &Participant, db: TestDb) {
    let app = App::start(p.service, &db).await;
    let (tried, never_tried) = (new_tx(), new_tx());
    assert_ok(&p.try_(&app, &tried).await, &tried, "reserved");
    assert_ok(&p.cancel(&app, &tried).await, &tried, "cancelled");
    assert_refused(
        &p.confirm(&app, &tried).await,
        StatusCode::CONFLICT,
        "CANCELLED",
    );
    p.assert_held(&app, Held::Released).await;

    assert_ok(
        &p.cancel(&app, &never_tried).await,
        &never_tried,
        "cancelled",
    );
    assert_refused(
        &p.confirm(&app, &never_tried).await,
        StatusCode::CONFLICT,
        "CANCELLED",
    );
    assert_eq!(
        app.barrier(&never_tried).await,
        ["cancel:applied", "try:blocked"]
    );
    p.assert_held(&app, Held::Released).await;
}

/// Tries for one transaction sent at the same time all succeed, and the effect happens once.
async fn concurrent_twin_tries_apply_once(p: &Participant, db: TestDb) {
    let app = App::start(p.service, &db).await;
    let tx = new_tx();
    let twins = (0..8).map(|_| json_request(Method::POST, &p.path("try"), &p.try_body(&tx)));
    for reply in app.concurrently(twins).await {
        assert_ok(&reply, &tx, "reserved");
    }
    p.assert_held(&app, Held::Reserved).await;
    assert_eq!(app.barrier(&tx).await, ["try:applied"]);
}

/// Broken JSON, missing, unknown or mistyped fields, a bad transaction id or no JSON content
/// type: each is a JSON 400 `BAD_REQUEST`, and nothing is written.
async fn malformed_requests_get_json_400_and_write_nothing(p: &Participant, db: TestDb) {
    let app = App::start(p.service, &db).await;
    let tx = new_tx();
    let valid = p.try_body(&tx);
    let edits = [
        ("surprise", Some(json!(1))),
        ("user_id", None),
        ("user_id", Some(json!("one"))),
        ("transaction_id", Some(json!(""))),
        ("transaction_id", Some(json!("x".repeat(65)))),
    ];
    let edited = edits.into_iter().map(|(field, value)| {
        let mut body = valid.clone();
        let fields = body.as_object_mut().expect("object");
        match value {
            Some(value) => fields.insert(field.to_owned(), value),
            None => fields.remove(field),
        };
        body.to_string()
    });
    let broken = ["{\"transaction_id\":", "[]", ""].map(String::from);
    for body in edited.chain(broken) {
        let reply = app
            .post_raw(&p.path("try"), Some("application/json"), body)
            .await;
        assert_refused(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    }
    let untyped = app.post_raw(&p.path("try"), None, valid.to_string()).await;
    assert_refused(&untyped, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    let confirm = json!({ "transaction_id": tx, "amount": 1 }).to_string();
    let reply = app
        .post_raw(&p.path("confirm"), Some("application/json"), confirm)
        .await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");

    p.assert_held(&app, Held::Untouched).await;
    assert_eq!(app.scalar("SELECT COUNT(*) FROM tcc_barrier").await, 0);
}
