//! SQL of the payment service: the try phase (ownership check and a payment row), the payment
//! rows as a [`tcc::Resource`] (confirm and cancel only move the row's status), payment-method
//! creation and ledger totals.

use sqlx::AnyConnection;

use super::{
    CreatedPaymentMethod, Error, Ledger, NewPaymentMethod, TryRequest,
    PAYMENT_METHODS_PER_REQUEST_MAX,
};
use crate::{
    db::{self, Db},
    tcc::{self, Reply, RESERVED},
};

/// Longest payment method type and details (the column widths).
const METHOD_TYPE_CHARS_MAX: usize = 32;
const METHOD_DETAILS_CHARS_MAX: usize = 255;

/// The payment rows, as confirm and cancel see them. The status change is the whole effect.
pub(crate) struct Payments;

impl tcc::Resource for Payments {
    const SERVICE: &'static str = "payment";
    const RESERVATIONS: &'static str = "payment_transactions";
    const CONFIRMED: &'static str = "executed";

    async fn capture(_conn: &mut AnyConnection, _transaction_id: &str) -> Result<(), tcc::Error> {
        Ok(())
    }

    async fn release(_conn: &mut AnyConnection, _transaction_id: &str) -> Result<(), tcc::Error> {
        Ok(())
    }
}

/// Try: a `reserved` payment row if the user owns the payment method, once.
pub(crate) async fn reserve(db: &Db, request: &TryRequest) -> Result<Reply, Error> {
    if request.amount <= 0 {
        return Err(Error::InvalidAmount);
    }
    db::retrying(db, || reserve_once(db, request)).await
}

async fn reserve_once(db: &Db, request: &TryRequest) -> Result<Reply, Error> {
    let id = &request.transaction_id;
    let Some(mut tx) = tcc::open_try(db, id).await? else {
        return Ok(Reply::replayed(id, RESERVED));
    };
    let owner: Option<i64> = sqlx::query_scalar("SELECT user_id FROM payment_methods WHERE id = ?")
        .bind(request.payment_method_id)
        .fetch_optional(&mut *tx)
        .await?;
    if owner != Some(request.user_id) {
        return Err(Error::InvalidPaymentMethod {
            user_id: request.user_id,
            payment_method_id: request.payment_method_id,
        });
    }
    sqlx::query(
        "INSERT INTO payment_transactions \
         (transaction_id, user_id, payment_method_id, amount, status) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id.as_str())
    .bind(request.user_id)
    .bind(request.payment_method_id)
    .bind(request.amount)
    .bind(RESERVED)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Reply::new(id, RESERVED))
}

/// Creates payment methods in one transaction: all of them or none.
pub(crate) async fn create_payment_methods(
    db: &Db,
    methods: &[NewPaymentMethod],
) -> Result<Vec<CreatedPaymentMethod>, Error> {
    if methods.is_empty() || methods.len() > PAYMENT_METHODS_PER_REQUEST_MAX {
        return Err(Error::BatchSize);
    }
    let described = |method: &NewPaymentMethod| {
        let type_chars = method.method_type.chars().count();
        (1..=METHOD_TYPE_CHARS_MAX).contains(&type_chars)
            && method.method_details.chars().count() <= METHOD_DETAILS_CHARS_MAX
    };
    if !methods.iter().all(described) {
        return Err(Error::InvalidMethodDescription);
    }
    db::retrying(db, || create_payment_methods_once(db, methods)).await
}

async fn create_payment_methods_once(
    db: &Db,
    methods: &[NewPaymentMethod],
) -> Result<Vec<CreatedPaymentMethod>, Error> {
    let mut tx = db.begin().await?;
    let mut created = Vec::with_capacity(methods.len());
    for method in methods {
        let insert = sqlx::query(
            "INSERT INTO payment_methods (user_id, method_type, method_details) VALUES (?, ?, ?)",
        )
        .bind(method.user_id)
        .bind(method.method_type.as_str())
        .bind(method.method_details.as_str());
        let id = db::insert_returning_id(&mut tx, insert).await?;
        created.push(CreatedPaymentMethod {
            id,
            user_id: method.user_id,
        });
    }
    tx.commit().await?;
    Ok(created)
}

/// Ledger totals from one snapshot.
pub(crate) async fn ledger(db: &Db) -> Result<Ledger, Error> {
    let mut conn = db.pool().acquire().await?;
    let mut tx = db.begin_snapshot(&mut conn).await?;
    let payment_methods: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payment_methods")
        .fetch_one(&mut *tx)
        .await?;
    let statuses = [RESERVED, "executed", tcc::CANCELLED];
    let payments = tcc::totals_by_status(&mut tx, "payment_transactions", statuses).await?;
    tx.commit().await?;
    Ok(Ledger {
        payment_methods,
        payments,
    })
}
