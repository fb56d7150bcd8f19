//! Test support: a service's router on a fresh database, JSON requests through `oneshot`, and
//! direct reads of the service's rows so that tests assert effects, not only status codes.

use std::sync::OnceLock;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{json, Value};
use services::{AppState, Config, Service};
use sqlx::AnyPool;
use testkit::TestDb;
use tower::ServiceExt;

/// A service under test: its router (admin enabled) and its database.
#[derive(Clone)]
pub struct App {
    pub router: Router,
    pub state: AppState,
}

impl App {
    /// The service on `db` with admin on and no faults.
    pub async fn start(service: Service, db: &TestDb) -> App {
        App::start_with(service, db, |_| {}).await
    }

    /// The service on `db`, after `adjust` changed the default test configuration.
    pub async fn start_with(
        service: Service,
        db: &TestDb,
        adjust: impl FnOnce(&mut Config),
    ) -> App {
        let mut config = Config::new(db.url.clone());
        config.admin_enabled = true;
        adjust(&mut config);
        let state = AppState::connect(service, &config, Some(metrics_handle().clone()))
            .await
            .expect("service starts on a fresh database");
        App {
            router: services::router(state.clone()),
            state,
        }
    }

    pub fn pool(&self) -> &AnyPool {
        self.state.db().pool()
    }

    /// Sends one request and returns the status and the JSON body (`Null` when empty).
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, body) = self.send_raw(request).await;
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|_| {
                panic!("response is not JSON: {}", String::from_utf8_lossy(&body))
            })
        };
        (status, json)
    }

    pub async fn send_raw(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, body)
    }

    /// Sends all requests at once from parallel tasks; replies in completion order.
    pub async fn concurrently(
        &self,
        requests: impl IntoIterator<Item = Request<Body>>,
    ) -> Vec<(StatusCode, Value)> {
        let mut replies = tokio::task::JoinSet::new();
        for request in requests {
            let app = self.clone();
            replies.spawn(async move { app.send(request).await });
        }
        replies.join_all().await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(json_request(Method::POST, path, &body)).await
    }

    /// Posts `body` with an `Idempotency-Key` header, as the engine's workers do.
    pub async fn post_with_key(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        let mut request = json_request(Method::POST, path, &body);
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().expect("a header value"));
        self.send(request).await
    }

    /// Posts `body` as is, with the given content type (or none).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: String,
    ) -> (StatusCode, Value) {
        let mut request = Request::post(path);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.send(request.body(Body::from(body)).expect("request"))
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(json_request(Method::PUT, path, &body)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let request = Request::get(path).body(Body::empty()).expect("request");
        self.send(request).await
    }

    /// `GET /admin/ledger`, which must succeed.
    pub async fn ledger(&self) -> Value {
        let (status, ledger) = self.get("/admin/ledger").await;
        assert_eq!(status, StatusCode::OK, "ledger: {ledger}");
        ledger
    }

    /// Sets fault injection through the admin endpoint.
    pub async fn set_faults(&self, faults: Value) {
        let (status, body) = self.put("/admin/faults", faults).await;
        assert_eq!(status, StatusCode::OK, "set faults: {body}");
    }

    /// One integer from a query (counts, sums).
    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.pool())
            .await
            .expect(sql)
    }

    /// Several integers from a one-row query.
    pub async fn row(&self, sql: &str, columns: usize) -> Vec<i64> {
        use sqlx::Row;
        let row = sqlx::query(sql).fetch_one(self.pool()).await.expect(sql);
        (0..columns)
            .map(|i| row.try_get::<i64, _>(i).expect("integer column"))
            .collect()
    }

    /// The barrier rows of a transaction as `phase:outcome`, sorted.
    pub async fn barrier(&self, transaction_id: &str) -> Vec<String> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT phase, outcome FROM tcc_barrier WHERE transaction_id = ? ORDER BY phase",
        )
        .bind(transaction_id)
        .fetch_all(self.pool())
        .await
        .expect("barrier rows");
        rows.into_iter()
            .map(|(phase, outcome)| format!("{phase}:{outcome}"))
            .collect()
    }
}

pub fn json_request(method: Method, path: &str, body: &Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

/// A fresh transaction id.
pub fn new_tx() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Another fresh database on the same backend as `db` (each service owns its database).
pub async fn sibling(db: &TestDb, name: &str) -> TestDb {
    if db.is_mysql() {
        TestDb::mysql(name)
            .await
            .expect("MariaDB was reachable for the first database")
    } else {
        TestDb::sqlite(name)
    }
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("recorder installs once")
    })
}

/// Where a participant's reservation of the test amount stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// Never reserved (or refused).
    Untouched,
    Reserved,
    Confirmed,
    /// Reserved, then cancelled.
    Released,
}

/// One participant seen generically: its TCC paths, a valid try body for the seeded data, and
/// its ledger as a few integers whose expected values depend only on [`Held`].
pub struct Participant {
    pub service: Service,
    pub resource: &'static str,
    pub reservations: &'static str,
    try_body: fn(&str) -> Value,
    ledger_sql: &'static str,
    expected: fn(Held) -> [i64; 4],
}

