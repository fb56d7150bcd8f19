//! The TCC barrier table: one row per (transaction, phase), inserted in the same database
//! transaction as the phase's effect. The primary key makes each phase take effect once, and a
//! cancel that arrives before its try writes the try's row itself ("blocked"), so the late try
//! finds it and is refused. This module knows nothing about what a phase does.

use sqlx::AnyConnection;

use crate::db;

/// Barrier outcome of a phase that took effect.
const APPLIED: &str = "applied";
/// Barrier outcome of a try row written by a cancel that came first.
const BLOCKED: &str = "blocked";

/// A TCC phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Try,
    Confirm,
    Cancel,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Try => "try",
            Phase::Confirm => "confirm",
            Phase::Cancel => "cancel",
        }
    }
}

/// What a phase found when it entered the barrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// First time for this (transaction, phase): the caller applies the effect.
    First,
    /// The phase already took effect: the caller returns the recorded result.
    Replay,
    /// Only for try: a cancel came first and blocked it.
    Blocked,
}

/// Inserts the barrier row of `phase`. A concurrent twin waits on the row lock and then sees
/// the committed row, so at most one of them gets [`Entry::First`].
pub(crate) async fn enter(
    conn: &mut AnyConnection,
    transaction_id: &str,
    phase: Phase,
) -> sqlx::Result<Entry> {
    if insert(conn, transaction_id, phase, APPLIED).await? {
        return Ok(Entry::First);
    }
    let outcome: String = sqlx::query_scalar(
        "SELECT outcome FROM tcc_barrier WHERE transaction_id = ? AND phase = ?",
    )
    .bind(transaction_id)
    .bind(phase.as_str())
    .fetch_one(conn)
    .await?;
    Ok(if outcome == BLOCKED {
        Entry::Blocked
    } else {
        Entry::Replay
    })
}

/// For a cancel: writes the try row as blocked. True when the try had not run, so the cancel
/// has nothing to release and a late try will be refused.
pub(crate) async fn block_try(
    conn: &mut AnyConnection,
    transaction_id: &str,
) -> sqlx::Result<bool> {
    insert(conn, transaction_id, Phase::Try, BLOCKED).await
}

/// True when `phase` has a barrier row for the transaction.
pub(crate) async fn exists(
    conn: &mut AnyConnection,
    transaction_id: &str,
    phase: Phase,
) -> sqlx::Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM tcc_barrier WHERE transaction_id = ? AND phase = ?")
            .bind(transaction_id)
            .bind(phase.as_str())
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// Inserts one barrier row; false when the row already exists. A duplicate key fails only the
/// statement, on MySQL and SQLite alike, so the surrounding transaction goes on.
async fn insert(
    conn: &mut AnyConnection,
    transaction_id: &str,
    phase: Phase,
    outcome: &str,
) -> sqlx::Result<bool> {
    let inserted =
        sqlx::query("INSERT INTO tcc_barrier (transaction_id, phase, outcome) VALUES (?, ?, ?)")
            .bind(transaction_id)
            .bind(phase.as_str())
            .bind(outcome)
            .execute(conn)
            .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(err) if db::is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err),
    }
}
