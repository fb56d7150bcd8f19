//! The TCC protocol the three services share: request and reply types, the protocol's refusals,
//! opening a try behind the barrier, and the generic confirm and cancel phases over a service's
//! reservation table. A service supplies its try and, through [`Resource`], what confirm and
//! cancel do to its ledger; this module never touches a ledger itself.

use std::{collections::BTreeMap, future::Future};

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyConnection, Transaction};

use crate::{
    barrier::{self, Entry, Phase},
    db::{self, Db, DbError},
    http, observe, AppState,
};

/// Status of a reservation between try and confirm/cancel.
pub(crate) const RESERVED: &str = "reserved";
/// Status of a cancelled reservation.
pub(crate) const CANCELLED: &str = "cancelled";
/// Longest accepted transaction id (the column width).
pub const TRANSACTION_ID_BYTES_MAX: usize = 64;

/// A transaction id: 1 to [`TRANSACTION_ID_BYTES_MAX`] printable ASCII characters (the engine
/// sends a UUID). Anything else is a malformed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TransactionId(String);

impl TransactionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TransactionId {
    type Error = String;

    fn try_from(id: String) -> Result<TransactionId, String> {
        let printable = id.bytes().all(|byte| byte.is_ascii_graphic());
        if id.is_empty() || id.len() > TRANSACTION_ID_BYTES_MAX || !printable {
            return Err(format!(
                "transaction_id must be 1 to {TRANSACTION_ID_BYTES_MAX} printable ASCII characters"
            ));
        }
        Ok(TransactionId(id))
    }
}

impl From<TransactionId> for String {
    fn from(id: TransactionId) -> String {
        id.0
    }
}

/// Body of every confirm and cancel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseRequest {
    pub transaction_id: TransactionId,
}

/// Reply of every phase: `{"transaction_id": "...", "status": "reserved"}`. A replayed phase
/// gets the same body as the first call.
#[derive(Debug, Serialize)]
pub struct Reply {
    pub transaction_id: String,
    pub status: &'static str,
    #[serde(skip)]
    pub replayed: bool,
}

impl Reply {
    pub(crate) fn new(transaction_id: &TransactionId, status: &'static str) -> Reply {
        Reply {
            transaction_id: transaction_id.0.clone(),
            status,
            replayed: false,
        }
    }

    pub(crate) fn replayed(transaction_id: &TransactionId, status: &'static str) -> Reply {
        Reply {
            replayed: true,
            ..Reply::new(transaction_id, status)
        }
    }
}

impl observe::Replayed for Reply {
    fn replayed(&self) -> bool {
        self.replayed
    }
}

/// Refusals of the protocol itself, shared by the services, and operating errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the transaction was cancelled")]
    Cancelled,
    #[error("nothing was reserved for this transaction")]
    NotReserved,
    #[error("the transaction is already confirmed")]
    AlreadyConfirmed,
    #[error("ledger invariant violated: {0}")]
    Invariant(&'static str),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl http::Coded for Error {
    fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::Cancelled => (StatusCode::CONFLICT, "CANCELLED"),
            Error::NotReserved => (StatusCode::CONFLICT, "NOT_RESERVED"),
            Error::AlreadyConfirmed => (StatusCode::CONFLICT, "ALREADY_CONFIRMED"),
            Error::Invariant(_) | Error::Db(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        }
    }
}

impl DbError for Error {
    fn db_error(&self) -> Option<&sqlx::Error> {
        match self {
            Error::Db(err) => Some(err),
            _ => None,
        }
    }
}