/// Alice (1000) reserves 100: `[balance, reserved, captured, reservations]` of user 1.
pub const USER: Participant = Participant {
    service: Service::User,
    resource: "balance",
    reservations: "balance_reservations",
    try_body: |tx| json!({ "transaction_id": tx, "user_id": 1, "amount": 100 }),
    ledger_sql: "SELECT balance, reserved, captured, \
                 (SELECT COUNT(*) FROM balance_reservations) FROM users WHERE id = 1",
    expected: |held| match held {
        Held::Untouched => [1000, 0, 0, 0],
        Held::Reserved => [900, 100, 0, 1],
        Held::Confirmed => [900, 0, 100, 1],
        Held::Released => [1000, 0, 0, 1],
    },
};

/// Alice pays 100 with her method 1: payment amounts by status, and the row count.
pub const PAYMENT: Participant = Participant {
    service: Service::Payment,
    resource: "payments",
    reservations: "payment_transactions",
    try_body: |tx| json!({ "transaction_id": tx, "user_id": 1, "payment_method_id": 1, "amount": 100 }),
    ledger_sql: "SELECT \
                 CAST(COALESCE(SUM(CASE WHEN status = 'reserved' THEN amount END), 0) AS SIGNED), \
                 CAST(COALESCE(SUM(CASE WHEN status = 'executed' THEN amount END), 0) AS SIGNED), \
                 CAST(COALESCE(SUM(CASE WHEN status = 'cancelled' THEN amount END), 0) AS SIGNED), \
                 COUNT(*) FROM payment_transactions",
    expected: |held| match held {
        Held::Untouched => [0, 0, 0, 0],
        Held::Reserved => [100, 0, 0, 1],
        Held::Confirmed => [0, 100, 0, 1],
        Held::Released => [0, 0, 100, 1],
    },
};

/// Alice reserves 2 Bitcoin (stock 10): `[available, reserved, sold, orders]` of product 1.
pub const ORDER: Participant = Participant {
    service: Service::Order,
    resource: "stock",
    reservations: "stock_reservations",
    try_body: |tx| json!({ "transaction_id": tx, "user_id": 1, "product_id": 1, "quantity": 2 }),
    ledger_sql: "SELECT available, reserved, sold, (SELECT COUNT(*) FROM orders) \
                 FROM products WHERE id = 1",
    expected: |held| match held {
        Held::Untouched | Held::Released => [10, 0, 0, 0],
        Held::Reserved => [8, 2, 0, 0],
        Held::Confirmed => [8, 0, 2, 1],
    },
};

impl Participant {
    pub fn path(&self, phase: &str) -> String {
        format!("/{}/{phase}", self.resource)
    }

    pub fn try_body(&self, transaction_id: &str) -> Value {
        (self.try_body)(transaction_id)
    }

    pub async fn try_(&self, app: &App, transaction_id: &str) -> (StatusCode, Value) {
        app.post(&self.path("try"), self.try_body(transaction_id))
            .await
    }

    pub async fn confirm(&self, app: &App, transaction_id: &str) -> (StatusCode, Value) {
        app.post(
            &self.path("confirm"),
            json!({ "transaction_id": transaction_id }),
        )
        .await
    }

    pub async fn cancel(&self, app: &App, transaction_id: &str) -> (StatusCode, Value) {
        app.post(
            &self.path("cancel"),
            json!({ "transaction_id": transaction_id }),
        )
        .await
    }

    /// Asserts the participant's ledger is where `held` puts it.
    pub async fn assert_held(&self, app: &App, held: Held) {
        let ledger = app.row(self.ledger_sql, 4).await;
        assert_eq!(
            ledger,
            (self.expected)(held),
            "{} ledger should be {held:?}",
            self.service
        );
    }

    /// The status of the transaction's reservation row, if any.
    pub async fn reservation(&self, app: &App, transaction_id: &str) -> Option<String> {
        let sql = format!(
            "SELECT status FROM {} WHERE transaction_id = ?",
            self.reservations
        );
        sqlx::query_scalar(&sql)
            .bind(transaction_id)
            .fetch_optional(app.pool())
            .await
            .expect("reservation status")
    }
}

/// Asserts a JSON error reply: its status and stable code.
#[track_caller]
pub fn assert_refused(reply: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(reply.0, status, "reply: {}", reply.1);
    assert_eq!(reply.1["error"]["code"], code, "reply: {}", reply.1);
    assert!(
        reply.1["error"]["message"].is_string(),
        "reply: {}",
        reply.1
    );
}

/// Asserts a successful phase reply.
#[track_caller]
pub fn assert_ok(reply: &(StatusCode, Value), transaction_id: &str, status: &str) {
    assert_eq!(reply.0, StatusCode::OK, "reply: {}", reply.1);
    assert_eq!(
        reply.1,
        json!({ "transaction_id": transaction_id, "status": status })
    );
}
