//! The pool and its transactions on either backend: connecting (session settings, the
//! check that closes a connection left inside a transaction), `BEGIN` and autocommit reads
//! that pass over connections that died while idle, and statement counting.

use super::guarded::Guarded;
use super::{is_dead_connection, Arg, Dialect, Row};
use dbha::{Failover, Nodes};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Executor;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A connection pool on either backend. A MySQL URL with several hosts is one database on
/// the nodes of a cluster: the pool uses one node at a time and its [`Failover`] moves it.
#[derive(Debug, Clone)]
pub enum Pool {
    MySql(MySqlPool, Option<Failover>),
    Sqlite(SqlitePool),
}

/// How often a pool on a cluster checks the node it uses while nothing fails.
const NODE_CHECK_PERIOD: Duration = Duration::from_secs(1);

/// Statements and commits run through a pool, for benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    pub statements: AtomicU64,
    pub commits: AtomicU64,
}

impl Pool {
    /// Connects by URL scheme: `mysql://` (also MariaDB; several comma-separated hosts for
    /// the nodes of a cluster, preferred in that order) or `sqlite://`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Pool, sqlx::Error> {
        if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            let nodes = Nodes::parse(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
            let failover = nodes
                .is_cluster()
                .then(|| Failover::new(&nodes.database_label(), nodes.clone()));
            let options = MySqlConnectOptions::from_str(&nodes.url(0))?;
            let synced = failover.clone();
            let fresh = failover.clone();
            let pool = MySqlPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                // No ping before every transaction: sqlx already pings each connection when it
                // comes back to the pool, and a connection that died idle fails its first
                // statement, which the callers retry (`Store` operations are idempotent).
                .test_before_acquire(false)
                .before_acquire(move |_, meta| {
                    // After a move to another node, connections to the old one are closed.
                    let fresh = Failover::admits(fresh.as_ref(), meta.age);
                    Box::pin(async move { Ok(fresh) })
                })
                .after_connect(move |conn, _| {
                    let synced = synced.clone();
                    Box::pin(async move {
                        if let Some(failover) = synced {
                            check_synced(conn, &failover).await?;
                        }
                        // Record locks only (no gap locks) for claims, and no stale snapshots.
                        conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                            .await?;
                        // The batches' `workflow_id IN (…)` lists are planned from index
                        // statistics, not by one index dive per value.
                        conn.execute("SET SESSION eq_range_index_dive_limit = 4")
                            .await?;
                        Ok(())
                    })
                })
                .after_release(|conn, _| Box::pin(sqlerr::outside_transaction(conn)))
                .connect_with(options)
                .await?;
            if let Some(failover) = &failover {
                let target = pool.clone();
                failover.attach(move |url| {
                    target.set_connect_options(MySqlConnectOptions::from_str(url)?);
                    Ok(())
                });
                failover.spawn_watch(NODE_CHECK_PERIOD);
            }
            Ok(Pool::MySql(pool, failover))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .after_release(|conn, _| Box::pin(sqlerr::outside_transaction(conn)))
                .connect_with(options)
                .await?;
            Ok(Pool::Sqlite(pool))
        } else {
            Err(sqlx::Error::Configuration(
                format!("unsupported database URL `{url}`: use mysql://… or sqlite://…").into(),
            ))
        }
    }

    /// The failover of a pool on a cluster.
    pub fn failover(&self) -> Option<&Failover> {
        match self {
            Pool::MySql(_, failover) => failover.as_ref(),
            Pool::Sqlite(_) => None,
        }
    }

    /// The database's name, for metric labels.
    pub fn database_label(&self) -> String {
        match self {
            Pool::MySql(pool, _) => pool
                .connect_options()
                .get_database()
                .unwrap_or("")
                .to_owned(),
            Pool::Sqlite(_) => "sqlite".to_owned(),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Pool::MySql(..) => Dialect::MySql,
            Pool::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`),
    /// so two writers never deadlock upgrading a read lock.
    pub async fn begin(&self) -> Result<Tx<'_>, sqlx::Error> {
        let inner = match self {
            Pool::MySql(pool, failover) => {
                TxInner::MySql(begin_mysql(pool, failover.as_ref()).await?)
            }
            Pool::Sqlite(pool) => TxInner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
        };
        Ok(Tx {
            inner,
            counters: None,
        })
    }

    /// Starts a read-only transaction (on SQLite a deferred one: no write lock).
    pub async fn begin_read(&self) -> Result<Tx<'_>, sqlx::Error> {
        let inner = match self {
            Pool::MySql(pool, failover) => {
                TxInner::MySql(begin_mysql(pool, failover.as_ref()).await?)
            }
            Pool::Sqlite(pool) => TxInner::Sqlite(pool.begin().await?),
        };
        Ok(Tx {
            inner,
            counters: None,
        })
    }

    /// Runs one read-only statement outside a transaction (autocommit: no `BEGIN` and
    /// `COMMIT` round trips). A read is safe to repeat, so a connection that died while idle
    /// is passed over as in [`Pool::begin`].
    pub async fn fetch_all(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, sqlx::Error> {
        match self {
            Pool::MySql(pool, failover) => {
                let rows = passing_dead_connections(pool, failover.as_ref(), || async {
                    Guarded::acquire(pool)
                        .await?
                        .fetch_all(sql, args.clone())
                        .await
                })
                .await?;
                Ok(rows.into_iter().map(Row::MySql).collect())
            }
            Pool::Sqlite(pool) => Ok(bind_all!(sql, args)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect()),
        }
    }

    pub async fn close(&self) {
        match self {
            Pool::MySql(pool, _) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }
}

/// Begins a transaction on a MySQL pool, passing over connections that died while idle.
async fn begin_mysql(
    pool: &MySqlPool,
    failover: Option<&Failover>,
) -> Result<Guarded, sqlx::Error> {
    passing_dead_connections(pool, failover, || async {
        let mut conn = Guarded::acquire(pool).await?;
        conn.begin().await?;
        Ok(conn)
    })
    .await
}

/// Runs `op` (a `BEGIN`, or a read that is safe to repeat) again while it fails because its
/// connection is gone.
///
/// The pool does not ping a connection before handing it out (a round trip per transaction),
/// so after the server restarted or dropped idle sessions the first use of each old
/// connection fails. Every dead connection is closed as it fails and the pool opens new ones,
/// so this ends within the pool's size. On a cluster the node is checked first (it may have
/// died: then the pool moves to another).
async fn passing_dead_connections<T, Fut>(
    pool: &MySqlPool,
    failover: Option<&Failover>,
    mut op: impl FnMut() -> Fut,
) -> Result<T, sqlx::Error>
where
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut tries = 0;
    loop {
        match op().await {
            Err(err)
                if is_dead_connection(&err) && tries <= pool.options().get_max_connections() =>
            {
                tracing::debug!(error = %err, "connection died while idle, taking another");
                tries += 1;
                if let Some(failover) = failover {
                    failover.suspect().await;
                }
            }
            other => return other,
        }
    }
}

/// Refuses a new connection to a cluster node that is not synced
/// ([`Failover::refuse_unsynced`]).
async fn check_synced(
    conn: &mut sqlx::MySqlConnection,
    failover: &Failover,
) -> Result<(), sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(dbha::SYNC_STATUS_SQL)
        .fetch_all(&mut *conn)
        .await?;
    failover.refuse_unsynced(&rows)
}

enum TxInner<'p> {
    /// Begun and ended by hand, so a dropped future never leaves it half-read (see
    /// `guarded`).
    MySql(Guarded),
    Sqlite(sqlx::Transaction<'p, sqlx::Sqlite>),
}

/// An open transaction on either backend. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx<'p> {
    inner: TxInner<'p>,
    counters: Option<&'p Counters>,
}

impl<'p> Tx<'p> {
    /// Counts this transaction's statements and its commit into `counters`.
    pub fn counted(mut self, counters: &'p Counters) -> Tx<'p> {
        counters.statements.fetch_add(1, Ordering::Relaxed); // the BEGIN
        self.counters = Some(counters);
        self
    }

    fn count(&self) {
        if let Some(c) = self.counters {
            c.statements.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, sqlx::Error> {
        self.count();
        Ok(match &mut self.inner {
            TxInner::MySql(conn) => conn.execute(sql, args).await?,
            TxInner::Sqlite(tx) => bind_all!(sql, args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// Runs a query and returns every row.
    pub async fn fetch_all(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, sqlx::Error> {
        self.count();
        Ok(match &mut self.inner {
            TxInner::MySql(conn) => conn
                .fetch_all(sql, args)
                .await?
                .into_iter()
                .map(Row::MySql)
                .collect(),
            TxInner::Sqlite(tx) => bind_all!(sql, args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
        })
    }

    /// Ends the transaction undone, now: its locks go at once (a dropped one is rolled back
    /// a moment later, and until then other claims skip the rows it locked).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.inner {
            TxInner::MySql(conn) => conn.rollback().await,
            TxInner::Sqlite(tx) => tx.rollback().await,
        }
    }

    /// Commits `result`'s work when it is `Ok`, else rolls it back at once; the result is
    /// handed back (a failed commit becomes the error).
    pub async fn settle<T, E: From<sqlx::Error>>(self, result: Result<T, E>) -> Result<T, E> {
        match result {
            Ok(value) => {
                self.commit().await?;
                Ok(value)
            }
            Err(err) => {
                if let Err(e) = self.rollback().await {
                    tracing::debug!(error = %e, "rollback failed; the connection will be dropped");
                }
                Err(err)
            }
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        if let Some(c) = self.counters {
            c.statements.fetch_add(1, Ordering::Relaxed);
            c.commits.fetch_add(1, Ordering::Relaxed);
        }
        match self.inner {
            TxInner::MySql(conn) => conn.commit().await,
            TxInner::Sqlite(tx) => tx.commit().await,
        }
    }
}
