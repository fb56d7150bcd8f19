//! Running claimed activities in process: the [`Executor`] trait (the worker implements it
//! over HTTP; tests and benchmarks implement it in memory) and [`Runner`], the deterministic
//! step function "claim a batch, execute it, complete it, follow the continuations".
//!
//! Not a process and not a loop with timers: polling, wake-ups, heartbeats and draining
//! belong to the worker crate, which calls [`Runner::run_once`].

use crate::definition::{Registry, Request};
use crate::metrics;
use crate::store::{self, Claimed, Completion, Store};
use kernel::model::{ActivityError, Outcome, WorkflowId, WorkflowStatus};
use kernel::outcome::{classify_transport, Transport};
use kernel::scheduler::Decision;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

mod writer;

/// Executes one activity's request and classifies the answer (see `outcome`).
///
/// Before each call the runner asks [`Executor::admit`] whether the call may go out now: an
/// executor that protects its participants (the worker's circuit breakers and bulkheads)
/// answers [`Admission::Defer`], and the runner gives the workflow back to the store, due
/// after the delay, without calling and without spending an attempt. The default admits
/// every call.
pub trait Executor: Send + Sync + 'static {
    fn execute(&self, request: &Request) -> impl Future<Output = Outcome> + Send;

    /// Whether `request` may be sent now. Asked once per attempt, before the call.
    fn admit(&self, _request: &Request) -> Admission {
        Admission::Call(None)
    }
}

/// The answer of [`Executor::admit`].
pub enum Admission {
    /// Call now; the guard, if any, is told how the call ended (the runner's timeout
    /// included), or dropped unfinished if the call was abandoned.
    Call(Option<Box<dyn CallGuard>>),
    /// Do not call: give the activity back, due again in `delay_ms`, with no attempt spent.
    Defer { delay_ms: u64 },
}

/// Told how an admitted call ended, for the executor's bookkeeping (breaker, bulkhead).
pub trait CallGuard: Send {
    fn finished(self: Box<Self>, outcome: &Outcome);
}

/// What the runner did with one claimed activity. Nearly every one is `Ran`, and each lives
/// only from the call to the batch's completion: boxing the large variant would cost an
/// allocation per activity to save stack space for the rare `Deferred`.
#[allow(clippy::large_enum_variant)]
pub enum Attempt {
    /// Ran (or settled without a call, such as an exhausted budget): to be completed.
    Ran(Completion),
    /// Not called because the executor deferred it: to be released until `delay_ms`.
    Deferred { claimed: Claimed, delay_ms: u64 },
}

/// An executor that answers every request with the same JSON: the "no-op" participant of
/// engine tests and benchmarks.
#[derive(Debug, Clone)]
pub struct Fixed(pub serde_json::Value);

impl Executor for Fixed {
    async fn execute(&self, _request: &Request) -> Outcome {
        Outcome::Success(self.0.clone())
    }
}

/// Most activities a runner claims at once, unless told otherwise. The runner's defaults are
/// written here only: [`RunnerConfig::new`] and the worker's flags (`sagaflow worker --help`)
/// both read them.
pub const DEFAULT_CLAIM_BATCH: u32 = 32;
/// How long a lease lasts unless told otherwise, in ms.
pub const DEFAULT_LEASE_TTL_MS: u64 = 30_000;
/// How often leases are renewed unless told otherwise, in ms (a third of the lease).
pub const DEFAULT_HEARTBEAT_MS: u64 = 10_000;

/// How a runner claims and leases.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Lease owner name; unique per worker process.
    pub worker_id: String,
    /// Most activities claimed at once.
    pub claim_batch_max: u32,
    /// How long a lease lasts before another worker may reclaim the activity.
    pub lease_ttl_ms: u64,
    /// Lease each next activity to this runner at completion and run it without a poll.
    pub continue_inline: bool,
    /// How often the leases of a batch still running are renewed (well below the TTL).
    pub heartbeat_ms: u64,
}

