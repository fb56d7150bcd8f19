//! The classifiers over errors built here (I/O and decode errors, and database errors that
//! carry a SQLite result code or a key kind the way sqlx's drivers report them) and over real
//! SQLite errors, native and through sqlx's `Any` driver (as the services use it). A MySQL
//! error cannot be built outside sqlx; the MySQL numbers are met by the engine's and the
//! services' tests against MariaDB.

use super::*;
use sqlx::error::ErrorKind;
use std::borrow::Cow;
use std::fmt;

/// A database error with a result code and a kind, as a driver reports it.
#[derive(Debug)]
struct Fake {
    code: Option<&'static str>,
    kind: Kind,
}

/// The [`ErrorKind`] a [`Fake`] reports (`ErrorKind` is not `Copy`).
#[derive(Debug)]
enum Kind {
    Unique,
    ForeignKey,
    Other,
}

impl fmt::Display for Fake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fake database error {:?}", self.code)
    }
}

impl std::error::Error for Fake {}

impl DatabaseError for Fake {
    fn message(&self) -> &str {
        "fake"
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.map(Cow::Borrowed)
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> ErrorKind {
        match self.kind {
            Kind::Unique => ErrorKind::UniqueViolation,
            Kind::ForeignKey => ErrorKind::ForeignKeyViolation,
            Kind::Other => ErrorKind::Other,
        }
    }
}

fn sqlite(code: &'static str) -> sqlx::Error {
    sqlx::Error::Database(Box::new(Fake {
        code: Some(code),
        kind: Kind::Other,
    }))
}

fn io() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "reset",
    ))
}

#[test]
fn busy_and_locked_are_transient_and_nothing_else_is() {
    for code in ["5", "6", "261", "517"] {
        assert!(is_transient(&sqlite(code)), "SQLite code {code}");
    }
    for code in ["1", "19", "2067", "55"] {
        assert!(!is_transient(&sqlite(code)), "SQLite code {code}");
    }
    assert!(!is_transient(&io()), "a dead connection is not a conflict");
    assert!(!is_transient(&sqlx::Error::RowNotFound));
    assert!(!is_transient(&sqlx::Error::PoolTimedOut));
}

#[test]
fn only_io_errors_are_dead_connections_off_mysql() {
    assert!(is_dead_connection(&io()));
    assert!(!is_dead_connection(&sqlite("5")));
    assert!(!is_dead_connection(&sqlx::Error::PoolTimedOut));
    assert!(!is_dead_connection(&sqlx::Error::RowNotFound));
}

#[test]
fn dead_connections_are_node_failures_and_conflicts_and_pool_timeouts_are_not() {
    assert!(is_node_failure(&io()));
    assert!(
        !is_node_failure(&sqlx::Error::PoolTimedOut),
        "overload, not a node"
    );
    assert!(!is_node_failure(&sqlite("5")), "busy is a conflict");
    assert!(!is_node_failure(&sqlx::Error::RowNotFound));
}

#[test]
fn a_unique_violation_is_told_by_its_kind() {
    let unique = sqlx::Error::Database(Box::new(Fake {
        code: Some("2067"),
        kind: Kind::Unique,
    }));
    assert!(is_unique_violation(&unique));
    let foreign = sqlx::Error::Database(Box::new(Fake {
        code: Some("787"),
        kind: Kind::ForeignKey,
    }));
    assert!(!is_unique_violation(&foreign));
    assert!(
        !is_unique_violation(&sqlite("2067")),
        "the kind decides, not the code"
    );
    assert!(!is_unique_violation(&io()));
}

