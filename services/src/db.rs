//! One service's database: the backend chosen by URL scheme, session settings, migrations, and
//! transactions retried on transient lock conflicts. Not a query layer: the SQL lives in each
//! service's `store`.

use std::{future::Future, str::FromStr, time::Duration};

use dbha::{Failover, Nodes};
use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::{MigrateDatabase, Migrator},
    pool::PoolConnection,
    Any, AnyConnection, AnyPool, Connection, Executor, Transaction,
};

/// How often a pool on a cluster checks the node it uses while nothing fails.
const NODE_CHECK_PERIOD: Duration = Duration::from_secs(1);
/// How long SQLite waits for the write lock before reporting `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unsupported database URL (expected mysql://… or sqlite://…)")]
    UnsupportedUrl,
    #[error("database URL: {0}")]
    Url(#[from] dbha::UrlError),
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The SQL engine a URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    MySql,
    Sqlite,
}

impl Backend {
    /// `mysql://` selects MySQL/MariaDB, `sqlite:` SQLite.
    pub fn from_url(url: &str) -> Result<Backend, Error> {
        if url.starts_with("mysql://") {
            Ok(Backend::MySql)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(Error::UnsupportedUrl)
        }
    }

    /// Statements run on every new connection.
    fn session_sql(self) -> String {
        match self {
            // Conditional updates do not need it, but READ COMMITTED keeps locking reads from
            // taking gap locks. sqlx already sets time_zone '+00:00'.
            Backend::MySql => "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED".into(),
            Backend::Sqlite => format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};"
            ),
        }
    }
}

/// A connection pool to one service's own database. A MySQL URL with several hosts is one
/// database on the nodes of a cluster: one node is used at a time, and its [`Failover`]
/// moves the pool to the next synced one when it fails.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    failover: Option<Failover>,
    /// The database's name, for metric labels.
    label: String,
}

impl Db {
    /// Opens the database at `url`, creating it when missing. SQLite gets a single connection:
    /// it has one writer anyway, and a lone connection never meets `SQLITE_BUSY`.
    pub async fn connect(url: &str, connections_max: u32) -> Result<Db, Error> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let nodes = Nodes::parse(url)?;
        let label = match backend {
            Backend::MySql => nodes.database_label(),
            Backend::Sqlite => "sqlite".to_owned(),
        };
        let failover = nodes
            .is_cluster()
            .then(|| Failover::new(&label, nodes.clone()));
        // On a cluster any node can create it (the statement replicates): the first that
        // answers.
        let first = first_answering(&nodes).await.map_err(Error::Connect)?;
        if !Any::database_exists(&first).await.map_err(Error::Connect)? {
            Any::create_database(&first).await.map_err(Error::Connect)?;
        }
        let connections_max = match backend {
            Backend::MySql => connections_max.max(1),
            Backend::Sqlite => 1,
        };
        let session_sql = backend.session_sql();
        let (synced, fresh) = (failover.clone(), failover.clone());
        let pool = AnyPoolOptions::new()
            .max_connections(connections_max)
            // No ping before every transaction (a round trip each): `begin` passes over a
            // connection that died while idle instead.
            .test_before_acquire(false)
            // After a move to another node, connections to the old one are closed.
            .before_acquire(move |_, meta| {
                let fresh = Failover::admits(fresh.as_ref(), meta.age);
                Box::pin(async move { Ok(fresh) })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(set_session(conn, session_sql.clone(), synced.clone()))
            })
            .after_release(|conn, _meta| Box::pin(sqlerr::outside_transaction(conn)))
            .connect(&first)
            .await
            .map_err(Error::Connect)?;
        if let Some(failover) = &failover {
            let target = pool.clone();
            failover.attach(move |url| {
                target.set_connect_options(AnyConnectOptions::from_str(url)?);
                Ok(())
            });
            failover.spawn_watch(NODE_CHECK_PERIOD);
        }
        Ok(Db {
            pool,
            backend,
            failover,
            label,
        })
    }

    /// Whether the database takes work: it answers, and a Galera node is synced. The
    /// reason when not.
    pub async fn ready(&self) -> Result<(), String> {
        match self.backend {
            Backend::MySql => {
                let rows: Vec<(String, String)> = sqlx::query_as(dbha::SYNC_STATUS_SQL)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| e.to_string())?;
                dbha::sync_state(&rows)
            }
            Backend::Sqlite => sqlx::query("SELECT 1")
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }

    /// The failover of a database on a cluster.
    pub fn failover(&self) -> Option<&Failover> {
        self.failover.as_ref()
    }

    /// Applies the migrations that are not applied yet.
    pub async fn migrate(&self, migrator: &Migrator) -> Result<(), Error> {
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The pool, for reads outside a transaction (and for tests to inspect rows).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so a transaction never has to upgrade a read lock.
    ///
    /// A connection that died while idle (the server restarted or dropped the session) fails
    /// its `BEGIN`; nothing has run yet, so the next connection is tried. Each failure closes
    /// a dead connection, so this ends within the pool's size.
    pub(crate) async fn begin(&self) -> sqlx::Result<Transaction<'static, Any>> {
        let mut tries = 0;
        loop {
            let begun = match self.backend {
                Backend::MySql => self.pool.begin().await,
                Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            };
            match begun {
                Err(err)
                    if is_dead_connection(&err)
                        && tries <= self.pool.options().get_max_connections() =>
                {
                    tracing::debug!(error = %err, "connection died while idle, taking another");
                    tries += 1;
                    if let Some(failover) = &self.failover {
                        failover.suspect().await;
                    }
                }
                other => return other,
            }
        }
    }

    /// Begins a read-only transaction on `conn` that sees one snapshot, so that ledger totals
    /// taken by several statements add up.
    pub(crate) async fn begin_snapshot<'c>(
        &self,
        conn: &'c mut PoolConnection<Any>,
    ) -> sqlx::Result<Transaction<'c, Any>> {
        match self.backend {
            Backend::MySql => {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .execute(&mut **conn)
                    .await?;
                conn.begin_with("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .await
            }
            Backend::Sqlite => conn.begin_with("BEGIN DEFERRED").await,
        }
    }
}

