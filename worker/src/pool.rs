//! The claim-loop pool: `concurrency` loops, each claiming a batch and running it to the end
//! of its continuations, idling until a wake-up or an adaptive poll when there is nothing to
//! do, restarted after a panic, and draining on shutdown.
//!
//! Not the execution of one batch (that is `engine::runner`) and not the signal handling
//! (the caller passes shutdown in as a future).

use crate::wake::Wake;
use engine::runner::{Executor, Runner};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::sync::Notify;
use tokio::task::{Id, JoinError, JoinSet};

/// Wait before restarting the first loop that panicked; doubles with each panic in a row.
const RESTART_BACKOFF_MIN_MS: u64 = 100;
/// Longest wait before a restart. A loop that ran this long before it panicked resets the
/// doubling: it was healthy, the panic is news.
const RESTART_BACKOFF_MAX_MS: u64 = 10_000;

/// Claim loops unless told otherwise. The pool's defaults are written here only:
/// [`PoolConfig::default`] and the worker's flags (`sagaflow worker --help`) both read them.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// First wait after an empty claim unless told otherwise, in ms.
pub const DEFAULT_POLL_INTERVAL_MIN_MS: u64 = 5;
/// Longest wait between claims while idle unless told otherwise, in ms.
pub const DEFAULT_POLL_INTERVAL_MAX_MS: u64 = 250;
/// How long a drain may take unless told otherwise, in ms.
pub const DEFAULT_DRAIN_TIMEOUT_MS: u64 = 10_000;

/// How the pool polls, how many loops it runs and how long it drains.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Claim loops running at once (each holds up to one claim batch).
    pub concurrency: usize,
    /// First wait after a claim found nothing; doubles while idle.
    pub poll_interval_min_ms: u64,
    /// Longest wait between claims while idle.
    pub poll_interval_max_ms: u64,
    /// On shutdown, how long in-flight batches may take to finish before the process gives
    /// up on them (their leases then expire and other workers take over).
    pub drain_timeout_ms: u64,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            concurrency: DEFAULT_CONCURRENCY,
            poll_interval_min_ms: DEFAULT_POLL_INTERVAL_MIN_MS,
            poll_interval_max_ms: DEFAULT_POLL_INTERVAL_MAX_MS,
            drain_timeout_ms: DEFAULT_DRAIN_TIMEOUT_MS,
        }
    }
}

/// Totals of a pool's run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub executed: usize,
    pub finished: usize,
    pub fenced: usize,
    pub released: usize,
    /// Activities given back uncalled by an open breaker or a full bulkhead.
    pub deferred: usize,
    pub errors: usize,
    /// Claim loops restarted after a panic (the panicked loop's own totals are lost).
    pub restarts: usize,
    /// True when the drain timeout cut in-flight work short.
    pub drain_timed_out: bool,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.executed += other.executed;
        self.finished += other.finished;
        self.fenced += other.fenced;
        self.released += other.released;
        self.deferred += other.deferred;
        self.errors += other.errors;
        self.restarts += other.restarts;
    }
}

