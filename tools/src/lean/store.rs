//! The lean participant's SQL. Every TCC call is one short transaction:
//!
//! - **try**: `INSERT IGNORE` of the barrier row (transaction, step, `try`) carrying the
//!   resource and the amount, then one conditional `UPDATE` of the resource's row
//!   (`available >= amount`, or the card's owner); a refusal rolls both back.
//! - **confirm**: `INSERT IGNORE` of (transaction, step, `confirm`), then one conditional
//!   `UPDATE` of the try's barrier row, `reserved -> confirmed`.
//! - **cancel**: `INSERT IGNORE` of (transaction, step, `cancel`), then `INSERT IGNORE` of the
//!   try's row as `blocked`: when that inserts, no try ran (cancel before try; a late try
//!   finds the row and is refused). Otherwise, the failure path only, a locking read of the
//!   try's row, its `reserved -> cancelled` and the amount given back to the resource's row.
//!
//! A barrier insert that inserts nothing is a repeat: the phase already took effect and is
//! answered again. The ledger is the resources' rows (`available`, `taken`) and the try rows
//! by state ([`super::admin`] reads it, [`super::ledger`] checks that they agree).

use super::{Error, Step};
use services::db::{Backend, Db};
use sqlx::{Any, AnyConnection, Transaction};
use std::time::Duration;

/// How many times a transaction runs when the database reports a transient conflict.
const ATTEMPTS_MAX: u32 = 8;
/// Back-off before retry `n` is `n` times this.
const RETRY_STEP_MS: u64 = 5;

const SCHEMA_MYSQL: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS lean_users (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, \
     username VARCHAR(64) NOT NULL, available BIGINT NOT NULL, taken BIGINT NOT NULL DEFAULT 0) \
     ENGINE = InnoDB",
    "CREATE TABLE IF NOT EXISTS lean_methods (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, \
     user_id BIGINT NOT NULL, taken BIGINT NOT NULL DEFAULT 0) ENGINE = InnoDB",
    "CREATE TABLE IF NOT EXISTS lean_products (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, \
     name VARCHAR(64) NOT NULL, price BIGINT NOT NULL, available BIGINT NOT NULL, \
     taken BIGINT NOT NULL DEFAULT 0) ENGINE = InnoDB",
    "CREATE TABLE IF NOT EXISTS lean_barrier (\
     transaction_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, \
     step VARCHAR(8) NOT NULL, phase VARCHAR(8) NOT NULL, resource_id BIGINT NOT NULL, \
     amount BIGINT NOT NULL, state VARCHAR(10) NOT NULL, \
     PRIMARY KEY (transaction_id, step, phase)) ENGINE = InnoDB",
];

const SCHEMA_SQLITE: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS lean_users (id INTEGER PRIMARY KEY, username TEXT NOT NULL, \
     available INTEGER NOT NULL, taken INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS lean_methods (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, \
     taken INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS lean_products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \
     price INTEGER NOT NULL, available INTEGER NOT NULL, taken INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS lean_barrier (transaction_id TEXT NOT NULL, step TEXT NOT NULL, \
     phase TEXT NOT NULL, resource_id INTEGER NOT NULL, amount INTEGER NOT NULL, \
     state TEXT NOT NULL, PRIMARY KEY (transaction_id, step, phase))",
];

/// State of a try's barrier row.
pub(super) const RESERVED: &str = "reserved";
pub(super) const CONFIRMED: &str = "confirmed";
pub(super) const CANCELLED: &str = "cancelled";
/// A try row written by a cancel that came first.
const BLOCKED: &str = "blocked";
/// State of a confirm's or a cancel's barrier row (it only records that the phase ran).
const DONE: &str = "done";

/// A try as the lean participant sees it: which step, which row, how much.
#[derive(Debug, Clone)]
pub struct TryCall<'a> {
    pub step: Step,
    pub transaction_id: &'a str,
    /// The user (balance), the card (payment) or the product (stock).
    pub resource_id: i64,
    /// For a payment: the user the card must belong to.
    pub owner: i64,
    /// Money, or a quantity for stock.
    pub amount: i64,
}

/// What a phase did: took effect now, or had already (answered again).
pub type Replayed = bool;

/// The lean participant's database.
#[derive(Clone, Debug)]
pub struct Store {
    pub(super) db: Db,
}

impl Store {
    /// Opens (creating when missing) the database at `url` and its tables.
    pub async fn open(url: &str, connections: u32) -> Result<Store, Error> {
        let db = Db::connect(url, connections)
            .await
            .map_err(|e| Error::Open(e.to_string()))?;
        let schema = match db.backend() {
            Backend::MySql => SCHEMA_MYSQL,
            Backend::Sqlite => SCHEMA_SQLITE,
        };
        for statement in schema {
            sqlx::query(statement).execute(db.pool()).await?;
        }
        Ok(Store { db })
    }

