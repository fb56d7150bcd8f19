//! The lean participant: one HTTP server that plays the user, payment and order services of
//! the shipped purchase workflow (docs/services.md: the same paths, bodies and answers, the
//! same TCC rules), on one database, as cheaply as a correct TCC participant can. Every Try,
//! Confirm and Cancel is one short transaction of a barrier insert and one conditional update
//! ([`store`] says exactly what each runs). `sagaflow load --participant lean` runs the
//! purchase workflow against it, unchanged, so that what remains of a saga's cost is mostly
//! the engine's; its own no-engine baseline is `crate::baseline` with
//! [`crate::participant::Participant::Lean`].
//!
//! Not a service role: it lives in the tools, starts only inside a load run or a baseline,
//! has no faults and no metrics, and its admin endpoints are always on.

mod admin;
pub mod ledger;
pub mod store;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use services::http::{self, Json};
use services::tcc::{PhaseRequest, TransactionId};
use std::net::SocketAddr;
use store::{Store, TryCall};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Most rows one admin request creates (as the services).
const ADMIN_ROWS_MAX: usize = 10_000;

/// The three TCC steps of a purchase, as barrier keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Balance,
    Payment,
    Stock,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Balance => "balance",
            Step::Payment => "payment",
            Step::Stock => "stock",
        }
    }

    /// The answer of a successful confirm (a payment is `executed`).
    fn confirmed(self) -> &'static str {
        match self {
            Step::Payment => "executed",
            _ => "confirmed",
        }
    }
}

/// Refusals (the services' codes) and failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the transaction was cancelled")]
    Cancelled,
    #[error("nothing was reserved for this transaction")]
    NotReserved,
    #[error("the transaction is already confirmed")]
    AlreadyConfirmed,
    #[error("no such user")]
    UnknownUser,
    #[error("the balance is below the amount")]
    InsufficientBalance,
    #[error("the payment method does not exist or belongs to another user")]
    InvalidPaymentMethod,
    #[error("no such product")]
    UnknownProduct,
    #[error("fewer items are available than asked for")]
    OutOfStock,
    #[error("amount must be positive")]
    InvalidAmount,
    #[error("quantity must be positive")]
    InvalidQuantity,
    #[error("an admin request creates 1 to {ADMIN_ROWS_MAX} rows")]
    BatchSize,
    #[error("ledger invariant violated: {0}")]
    Invariant(&'static str),
    #[error("cannot open the database: {0}")]
    Open(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl http::Coded for Error {
    fn status_code(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Error::Cancelled => (S::CONFLICT, "CANCELLED"),
            Error::NotReserved => (S::CONFLICT, "NOT_RESERVED"),
            Error::AlreadyConfirmed => (S::CONFLICT, "ALREADY_CONFIRMED"),
            Error::UnknownUser => (S::UNPROCESSABLE_ENTITY, "UNKNOWN_USER"),
            Error::InsufficientBalance => (S::CONFLICT, "INSUFFICIENT_BALANCE"),
            Error::InvalidPaymentMethod => (S::UNPROCESSABLE_ENTITY, "INVALID_PAYMENT_METHOD"),
            Error::UnknownProduct => (S::UNPROCESSABLE_ENTITY, "UNKNOWN_PRODUCT"),
            Error::OutOfStock => (S::CONFLICT, "OUT_OF_STOCK"),
            Error::InvalidAmount => (S::UNPROCESSABLE_ENTITY, "INVALID_AMOUNT"),
            Error::InvalidQuantity => (S::UNPROCESSABLE_ENTITY, "INVALID_QUANTITY"),
            Error::BatchSize => (S::UNPROCESSABLE_ENTITY, "INVALID_BATCH_SIZE"),
            Error::Invariant(_) | Error::Open(_) | Error::Db(_) | Error::Bind { .. } => {
                (S::INTERNAL_SERVER_ERROR, "INTERNAL")
            }
        }
    }
}

type Answer = Result<axum::Json<Value>, http::Error>;

/// `{"transaction_id", "status"}`, the answer of every phase (a repeat gets the same).
fn phase_answer(id: &TransactionId, status: &str) -> Answer {
    Ok(axum::Json(
        json!({ "transaction_id": id.as_str(), "status": status }),
    ))
}

/// A lean participant serving in the background.
pub struct Running {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// `http://{addr}`: the URL of all three services.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Opens the database at `url` (created when missing) and serves on `listen` (port 0 picks
/// a free one).
pub async fn spawn(url: &str, connections: u32, listen: SocketAddr) -> Result<Running, Error> {
    let store = Store::open(url, connections).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: listen,
        source,
    })?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    let serve = axum::serve(listener, router(store)).with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    let task = tokio::spawn(async move { serve.await });
    Ok(Running {
        addr,
        shutdown,
        task,
    })
}

