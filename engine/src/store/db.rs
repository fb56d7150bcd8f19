//! The thin layer that lets the store's SQL be written once for MariaDB/MySQL and SQLite:
//! one pool, transaction and row type over both drivers, plain `?` placeholders, and the
//! few dialect differences ([`Dialect`]).
//!
//! Not an ORM and not a query builder: statements are plain SQL strings. Counts the
//! statements and commits it runs, so benchmarks can report them.

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Executor, Row as _};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Which SQL dialect a pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    MySql,
    Sqlite,
}

impl Dialect {
    /// The database clock as microseconds since the Unix epoch.
    pub fn now(self) -> &'static str {
        match self {
            Dialect::MySql => "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)",
            Dialect::Sqlite => "CAST(unixepoch('subsec') * 1000000 AS INTEGER)",
        }
    }

    /// Suffix of a `SELECT` that locks the rows it reads (SQLite locks the whole database
    /// for a write transaction instead).
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::MySql => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }

    /// Suffix of a claiming `SELECT`: lock what it reads, skip what others hold.
    pub fn for_update_skip_locked(self) -> &'static str {
        match self {
            Dialect::MySql => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        }
    }
}

/// `args![a, b, c]`: a `Vec<Arg>` from values of mixed types.
macro_rules! args {
    ($($value:expr),* $(,)?) => { vec![$($crate::store::db::Arg::from($value)),*] };
}
pub(crate) use args;

