//! The user service: users' balances as a TCC participant (`POST /balance/try|confirm|cancel`)
//! and its admin endpoints (bulk user creation, ledger totals). Only HTTP here; the SQL is in
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

pub(crate) use store::Balance;

/// Most users one admin request may create.
pub const USERS_PER_REQUEST_MAX: usize = 10_000;

static MYSQL: Migrator = sqlx::migrate!("../migrations/user/mysql");
static SQLITE: Migrator = sqlx::migrate!("../migrations/user/sqlite");

pub(crate) fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::MySql => &MYSQL,
        Backend::Sqlite => &SQLITE,
    }
}

/// Refusals of the user service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("user {0} does not exist")]
    UnknownUser(i64),
    #[error("user {user_id} has less than {amount} available")]
    InsufficientBalance { user_id: i64, amount: i64 },
    #[error("amount must be positive")]
    InvalidAmount,
    #[error("username {0:?} is empty, too long or taken")]
    InvalidUsername(String),
    #[error("balance must not be negative")]
    InvalidBalance,
    #[error("between 1 and {USERS_PER_REQUEST_MAX} users per request")]
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
            Error::UnknownUser(_) => (StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_USER"),
            Error::InsufficientBalance { .. } => (StatusCode::CONFLICT, "INSUFFICIENT_BALANCE"),
            Error::InvalidAmount => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_AMOUNT"),
            Error::InvalidUsername(_) => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_USERNAME"),
            Error::InvalidBalance => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BALANCE"),
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

/// `POST /balance/try`: reserve `amount` of the user's balance.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryRequest {
    pub transaction_id: TransactionId,
    pub user_id: i64,
    pub amount: i64,
}

/// `POST /admin/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUsers {
    pub users: Vec<NewUser>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub balance: i64,
}

/// The created users, in request order.
#[derive(Debug, Serialize)]
pub struct CreatedUsers {
    pub users: Vec<CreatedUser>,
}

#[derive(Debug, Serialize)]
pub struct CreatedUser {
    pub id: i64,
    pub username: String,
}

/// `GET /admin/ledger`: totals over all users and reservations, read from one snapshot.
/// `balance + reserved + captured` only changes through admin funding, and `reserved` equals
/// the amount of reservations in status `reserved`.
#[derive(Debug, Serialize)]
pub struct Ledger {
    pub users: i64,
    pub balance: i64,
    pub reserved: i64,
    pub captured: i64,
    /// Reservations by status: `reserved` (open), `confirmed`, `cancelled`.
    pub reservations: BTreeMap<&'static str, Totals>,
}

/// `GET /admin/users/{id}`: one user's ledger row.
#[derive(Debug, Serialize)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub balance: i64,
    pub reserved: i64,
    pub captured: i64,
}

async fn account(
    State(app): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<axum::Json<Account>, http::Error> {
    Ok(axum::Json(store::account(app.db(), id).await?))
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/balance/try", post(balance_try))
        .route("/balance/confirm", post(tcc::confirm_handler::<Balance>))
        .route("/balance/cancel", post(tcc::cancel_handler::<Balance>))
}

pub(crate) fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", post(create_users))
        .route("/admin/users/{id}", axum::routing::get(account))
        .route("/admin/ledger", axum::routing::get(ledger))
}

async fn balance_try(
    State(app): State<AppState>,
    http::Json(request): http::Json<TryRequest>,
) -> Result<axum::Json<Reply>, http::Error> {
    observe::phase("user", "try", store::reserve(app.db(), &request)).await
}

async fn create_users(
    State(app): State<AppState>,
    http::Json(request): http::Json<NewUsers>,
) -> Result<axum::Json<CreatedUsers>, http::Error> {
    let users = store::create_users(app.db(), &request.users).await?;
    Ok(axum::Json(CreatedUsers { users }))
}

async fn ledger(State(app): State<AppState>) -> Result<axum::Json<Ledger>, http::Error> {
    Ok(axum::Json(store::ledger(app.db()).await?))
}