/// Every route of the three services that the purchase workflow and the load tool use.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/quotes", post(quote))
        .route("/balance/try", post(balance_try))
        .route("/payments/try", post(payment_try))
        .route("/stock/try", post(stock_try))
        .route(
            "/balance/confirm",
            post(|s, b| confirm(Step::Balance, s, b)),
        )
        .route(
            "/payments/confirm",
            post(|s, b| confirm(Step::Payment, s, b)),
        )
        .route("/stock/confirm", post(|s, b| confirm(Step::Stock, s, b)))
        .route("/balance/cancel", post(|s, b| cancel(Step::Balance, s, b)))
        .route("/payments/cancel", post(|s, b| cancel(Step::Payment, s, b)))
        .route("/stock/cancel", post(|s, b| cancel(Step::Stock, s, b)))
        .route("/admin/users", post(create_users))
        .route("/admin/payment-methods", post(create_methods))
        .route("/admin/products", post(create_products))
        .route("/admin/ledger", get(ledger))
        .route("/healthz", get(healthz))
        .fallback(http::not_found)
        .with_state(store)
        .layer(axum::middleware::from_fn(detach))
}

/// Runs each request in a task of its own, so a caller that hangs up (a worker's attempt
/// timeout) never cuts a transaction short; a panic answers 500.
async fn detach(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(_) => http::Error::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "panicked")
            .into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuoteRequest {
    product_id: i64,
    quantity: i64,
}

