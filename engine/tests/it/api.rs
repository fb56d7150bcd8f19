//! The HTTP API through `tower::ServiceExt::oneshot` on the router: status codes, JSON
//! errors, idempotency, waits and auth (static tokens and JWTs), on SQLite and MariaDB. This file holds the fixtures;
//! the scenarios live in its submodules.

mod bad_input;
mod console;
mod control;
mod hangups;
mod jwt;
mod keys;
mod ops;
mod props;
mod read;
mod subjects;
mod submit;
mod wait;

use crate::support::{self, TestDb};
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use engine::api::{self, ApiConfig, ApiState, Watcher};
use engine::runner::{Fixed, Runner, RunnerConfig};
use engine::{Registry, Store};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// A router over a migrated store, with the handles a test needs around it.
pub struct App {
    pub db: TestDb,
    pub store: Store,
    pub registry: Arc<Registry>,
    pub watcher: Watcher,
    router: Router,
}

/// An answer, its body parsed as JSON (or kept as a JSON string when it is not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `error.code` of a JSON error answer; panics on anything else.
    pub fn code(&self) -> &str {
        let message = &self.body["error"]["message"];
        assert!(
            message.as_str().is_some_and(|m| !m.is_empty()),
            "an error answer has a message: {}",
            self.body
        );
        self.body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error answer: {} {}", self.status, self.body))
    }
}

impl App {
    pub async fn new(db: TestDb) -> App {
        App::build(db, ApiConfig::default(), |state| state).await
    }

    pub async fn with_config(db: TestDb, config: ApiConfig) -> App {
        App::build(db, config, |state| state).await
    }

    /// An app whose state `extend` completes (metrics, hooks).
    pub async fn build(
        db: TestDb,
        config: ApiConfig,
        extend: impl FnOnce(ApiState) -> ApiState,
    ) -> App {
        let (store, registry) = (support::store(&db).await, support::registry());
        let watcher = Watcher::new();
        let state = ApiState::new(store.clone(), registry.clone(), config, watcher.clone());
        let state = extend(state);
        App {
            db,
            store,
            registry,
            watcher,
            router: api::router(state),
        }
    }

    pub fn router(&self) -> Router {
        self.router.clone()
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        send(self.router(), request).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(request(Method::GET, uri, None, "")).await
    }

    /// A POST without a body (abort, retry).
    pub async fn post(&self, uri: &str) -> Reply {
        self.send(request(Method::POST, uri, None, "")).await
    }

    /// `POST /v1/workflows` with a JSON body and an optional `Idempotency-Key`.
    pub async fn submit(&self, body: &Value, key: Option<&str>) -> Reply {
        self.send(submit_request("/v1/workflows", body, key)).await
    }

    /// Rows in the `workflows` table.
    pub async fn workflow_rows(&self) -> i64 {
        self.db.scalar("SELECT COUNT(*) FROM workflows").await
    }

    /// A runner whose participants all answer `{"amount": 100}`: every workflow completes.
    /// A runner that reports the workflows it finishes to this app's watcher, wired the way
    /// `sagaflow dev` wires its in-process worker.
    pub fn notifying_runner(&self) -> Runner<Fixed> {
        self.runner().with_on_finished(self.watcher.on_finished())
    }

    pub fn runner(&self) -> Runner<Fixed> {
        Runner::new(
            self.store.clone(),
            self.registry.clone(),
            Arc::new(Fixed(json!({"amount": 100}))),
            RunnerConfig::new("api-test"),
        )
    }
}

/// Sends one request through `router` and reads the whole answer.
pub async fn send(router: Router, request: Request<Body>) -> Reply {
    let response = router.oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub fn request(
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    builder.body(body.into()).expect("valid request")
}

pub fn submit_request(uri: &str, body: &Value, key: Option<&str>) -> Request<Body> {
    let mut request = request(
        Method::POST,
        uri,
        Some("application/json"),
        body.to_string(),
    );
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().expect("header value"));
    }
    request
}

/// The body of a purchase submit.
pub fn purchase(workflow_type: &str, user_id: i64, quantity: i64) -> Value {
    json!({"type": workflow_type, "input": {
        "user_id": user_id, "product_id": 1, "quantity": quantity, "payment_method_id": user_id}})
}

/// Waits until `condition` holds, checking every few milliseconds; panics after 10 s.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