/// A participant's ledger as seen by confirm and cancel.
pub(crate) trait Resource: Send + Sync + 'static {
    /// Service name, for metrics.
    const SERVICE: &'static str;
    /// Table with one row per successful try: `transaction_id` key and a `status` column.
    const RESERVATIONS: &'static str;
    /// Status a confirmed reservation gets.
    const CONFIRMED: &'static str;

    /// Moves the reservation of `transaction_id` to its final place (confirm).
    fn capture(
        conn: &mut AnyConnection,
        transaction_id: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Gives the reservation of `transaction_id` back (cancel).
    fn release(
        conn: &mut AnyConnection,
        transaction_id: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Opens the transaction of a try behind its barrier: `None` when the try already took effect
/// (the caller replays its reply), [`Error::Cancelled`] when a cancel came first.
pub(crate) async fn open_try(
    db: &Db,
    transaction_id: &TransactionId,
) -> Result<Option<Transaction<'static, Any>>, Error> {
    let mut tx = db.begin().await?;
    match barrier::enter(&mut tx, transaction_id.as_str(), Phase::Try).await? {
        Entry::First => Ok(Some(tx)),
        Entry::Replay => Ok(None),
        Entry::Blocked => Err(Error::Cancelled),
    }
}

/// Confirm: `reserved -> CONFIRMED` and capture, once. Refused without a try, after a cancel.
pub(crate) async fn confirm<R: Resource>(db: &Db, id: &TransactionId) -> Result<Reply, Error> {
    db::retrying(db, || confirm_once::<R>(db, id)).await
}

async fn confirm_once<R: Resource>(db: &Db, id: &TransactionId) -> Result<Reply, Error> {
    let mut tx = db.begin().await?;
    match barrier::enter(&mut tx, id.as_str(), Phase::Confirm).await? {
        Entry::First => {}
        Entry::Replay => return Ok(Reply::replayed(id, R::CONFIRMED)),
        Entry::Blocked => return Err(Error::Invariant("blocked confirm barrier")),
    }
    if !settle(&mut tx, R::RESERVATIONS, id, R::CONFIRMED).await? {
        let refusal = match status(&mut tx, R::RESERVATIONS, id).await?.as_deref() {
            Some(CANCELLED) => Error::Cancelled,
            Some(_) => Error::Invariant("settled reservation without its barrier"),
            None if barrier::exists(&mut tx, id.as_str(), Phase::Cancel).await? => Error::Cancelled,
            None => Error::NotReserved,
        };
        return Err(refusal);
    }
    R::capture(&mut tx, id.as_str()).await?;
    tx.commit().await?;
    Ok(Reply::new(id, R::CONFIRMED))
}

/// Cancel: `reserved -> cancelled` and release, once. Before any try it only records itself
/// and blocks the late try; after a confirm it is refused.
pub(crate) async fn cancel<R: Resource>(db: &Db, id: &TransactionId) -> Result<Reply, Error> {
    db::retrying(db, || cancel_once::<R>(db, id)).await
}

async fn cancel_once<R: Resource>(db: &Db, id: &TransactionId) -> Result<Reply, Error> {
    let mut tx = db.begin().await?;
    match barrier::enter(&mut tx, id.as_str(), Phase::Cancel).await? {
        Entry::First => {}
        Entry::Replay => return Ok(Reply::replayed(id, CANCELLED)),
        Entry::Blocked => return Err(Error::Invariant("blocked cancel barrier")),
    }
    if barrier::block_try(&mut tx, id.as_str()).await? {
        tx.commit().await?;
        return Ok(Reply::new(id, CANCELLED));
    }
    if !settle(&mut tx, R::RESERVATIONS, id, CANCELLED).await? {
        let refusal = match status(&mut tx, R::RESERVATIONS, id).await?.as_deref() {
            Some(status) if status == R::CONFIRMED => Error::AlreadyConfirmed,
            _ => Error::Invariant("try barrier without an open reservation"),
        };
        return Err(refusal);
    }
    R::release(&mut tx, id.as_str()).await?;
    tx.commit().await?;
    Ok(Reply::new(id, CANCELLED))
}

/// Moves a reservation out of `reserved` with one conditional update; false when it was not
/// reserved. The row lock orders a racing confirm and cancel: the loser updates no row.
async fn settle(
    conn: &mut AnyConnection,
    table: &str,
    id: &TransactionId,
    to: &str,
) -> sqlx::Result<bool> {
    let sql = format!("UPDATE {table} SET status = ? WHERE transaction_id = ? AND status = ?");
    let done = sqlx::query(&sql)
        .bind(to)
        .bind(id.as_str())
        .bind(RESERVED)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

async fn status(
    conn: &mut AnyConnection,
    table: &str,
    id: &TransactionId,
) -> sqlx::Result<Option<String>> {
    let sql = format!("SELECT status FROM {table} WHERE transaction_id = ?");
    sqlx::query_scalar(&sql)
        .bind(id.as_str())
        .fetch_optional(conn)
        .await
}

/// Count and amount of a service's reservations in one status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub count: i64,
    pub amount: i64,
}

/// Reservations of `table` by status, every status in `statuses` present (zero when none).
pub(crate) async fn totals_by_status(
    conn: &mut AnyConnection,
    table: &str,
    statuses: [&'static str; 3],
) -> sqlx::Result<BTreeMap<&'static str, Totals>> {
    let sql = format!(
        "SELECT status, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM {table} \
         GROUP BY status"
    );
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(&sql).fetch_all(conn).await?;
    let mut totals: BTreeMap<_, _> = statuses.iter().map(|&s| (s, Totals::default())).collect();
    for (status, count, amount) in rows {
        let known = statuses.iter().find(|&&s| s == status);
        let slot = known.and_then(|s| totals.get_mut(s));
        *slot.expect("reservation status outside the table's CHECK") = Totals { count, amount };
    }
    Ok(totals)
}

/// `POST /{resource}/confirm` for any service.
pub(crate) async fn confirm_handler<R: Resource>(
    State(app): State<AppState>,
    http::Json(request): http::Json<PhaseRequest>,
) -> Result<axum::Json<Reply>, http::Error> {
    observe::phase(
        R::SERVICE,
        "confirm",
        confirm::<R>(app.db(), &request.transaction_id),
    )
    .await
}

/// `POST /{resource}/cancel` for any service.
pub(crate) async fn cancel_handler<R: Resource>(
    State(app): State<AppState>,
    http::Json(request): http::Json<PhaseRequest>,
) -> Result<axum::Json<Reply>, http::Error> {
    observe::phase(
        R::SERVICE,
        "cancel",
        cancel::<R>(app.db(), &request.transaction_id),
    )
    .await
}