impl RunnerConfig {
    /// The defaults above, leased to `worker_id`.
    pub fn new(worker_id: impl Into<String>) -> RunnerConfig {
        RunnerConfig {
            worker_id: worker_id.into(),
            claim_batch_max: DEFAULT_CLAIM_BATCH,
            lease_ttl_ms: DEFAULT_LEASE_TTL_MS,
            continue_inline: true,
            heartbeat_ms: DEFAULT_HEARTBEAT_MS,
        }
    }
}

/// What one call of [`Runner::run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Activities taken by the claim (continuations not included).
    pub claimed: usize,
    /// Attempts executed (continuations included).
    pub executed: usize,
    /// Completions dropped because the lease was lost.
    pub fenced: usize,
    /// Workflows that reached a terminal status.
    pub finished: usize,
    /// Next activities given back unstarted because the runner is stopping.
    pub released: usize,
    /// Activities given back uncalled because the executor deferred them (an open circuit
    /// breaker, a full bulkhead); no attempt was spent.
    pub deferred: usize,
    /// The shortest retry or deferral delay scheduled, if any (a wake-up is due then).
    pub next_retry_ms: Option<u64>,
}

/// Called for each workflow a runner brings to a terminal status.
pub type OnFinished = Arc<dyn Fn(WorkflowId, WorkflowStatus) + Send + Sync>;

/// Claims, executes and completes activities for one worker.
pub struct Runner<E> {
    store: Store,
    registry: Arc<Registry>,
    executor: Arc<E>,
    config: RunnerConfig,
    stop: Option<watch::Receiver<bool>>,
    on_finished: Option<OnFinished>,
    /// The journal writer every clone (claim loop) shares, started on first use.
    writer: Arc<std::sync::OnceLock<writer::JournalWriter>>,
}

impl<E> Clone for Runner<E> {
    fn clone(&self) -> Self {
        Runner {
            store: self.store.clone(),
            registry: self.registry.clone(),
            executor: self.executor.clone(),
            config: self.config.clone(),
            stop: self.stop.clone(),
            on_finished: self.on_finished.clone(),
            writer: self.writer.clone(),
        }
    }
}

