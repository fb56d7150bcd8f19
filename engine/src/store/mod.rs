//! The saga database: workflows, the step journal with leases, and attempt history, on
//! MariaDB/MySQL or SQLite with the same behaviour.
//!
//! The only module that speaks SQL. It runs the scheduler's decisions (it never makes them)
//! and fences every write of a leased activity on its epoch, checking row counts. Every
//! operation is one short transaction; none stays open across a network call.

mod apply;
mod audit;
mod claim;
mod complete;
mod control;
mod cursor;
pub(crate) mod db;
mod isolate;
mod overview;
mod read;
mod submit;
mod watch;

pub use audit::{AuditedWorkflow, Journal};
pub use claim::{Claimed, CLAIM_BATCH_MAX};
pub use complete::{Completed, Completion, Finished};
pub use db::{ensure_database, Dialect};
pub use overview::{Buckets, FinishedCount, OutcomeCount, OverviewCounts, StatusCount};
pub use read::{
    ActivityRecord, AttemptRecord, Backlog, ListFilter, WorkflowRecord, WorkflowSummary,
};
pub use submit::{NewWorkflow, Submitted};

/// What a completion writes: pure, in crate `kernel`.
pub(crate) use kernel::plan;

use crate::definition::InputError;
use db::{Counters, Pool, Tx};
use kernel::model::WorkflowId;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Limits on what a submit may carry.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest workflow input, as compact JSON.
    pub input_bytes_max: usize,
    /// Longest idempotency key.
    pub idempotency_key_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            input_bytes_max: 16 * 1024,
            idempotency_key_bytes_max: 255,
        }
    }
}

/// Why a store operation failed. Database details stay inside [`Error::Database`]; callers
/// that face users must not show them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unknown workflow type `{0}`")]
    UnknownType(String),
    #[error("workflow {id} runs `{workflow_type}` version {version}, which is not loaded")]
    MissingDefinition {
        id: WorkflowId,
        workflow_type: String,
        version: u32,
    },
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("input is {bytes} bytes; the limit is {max}")]
    InputTooLarge { bytes: usize, max: usize },
    #[error("idempotency key is {bytes} bytes; the limit is {max}")]
    KeyTooLong { bytes: usize, max: usize },
    #[error("idempotency key was already used for workflow {id} with a different request")]
    IdempotencyConflict { id: WorkflowId },
    #[error("workflow {0} not found")]
    NotFound(WorkflowId),
    #[error("{0}")]
    Conflict(String),
    #[error("corrupt journal row: {0}")]
    Corrupt(String),
    #[error("the store cannot take this request now: {0}")]
    Unavailable(&'static str),
}

impl Error {
    /// True when retrying the whole transaction may succeed (deadlock, lock wait, busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Database(e) if db::is_transient(e))
    }

    /// True when the failure lies in what one row holds or would hold (a value that does not
    /// parse, a write the database refuses for its data): the other rows of a batch can go
    /// on without it. Not for outages, timeouts or schema errors, which every row shares.
    pub fn is_row_specific(&self) -> bool {
        match self {
            Error::Corrupt(_) | Error::MissingDefinition { .. } => true,
            Error::Database(e) => db::is_refused_data(e),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The database error in a store error, for the retry loop's classification.
impl dbha::retry::DbError for Error {
    fn db_error(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Database(e) => Some(e),
            _ => None,
        }
    }
}

/// `retry_transient!(self.op(args))`: [`Store::retrying`] around one store operation (one
/// whole transaction), awaited.
macro_rules! retry_transient {
    ($store:ident . $($op:tt)+) => {
        $store.retrying(|| $store.$($op)+).await
    };
}
pub(crate) use retry_transient;

/// Statements and commits the store has run, for benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub statements: u64,
    pub commits: u64,
}

/// The saga database. Cheap to clone; clones share one pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    /// The database's name, for the retries' metric label.
    database: Arc<str>,
    counters: Arc<Counters>,
    limits: Limits,
    /// The group-commit task's queue (`None` in the task's own handle).
    submits: Option<submit::SubmitQueue>,
}

