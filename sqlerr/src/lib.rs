//! What a sqlx error means for the caller, on MySQL/MariaDB and SQLite: a conflict a retry of
//! the whole transaction cures ([`is_transient`]), a connection that is gone
//! ([`is_dead_connection`]) or a node that cannot serve it ([`is_node_failure`]), a key that is already taken ([`is_unique_violation`]), or data
//! the database refused ([`is_refused_data`]); and whether a connection coming back to its
//! pool may be reused ([`outside_transaction`]).
//!
//! A leaf crate (only sqlx) so that the engine and the services share one classification
//! while the services still depend on nothing of the engine. MySQL errors are recognised by
//! their server error number; any other database error by its SQLite result code, which is
//! how both sqlx's SQLite driver and its `Any` driver report it.

mod released;
pub use released::outside_transaction;

use sqlx::error::DatabaseError;
use sqlx::mysql::MySqlDatabaseError;

/// True for errors that a retry of the whole transaction can cure: MySQL deadlock (1213),
/// lock wait timeout (1205), record changed (1020); SQLite busy/locked.
pub fn is_transient(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    match mysql_number(db.as_ref()) {
        Some(number) => matches!(number, 1213 | 1205 | 1020),
        // SQLite extended result codes: BUSY, LOCKED, BUSY_RECOVERY, BUSY_SNAPSHOT.
        None => matches!(db.code().as_deref(), Some("5" | "6" | "261" | "517")),
    }
}

/// True for errors that say the connection itself is gone: I/O errors, and MySQL's "server
/// has gone away" (2006), "lost connection" (2013) and "server shutdown" (1053).
pub fn is_dead_connection(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => {
            mysql_number(db.as_ref()).is_some_and(|n| matches!(n, 1053 | 2006 | 2013))
        }
        _ => false,
    }
}

/// True when the node behind the connection cannot serve it, so the whole transaction is
/// worth running again, perhaps on another node: a dead connection ([`is_dead_connection`]),
/// a Galera node that is not synced ("WSREP has not yet prepared node for application use",
/// 1047) or not in the primary component at commit (1180), or a connection killed by a node shutting down (1927). Not a pool timeout: the
/// pool already retried its connects for the whole timeout (on a cluster, to whichever node
/// the failover chose meanwhile), and an exhausted pool is overload, not a node failure.
pub fn is_node_failure(err: &sqlx::Error) -> bool {
    if is_dead_connection(err) {
        return true;
    }
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    match mysql_number(db.as_ref()) {
        Some(1047) => db.message().contains("WSREP"),
        // "Got error … during COMMIT … Not connected to Primary Component": nothing was
        // replicated, so nothing committed.
        Some(1180) => db.message().contains("Primary Component"),
        Some(1927) => true,
        _ => false,
    }
}

/// True for a unique-key violation (a concurrent insert of the same key won).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// True when the database refused a statement for the data it carries: a value too long
/// or out of range, a bad string, a constraint, a packet too large (MySQL 1048, 1062, 1153,
/// 1264, 1292, 1366, 1406, 3140, 4025; SQLite constraint and too-big codes), or a value that
/// does not decode. Schema errors, outages and timeouts are not.
pub fn is_refused_data(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => true,
        sqlx::Error::Database(db) => match mysql_number(db.as_ref()) {
            Some(number) => matches!(
                number,
                1048 | 1062 | 1153 | 1264 | 1292 | 1366 | 1406 | 3140 | 4025
            ),
            // SQLite: TOOBIG (18), CONSTRAINT (19) and its extended codes (… + 256 * n).
            None => db
                .code()
                .and_then(|c| c.parse::<u32>().ok())
                .is_some_and(|c| matches!(c & 0xff, 18 | 19)),
        },
        _ => false,
    }
}

/// The server error number of a MySQL error; `None` for any other database's error.
fn mysql_number(db: &dyn DatabaseError) -> Option<u16> {
    db.try_downcast_ref::<MySqlDatabaseError>()
        .map(MySqlDatabaseError::number)
}

#[cfg(test)]
mod tests;
