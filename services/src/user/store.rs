//! SQL of the user service: the try phase, what confirm and cancel do to the `users` ledger
//! (as a [`tcc::Resource`]), user creation and ledger totals. Every balance change is one
//! conditional `UPDATE` whose row count is checked, never a read-modify-write.

use sqlx::AnyConnection;

use super::{Account, CreatedUser, Error, Ledger, NewUser, TryRequest, USERS_PER_REQUEST_MAX};
use crate::{
    db::{self, Db},
    tcc::{self, Reply, RESERVED},
};

/// Longest username (the column width).
const USERNAME_CHARS_MAX: usize = 64;

/// The users' balances, as confirm and cancel see them.
pub(crate) struct Balance;

impl tcc::Resource for Balance {
    const SERVICE: &'static str = "user";
    const RESERVATIONS: &'static str = "balance_reservations";
    const CONFIRMED: &'static str = "confirmed";

    async fn capture(conn: &mut AnyConnection, transaction_id: &str) -> Result<(), tcc::Error> {
        shift(conn, transaction_id, "captured = captured + ?").await
    }

    async fn release(conn: &mut AnyConnection, transaction_id: &str) -> Result<(), tcc::Error> {
        shift(conn, transaction_id, "balance = balance + ?").await
    }
}

/// Moves a reservation's amount out of `reserved` into the column that `add` increments.
async fn shift(
    conn: &mut AnyConnection,
    transaction_id: &str,
    add: &str,
) -> Result<(), tcc::Error> {
    let (user_id, amount): (i64, i64) =
        sqlx::query_as("SELECT user_id, amount FROM balance_reservations WHERE transaction_id = ?")
            .bind(transaction_id)
            .fetch_one(&mut *conn)
            .await?;
    let sql =
        format!("UPDATE users SET reserved = reserved - ?, {add} WHERE id = ? AND reserved >= ?");
    let moved = sqlx::query(&sql)
        .bind(amount)
        .bind(amount)
        .bind(user_id)
        .bind(amount)
        .execute(conn)
        .await?
        .rows_affected();
    if moved != 1 {
        return Err(tcc::Error::Invariant(
            "a user's reserved balance is below a reservation",
        ));
    }
    Ok(())
}

/// Try: `balance -> reserved` if the balance covers it, and a reservation row, once.
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
    // Update before inserting the reservation: its foreign key takes a shared lock on the
    // user row, and holding that before asking for the exclusive one lets two tries deadlock.
    let moved = sqlx::query(
        "UPDATE users SET balance = balance - ?, reserved = reserved + ? \
         WHERE id = ? AND balance >= ?",
    )
    .bind(request.amount)
    .bind(request.amount)
    .bind(request.user_id)
    .bind(request.amount)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        let known: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = ?")
            .bind(request.user_id)
            .fetch_optional(&mut *tx)
            .await?;
        return Err(match known {
            Some(user_id) => Error::InsufficientBalance {
                user_id,
                amount: request.amount,
            },
            None => Error::UnknownUser(request.user_id),
        });
    }
    sqlx::query(
        "INSERT INTO balance_reservations (transaction_id, user_id, amount, status) \
         VALUES (?, ?, ?, ?)",
    )
    .bind(id.as_str())
    .bind(request.user_id)
    .bind(request.amount)
    .bind(RESERVED)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Reply::new(id, RESERVED))
}

/// Creates users in one transaction: all of them or none.
pub(crate) async fn create_users(db: &Db, users: &[NewUser]) -> Result<Vec<CreatedUser>, Error> {
    if users.is_empty() || users.len() > USERS_PER_REQUEST_MAX {
        return Err(Error::BatchSize);
    }
    for user in users {
        let chars = user.username.chars().count();
        if chars == 0 || chars > USERNAME_CHARS_MAX {
            return Err(Error::InvalidUsername(user.username.clone()));
        }
        if user.balance < 0 {
            return Err(Error::InvalidBalance);
        }
    }
    db::retrying(db, || create_users_once(db, users)).await
}

async fn create_users_once(db: &Db, users: &[NewUser]) -> Result<Vec<CreatedUser>, Error> {
    let mut tx = db.begin().await?;
    let mut created = Vec::with_capacity(users.len());
    for user in users {
        let insert = sqlx::query("INSERT INTO users (username, balance) VALUES (?, ?)")
            .bind(user.username.as_str())
            .bind(user.balance);
        let id = match db::insert_returning_id(&mut tx, insert).await {
            Err(err) if db::is_unique_violation(&err) => {
                return Err(Error::InvalidUsername(user.username.clone()))
            }
            inserted => inserted?,
        };
        created.push(CreatedUser {
            id,
            username: user.username.clone(),
        });
    }
    tx.commit().await?;
    Ok(created)
}

/// Ledger totals from one snapshot.
pub(crate) async fn ledger(db: &Db) -> Result<Ledger, Error> {
    let mut conn = db.pool().acquire().await?;
    let mut tx = db.begin_snapshot(&mut conn).await?;
    let (users, balance, reserved, captured): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(balance), 0) AS SIGNED), \
         CAST(COALESCE(SUM(reserved), 0) AS SIGNED), CAST(COALESCE(SUM(captured), 0) AS SIGNED) \
         FROM users",
    )
    .fetch_one(&mut *tx)
    .await?;
    let statuses = [RESERVED, "confirmed", tcc::CANCELLED];
    let reservations = tcc::totals_by_status(&mut tx, "balance_reservations", statuses).await?;
    tx.commit().await?;
    Ok(Ledger {
        users,
        balance,
        reserved,
        captured,
        reservations,
    })
}

/// One user's ledger row.
pub(crate) async fn account(db: &Db, id: i64) -> Result<Account, Error> {
    let row: Option<(String, i64, i64, i64)> =
        sqlx::query_as("SELECT username, balance, reserved, captured FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    let (username, balance, reserved, captured) = row.ok_or(Error::UnknownUser(id))?;
    Ok(Account {
        id,
        username,
        balance,
        reserved,
        captured,
    })
}
