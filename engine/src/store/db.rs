//! The thin layer that lets the store's SQL be written once for MariaDB/MySQL and SQLite:
//! one pool, transaction and row type over both drivers, plain `?` placeholders, and the
//! few dialect differences ([`Dialect`]).
//!
//! Not an ORM and not a query builder: statements are plain SQL strings. Counts the
//! statements and commits it runs, so benchmarks can report them.
//!
//! Parts: `pool` (pool, transactions, dead connections), `guarded` (a MySQL connection
//! that a dropped future cannot leave half-read), `sql` (pure builders of batch
//! statements); the error classifiers come from the leaf crate `sqlerr`, shared with the
//! services.

use sqlx::mysql::MySqlRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Executor, Row as _};

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
mod pool;
mod sql;

pub use pool::{Counters, Pool, Tx};
pub use sql::{case_update, padded_list, tuples, Column};
pub use sqlerr::{is_dead_connection, is_refused_data, is_transient, is_unique_violation};

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
    // On a cluster any node will do (the statement replicates): the first that answers.
    let nodes = dbha::Nodes::parse(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    let mut last = None;
    for i in 0..nodes.len() {
        let Some((server, name)) = split_mysql_url(&nodes.url(i)) else {
            return Ok(());
        };
        let created = async {
            let mut conn = sqlx::MySqlConnection::connect(&server).await?;
            conn.execute(format!("CREATE DATABASE IF NOT EXISTS `{name}`").as_str())
                .await?;
            conn.close().await
        };
        match created.await {
            Ok(()) => return Ok(()),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or(sqlx::Error::PoolClosed))
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
    }
}
