//! The claim-loop pool: `concurrency` loops, each claiming a batch, running it to the end of
//! its continuations, and polling with an adaptive interval when idle.
//!
//! Not the execution of one batch (that is `engine::runner`).

use engine::runner::{Executor, Runner};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How the pool polls and how many loops it runs.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Claim loops running at once (each holds up to one claim batch).
    pub concurrency: usize,
    /// First wait after a claim found nothing; doubles while idle.
    pub poll_interval_min_ms: u64,
    /// Longest wait between claims while idle.
    pub poll_interval_max_ms: u64,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            concurrency: 4,
            poll_interval_min_ms: 5,
            poll_interval_max_ms: 250,
        }
    }
}

/// Totals of a pool's run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub executed: usize,
    pub finished: usize,
    pub fenced: usize,
    pub errors: usize,
}

/// Runs the pool until `shutdown` resolves; in-flight batches finish first.
pub async fn run<E: Executor>(
    runner: Runner<E>,
    config: PoolConfig,
    shutdown: impl Future<Output = ()>,
) -> Totals {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut loops = JoinSet::new();
    for _ in 0..config.concurrency.max(1) {
        loops.spawn(claim_loop(runner.clone(), config.clone(), stop_rx.clone()));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    let mut totals = Totals::default();
    while let Some(done) = loops.join_next().await {
        let t = done.expect("a claim loop never panics");
        totals.executed += t.executed;
        totals.finished += t.finished;
        totals.fenced += t.fenced;
        totals.errors += t.errors;
    }
    totals
}

async fn claim_loop<E: Executor>(
    runner: Runner<E>,
    config: PoolConfig,
    mut stop: watch::Receiver<bool>,
) -> Totals {
    let mut totals = Totals::default();
    let mut idle_ms = config.poll_interval_min_ms;
    while !*stop.borrow() {
        let wait_ms = match runner.run_once().await {
            Ok(report) => {
                totals.executed += report.executed;
                totals.finished += report.finished;
                totals.fenced += report.fenced;
                if report.claimed > 0 {
                    idle_ms = config.poll_interval_min_ms;
                    continue;
                }
                let wait = idle_ms;
                idle_ms = (idle_ms * 2).min(config.poll_interval_max_ms);
                wait
            }
            Err(err) => {
                totals.errors += 1;
                tracing::warn!(error = %err, "claim loop failed; backing off");
                config.poll_interval_max_ms
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
            _ = stop.changed() => {}
        }
    }
    totals
}
