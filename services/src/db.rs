//! One service's database: the backend chosen by URL scheme, session settings, migrations, and
//! transactions retried on transient lock conflicts. Not a query layer: the SQL lives in each
//! service's `store`.

use std::{future::Future, time::Duration};

use sqlx::{
    any::AnyPoolOptions,
    migrate::{MigrateDatabase, Migrator},
    pool::PoolConnection,
    Any, AnyConnection, AnyPool, Connection, Executor, Transaction,
};

/// How many times a transaction runs when the database reports a transient conflict.
const TRANSACTION_ATTEMPTS_MAX: u32 = 8;
/// Back-off before retry `n` is `n` times this.
const TRANSACTION_RETRY_STEP_MS: u64 = 5;
/// How long SQLite waits for the write lock before reporting `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unsupported database URL (expected mysql://… or sqlite://…)")]
    UnsupportedUrl,
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

/// A connection pool to one service's own database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Opens the database at `url`, creating it when missing. SQLite gets a single connection:
    /// it has one writer anyway, and a lone connection never meets `SQLITE_BUSY`.
    pub async fn connect(url: &str, connections_max: u32) -> Result<Db, Error> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        if !Any::database_exists(url).await.map_err(Error::Connect)? {
            Any::create_database(url).await.map_err(Error::Connect)?;
        }
        let connections_max = match backend {
            Backend::MySql => connections_max.max(1),
            Backend::Sqlite => 1,
        };
        let session_sql = backend.session_sql();
        let pool = AnyPoolOptions::new()
            .max_connections(connections_max)
            // No ping before every transaction (a round trip each): `begin` passes over a
            // connection that died while idle instead.
            .test_before_acquire(false)
            .after_connect(move |conn, _meta| Box::pin(set_session(conn, session_sql.clone())))
            .after_release(|conn, _meta| Box::pin(sqlerr::outside_transaction(conn)))
            .connect(url)
            .await
            .map_err(Error::Connect)?;
        Ok(Db { pool, backend })
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

async fn set_session(conn: &mut AnyConnection, sql: String) -> sqlx::Result<()> {
    // Without arguments SQLite runs every statement of the string.
    conn.execute(sql.as_str()).await?;
    Ok(())
}

/// Errors that are worth running the whole transaction again for.
pub(crate) trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for sqlx::Error {
    /// MySQL deadlock (1213), lock wait timeout (1205) and "record has changed" (1020);
    /// SQLite busy or locked (the one classification in `sqlerr`, shared with the engine).
    fn is_transient(&self) -> bool {
        sqlerr::is_transient(self)
    }
}

pub(crate) use sqlerr::{is_dead_connection, is_unique_violation};

/// Runs `attempt` (one whole transaction) until it succeeds, fails for good, or has run
/// [`TRANSACTION_ATTEMPTS_MAX`] times.
pub(crate) async fn retrying<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Transient,
{
    let mut attempts = 1;
    loop {
        match attempt().await {
            Err(err) if err.is_transient() && attempts < TRANSACTION_ATTEMPTS_MAX => {
                tracing::debug!(attempt = attempts, "transient database conflict, retrying");
                let backoff = TRANSACTION_RETRY_STEP_MS * u64::from(attempts);
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                attempts += 1;
            }
            result => return result,
        }
    }
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
