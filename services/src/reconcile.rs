//! Read-only snapshots of each service's ledger for reconciliation (`sagaflow reconcile`):
//! every account or product row and every per-transaction row, read in one consistent
//! snapshot of that service's database.
//!
//! Not the checks themselves (the reconcile tool compares these with the saga journal) and
//! never a write.

use crate::app::{connect_and_migrate, Error, Service};
use crate::db::Db;
use serde::Serialize;
use std::collections::BTreeMap;

/// One service's ledger as of one snapshot.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// User service: `id -> (balance, reserved, captured)`; order service: product
    /// `id -> (available, reserved, sold)`; empty for payment.
    pub accounts: BTreeMap<i64, (i64, i64, i64)>,
    /// Per transaction: balance reservations, payments or stock reservations.
    pub transactions: BTreeMap<String, Entry>,
    /// Order service: orders by transaction id -> (product, quantity, total amount).
    pub orders: BTreeMap<String, (i64, i64, i64)>,
}

/// One transaction's row in a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The user (user, payment) or product (order).
    pub owner: i64,
    /// Amount of money (user, payment) or quantity of stock (order).
    pub amount: i64,
    /// `reserved`, `confirmed` / `executed`, or `cancelled`.
    pub status: String,
}

/// Reads `service`'s ledger from its database at `url`.
pub async fn snapshot(service: Service, url: &str) -> Result<Snapshot, Error> {
    let db = connect_and_migrate(service, url, 1).await?;
    read(service, &db).await.map_err(Error::Read)
}

async fn read(service: Service, db: &Db) -> sqlx::Result<Snapshot> {
    let mut conn = db.pool().acquire().await?;
    let mut tx = db.begin_snapshot(&mut conn).await?;
    let (accounts_sql, transactions_sql) = match service {
        Service::User => (
            Some("SELECT id, balance, reserved, captured FROM users"),
            "SELECT transaction_id, user_id, amount, status FROM balance_reservations",
        ),
        Service::Payment => (
            None,
            "SELECT transaction_id, user_id, amount, status FROM payment_transactions",
        ),
        Service::Order => (
            Some("SELECT id, available, reserved, sold FROM products"),
            "SELECT transaction_id, product_id, quantity, status FROM stock_reservations",
        ),
    };
    let mut snapshot = Snapshot::default();
    if let Some(sql) = accounts_sql {
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(sql).fetch_all(&mut *tx).await?;
        snapshot.accounts = rows
            .into_iter()
            .map(|(id, a, b, c)| (id, (a, b, c)))
            .collect();
    }
    let rows: Vec<(String, i64, i64, String)> =
        sqlx::query_as(transactions_sql).fetch_all(&mut *tx).await?;
    snapshot.transactions = rows
        .into_iter()
        .map(|(tx, owner, amount, status)| {
            (
                tx,
                Entry {
                    owner,
                    amount,
                    status,
                },
            )
        })
        .collect();
    if service == Service::Order {
        let rows: Vec<(String, i64, i64, i64)> =
            sqlx::query_as("SELECT transaction_id, product_id, quantity, total_amount FROM orders")
                .fetch_all(&mut *tx)
                .await?;
        snapshot.orders = rows
            .into_iter()
            .map(|(tx, p, q, a)| (tx, (p, q, a)))
            .collect();
    }
    tx.commit().await?;
    Ok(snapshot)
}