async fn quote(State(store): State<Store>, Json(r): Json<QuoteRequest>) -> Answer {
    if r.quantity <= 0 {
        return Err(Error::InvalidQuantity.into());
    }
    let price = store
        .price(r.product_id)
        .await?
        .ok_or(Error::UnknownProduct)?;
    Ok(axum::Json(json!({
        "unit_price": price, "quantity": r.quantity, "amount": price * r.quantity,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceTry {
    transaction_id: TransactionId,
    user_id: i64,
    amount: i64,
}

async fn balance_try(State(store): State<Store>, Json(r): Json<BalanceTry>) -> Answer {
    try_phase(
        &store,
        Step::Balance,
        &r.transaction_id,
        r.user_id,
        0,
        r.amount,
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentTry {
    transaction_id: TransactionId,
    user_id: i64,
    payment_method_id: i64,
    amount: i64,
}

async fn payment_try(State(store): State<Store>, Json(r): Json<PaymentTry>) -> Answer {
    let (id, method, owner) = (&r.transaction_id, r.payment_method_id, r.user_id);
    try_phase(&store, Step::Payment, id, method, owner, r.amount).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StockTry {
    transaction_id: TransactionId,
    /// Accepted (the workflow sends it) but not needed: stock belongs to no one.
    #[serde(rename = "user_id")]
    _user_id: i64,
    product_id: i64,
    quantity: i64,
}

async fn stock_try(State(store): State<Store>, Json(r): Json<StockTry>) -> Answer {
    try_phase(
        &store,
        Step::Stock,
        &r.transaction_id,
        r.product_id,
        0,
        r.quantity,
    )
    .await
}

async fn try_phase(
    store: &Store,
    step: Step,
    id: &TransactionId,
    resource_id: i64,
    owner: i64,
    amount: i64,
) -> Answer {
    let call = TryCall {
        step,
        transaction_id: id.as_str(),
        resource_id,
        owner,
        amount,
    };
    store.try_phase(&call).await?;
    phase_answer(id, "reserved")
}

async fn confirm(step: Step, State(store): State<Store>, Json(r): Json<PhaseRequest>) -> Answer {
    store.confirm(step, r.transaction_id.as_str()).await?;
    phase_answer(&r.transaction_id, step.confirmed())
}

async fn cancel(step: Step, State(store): State<Store>, Json(r): Json<PhaseRequest>) -> Answer {
    store.cancel(step, r.transaction_id.as_str()).await?;
    phase_answer(&r.transaction_id, "cancelled")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUsers {
    users: Vec<NewUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    balance: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMethods {
    payment_methods: Vec<NewMethod>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMethod {
    user_id: i64,
    /// Accepted as the payment service does; a lean card has no type or details.
    #[serde(default, rename = "method_type")]
    _method_type: Option<String>,
    #[serde(default, rename = "method_details")]
    _method_details: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProducts {
    products: Vec<NewProduct>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    name: String,
    price: i64,
    stock: i64,
}

fn batch<T>(rows: &[T]) -> Result<(), Error> {
    if rows.is_empty() || rows.len() > ADMIN_ROWS_MAX {
        return Err(Error::BatchSize);
    }
    Ok(())
}

async fn create_users(State(store): State<Store>, Json(r): Json<NewUsers>) -> Answer {
    batch(&r.users)?;
    if r.users.iter().any(|u| u.balance < 0) {
        return Err(Error::InvalidAmount.into());
    }
    let rows: Vec<(String, i64)> = r
        .users
        .iter()
        .map(|u| (u.username.clone(), u.balance))
        .collect();
    let ids = store.create_users(&rows).await?;
    let users: Vec<Value> = ids
        .iter()
        .zip(&r.users)
        .map(|(id, u)| json!({ "id": id, "username": u.username }))
        .collect();
    Ok(axum::Json(json!({ "users": users })))
}

async fn create_methods(State(store): State<Store>, Json(r): Json<NewMethods>) -> Answer {
    batch(&r.payment_methods)?;
    let owners: Vec<i64> = r.payment_methods.iter().map(|m| m.user_id).collect();
    let ids = store.create_methods(&owners).await?;
    let methods: Vec<Value> = ids
        .iter()
        .zip(&owners)
        .map(|(id, user_id)| json!({ "id": id, "user_id": user_id }))
        .collect();
    Ok(axum::Json(json!({ "payment_methods": methods })))
}

async fn create_products(State(store): State<Store>, Json(r): Json<NewProducts>) -> Answer {
    batch(&r.products)?;
    if r.products.iter().any(|p| p.price <= 0 || p.stock < 0) {
        return Err(Error::InvalidAmount.into());
    }
    let rows: Vec<(String, i64, i64)> = r
        .products
        .iter()
        .map(|p| (p.name.clone(), p.price, p.stock))
        .collect();
    let ids = store.create_products(&rows).await?;
    let products: Vec<Value> = ids
        .iter()
        .zip(&r.products)
        .map(|(id, p)| json!({ "id": id, "name": p.name }))
        .collect();
    Ok(axum::Json(json!({ "products": products })))
}

async fn ledger(State(store): State<Store>) -> Result<axum::Json<ledger::Ledger>, http::Error> {
    Ok(axum::Json(store.ledger().await?))
}

async fn healthz(State(store): State<Store>) -> Answer {
    store.price(0).await?;
    Ok(axum::Json(json!({ "status": "ok", "service": "lean" })))
}
