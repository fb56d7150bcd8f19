//! Who acted on a workflow: the subject that submitted it, aborted it and (last) retried it,
//! recorded by the API and shown by `GET /v1/workflows/{id}`; a static token's name; `null`
//! without auth.

use super::keys::{jwt_app, Claims};
use super::*;
use crate::support::{drive, runner, transient, Script};

testkit::backend_tests!(
    jwt_subjects_are_recorded_on_submit_abort_and_retry,
    a_static_token_is_recorded_by_its_name,
    without_auth_no_subject_is_recorded,
);

/// A workflow that `driver` parks as failed: execute_payment (after the pivot) fails until its
/// budget is spent.
async fn park(app: &App, id: &str) {
    let script = Arc::new(Script::default());
    for _ in 0..3 {
        script.then("/payments/confirm", transient());
    }
    let worker = runner(&app.store, &app.registry, &script, "w");
    drive(&app.db, &worker, id.parse().unwrap(), 10).await;
}

/// The three subjects of workflow `id`, as GET shows them.
async fn subjects(app: &App, id: &str, token: &str) -> [Value; 3] {
    let w = app.get_as(&format!("/v1/workflows/{id}"), token).await;
    assert_eq!(w.status, StatusCode::OK, "{}", w.body);
    [
        w.body["submitted_by"].clone(),
        w.body["aborted_by"].clone(),
        w.body["retried_by"].clone(),
    ]
}

/// alice submits, bob aborts one workflow; carol retries a parked one, then dave retries it
/// again (the last retry counts). An idempotent repeat by someone else keeps alice.
async fn jwt_subjects_are_recorded_on_submit_abort_and_retry(db: TestDb) {
    let app = jwt_app(db, &[]).await;
    let alice = Claims::new("alice", "sagaflow:submit").rs256();
    let bob = Claims::new("bob", "sagaflow:operate").rs256();
    let carol = Claims::new("carol", "sagaflow:operate").rs256();
    let dave = Claims::new("dave", "sagaflow:operate sagaflow:submit").rs256();
    let reader = Claims::new("reader", "sagaflow:read").rs256();

    let fresh = app
        .submit_as(&purchase("purchase", 1, 1), Some("k-1"), &alice)
        .await;
    assert_eq!(fresh.status, StatusCode::CREATED, "{}", fresh.body);
    let fresh = fresh.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        subjects(&app, &fresh, &reader).await,
        [json!("alice"), Value::Null, Value::Null]
    );
    let repeat = app
        .submit_as(&purchase("purchase", 1, 1), Some("k-1"), &dave)
        .await;
    assert_eq!(repeat.status, StatusCode::OK, "{}", repeat.body);
    let aborted = app
        .post_as(&format!("/v1/workflows/{fresh}/abort"), &bob)
        .await;
    assert_eq!(aborted.status, StatusCode::OK, "{}", aborted.body);
    assert_eq!(
        subjects(&app, &fresh, &reader).await,
        [json!("alice"), json!("bob"), Value::Null]
    );

    let parked = app
        .submit_as(&purchase("purchase_fast", 1, 1), None, &alice)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    park(&app, &parked).await;
    let retried = app
        .post_as(&format!("/v1/workflows/{parked}/retry"), &carol)
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(
        subjects(&app, &parked, &reader).await,
        [json!("alice"), Value::Null, json!("carol")]
    );
    park(&app, &parked).await;
    let again = app
        .post_as(&format!("/v1/workflows/{parked}/retry"), &dave)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(
        subjects(&app, &parked, &reader).await,
        [json!("alice"), Value::Null, json!("dave")]
    );
}

/// A static token is recorded as `token:` and the first 8 hex digits of its SHA-256, never
/// as the secret.
async fn a_static_token_is_recorded_by_its_name(db: TestDb) {
    let config = ApiConfig {
        tokens: vec!["first-token".into(), "s3cret-token".into()],
        ..ApiConfig::default()
    };
    let app = App::with_config(db, config).await;
    let id = app
        .submit_as(&purchase("purchase", 1, 1), None, "s3cret-token")
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let aborted = app
        .post_as(&format!("/v1/workflows/{id}/abort"), "first-token")
        .await;
    assert_eq!(aborted.status, StatusCode::OK, "{}", aborted.body);
    let name = api::token::subject("s3cret-token");
    assert_eq!(name, "token:a81e611a", "printf s3cret-token | sha256sum");
    assert_eq!(
        subjects(&app, &id, "s3cret-token").await,
        [
            json!(name),
            json!(api::token::subject("first-token")),
            Value::Null
        ]
    );
}

/// Without auth the columns stay null, and GET shows them as `null`.
async fn without_auth_no_subject_is_recorded(db: TestDb) {
    let app = App::new(db).await;
    let id = app
        .submit(&purchase("purchase_fast", 1, 1), None)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    park(&app, &id).await;
    assert_eq!(
        app.post(&format!("/v1/workflows/{id}/retry")).await.status,
        StatusCode::OK
    );
    let w = app.get(&format!("/v1/workflows/{id}")).await.body;
    for field in ["submitted_by", "aborted_by", "retried_by"] {
        assert_eq!(w.get(field), Some(&Value::Null), "{field}: {w}");
    }
}
