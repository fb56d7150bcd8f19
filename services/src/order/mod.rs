//! The order service: product stock as a TCC participant (`POST /stock/try|confirm|cancel`,
//! confirm creates the order), read-only pricing (`POST /quotes`), and its admin endpoints
//! (bulk product creation, ledger totals). Only HTTP here; the SQL is in [`store`].

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

pub(crate) use store::Stock;

/// Most products one admin request may create.
pub const PRODUCTS_PER_REQUEST_MAX: usize = 10_000;

static MYSQL: Migrator = sqlx::migrate!("../migrations/order/mysql");
static SQLITE: Migrator = sqlx::migrate!("../migrations/order/sqlite");

pub(crate) fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::MySql => &MYSQL,
        Backend::Sqlite => &SQLITE,
    }
}

/// Refusals of the order service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("product {0} does not exist")]
    UnknownProduct(i64),
    #[error("product {product_id} has fewer than {quantity} in stock")]
    OutOfStock { product_id: i64, quantity: i64 },
    #[error("quantity must be at least 1 and its price must fit in 64 bits")]
    InvalidQuantity,
    #[error("a product needs a name of 1 to 128 characters, a price and a stock of at least 0")]
    InvalidProduct,
    #[error("between 1 and {PRODUCTS_PER_REQUEST_MAX} products per request")]
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
            Error::UnknownProduct(_) => (StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_PRODUCT"),
            Error::OutOfStock { .. } => (StatusCode::CONFLICT, "OUT_OF_STOCK"),
            Error::InvalidQuantity => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_QUANTITY"),
            Error::InvalidProduct => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PRODUCT"),
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

/// `POST /stock/try`: reserve `quantity` of a product for a user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryRequest {
    pub transaction_id: TransactionId,
    pub user_id: i64,
    pub product_id: i64,
    pub quantity: i64,
}

/// `POST /quotes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    pub product_id: i64,
    pub quantity: i64,
}

/// The price of a purchase: `amount = unit_price * quantity`, in minor units.
#[derive(Debug, Serialize)]
pub struct Quote {
    pub unit_price: i64,
    pub quantity: i64,
    pub amount: i64,
}

impl observe::Replayed for Quote {}

/// `POST /admin/products`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProducts {
    pub products: Vec<NewProduct>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub name: String,
    pub price: i64,
    pub stock: i64,
}

/// The created products, in request order.
#[derive(Debug, Serialize)]
pub struct CreatedProducts {
    pub products: Vec<CreatedProduct>,
}

#[derive(Debug, Serialize)]
pub struct CreatedProduct {
    pub id: i64,
    pub name: String,
}

/// `GET /admin/ledger`: stock totals over all products, reservations by status and orders,
/// from one snapshot. `available + reserved + sold` only changes through admin stocking,
/// `reserved` equals the quantity of open reservations, and `sold` that of the orders.
#[derive(Debug, Serialize)]
pub struct Ledger {
    pub products: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
    /// Reservations by status (`reserved`, `confirmed`, `cancelled`); `amount` is money.
    pub reservations: BTreeMap<&'static str, Totals>,
    /// Orders: their count and the sum of `total_amount`.
    pub orders: Totals,
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/stock/try", post(stock_try))
        .route("/stock/confirm", post(tcc::confirm_handler::<Stock>))
        .route("/stock/cancel", post(tcc::cancel_handler::<Stock>))
        .route("/quotes", post(quote))
}

/// `GET /admin/products/{id}`: one product's stock ledger row.
#[derive(Debug, Serialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub price: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
}

async fn product(
    State(app): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<axum::Json<Product>, http::Error> {
    Ok(axum::Json(store::product(app.db(), id).await?))
}

pub(crate) fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/admin/products", post(create_products))
        .route("/admin/products/{id}", axum::routing::get(product))
        .route("/admin/ledger", axum::routing::get(ledger))
}

async fn stock_try(
    State(app): State<AppState>,
    http::Json(request): http::Json<TryRequest>,
) -> Result<axum::Json<Reply>, http::Error> {
    observe::phase("order", "try", store::reserve(app.db(), &request)).await
}

async fn quote(
    State(app): State<AppState>,
    http::Json(request): http::Json<QuoteRequest>,
) -> Result<axum::Json<Quote>, http::Error> {
    observe::phase("order", "quote", store::quote(app.db(), &request)).await
}

async fn create_products(
    State(app): State<AppState>,
    http::Json(request): http::Json<NewProducts>,
) -> Result<axum::Json<CreatedProducts>, http::Error> {
    let products = store::create_products(app.db(), &request.products).await?;
    Ok(axum::Json(CreatedProducts { products }))
}

async fn ledger(State(app): State<AppState>) -> Result<axum::Json<Ledger>, http::Error> {
    Ok(axum::Json(store::ledger(app.db()).await?))
}