    fn insert_ignore(&self) -> &'static str {
        match self.db.backend() {
            Backend::MySql => "INSERT IGNORE",
            Backend::Sqlite => "INSERT OR IGNORE",
        }
    }

    /// A write transaction (SQLite: the write lock at once). A connection that died while
    /// idle fails its `BEGIN` before anything ran, so the next one is taken.
    pub(super) async fn begin(&self) -> sqlx::Result<Transaction<'static, Any>> {
        let pool = self.db.pool();
        let mut tries = 0;
        loop {
            let begun = match self.db.backend() {
                Backend::MySql => pool.begin().await,
                Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            };
            match begun {
                Err(err)
                    if sqlerr::is_dead_connection(&err)
                        && tries <= pool.options().get_max_connections() =>
                {
                    tries += 1
                }
                other => return other,
            }
        }
    }

    /// Inserts one barrier row unless its key exists; true when it inserted.
    async fn barrier(
        &self,
        conn: &mut AnyConnection,
        transaction_id: &str,
        step: Step,
        phase: &str,
        (resource_id, amount, state): (i64, i64, &str),
    ) -> sqlx::Result<bool> {
        let sql = format!(
            "{} INTO lean_barrier (transaction_id, step, phase, resource_id, amount, state) \
             VALUES (?, ?, ?, ?, ?, ?)",
            self.insert_ignore()
        );
        let done = sqlx::query(&sql)
            .bind(transaction_id)
            .bind(step.as_str())
            .bind(phase)
            .bind(resource_id)
            .bind(amount)
            .bind(state)
            .execute(conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Try: the barrier row and the resource's conditional update, once.
    pub async fn try_phase(&self, call: &TryCall<'_>) -> Result<Replayed, Error> {
        if call.amount <= 0 {
            return Err(match call.step {
                Step::Stock => Error::InvalidQuantity,
                _ => Error::InvalidAmount,
            });
        }
        let replayed = retrying(|| self.try_once(call)).await?;
        if let Some(replayed) = replayed {
            return Ok(replayed);
        }
        // Refused: the transaction rolled back, so nothing is left; say why.
        let exists = |table: &'static str| self.exists(table, call.resource_id);
        Err(match call.step {
            Step::Balance if exists("lean_users").await? => Error::InsufficientBalance,
            Step::Balance => Error::UnknownUser,
            Step::Payment => Error::InvalidPaymentMethod,
            Step::Stock if exists("lean_products").await? => Error::OutOfStock,
            Step::Stock => Error::UnknownProduct,
        })
    }

    /// `Some(replayed)` when the try holds, `None` when the resource refused it.
    async fn try_once(&self, call: &TryCall<'_>) -> Result<Option<Replayed>, Error> {
        let mut tx = self.begin().await?;
        let row = (call.resource_id, call.amount, RESERVED);
        if !self
            .barrier(&mut tx, call.transaction_id, call.step, "try", row)
            .await?
        {
            let state = self
                .try_state(&mut tx, call.transaction_id, call.step)
                .await?;
            tx.rollback().await?;
            return match state.as_deref() {
                Some(BLOCKED) | Some(CANCELLED) => Err(Error::Cancelled),
                _ => Ok(Some(true)),
            };
        }
        let update = match call.step {
            Step::Balance => sqlx::query(
                "UPDATE lean_users SET available = available - ?, taken = taken + ? \
                 WHERE id = ? AND available >= ?",
            )
            .bind(call.amount)
            .bind(call.amount)
            .bind(call.resource_id)
            .bind(call.amount),
            Step::Payment => sqlx::query(
                "UPDATE lean_methods SET taken = taken + ? WHERE id = ? AND user_id = ?",
            )
            .bind(call.amount)
            .bind(call.resource_id)
            .bind(call.owner),
            Step::Stock => sqlx::query(
                "UPDATE lean_products SET available = available - ?, taken = taken + ? \
                 WHERE id = ? AND available >= ?",
            )
            .bind(call.amount)
            .bind(call.amount)
            .bind(call.resource_id)
            .bind(call.amount),
        };
        if update.execute(&mut *tx).await?.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(false))
    }

    /// Confirm: the barrier row and the try row's `reserved -> confirmed`, once.
    pub async fn confirm(&self, step: Step, transaction_id: &str) -> Result<Replayed, Error> {
        retrying(|| self.confirm_once(step, transaction_id)).await
    }

    async fn confirm_once(&self, step: Step, transaction_id: &str) -> Result<Replayed, Error> {
        let mut tx = self.begin().await?;
        if !self
            .barrier(&mut tx, transaction_id, step, "confirm", (0, 0, DONE))
            .await?
        {
            tx.rollback().await?;
            return Ok(true);
        }
        if self
            .settle(&mut tx, transaction_id, step, CONFIRMED)
            .await?
        {
            tx.commit().await?;
            return Ok(false);
        }
        let state = self.try_state(&mut tx, transaction_id, step).await?;
        tx.rollback().await?;
        Err(match state.as_deref() {
            None => Error::NotReserved,
            Some(BLOCKED) | Some(CANCELLED) => Error::Cancelled,
            Some(_) => Error::Invariant("a confirmed try without its confirm barrier"),
        })
    }

    /// Cancel: the barrier row, then either the try blocked (no try ran) or the reservation
    /// given back, once; refused after a confirm.
    pub async fn cancel(&self, step: Step, transaction_id: &str) -> Result<Replayed, Error> {
        retrying(|| self.cancel_once(step, transaction_id)).await
    }

    async fn cancel_once(&self, step: Step, transaction_id: &str) -> Result<Replayed, Error> {
        let mut tx = self.begin().await?;
        if !self
            .barrier(&mut tx, transaction_id, step, "cancel", (0, 0, DONE))
            .await?
        {
            tx.rollback().await?;
            return Ok(true);
        }
        if self
            .barrier(&mut tx, transaction_id, step, "try", (0, 0, BLOCKED))
            .await?
        {
            tx.commit().await?;
            return Ok(false);
        }
        let lock = match self.db.backend() {
            Backend::MySql => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT resource_id, amount, state FROM lean_barrier \
             WHERE transaction_id = ? AND step = ? AND phase = 'try'{lock}"
        );
        let (resource_id, amount, state): (i64, i64, String) = sqlx::query_as(&sql)
            .bind(transaction_id)
            .bind(step.as_str())
            .fetch_one(&mut *tx)
            .await?;
        match state.as_str() {
            RESERVED => {}
            CONFIRMED => {
                tx.rollback().await?;
                return Err(Error::AlreadyConfirmed);
            }
            _ => {
                // Blocked or cancelled by an earlier cancel: nothing is held.
                tx.commit().await?;
                return Ok(false);
            }
        }
        if !self
            .settle(&mut tx, transaction_id, step, CANCELLED)
            .await?
        {
            return Err(Error::Invariant("a reserved try row did not update"));
        }
        let release = match step {
            Step::Balance => sqlx::query(
                "UPDATE lean_users SET available = available + ?, taken = taken - ? WHERE id = ?",
            )
            .bind(amount)
            .bind(amount),
            Step::Payment => {
                sqlx::query("UPDATE lean_methods SET taken = taken - ? WHERE id = ?").bind(amount)
            }
            Step::Stock => sqlx::query(
                "UPDATE lean_products SET available = available + ?, taken = taken - ? \
                 WHERE id = ?",
            )
            .bind(amount)
            .bind(amount),
        };
        if release
            .bind(resource_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            != 1
        {
            return Err(Error::Invariant("a reservation's resource row is gone"));
        }
        tx.commit().await?;
        Ok(false)
    }

    /// The try row's `reserved -> to`; false when it was not reserved.
    async fn settle(
        &self,
        conn: &mut AnyConnection,
        transaction_id: &str,
        step: Step,
        to: &str,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE lean_barrier SET state = ? \
             WHERE transaction_id = ? AND step = ? AND phase = 'try' AND state = ?",
        )
        .bind(to)
        .bind(transaction_id)
        .bind(step.as_str())
        .bind(RESERVED)
        .execute(conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn try_state(
        &self,
        conn: &mut AnyConnection,
        transaction_id: &str,
        step: Step,
    ) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT state FROM lean_barrier \
             WHERE transaction_id = ? AND step = ? AND phase = 'try'",
        )
        .bind(transaction_id)
        .bind(step.as_str())
        .fetch_optional(conn)
        .await
    }

    async fn exists(&self, table: &'static str, id: i64) -> sqlx::Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar(&format!("SELECT id FROM {table} WHERE id = ?"))
                .bind(id)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(found.is_some())
    }

    /// A product's unit price (one primary-key read, no transaction).
    pub async fn price(&self, product_id: i64) -> Result<Option<i64>, Error> {
        Ok(
            sqlx::query_scalar("SELECT price FROM lean_products WHERE id = ?")
                .bind(product_id)
                .fetch_optional(self.db.pool())
                .await?,
        )
    }
}

/// Runs `attempt` (one whole transaction) again while the database reports a transient
/// conflict (deadlock, lock wait, SQLite busy), at most [`ATTEMPTS_MAX`] times.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut attempts = 1;
    loop {
        match attempt().await {
            Err(Error::Db(err)) if sqlerr::is_transient(&err) && attempts < ATTEMPTS_MAX => {
                let backoff = RETRY_STEP_MS * u64::from(attempts);
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                attempts += 1;
            }
            result => return result,
        }
    }
}