impl<E: Executor> Runner<E> {
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        executor: Arc<E>,
        config: RunnerConfig,
    ) -> Runner<E> {
        Runner {
            store,
            registry,
            executor,
            config,
            stop: None,
            on_finished: None,
            writer: Arc::default(),
        }
    }

    /// The same runner, stopping when `stop` turns true: it finishes the batch in flight and
    /// gives back the next activities unstarted (a draining worker).
    pub fn with_stop(mut self, stop: watch::Receiver<bool>) -> Runner<E> {
        self.stop = Some(stop);
        self
    }

    /// The same runner, telling `on_finished` of every workflow it brings to an end.
    pub fn with_on_finished(mut self, on_finished: OnFinished) -> Runner<E> {
        self.on_finished = Some(on_finished);
        self
    }

    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| *s.borrow())
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// Claims one batch and runs it, then the activities that follow (leased inline), until
    /// none is left. A database error stops it; the leases then expire and are reclaimed.
    pub async fn run_once(&self) -> store::Result<Report> {
        let c = &self.config;
        let started = std::time::Instant::now();
        let mut batch = self
            .store
            .claim(
                &self.registry,
                &c.worker_id,
                c.claim_batch_max,
                c.lease_ttl_ms,
            )
            .await?;
        metrics::claimed(started.elapsed());
        let mut renewed = std::time::Instant::now();
        for reclaimed in batch.iter().filter(|c| c.reclaimed) {
            metrics::lease_expired(&reclaimed.workflow_type, &reclaimed.name);
        }
        let mut report = Report {
            claimed: batch.len(),
            ..Report::default()
        };
        while !batch.is_empty() {
            if self.stopping() {
                report.released += self.store.release(&batch).await?;
                break;
            }
            batch = self
                .run_batch_renewing(batch, &mut report, &mut renewed)
                .await?;
        }
        Ok(report)
    }

    /// Executes a batch of claimed activities concurrently and completes them in one
    /// transaction; returns the next activities leased to this runner.
    pub async fn run_batch(
        &self,
        batch: Vec<Claimed>,
        report: &mut Report,
    ) -> store::Result<Vec<Claimed>> {
        let mut renewed = std::time::Instant::now();
        self.run_batch_renewing(batch, report, &mut renewed).await
    }

    /// [`Runner::run_batch`], with the time the batch's workflow leases were last taken or
    /// renewed: the lease is the workflow's and outlives each step, so the heartbeat counts
    /// from there, not from the step's start.
    async fn run_batch_renewing(
        &self,
        batch: Vec<Claimed>,
        report: &mut Report,
        renewed: &mut std::time::Instant,
    ) -> store::Result<Vec<Claimed>> {
        let leases: Vec<_> = batch.iter().map(|c| (c.key, c.epoch)).collect();
        let work = futures::future::join_all(batch.into_iter().map(|c| self.execute(c)));
        metrics::inflight(leases.len() as f64);
        let attempts = self.with_heartbeat(&leases, work, renewed).await;
        metrics::inflight(-(leases.len() as f64));
        let mut completions = Vec::with_capacity(attempts.len());
        let mut deferred = Vec::new();
        for attempt in attempts {
            match attempt {
                Attempt::Ran(completion) => completions.push(completion),
                Attempt::Deferred { claimed, delay_ms } => deferred.push((claimed, delay_ms)),
            }
        }
        if !deferred.is_empty() {
            let given: Vec<_> = deferred.iter().map(|(c, d)| (c, *d)).collect();
            report.deferred += self.store.release_after(&given).await?;
            let soonest = deferred.iter().map(|(_, d)| *d).min();
            report.next_retry_ms = match (report.next_retry_ms, soonest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        report.executed += completions.iter().filter(|c| c.executed).count();
        let lease_next = self
            .config
            .continue_inline
            .then_some(self.config.lease_ttl_ms);
        let writer = self.writer.get_or_init(|| {
            writer::JournalWriter::spawn(
                self.store.clone(),
                self.registry.clone(),
                self.config.worker_id.clone(),
                lease_next,
            )
        });
        // What the decisions are reported against, kept before the completions go to the
        // writer (a claimed activity is cheap to keep; its completion carries the answers).
        let claimed: std::collections::HashMap<_, _> = completions
            .iter()
            .map(|c| (c.claimed.key, c.claimed.clone()))
            .collect();
        let done = writer.complete(completions).await?;
        // Crash window: the completion (and with it, maybe the pivot) is committed, the next
        // activity is leased to this runner and not started.
        fail::fail_point!("runner::after_complete");
        report.fenced += done.fenced.len();
        report.finished += done.finished.len();
        metrics::fenced(done.fenced.len());
        for (key, decision) in &done.decisions {
            self.record_decision(&claimed[key], key.step, decision, report);
        }
        for f in &done.finished {
            metrics::finished(&f.workflow_type, f.status, f.duration_us);
            if let Some(notify) = &self.on_finished {
                notify(f.id, f.status);
            }
        }
        Ok(done.next)
    }

    /// Counts a scheduled retry or compensation and remembers the earliest retry.
    fn record_decision(
        &self,
        claimed: &Claimed,
        step: u32,
        decision: &Decision,
        report: &mut Report,
    ) {
        let step_name = |step: u32| {
            self.registry
                .get(&claimed.workflow_type, claimed.version)
                .map_or("", |d| d.step(step).name.as_str())
        };
        match decision {
            Decision::Retry { delay_ms } => {
                metrics::retry_scheduled(&claimed.workflow_type, step_name(step));
                report.next_retry_ms =
                    Some(report.next_retry_ms.map_or(*delay_ms, |d| d.min(*delay_ms)));
            }
            Decision::Compensate { step } => {
                metrics::compensation(&claimed.workflow_type, step_name(*step))
            }
            _ => {}
        }
    }

    /// Awaits `work`, renewing `leases` every heartbeat interval (counted from `renewed`)
    /// while it runs.
    async fn with_heartbeat<T>(
        &self,
        leases: &[(kernel::model::ActivityKey, i64)],
        work: impl Future<Output = T>,
        renewed: &mut std::time::Instant,
    ) -> T {
        let mut work = std::pin::pin!(work);
        let period = Duration::from_millis(self.config.heartbeat_ms.max(1));
        loop {
            let due = period.saturating_sub(renewed.elapsed());
            tokio::select! {
                out = &mut work => return out,
                _ = tokio::time::sleep(due) => {
                    // Counted from the try, so a failing renewal waits a period too.
                    *renewed = std::time::Instant::now();
                    match self.store.renew(leases, self.config.lease_ttl_ms).await {
                        Ok(held) if held.iter().all(|h| *h) => {}
                        Ok(held) => tracing::warn!(lost = held.iter().filter(|h| !**h).count(), "leases lost while running"),
                        Err(err) => tracing::warn!(error = %err, "lease renewal failed"),
                    }
                }
            }
        }
    }

    /// Runs one attempt: renders the request, asks the executor to admit it and calls it
    /// within the step's timeout (or, not admitted, hands it back to be deferred).
    pub async fn execute(&self, claimed: Claimed) -> Attempt {
        let jitter = rand::random::<f64>();
        if claimed.exhausted {
            let error =
                ActivityError::new("LEASE_EXPIRED", "the lease of the last attempt expired");
            return Attempt::Ran(Completion {
                claimed,
                outcome: Outcome::Retryable(error),
                request: None,
                executed: false,
                jitter,
            });
        }
        let request = self
            .registry
            .get(&claimed.workflow_type, claimed.version)
            .ok_or_else(|| {
                format!(
                    "workflow type `{}` v{} is not loaded",
                    claimed.workflow_type, claimed.version
                )
            })
            .and_then(|def| {
                def.render(
                    claimed.key.workflow_id,
                    claimed.key.step,
                    claimed.key.kind,
                    &claimed.input,
                    &claimed.outputs,
                )
            });
        let request = match request {
            Ok(request) => request,
            Err(message) => {
                let outcome =
                    Outcome::BusinessError(ActivityError::new("INVALID_REQUEST", message));
                return Attempt::Ran(Completion {
                    claimed,
                    outcome,
                    request: None,
                    executed: true,
                    jitter,
                });
            }
        };
        let guard = match self.executor.admit(&request) {
            Admission::Call(guard) => guard,
            Admission::Defer { delay_ms } => return Attempt::Deferred { claimed, delay_ms },
        };
        let workflow = tracing::info_span!("workflow", workflow.id = %claimed.key.workflow_id, workflow.type = %claimed.workflow_type);
        let span = tracing::info_span!(
            parent: &workflow,
            "activity",
            workflow.id = %claimed.key.workflow_id,
            step = %claimed.name,
            kind = %claimed.key.kind,
            attempt = claimed.attempt,
        );
        let started = std::time::Instant::now();
        let call = tokio::time::timeout(
            Duration::from_millis(request.timeout_ms),
            self.executor.execute(&request),
        );
        let outcome = match tracing::Instrument::instrument(call, span.clone()).await {
            Ok(outcome) => outcome,
            Err(_) => classify_transport(
                Transport::Timeout,
                &format!("no answer within {} ms", request.timeout_ms),
            ),
        };
        let elapsed = started.elapsed();
        if let Some(guard) = guard {
            guard.finished(&outcome);
        }
        // Crash windows: the participant has answered, nothing is journaled yet.
        match claimed.key.kind {
            kernel::model::ActivityKind::Action => fail::fail_point!("runner::after_call"),
            kernel::model::ActivityKind::Compensation => {
                fail::fail_point!("runner::after_compensation_call")
            }
        }
        metrics::attempt(
            &claimed.workflow_type,
            &claimed.name,
            outcome.attempt_outcome(),
            Some(elapsed),
        );
        span.in_scope(|| match outcome.error() {
            Some(err) => tracing::info!(error.code = %err.code, duration_ms = elapsed.as_millis() as u64, "attempt failed"),
            None => tracing::debug!(duration_ms = elapsed.as_millis() as u64, "attempt succeeded"),
        });
        Attempt::Ran(Completion {
            claimed,
            outcome,
            request: Some(request),
            executed: true,
            jitter,
        })
    }
}