impl Store {
    /// Connects by URL: `mysql://…` (MariaDB or MySQL) or `sqlite://…`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store> {
        let pool = Pool::connect(url, max_connections).await?;
        let direct = Store {
            database: pool.database_label().into(),
            pool,
            counters: Arc::default(),
            limits: Limits::default(),
            submits: None,
        };
        let submits = Some(submit::spawn_group_commit(direct.clone()));
        Ok(Store { submits, ..direct })
    }

    /// The same store with other submit limits.
    pub fn with_limits(mut self, limits: Limits) -> Store {
        self.limits = limits;
        self
    }

    /// Applies the saga database migrations of this backend's dialect.
    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::MySql(pool, _) => sqlx::migrate!("../migrations/saga/mysql").run(pool).await?,
            Pool::Sqlite(pool) => {
                sqlx::migrate!("../migrations/saga/sqlite")
                    .run(pool)
                    .await?
            }
        }
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        self.pool.dialect()
    }

    /// `MySQL` or `SQLite`, for reports.
    pub fn dialect_name(&self) -> &'static str {
        match self.dialect() {
            Dialect::MySql => "MySQL/MariaDB",
            Dialect::Sqlite => "SQLite",
        }
    }

    /// Statements and commits run so far through this store and its clones.
    pub fn usage(&self) -> Usage {
        Usage {
            statements: self.counters.statements.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> Result<Tx<'_>> {
        Ok(self.pool.begin().await?.counted(&self.counters))
    }

    /// A transaction that only reads: on SQLite it takes no write lock.
    async fn begin_read(&self) -> Result<Tx<'_>> {
        Ok(self.pool.begin_read().await?.counted(&self.counters))
    }

    /// One read-only statement, outside a transaction.
    async fn read(&self, sql: &str, args: Vec<db::Arg>) -> Result<Vec<db::Row>> {
        self.counters.statements.fetch_add(1, Ordering::Relaxed);
        Ok(self.pool.fetch_all(sql, args).await?)
    }

    /// Runs `attempt` (one whole transaction) again while it fails for a reason a retry
    /// may cure — a conflict (deadlock, Galera certification, lock wait, busy) or a node
    /// failure (dead connection, node not synced; on a cluster the node is checked first and
    /// perhaps changed) — with backoff and jitter: `dbha::retry::run`, as in the services.
    /// The transaction's fencing runs again with it.
    async fn retrying<T, F, Fut>(&self, attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        dbha::retry::run(&self.database, self.pool.failover(), attempt).await
    }

    /// Whether the database takes work: it answers, and a Galera node is synced
    /// (`wsrep_ready`, `wsrep_local_state`). The reason when not.
    pub async fn ready(&self) -> std::result::Result<(), String> {
        if self.dialect() == Dialect::MySql {
            let rows = self
                .pool
                .fetch_all(dbha::SYNC_STATUS_SQL, vec![])
                .await
                .map_err(|e| e.to_string())?;
            let status = rows
                .iter()
                .map(|r| Ok((r.text("Variable_name")?, r.text("Value")?)))
                .collect::<Result<Vec<_>>>()
                .map_err(|e| e.to_string())?;
            dbha::sync_state(&status)?;
        }
        self.now().await.map(drop).map_err(|e| e.to_string())
    }

    /// The database node in use (`host:port`) when the store is on a cluster.
    pub fn node_in_use(&self) -> Option<String> {
        self.pool.failover().map(|f| f.node().to_owned())
    }

    /// Moves back to the most preferred synced node of a cluster (after it recovered).
    pub async fn prefer_first_node(&self) {
        if let Some(failover) = self.pool.failover() {
            failover.prefer_first().await;
        }
    }

    /// The database clock, in microseconds since the Unix epoch.
    pub async fn now(&self) -> Result<i64> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .fetch_all(&format!("SELECT {} AS now", self.dialect().now()), vec![])
            .await?;
        tx.commit().await?;
        Ok(rows[0].int("now")?)
    }
}

/// Reads a text column holding a known name, or reports the row as corrupt.
fn parse_name<T>(text: &str, parse: fn(&str) -> Option<T>, what: &str) -> Result<T> {
    parse(text).ok_or_else(|| Error::Corrupt(format!("unknown {what} `{text}`")))
}

/// The journal key in a row's `workflow_id`, `step` and `kind` columns.
fn parse_key(row: &db::Row) -> Result<kernel::model::ActivityKey> {
    Ok(kernel::model::ActivityKey {
        workflow_id: parse_id(&row.text("workflow_id")?)?,
        step: row.int("step")? as u32,
        kind: parse_name(
            &row.text("kind")?,
            kernel::model::ActivityKind::parse,
            "activity kind",
        )?,
    })
}

fn parse_id(text: &str) -> Result<WorkflowId> {
    text.parse()
        .map_err(|_| Error::Corrupt(format!("bad workflow id `{text}`")))
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}
