//! The pools' check of a connection coming back (sqlx's `after_release` hook), shared by
//! the engine and the services.

/// True when `conn` is outside any transaction and may be reused; false closes it (the
/// database then rolls back whatever it held).
///
/// A future dropped at the wrong moment (a client hung up, a timeout, an aborted task) can
/// leave a connection inside a transaction that nothing will end: sqlx's SQLite
/// `BEGIN IMMEDIATE` counts the transaction before it awaits its own check, and a
/// `Transaction` that was never built is never rolled back. Reused, such a connection fails
/// every next `BEGIN` ("attempted to call begin_with at non-zero transaction depth") and
/// keeps the write lock, so every other connection's writes time out. A dropped
/// `Transaction` queues its rollback on SQLite's connection thread, so a connection still
/// counted inside one is pinged first: the ping is answered after the queued rollback ran.
/// On MySQL the count is exact at once and the check is free.
pub async fn outside_transaction<C: sqlx::Connection>(conn: &mut C) -> Result<bool, sqlx::Error> {
    if conn.is_in_transaction() {
        conn.ping().await?;
    }
    if conn.is_in_transaction() {
        tracing::warn!("closing a connection left inside a transaction");
        return Ok(false);
    }
    Ok(true)
}