/// Runs the pool until `shutdown` resolves, then drains: no new claims, in-flight batches
/// finish (within the drain timeout), unstarted continuations are given back.
///
/// A claim loop that panics (a bug met by one batch: an assertion in the store, a panicking
/// executor) is restarted after a backoff, with an error line and
/// `sagaflow_worker_loop_restarts_total`. Restart rather than exit: the pool holds no state
/// (the panicked batch's leases expire and are reclaimed, by this worker or another), the
/// other loops' batches in flight are not thrown away with the process, and the worker goes
/// on serving without waiting for a supervisor outside to start it again; the backoff keeps a
/// loop that panics at once from spinning, and the counter makes the bug visible.
pub async fn run<E: Executor>(
    runner: Runner<E>,
    config: PoolConfig,
    wake: Wake,
    shutdown: impl Future<Output = ()>,
) -> Totals {
    let (stop_tx, stop_rx) = watch::channel(false);
    let runner = runner.with_stop(stop_rx.clone());
    let turn = Arc::new(Notify::new());
    let relay = tokio::spawn(relay_wakeups(wake.subscribe(), turn.clone()));
    let mut loops = Loops {
        set: JoinSet::new(),
        started: HashMap::new(),
        panics_in_a_row: 0,
    };
    let start = |delay: Duration| {
        let (runner, config, wake, stop, turn) = (
            runner.clone(),
            config.clone(),
            wake.clone(),
            stop_rx.clone(),
            turn.clone(),
        );
        async move {
            tokio::time::sleep(delay).await;
            claim_loop(runner, config, wake, turn, stop).await
        }
    };
    for _ in 0..config.concurrency.max(1) {
        loops.spawn(start(Duration::ZERO));
    }
    let mut totals = Totals::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(done) = loops.set.join_next_with_id() => match loops.ended(done, false) {
                Ok(ended) => totals.add(ended),
                Err(backoff) => {
                    totals.restarts += 1;
                    engine::metrics::loop_restarted();
                    loops.spawn(start(backoff));
                }
            },
        }
    }
    tracing::info!("draining: no new claims");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(Duration::from_millis(config.drain_timeout_ms), async {
        while let Some(done) = loops.set.join_next_with_id().await {
            // A loop that panics while draining is not restarted: it would only stop again.
            if let Ok(ended) = loops.ended(done, true) {
                totals.add(ended);
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("drain timeout: leaving in-flight leases to expire");
        loops.set.abort_all();
        totals.drain_timed_out = true;
    }
    relay.abort();
    totals
}

/// Passes each wake-up to one idle claim loop, not all of them: the others would only find
/// the work taken (an empty claim: a transaction for nothing). A wake-up while every loop is
/// busy is kept for the next loop to go idle, which claims at once.
async fn relay_wakeups(mut woken: watch::Receiver<u64>, turn: Arc<Notify>) {
    while woken.changed().await.is_ok() {
        turn.notify_one();
    }
}

/// The running claim loops, when each started, and the backoff of the next restart.
struct Loops {
    set: JoinSet<Totals>,
    started: HashMap<Id, Instant>,
    panics_in_a_row: u32,
}

impl Loops {
    fn spawn(&mut self, claim_loop: impl Future<Output = Totals> + Send + 'static) {
        let id = self.set.spawn(claim_loop).id();
        self.started.insert(id, Instant::now());
    }

    /// A loop ended: its totals, or (it panicked) how long to wait before starting another.
    /// Panics in a row double the wait, up to [`RESTART_BACKOFF_MAX_MS`].
    fn ended(
        &mut self,
        done: Result<(Id, Totals), JoinError>,
        draining: bool,
    ) -> Result<Totals, Duration> {
        let err = match done {
            Ok((id, totals)) => {
                self.started.remove(&id);
                return Ok(totals);
            }
            Err(err) => err,
        };
        let ran_for = self.started.remove(&err.id());
        if err.is_cancelled() {
            return Ok(Totals::default());
        }
        let ran = ran_for.map(|at| at.elapsed());
        if ran.is_some_and(|ran| ran >= Duration::from_millis(RESTART_BACKOFF_MAX_MS)) {
            self.panics_in_a_row = 0;
        }
        let doublings = self.panics_in_a_row.min(16);
        self.panics_in_a_row = self.panics_in_a_row.saturating_add(1);
        let backoff_ms = RESTART_BACKOFF_MIN_MS
            .saturating_mul(1 << doublings)
            .min(RESTART_BACKOFF_MAX_MS);
        let ran_ms = ran.map_or(0, |ran| ran.as_millis() as u64);
        if draining {
            tracing::error!(error = %err, ran_ms, "claim loop panicked while draining");
        } else {
            tracing::error!(error = %err, ran_ms, backoff_ms, "claim loop panicked; restarting it");
        }
        Err(Duration::from_millis(backoff_ms))
    }
}

async fn claim_loop<E: Executor>(
    runner: Runner<E>,
    config: PoolConfig,
    wake: Wake,
    turn: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) -> Totals {
    let mut totals = Totals::default();
    let mut idle_ms = config.poll_interval_min_ms;
    let batch_max = runner
        .config()
        .claim_batch_max
        .clamp(1, engine::store::CLAIM_BATCH_MAX) as usize;
    while !*stop.borrow() {
        let wait_ms = match runner.run_once().await {
            Ok(report) => {
                totals.add(Totals {
                    executed: report.executed,
                    finished: report.finished,
                    fenced: report.fenced,
                    released: report.released,
                    deferred: report.deferred,
                    ..Totals::default()
                });
                if let Some(delay_ms) = report.next_retry_ms {
                    wake.notify_after(Duration::from_millis(delay_ms));
                }
                if report.claimed > 0 {
                    if report.claimed >= batch_max {
                        // A full batch: more may be due; let another idle loop look too.
                        turn.notify_one();
                    }
                    idle_ms = config.poll_interval_min_ms;
                    continue;
                }
                let wait = idle_ms;
                idle_ms = (idle_ms * 2).min(config.poll_interval_max_ms);
                wait
            }
            Err(err) => {
                // The database is away (restart, network): back off; nothing is lost, the
                // leases of the failed batch expire and are reclaimed.
                totals.errors += 1;
                tracing::warn!(error = %err, "claim loop failed; backing off");
                config.poll_interval_max_ms.max(500)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
            _ = turn.notified() => idle_ms = config.poll_interval_min_ms,
            _ = stop.changed() => {}
        }
    }
    totals
}