#[test]
fn constraints_too_big_and_undecodable_values_are_refused_data() {
    // TOOBIG, CONSTRAINT, and CONSTRAINT's extended codes (UNIQUE 2067, NOTNULL 1299,
    // CHECK 275).
    for code in ["18", "19", "2067", "1299", "275"] {
        assert!(is_refused_data(&sqlite(code)), "SQLite code {code}");
    }
    // BUSY, a generic error, READONLY, and a code that is not a number.
    for code in ["5", "1", "8", "HY000"] {
        assert!(!is_refused_data(&sqlite(code)), "SQLite code {code}");
    }
    let no_code = sqlx::Error::Database(Box::new(Fake {
        code: None,
        kind: Kind::Other,
    }));
    assert!(!is_refused_data(&no_code));
    assert!(is_refused_data(&sqlx::Error::Decode("bad utf-8".into())));
    assert!(is_refused_data(&sqlx::Error::ColumnDecode {
        index: "key".into(),
        source: "bad utf-8".into(),
    }));
    assert!(!is_refused_data(&io()));
    assert!(!is_refused_data(&sqlx::Error::PoolTimedOut));
}

/// The errors a real SQLite database gives for a duplicate key, a missing value and a lock
/// held by another connection, on `conn` (native or through sqlx's `Any` driver).
async fn real_errors<C>(conn: &mut C, other: &mut C) -> [sqlx::Error; 3]
where
    C: sqlx::Connection,
    for<'c> &'c mut C: sqlx::Executor<'c>,
{
    sqlx::raw_sql(
        "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL); INSERT INTO t VALUES ('a', 'x')",
    )
    .execute(&mut *conn)
    .await
    .expect("schema");
    let duplicate = sqlx::raw_sql("INSERT INTO t VALUES ('a', 'y')")
        .execute(&mut *conn)
        .await
        .map(drop)
        .expect_err("a duplicate key");
    let missing = sqlx::raw_sql("INSERT INTO t (k) VALUES ('b')")
        .execute(&mut *conn)
        .await
        .map(drop)
        .expect_err("a missing value");
    sqlx::raw_sql("BEGIN IMMEDIATE; INSERT INTO t VALUES ('c', 'z')")
        .execute(&mut *conn)
        .await
        .expect("hold the write lock");
    let busy = sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut *other)
        .await
        .map(drop)
        .expect_err("the write lock is held");
    [duplicate, missing, busy]
}

fn assert_classified([duplicate, missing, busy]: &[sqlx::Error; 3]) {
    assert!(is_unique_violation(duplicate), "{duplicate}");
    assert!(is_refused_data(duplicate), "{duplicate}");
    assert!(!is_transient(duplicate), "{duplicate}");
    assert!(!is_unique_violation(missing), "{missing}");
    assert!(is_refused_data(missing), "{missing}");
    assert!(is_transient(busy), "{busy}");
    assert!(!is_refused_data(busy), "{busy}");
    assert!(!is_dead_connection(busy), "{busy}");
}

#[tokio::test]
async fn real_sqlite_errors_are_classified() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    use sqlx::ConnectOptions;
    let dir = std::env::temp_dir().join(format!("sqlerr-native-{}.db", std::process::id()));
    let options = SqliteConnectOptions::new()
        .filename(&dir)
        .create_if_missing(true)
        .busy_timeout(std::time::Duration::ZERO);
    let mut conn: SqliteConnection = options.connect().await.expect("connect");
    let mut other: SqliteConnection = options.connect().await.expect("connect");
    let errors = real_errors(&mut conn, &mut other).await;
    drop((conn, other));
    let _ = std::fs::remove_file(&dir);
    assert_classified(&errors);
}

#[tokio::test]
async fn real_sqlite_errors_through_the_any_driver_are_classified() {
    use sqlx::{AnyConnection, Connection};
    sqlx::any::install_default_drivers();
    let dir = std::env::temp_dir().join(format!("sqlerr-any-{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", dir.display());
    let mut conn = AnyConnection::connect(&url).await.expect("connect");
    let mut other = AnyConnection::connect(&url).await.expect("connect");
    sqlx::raw_sql("PRAGMA busy_timeout = 0")
        .execute(&mut other)
        .await
        .expect("no wait for the lock");
    let errors = real_errors(&mut conn, &mut other).await;
    drop((conn, other));
    let _ = std::fs::remove_file(&dir);
    assert_classified(&errors);
}
