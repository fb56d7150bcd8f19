//! Whole-transaction retries: what a failed transaction may be run again for, how long to
//! wait first (exponential, with jitter), and the count of retries by reason.
//!
//! A transaction is retried whole, from its `BEGIN`: its fencing checks (lease epochs,
//! barriers) run again, so a retry never applies half of one. A Galera certification
//! conflict or brute-force abort (1213), a lock wait timeout (1205) and SQLite's busy are
//! conflicts; a connection that died or a node that is not synced (`WSREP has not yet
//! prepared node`) are node failures, after which the database may have moved to another
//! node ([`crate::Failover::suspect`]).

use crate::Failover;
use std::future::Future;
use std::time::Duration;

/// Why a transaction is run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Deadlock, certification conflict, lock wait timeout, busy.
    Conflict,
    /// The connection died or the node is not synced.
    Node,
}

impl Reason {
    /// The label of `sagaflow_db_retries_total`.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Conflict => "conflict",
            Reason::Node => "node",
        }
    }
}

/// Whether `err` is worth running the whole transaction again for, and why.
pub fn reason(err: &sqlx::Error) -> Option<Reason> {
    if sqlerr::is_transient(err) {
        Some(Reason::Conflict)
    } else if sqlerr::is_node_failure(err) {
        Some(Reason::Node)
    } else {
        None
    }
}

/// Retries of one transaction, the first run not counted.
pub const RETRIES_MAX: u32 = 10;
/// The wait before the first retry, doubled for each next one up to [`BACKOFF_CAP_MS`].
pub const BACKOFF_FIRST_MS: u64 = 5;
/// The longest wait between two runs (10 retries wait at most about 1.3 s in all).
pub const BACKOFF_CAP_MS: u64 = 250;

/// The wait before retry `retry` (1-based) for a `jitter` in [0, 1): half of the
/// exponential step fixed, half random, so conflicting writers spread out.
pub fn backoff(retry: u32, jitter: f64) -> Duration {
    let step = BACKOFF_FIRST_MS
        .saturating_mul(1u64 << retry.saturating_sub(1).min(20))
        .min(BACKOFF_CAP_MS);
    let jitter = jitter.clamp(0.0, 1.0);
    Duration::from_micros(step * 500 + (step as f64 * 500.0 * jitter) as u64)
}

/// Counts a retry of `database`'s transaction for `reason`, lets the failover check the
/// node after a node failure, and waits the backoff of retry `retry`.
pub async fn pause(database: &str, reason: Reason, retry: u32, failover: Option<&Failover>) {
    count(database, reason);
    if let (Reason::Node, Some(failover)) = (reason, failover) {
        failover.suspect().await;
    }
    tokio::time::sleep(backoff(retry, rand::random::<f64>())).await;
}

/// Counts one retry of `database`'s transaction for `reason`
/// (`sagaflow_db_retries_total{database, reason}`).
pub fn count(database: &str, reason: Reason) {
    metrics::counter!("sagaflow_db_retries_total",
        "database" => database.to_owned(), "reason" => reason.label())
    .increment(1);
}

/// A failure that may carry a database error.
pub trait DbError {
    fn db_error(&self) -> Option<&sqlx::Error>;
}

impl DbError for sqlx::Error {
    fn db_error(&self) -> Option<&sqlx::Error> {
        Some(self)
    }
}

/// Runs `attempt` (one whole transaction) until it succeeds, fails for a reason a retry
/// does not cure, or has been retried [`RETRIES_MAX`] times.
pub async fn run<T, E, F, Fut>(
    database: &str,
    failover: Option<&Failover>,
    mut attempt: F,
) -> Result<T, E>
where
    E: DbError + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    run_after(database, failover, |_| attempt()).await
}

/// [`run`], telling each run whether an earlier one failed with a node failure: its
/// `COMMIT` may have gone through unanswered, so the run may find its own work done.
pub async fn run_after<T, E, F, Fut>(
    database: &str,
    failover: Option<&Failover>,
    mut attempt: F,
) -> Result<T, E>
where
    E: DbError + std::fmt::Display,
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut retries = 0;
    let mut after_node_failure = false;
    loop {
        match attempt(after_node_failure).await {
            Err(err) if retries < RETRIES_MAX => {
                let Some(why) = err.db_error().and_then(reason) else {
                    return Err(err);
                };
                retries += 1;
                after_node_failure |= why == Reason::Node;
                tracing::debug!(database, error = %err, retries, reason = why.label(), "retrying the whole transaction");
                pause(database, why, retries, failover).await;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_step_to_the_cap_with_half_of_it_jittered() {
        let ms = |retry, jitter| backoff(retry, jitter).as_secs_f64() * 1000.0;
        assert_eq!(ms(1, 0.0), 2.5);
        assert_eq!(ms(1, 0.5), 3.75);
        assert!(ms(1, 0.999_999) < 5.0);
        assert_eq!(ms(2, 0.0), 5.0);
        assert_eq!(ms(3, 0.0), 10.0);
        assert_eq!(ms(6, 0.0), 80.0);
        assert_eq!(ms(7, 0.0), 125.0); // 320 ms capped at 250
        assert_eq!(ms(64, 1.0), 250.0);
        let worst: f64 = (1..=RETRIES_MAX).map(|r| ms(r, 1.0)).sum();
        assert!(worst < 1_400.0 && worst > 1_000.0, "{worst}");
    }

    #[derive(Debug)]
    struct Fails(Option<sqlx::Error>);
    impl std::fmt::Display for Fails {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl DbError for Fails {
        fn db_error(&self) -> Option<&sqlx::Error> {
            self.0.as_ref()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn node_failures_are_retried_and_other_errors_are_not() {
        let mut runs = 0;
        let result: Result<u32, Fails> = run("t", None, || {
            runs += 1;
            let n = runs;
            async move {
                match n {
                    1 | 2 => Err(Fails(Some(sqlx::Error::Io(
                        std::io::ErrorKind::BrokenPipe.into(),
                    )))),
                    _ => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);

        let mut runs = 0;
        let result: Result<(), Fails> = run("t", None, || {
            runs += 1;
            async { Err(Fails(Some(sqlx::Error::RowNotFound))) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(runs, 1);

        let mut runs = 0;
        let result: Result<(), Fails> = run("t", None, || {
            runs += 1;
            async {
                Err(Fails(Some(sqlx::Error::Io(
                    std::io::ErrorKind::ConnectionReset.into(),
                ))))
            }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(runs, 1 + RETRIES_MAX, "bounded");
    }
}
