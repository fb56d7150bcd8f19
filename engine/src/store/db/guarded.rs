//! A MySQL connection borrowed from the pool that is closed, not reused, when a dropped
//! future left it in a state nobody knows.
//!
//! sqlx-mysql is not safe to cancel mid-statement: a future dropped while an answer is half
//! read leaves the rest of it on the socket, and the next statement on that connection reads
//! it. So every statement marks the connection busy until its answer is read, and a
//! transaction is begun and ended here with plain `BEGIN` / `COMMIT`: dropped mid-statement
//! (or broken), the connection is closed and the server rolls back; dropped between
//! statements with a transaction open (an early return), it is rolled back in a task of its
//! own before the pool hands it out again. Not a pool and not a retry policy.

use super::{is_dead_connection, Arg};
use sqlx::mysql::{MySql, MySqlPool, MySqlRow};
use sqlx::pool::PoolConnection;
use sqlx::Executor;

pub(super) struct Guarded {
    /// `None` only while `Drop` hands it to the rollback task.
    conn: Option<PoolConnection<MySql>>,
    /// A statement was sent and its answer is not fully read.
    in_statement: bool,
    /// `BEGIN` was sent and no `COMMIT` answered.
    in_transaction: bool,
    /// The connection failed as a connection (I/O, server gone): never reuse it.
    broken: bool,
}

impl Guarded {
    pub async fn acquire(pool: &MySqlPool) -> Result<Guarded, sqlx::Error> {
        Ok(Guarded {
            conn: Some(pool.acquire().await?),
            in_statement: false,
            in_transaction: false,
            broken: false,
        })
    }

    /// `BEGIN`.
    pub async fn begin(&mut self) -> Result<(), sqlx::Error> {
        self.in_transaction = true;
        self.raw("BEGIN").await
    }

    /// `COMMIT`; the connection is clean again once it answered.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.raw("ROLLBACK").await?;
        self.in_transaction = false;
        Ok(())
    }

    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.raw("COMMIT").await?;
        self.in_transaction = false;
        Ok(())
    }

    pub async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, sqlx::Error> {
        self.in_statement = true;
        let conn = self.conn.as_mut().expect("held until drop");
        let done = bind_all!(sql, args).execute(&mut **conn).await;
        self.answered(done.map(|d| d.rows_affected()))
    }

    pub async fn fetch_all(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Vec<MySqlRow>, sqlx::Error> {
        self.in_statement = true;
        let conn = self.conn.as_mut().expect("held until drop");
        let rows = bind_all!(sql, args).fetch_all(&mut **conn).await;
        self.answered(rows)
    }

    async fn raw(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        self.in_statement = true;
        let conn = self.conn.as_mut().expect("held until drop");
        let done = conn.execute(sql).await;
        self.answered(done.map(drop))
    }

    /// The statement's answer was read (an error from the server is an answer too).
    fn answered<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        self.in_statement = false;
        if let Err(err) = &result {
            self.broken |= is_dead_connection(err);
        }
        result
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.in_statement || self.broken {
            tracing::debug!(
                in_statement = self.in_statement,
                "closing a connection in an unknown state"
            );
            conn.close_on_drop();
        } else if self.in_transaction {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        if conn.execute("ROLLBACK").await.is_err() {
                            conn.close_on_drop();
                        }
                    });
                }
                Err(_) => conn.close_on_drop(),
            }
        }
    }
}
