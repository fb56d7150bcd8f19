//! Test support: one fresh database per test, on MariaDB or on SQLite; the one skip rule
//! for tests that need a server (MariaDB, Redis); fixture text rewritten with checked
//! replacements; test certificates made at run time ([`certs`]).
//!
//! This is not a fixture library: it creates and drops databases and finds servers. What
//! goes into them is each suite's business (migrations, seed data).

use sqlx::{Connection, MySqlConnection, SqliteConnection};

pub mod certs;
mod servers;
mod text;

pub use servers::{in_ci, redis, redis_server_url, server_absent};
pub use text::replace_counted;

/// Where the MariaDB server for tests lives (without a database name).
pub fn mysql_server_url() -> String {
    std::env::var("SAGAFLOW_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A database that exists for one test and is dropped when the value is dropped.
pub struct TestDb {
    /// Connection URL of the fresh database.
    pub url: String,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh, empty MariaDB database, or `None` when no server is reachable and `CI` is not
    /// `true` (with `CI=true` an unreachable server fails the test: CI must never skip).
    pub async fn mysql(prefix: &str) -> Option<TestDb> {
        let server = mysql_server_url();
        let mut conn = match MySqlConnection::connect(&server).await {
            Ok(conn) => conn,
            Err(err) => {
                server_absent("MariaDB", &server, &err);
                return None;
            }
        };
        let prefix: String = prefix.chars().take(24).collect();
        let name = format!("t_{prefix}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE `{name}`"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let url = format!("{}/{name}", server.trim_end_matches('/'));
        Some(TestDb {
            url,
            name,
            _dir: None,
        })
    }

    /// A fresh SQLite database file in its own temporary directory.
    pub fn sqlite(prefix: &str) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(format!("{prefix}.db"));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        TestDb {
            url,
            name: String::new(),
            _dir: Some(dir),
        }
    }

    /// Runs one SQL statement on a connection of its own; returns the rows it changed. For
    /// tests that arrange a state the API cannot reach quickly (a backdated lease).
    pub async fn execute(&self, sql: &str) -> u64 {
        if self.is_mysql() {
            let mut conn = MySqlConnection::connect(&self.url).await.expect("connect");
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .expect(sql)
                .rows_affected()
        } else {
            let mut conn = SqliteConnection::connect(&self.url).await.expect("connect");
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .expect(sql)
                .rows_affected()
        }
    }

    /// Runs a query returning one integer (a count, a sum).
    pub async fn scalar(&self, sql: &str) -> i64 {
        if self.is_mysql() {
            let mut conn = MySqlConnection::connect(&self.url).await.expect("connect");
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut conn)
                .await
                .expect(sql)
        } else {
            let mut conn = SqliteConnection::connect(&self.url).await.expect("connect");
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut conn)
                .await
                .expect(sql)
        }
    }

    /// Kills every connection to this MariaDB database but the caller's own, as a server
    /// restart or an idle timeout would, and returns how many it killed. The pools that held
    /// them find out at their next use.
    pub async fn kill_connections(&self) -> usize {
        assert!(
            self.is_mysql(),
            "only a MariaDB database has connections to kill"
        );
        let mut conn = MySqlConnection::connect(&mysql_server_url())
            .await
            .expect("connect");
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT CAST(id AS SIGNED) FROM information_schema.PROCESSLIST \
             WHERE db = ? AND id <> CONNECTION_ID()",
        )
        .bind(&self.name)
        .fetch_all(&mut conn)
        .await
        .expect("list connections");
        for id in &ids {
            sqlx::query(&format!("KILL CONNECTION {id}"))
                .execute(&mut conn)
                .await
                .expect("kill connection");
        }
        ids.len()
    }

    /// True for a MariaDB database.
    pub fn is_mysql(&self) -> bool {
        self.url.starts_with("mysql:")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.is_mysql() || self.name.is_empty() {
            return;
        }
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.name);
        if let Err(err) = execute_blocking(&mysql_server_url(), &sql) {
            eprintln!("could not drop test database {}: {err}", self.name);
        }
    }
}

/// Runs one statement on a MySQL connection of its own and waits for it, from anywhere —
/// a `Drop` inside the test's runtime included: it runs on a thread with a runtime of its
/// own, which can block where the test's runtime cannot.
pub fn execute_blocking(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut conn = MySqlConnection::connect(&url).await?;
            sqlx::query(&sql).execute(&mut conn).await?;
            conn.close().await
        })
        .map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "the statement's thread panicked".to_owned())?
}

/// Turns scenario functions `async fn name(db: TestDb)` into one `#[tokio::test]` per backend:
/// `sqlite::name` always, `mysql::name` on MariaDB (skipped when unreachable, unless `CI=true`).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::TestDb::sqlite(stringify!($name))).await
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::TestDb::mysql(stringify!($name)).await {
                        super::$name(db).await
                    }
                }
            )*
        }
    };
}
