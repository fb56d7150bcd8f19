//! The classifiers over errors built here: I/O and decode errors, and database errors that
//! carry a SQLite result code or a key kind the way sqlx's drivers report them. (A MySQL
//! error cannot be built outside sqlx; the MySQL numbers are covered by the engine's tests
//! against MariaDB.)

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
