//! The lean participant's admin SQL: creating users, cards and products for a run, and
//! reading the ledger from one snapshot. Not on any TCC call's path.

use super::ledger::{Ledger, StepLedger, Totals};
use super::store::{Store, CANCELLED, CONFIRMED, RESERVED};
use super::{Error, Step};
use services::db::Backend;
use sqlx::Any;

impl Store {
    /// Creates users (name, balance) in one transaction; their ids in order.
    pub async fn create_users(&self, users: &[(String, i64)]) -> Result<Vec<i64>, Error> {
        self.insert_all(users, |(name, balance)| {
            sqlx::query("INSERT INTO lean_users (username, available) VALUES (?, ?)")
                .bind(name.as_str())
                .bind(*balance)
        })
        .await
    }

    /// Creates one card per user id in one transaction; their ids in order.
    pub async fn create_methods(&self, owners: &[i64]) -> Result<Vec<i64>, Error> {
        self.insert_all(owners, |user_id| {
            sqlx::query("INSERT INTO lean_methods (user_id) VALUES (?)").bind(*user_id)
        })
        .await
    }

    /// Creates products (name, price, stock) in one transaction; their ids in order.
    pub async fn create_products(&self, items: &[(String, i64, i64)]) -> Result<Vec<i64>, Error> {
        self.insert_all(items, |(name, price, stock)| {
            sqlx::query("INSERT INTO lean_products (name, price, available) VALUES (?, ?, ?)")
                .bind(name.as_str())
                .bind(*price)
                .bind(*stock)
        })
        .await
    }

    /// One insert per row, in one transaction; the generated ids in order.
    async fn insert_all<'q, R: 'q>(
        &self,
        rows: &'q [R],
        insert: impl Fn(&'q R) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Vec<i64>, Error> {
        let mut tx = self.begin().await?;
        let mut ids = Vec::with_capacity(rows.len());
        for row in rows {
            let done = insert(row).execute(&mut *tx).await?;
            let id = match done.last_insert_id() {
                Some(id) => id,
                // The SQLite driver does not report it; the connection still knows.
                None => {
                    sqlx::query_scalar("SELECT last_insert_rowid()")
                        .fetch_one(&mut *tx)
                        .await?
                }
            };
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The ledger from one snapshot.
    pub async fn ledger(&self) -> Result<Ledger, Error> {
        let mut conn = self.db.pool().acquire().await?;
        let mut tx = match self.db.backend() {
            Backend::MySql => {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .execute(&mut *conn)
                    .await?;
                sqlx::Connection::begin_with(
                    &mut *conn,
                    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                )
                .await?
            }
            Backend::Sqlite => sqlx::Connection::begin_with(&mut *conn, "BEGIN DEFERRED").await?,
        };
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT step, state, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS SIGNED) \
             FROM lean_barrier WHERE phase = 'try' GROUP BY step, state",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut ledger = Ledger::default();
        for (step, table) in [
            (Step::Balance, "lean_users"),
            (Step::Payment, "lean_methods"),
            (Step::Stock, "lean_products"),
        ] {
            let available = match step {
                Step::Payment => "0",
                _ => "COALESCE(SUM(available), 0)",
            };
            let (available, taken): (i64, i64) = sqlx::query_as(&format!(
                "SELECT CAST({available} AS SIGNED), CAST(COALESCE(SUM(taken), 0) AS SIGNED) \
                 FROM {table}"
            ))
            .fetch_one(&mut *tx)
            .await?;
            let mut entry = StepLedger {
                available,
                taken,
                ..StepLedger::default()
            };
            for (_, state, count, amount) in rows.iter().filter(|r| r.0 == step.as_str()) {
                let totals = Totals {
                    count: *count,
                    amount: *amount,
                };
                match state.as_str() {
                    RESERVED => entry.reserved = totals,
                    CONFIRMED => entry.confirmed = totals,
                    CANCELLED => entry.cancelled = totals,
                    _ => entry.blocked = totals.count,
                }
            }
            ledger.steps.insert(step.as_str().to_owned(), entry);
        }
        tx.commit().await?;
        Ok(ledger)
    }
}
