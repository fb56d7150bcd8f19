//! The claim-loop pool: `concurrency` loops, each claiming a batch and running it to the end
//! of its continuations, idling until a wake-up or an adaptive poll when there is nothing to
//! do, and draining on shutdown.
//!
//! Not the execution of one batch (that is `engine::runner`) and not the signal handling
//! (the caller passes shutdown in as a future).

use crate::wake::Wake;
use engine::runner::{Executor, Runner};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

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
            concurrency: 4,
            poll_interval_min_ms: 5,
            poll_interval_max_ms: 250,
            drain_timeout_ms: 10_000,
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
    pub errors: usize,
    /// True when the drain timeout cut in-flight work short.
    pub drain_timed_out: bool,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.executed += other.executed;
        self.finished += other.finished;
        self.fenced += other.fenced;
        self.released += other.released;
        self.errors += other.errors;
    }
}

/// Runs the pool until `shutdown` resolves, then drains: no new claims, in-flight batches
/// finish (within the drain timeout), unstarted continuations are given back.
pub async fn run<E: Executor>(
    runner: Runner<E>,
    config: PoolConfig,
    wake: Wake,
    shutdown: impl Future<Output = ()>,
) -> Totals {
    let (stop_tx, stop_rx) = watch::channel(false);
    let runner = runner.with_stop(stop_rx.clone());
    let mut loops = JoinSet::new();
    for _ in 0..config.concurrency.max(1) {
        loops.spawn(claim_loop(
            runner.clone(),
            config.clone(),
            wake.clone(),
            stop_rx.clone(),
        ));
    }
    shutdown.await;
    tracing::info!("draining: no new claims");
    let _ = stop_tx.send(true);
    let mut totals = Totals::default();
    let drained = tokio::time::timeout(Duration::from_millis(config.drain_timeout_ms), async {
        while let Some(done) = loops.join_next().await {
            totals.add(done.expect("a claim loop never panics"));
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("drain timeout: leaving in-flight leases to expire");
        loops.abort_all();
        totals.drain_timed_out = true;
    }
    totals
}

async fn claim_loop<E: Executor>(
    runner: Runner<E>,
    config: PoolConfig,
    wake: Wake,
    mut stop: watch::Receiver<bool>,
) -> Totals {
    let mut totals = Totals::default();
    let mut woken = wake.subscribe();
    let mut idle_ms = config.poll_interval_min_ms;
    while !*stop.borrow() {
        woken.borrow_and_update();
        let wait_ms = match runner.run_once().await {
            Ok(report) => {
                totals.add(Totals {
                    executed: report.executed,
                    finished: report.finished,
                    fenced: report.fenced,
                    released: report.released,
                    ..Totals::default()
                });
                if let Some(delay_ms) = report.next_retry_ms {
                    wake.notify_after(Duration::from_millis(delay_ms));
                }
                if report.claimed > 0 {
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
            _ = woken.changed() => idle_ms = config.poll_interval_min_ms,
            _ = stop.changed() => {}
        }
    }
    totals
}