/// Binds `args` to `sqlx::query(sql)` for one backend.
macro_rules! bind_all {
    ($sql:expr, $args:expr) => {{
        let mut query = sqlx::query($sql);
        for arg in $args {
            query = match arg {
                Arg::Int(v) => query.bind(v),
                Arg::OptInt(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::OptText(v) => query.bind(v),
            };
        }
        query
    }};
}

mod guarded;
use guarded::Guarded;

/// A connection pool on either backend.
#[derive(Debug, Clone)]
pub enum Pool {
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

/// Statements and commits run through a pool, for benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    pub statements: AtomicU64,
    pub commits: AtomicU64,
}

impl Pool {
    /// Connects by URL scheme: `mysql://` (also MariaDB) or `sqlite://`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Pool, sqlx::Error> {
        if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            let options = MySqlConnectOptions::from_str(&url.replacen("mariadb:", "mysql:", 1))?;
            let pool = MySqlPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                // No ping before every transaction: sqlx already pings each connection when it
                // comes back to the pool, and a connection that died idle fails its first
                // statement, which the callers retry (`Store` operations are idempotent).
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
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
                .after_release(|conn, _| Box::pin(outside_transaction(conn)))
                .connect_with(options)
                .await?;
            Ok(Pool::MySql(pool))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .after_release(|conn, _| Box::pin(outside_transaction(conn)))
                .connect_with(options)
                .await?;
            Ok(Pool::Sqlite(pool))
        } else {
            Err(sqlx::Error::Configuration(
                format!("unsupported database URL `{url}`: use mysql://… or sqlite://…").into(),
            ))
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Pool::MySql(_) => Dialect::MySql,
            Pool::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`),
    /// so two writers never deadlock upgrading a read lock.
    pub async fn begin(&self) -> Result<Tx<'_>, sqlx::Error> {
        let inner = match self {
            Pool::MySql(pool) => TxInner::MySql(begin_mysql(pool).await?),
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
            Pool::MySql(pool) => TxInner::MySql(begin_mysql(pool).await?),
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
            Pool::MySql(pool) => {
                let rows = passing_dead_connections(pool, || async {
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
            Pool::MySql(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }
}

/// The pools' check of a connection coming back: true when it is outside any transaction;
/// false closes it (the database then rolls back whatever it held).
///
/// A future dropped at the wrong moment (a client hung up, a timeout, an aborted task) can
/// leave a connection inside a transaction that nothing will end: sqlx's SQLite
/// `BEGIN IMMEDIATE` counts the transaction before it awaits its own check, and a
/// `Transaction` that was never built is never rolled back. Reused, such a connection fails
/// every next `BEGIN IMMEDIATE` ("attempted to call begin_with at non-zero transaction
/// depth") and keeps the write lock, so every other connection's writes time out. A dropped
/// `Transaction` queues its rollback on SQLite's connection thread, so a connection still
/// counted inside one is pinged first: the ping is answered after the queued rollback ran.
/// On MySQL the count is exact at once and the check is free.
async fn outside_transaction<C: sqlx::Connection>(conn: &mut C) -> Result<bool, sqlx::Error> {
    if conn.is_in_transaction() {
        conn.ping().await?;
    }
    if conn.is_in_transaction() {
        tracing::warn!("closing a connection left inside a transaction");
        return Ok(false);
    }
    Ok(true)
}

/// Begins a transaction on a MySQL pool, passing over connections that died while idle.
async fn begin_mysql(pool: &MySqlPool) -> Result<Guarded, sqlx::Error> {
    passing_dead_connections(pool, || async {
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
/// so this ends within the pool's size.
async fn passing_dead_connections<T, Fut>(
    pool: &MySqlPool,
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
            }
            other => return other,
        }
    }
}

/// True for errors that say the connection itself is gone: I/O errors, and MySQL's "server
/// has gone away" (2006), "lost connection" (2013) and "server shutdown" (1053).
pub fn is_dead_connection(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|mysql| matches!(mysql.number(), 1053 | 2006 | 2013)),
        _ => false,
    }
}

/// A bound value.
#[derive(Debug, Clone)]
pub enum Arg {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::OptInt(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(v.to_owned())
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::OptText(v)
    }
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

/// A result row of either backend, read by column name.
pub enum Row {
    MySql(MySqlRow),
    Sqlite(SqliteRow),
}

impl Row {
    pub fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        match self {
            Row::MySql(r) => r.try_get(column),
            Row::Sqlite(r) => r.try_get(column),
        }
    }

    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        match self {
            Row::MySql(r) => r.try_get(column),
            Row::Sqlite(r) => r.try_get(column),
        }
    }

    pub fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        match self {
            Row::MySql(r) => r.try_get(column),
            Row::Sqlite(r) => r.try_get(column),
        }
    }

    pub fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        match self {
            Row::MySql(r) => r.try_get(column),
            Row::Sqlite(r) => r.try_get(column),
        }
    }

    /// A text column stored byte-exact (MySQL `VARBINARY`, SQLite `TEXT`), such as an
    /// idempotency key.
    pub fn opt_exact_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        match self {
            Row::MySql(r) => {
                let bytes: Option<Vec<u8>> = r.try_get(column)?;
                bytes
                    .map(String::from_utf8)
                    .transpose()
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))
            }
            Row::Sqlite(r) => r.try_get(column),
        }
    }
}

/// `?, ?, ?` with `n` placeholders.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `(?, ?), (?, ?)`: `rows` groups of `width` placeholders, for multi-row statements.
pub fn tuples(rows: usize, width: usize) -> String {
    let one = format!("({})", placeholders(width));
    vec![one; rows].join(", ")
}

/// Size a list of `n` values is padded to: the next power of two, so statements whose size
/// follows the batch come in a few shapes and stay in the prepared-statement cache.
fn padded_len(n: usize) -> usize {
    n.next_power_of_two()
}

/// `?, ?, …` and its values for an `IN (…)` list, padded by repeating the last value (which
/// changes nothing an `IN` list means).
pub fn padded_list(values: &[String]) -> (String, Vec<Arg>) {
    assert!(!values.is_empty(), "an IN list needs a value");
    let n = padded_len(values.len());
    let args = (0..n)
        .map(|i| Arg::Text(values[i.min(values.len() - 1)].clone()))
        .collect();
    (placeholders(n), args)
}

/// One column of a [`case_update`]: its value per row, and how the `CASE` is wrapped (`{}`
/// stands for it, e.g. `COALESCE({}, request)` keeps the old value where the new is NULL).
pub struct Column {
    pub name: &'static str,
    pub wrap: &'static str,
    pub values: Vec<Arg>,
}

/// One statement that gives each row its own values:
/// `UPDATE t SET c = CASE key WHEN ? THEN ? … END, …, fixed = ? WHERE key IN (…) AND extra`.
/// Rows are padded (the last repeated) like [`padded_list`]. The same SQL runs on MySQL and
/// SQLite; no column is read after it is set, so MySQL's left-to-right `SET` changes nothing.
pub fn case_update(
    table: &str,
    key: &str,
    keys: &[String],
    columns: &[Column],
    fixed: &[(&str, Arg)],
    extra_where: &str,
) -> (String, Vec<Arg>) {
    let n = padded_len(keys.len());
    let row = |i: usize| i.min(keys.len() - 1);
    let case = format!("CASE {key} {} END", vec!["WHEN ? THEN ?"; n].join(" "));
    let mut sets: Vec<String> = columns
        .iter()
        .map(|c| format!("{} = {}", c.name, c.wrap.replace("{}", &case)))
        .collect();
    sets.extend(fixed.iter().map(|(name, _)| format!("{name} = ?")));
    let (list, list_args) = padded_list(keys);
    let sql = format!(
        "UPDATE {table} SET {} WHERE {key} IN ({list}) AND {extra_where}",
        sets.join(", ")
    );
    let mut args = Vec::with_capacity(columns.len() * n * 2 + fixed.len() + n);
    for c in columns {
        assert_eq!(c.values.len(), keys.len(), "one value per row");
        for i in 0..n {
            args.push(Arg::Text(keys[row(i)].clone()));
            args.push(c.values[row(i)].clone());
        }
    }
    args.extend(fixed.iter().map(|(_, v)| v.clone()));
    args.extend(list_args);
    (sql, args)
}

/// True for errors that a retry of the whole transaction can cure: MySQL deadlock (1213),
/// lock wait timeout (1205), record changed (1020); SQLite busy/locked.
pub fn is_transient(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    match db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        Some(mysql) => matches!(mysql.number(), 1213 | 1205 | 1020),
        // SQLite extended result codes: BUSY, LOCKED, BUSY_RECOVERY, BUSY_SNAPSHOT.
        None => matches!(db.code().as_deref(), Some("5" | "6" | "261" | "517")),
    }
}

/// True when the database refused a statement for the data it carries: a value too long
/// or out of range, a bad string, a constraint, a packet too large (MySQL 1048, 1062, 1153,
/// 1264, 1292, 1366, 1406, 3140, 4025; SQLite constraint and too-big codes), or a value that
/// does not decode. Schema errors, outages and timeouts are not.
pub fn is_refused_data(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => true,
        sqlx::Error::Database(db) => match db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        {
            Some(mysql) => matches!(
                mysql.number(),
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

/// True for a unique-key violation (a concurrent insert of the same key won).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Creates what a URL names if it is missing: the database on a MySQL server, the parent
/// directory of a SQLite file. Lets `migrate` and `dev` start from nothing.
pub async fn ensure_database(url: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = std::path::Path::new(path.split('?').next().unwrap_or(path));
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        return Ok(());
    }
    let Some((server, name)) = split_mysql_url(url) else {
        return Ok(());
    };
    let mut conn = sqlx::MySqlConnection::connect(&server).await?;
    conn.execute(format!("CREATE DATABASE IF NOT EXISTS `{name}`").as_str())
        .await?;
    conn.close().await
}

/// `mysql://u@h:p/db?x` -> (`mysql://u@h:p?x`, `db`); `None` without a database name.
fn split_mysql_url(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("mysql://")
        .or_else(|| url.strip_prefix("mariadb://"))?;
    let (authority, path) = rest.split_once('/')?;
    let (name, query) = path
        .split_once('?')
        .map_or((path, None), |(n, q)| (n, Some(q)));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let server = match query {
        Some(q) => format!("mysql://{authority}?{q}"),
        None => format!("mysql://{authority}"),
    };
    Some((server, name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_urls_split_into_server_and_database() {
        assert_eq!(
            split_mysql_url("mysql://root@127.0.0.1:3306/saga_orchestrator?ssl-mode=disabled"),
            Some((
                "mysql://root@127.0.0.1:3306?ssl-mode=disabled".into(),
                "saga_orchestrator".into()
            ))
        );
        assert_eq!(split_mysql_url("mysql://root@127.0.0.1:3306"), None);
        assert_eq!(split_mysql_url("mysql://h/bad`name"), None);
        assert_eq!(tuples(2, 3), "(?, ?, ?), (?, ?, ?)");
    }

    #[test]
    fn case_update_pads_rows_to_a_power_of_two() {
        let keys = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let col = Column {
            name: "x",
            wrap: "COALESCE({}, x)",
            values: vec![Arg::Int(1), Arg::Int(2), Arg::Int(3)],
        };
        let (sql, args) = case_update("t", "id", &keys, &[col], &[("u", Arg::Int(9))], "1 = 1");
        let case = "CASE id WHEN ? THEN ? WHEN ? THEN ? WHEN ? THEN ? WHEN ? THEN ? END";
        assert_eq!(
            sql,
            format!(
                "UPDATE t SET x = COALESCE({case}, x), u = ? WHERE id IN (?, ?, ?, ?) AND 1 = 1"
            )
        );
        assert_eq!(args.len(), 8 + 1 + 4);
        assert!(
            matches!(&args[6], Arg::Text(k) if k == "c"),
            "the last row repeats"
        );
        assert!(matches!(&args[7], Arg::Int(3)));
        assert!(matches!(&args[12], Arg::Text(k) if k == "c"));
    }
}