/// The URL of the first node of `nodes` that accepts a connection (the first node when
/// none does: its error is the one reported).
async fn first_answering(nodes: &Nodes) -> sqlx::Result<String> {
    if !nodes.is_cluster() {
        return Ok(nodes.url(0));
    }
    let mut first_error = None;
    for i in 0..nodes.len() {
        match AnyConnection::connect(&nodes.url(i)).await {
            Ok(conn) => {
                let _ = conn.close().await;
                return Ok(nodes.url(i));
            }
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    Err(first_error.unwrap_or(sqlx::Error::PoolClosed))
}

/// A new connection's session settings; on a cluster, a node that is not synced is
/// refused ([`Failover::refuse_unsynced`]).
async fn set_session(
    conn: &mut AnyConnection,
    sql: String,
    failover: Option<Failover>,
) -> sqlx::Result<()> {
    if let Some(failover) = failover {
        let rows: Vec<(String, String)> = sqlx::query_as(dbha::SYNC_STATUS_SQL)
            .fetch_all(&mut *conn)
            .await?;
        failover.refuse_unsynced(&rows)?;
    }
    // Without arguments SQLite runs every statement of the string.
    conn.execute(sql.as_str()).await?;
    Ok(())
}

/// A failure that may carry a database error, so a transaction can be retried for it.
pub(crate) use dbha::retry::DbError;

pub(crate) use sqlerr::{is_dead_connection, is_unique_violation};

/// Runs `attempt` (one whole transaction on `db`) until it succeeds, fails for a reason a
/// retry does not cure, or was retried `dbha::retry::RETRIES_MAX` times: conflicts
/// (deadlock, Galera certification, lock wait, busy) and node failures (dead connection,
/// node not synced; on a cluster the node is checked and perhaps changed first) are
/// retried with exponential backoff and jitter.
pub(crate) async fn retrying<T, E, F, Fut>(db: &Db, attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: DbError + std::fmt::Display,
{
    dbha::retry::run(&db.label, db.failover.as_ref(), attempt).await
}

/// Runs a one-row `INSERT` and returns the id the database generated for it.
pub(crate) async fn insert_returning_id<'q>(
    conn: &mut AnyConnection,
    insert: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
) -> sqlx::Result<i64> {
    let done = insert.execute(&mut *conn).await?;
    match done.last_insert_id() {
        Some(id) => Ok(id),
        // The SQLite driver does not report it; the connection still knows.
        None => {
            sqlx::query_scalar("SELECT last_insert_rowid()")
                .fetch_one(conn)
                .await
        }
    }
}
