//! The payment service: payments as a TCC participant (`POST /payments/try|confirm|cancel`,
//! confirm = execute), only with a payment method the user owns, and its admin endpoints
//! (bulk payment-method creation, ledger totals). It cannot see the user database, so it never
//! says `UNKNOWN_USER`: an unknown user owns no payment method. Only HTTP here; the SQL is in
//! [`store`].

mod store;

use std::collections::BTreeMap;

use axum::{extract::State, http::StatusCode, routing::post, Router};
use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;

use crate::{
    db::{Backend, DbError},
    http, observe,
    tcc::{self, Reply, Totals, TransactionId},
    AppState,
};

pub(crate) use store::Payments;

/// Most payment methods one admin request may create.
pub const PAYMENT_METHODS_PER_REQUEST_MAX: usize = 10_000;

static MYSQL: Migrator = sqlx::migrate!("../migrations/payment/mysql");
static SQLITE: Migrator = sqlx::migrate!("../migrations/payment/sqlite");

pub(crate) fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::MySql => &MYSQL,
        Backend::Sqlite => &SQLITE,
    }
}

/// Refusals of the payment service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("payment method {payment_method_id} does not belong to user {user_id}")]
    InvalidPaymentMethod {
        user_id: i64,
        payment_method_id: i64,
    },
    #[error("amount must be positive")]
    InvalidAmount,
    #[error("method_type must be 1 to 32 characters and method_details at most 255")]
    InvalidMethodDescription,
    #[error("between 1 and {PAYMENT_METHODS_PER_REQUEST_MAX} payment methods per request")]
    BatchSize,
    #[error(transparent)]
    Tcc(#[from] tcc::Error),
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Error {
        Error::Tcc(err.into())
    }
}

impl http::Coded for Error {
    fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::InvalidPaymentMethod { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PAYMENT_METHOD")
            }
            Error::InvalidAmount => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_AMOUNT"),
            Error::InvalidMethodDescription => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_PAYMENT_METHOD_DESCRIPTION",
            ),
            Error::BatchSize => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BATCH_SIZE"),
            Error::Tcc(err) => err.status_code(),
        }
    }
}

impl DbError for Error {
    fn db_error(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Tcc(err) => err.db_error(),
            _ => None,
        }
    }
}

/// `POST /payments/try`: reserve a payment of `amount` with the user's payment method.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryRequest {
    pub transaction_id: TransactionId,
    pub user_id: i64,
    pub payment_method_id: i64,
    pub amount: i64,
}

/// `POST /admin/payment-methods`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPaymentMethods {
    pub payment_methods: Vec<NewPaymentMethod>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPaymentMethod {
    pub user_id: i64,
    #[serde(default = "default_method_type")]
    pub method_type: String,
    #[serde(default)]
    pub method_details: String,
}

fn default_method_type() -> String {
    "credit_card".to_owned()
}

/// The created payment methods, in request order.
#[derive(Debug, Serialize)]
pub struct CreatedPaymentMethods {
    pub payment_methods: Vec<CreatedPaymentMethod>,
}

#[derive(Debug, Serialize)]
pub struct CreatedPaymentMethod {
    pub id: i64,
    pub user_id: i64,
}

/// `GET /admin/ledger`: payments by status (`reserved`, `executed`, `cancelled`), from one
/// snapshot.
#[derive(Debug, Serialize)]
pub struct Ledger {
    pub payment_methods: i64,
    pub payments: BTreeMap<&'static str, Totals>,
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/payments/try", post(payment_try))
        .route("/payments/confirm", post(tcc::confirm_handler::<Payments>))
        .route("/payments/cancel", post(tcc::cancel_handler::<Payments>))
}

pub(crate) fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/admin/payment-methods", post(create_payment_methods))
        .route("/admin/ledger", axum::routing::get(ledger))
}

async fn payment_try(
    State(app): State<AppState>,
    http::Json(request): http::Json<TryRequest>,
) -> Result<axum::Json<Reply>, http::Error> {
    observe::phase("payment", "try", store::reserve(app.db(), &request)).await
}

async fn create_payment_methods(
    State(app): State<AppState>,
    http::Json(request): http::Json<NewPaymentMethods>,
) -> Result<axum::Json<CreatedPaymentMethods>, http::Error> {
    let payment_methods = store::create_payment_methods(app.db(), &request.payment_methods).await?;
    Ok(axum::Json(CreatedPaymentMethods { payment_methods }))
}

async fn ledger(State(app): State<AppState>) -> Result<axum::Json<Ledger>, http::Error> {
    Ok(axum::Json(store::ledger(app.db()).await?))
}
