//! JWT authentication on a whole `dev` system over real sockets: a submit with a JWT runs to
//! its end and records the token's `sub`; refusals are 401 or 403 and each one counts in
//! `sagaflow_http_auth_failures_total` under its reason.

use crate::support::{fast_registry, fast_tuning, Databases, TestDb};
use sagaflow::dev::{Dev, DevConfig};
use serde_json::{json, Value};

const SECRET: &[u8] = b"the-end-to-end-jwt-secret-32-byte";

/// An HS256 JWT for `sub` with `scope`, expiring `exp_in` seconds from now.
fn jwt(sub: &str, scope: &str, exp_in: i64) -> String {
    let exp = chrono::Utc::now().timestamp() + exp_in;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "scope": scope, "exp": exp, "aud": "sagaflow"}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .expect("signed")
}

/// `sagaflow_http_auth_failures_total{reason}` as `/metrics` shows it (read with `token`).
async fn failures(client: &reqwest::Client, api: &str, token: &str, reason: &str) -> f64 {
    let text = client
        .get(format!("{api}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("text");
    let series = format!("sagaflow_http_auth_failures_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series}in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_submit_runs_and_records_its_subject_and_refusals_count_by_reason() {
    let dbs = Databases::fresh(TestDb::sqlite("jwt")).await;
    let verifier = engine::api::Jwt::default()
        .with_hs256_secret(SECRET)
        .expect("a long enough secret")
        .with_audience("sagaflow");
    let config = DevConfig {
        registry: fast_registry(),
        tuning: fast_tuning(),
        jwt: Some(verifier),
        ..DevConfig::new(dbs.urls())
    };
    let dev = Dev::start(config).await.expect("system starts");
    let api = dev.api_url();
    let client = reqwest::Client::new();
    let reader = jwt("dashboard", "sagaflow:read", 300);
    let before = |reason: &'static str| failures(&client, &api, &reader, reason);
    let (expired_0, missing_0, scope_0) = (
        before("expired").await,
        before("missing").await,
        before("scope").await,
    );

    let body = json!({"type": "purchase", "input": {
        "user_id": 1, "product_id": 1, "quantity": 1, "payment_method_id": 1}});
    let submit = |token: Option<String>| {
        let request = client
            .post(format!("{api}/v1/workflows?wait=10s"))
            .json(&body);
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
    };
    let created = submit(Some(jwt("alice", "sagaflow:submit", 300)))
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let answer: Value = created.json().await.unwrap();
    assert_eq!(answer["status"], "completed", "{answer}");
    let id = answer["id"].as_str().unwrap();
    let workflow: Value = client
        .get(format!("{api}/v1/workflows/{id}"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(workflow["submitted_by"], "alice", "{workflow}");

    // Expired (well past the 30 s leeway), no token, a reader submitting.
    let expired = submit(Some(jwt("alice", "sagaflow:submit", -120)))
        .await
        .unwrap();
    assert_eq!(expired.status(), 401);
    assert_eq!(submit(None).await.unwrap().status(), 401);
    assert_eq!(submit(Some(reader.clone())).await.unwrap().status(), 403);
    assert!(before("expired").await > expired_0, "expired counted");
    assert!(before("missing").await > missing_0, "missing counted");
    assert!(before("scope").await > scope_0, "scope counted");
    dev.stop().await.expect("stops");
}
