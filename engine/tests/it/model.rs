//! Model-based test of the saga store: random sequences of submits, claims by several
//! workers, completions, lease expiries, worker deaths, drains, aborts and operator retries,
//! each checked against a small in-memory model of the saga rules after every step.
//!
//! Every store call goes through one of the adapter functions below (one-line changes when
//! the store's API moves) and is bounded by a timeout. One database per test run; each case
//! empties its tables and runs on a runtime of its own, so a hung call (and whatever task it
//! left spinning) ends with its case.
//!
//! Knobs (environment): `PROPTEST_CASES` (default 32 per backend), `MODEL_OPS` (longest
//! sequence, default 40), `MODEL_TIMEOUT_MS` (per store call, default 5000),
//! `MODEL_SHRINK_MS` / `MODEL_SHRINK_ITERS` (proptest's shrinking budget), `MODEL_MINIMISE_MS`
//! (the chunk-removal pass after it), `MODEL_TRACE=1` (print every case with its duration).

use crate::support::{make_due, purchase, registry, TestDb};
use engine::definition::Registry;
use engine::model::{
    ActivityError, ActivityKind, ActivityStatus, AttemptOutcome, Outcome, WorkflowId,
    WorkflowStatus,
};
use engine::store::{
    AttemptRecord, Claimed, Completed, Completion, Error, NewWorkflow, Submitted, WorkflowRecord,
};
use engine::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

testkit::backend_tests!(
    random_operation_sequences_agree_with_the_model,
    shrunk_regressions_agree_with_the_model
);

// ---------------------------------------------------------------------------------------
// Adapters: the only places that call the store. Coming API changes are one-line edits here.

const WORKFLOW_TYPE: &str = "purchase_fast";
const LEASE_TTL_MS: u64 = 600_000;
const WORKERS: usize = 3;

async fn store_claim(
    store: &Store,
    registry: &Registry,
    worker: &str,
    batch_max: u32,
) -> engine::store::Result<Vec<Claimed>> {
    store.claim(registry, worker, batch_max, LEASE_TTL_MS).await
}

async fn store_release(store: &Store, claims: &[Claimed]) -> engine::store::Result<usize> {
    store.release(claims).await
}

async fn store_complete(
    store: &Store,
    registry: &Registry,
    worker: &str,
    lease_next: bool,
    completions: &[Completion],
) -> engine::store::Result<Completed> {
    let lease = lease_next.then_some(LEASE_TTL_MS);
    store.complete(registry, worker, lease, completions).await
}

async fn store_submit(
    store: &Store,
    registry: &Registry,
    new: &NewWorkflow,
) -> engine::store::Result<Submitted> {
    store.submit(registry, new).await
}

async fn store_abort(
    store: &Store,
    registry: &Registry,
    id: WorkflowId,
) -> engine::store::Result<WorkflowStatus> {
    store.abort(registry, id, None).await
}

async fn store_retry(
    store: &Store,
    registry: &Registry,
    id: WorkflowId,
) -> engine::store::Result<WorkflowStatus> {
    store.retry(registry, id, None).await
}

async fn store_get(store: &Store, id: WorkflowId) -> engine::store::Result<WorkflowRecord> {
    store
        .get(id)
        .await
        .map(|r| r.unwrap_or_else(|| panic!("workflow {id} vanished")))
}

async fn store_list(store: &Store) -> engine::store::Result<Vec<(WorkflowId, WorkflowStatus)>> {
    let rows = store
        .list(
            &engine::store::ListFilter {
                workflow_type: Some(WORKFLOW_TYPE),
                ..Default::default()
            },
            1_000,
        )
        .await?;
    Ok(rows.into_iter().map(|s| (s.id, s.status)).collect())
}

/// The unique key of an attempt-history row within its activity: the lease epoch.
fn history_key(a: &AttemptRecord) -> i64 {
    a.epoch
}

/// The lease epochs of an activity's history rows (they must strictly increase).
fn history_epochs(history: &[AttemptRecord]) -> Option<Vec<i64>> {
    Some(history.iter().map(|a| a.epoch).collect())
}

/// Bounds a store call: a hang fails the case instead of the whole test run.
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> Result<T, String> {
    let ms = env_number("MODEL_TIMEOUT_MS", 5_000);
    tokio::time::timeout(Duration::from_millis(ms), fut)
        .await
        .map_err(|_| format!("{what} did not return within {ms} ms (hang)"))
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How often the runs reached the states worth reaching, printed at the end of a test.
static REACHED: [std::sync::atomic::AtomicUsize; 6] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; 6];
const REACHED_NAMES: [&str; 6] = [
    "exhausted claims",
    "parked workflows",
    "operator retries",
    "compensations",
    "fenced completions",
    "applied aborts",
];

fn reached(what: usize) {
    REACHED[what].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

fn reached_report() -> String {
    let counts: Vec<String> = REACHED_NAMES
        .iter()
        .zip(&REACHED)
        .map(|(n, c)| format!("{n} {}", c.load(std::sync::atomic::Ordering::Relaxed)))
        .collect();
    counts.join(", ")
}

// ---------------------------------------------------------------------------------------
// Operations.

/// Idempotency keys: case and trailing-space variants of one key are different keys.
const KEYS: [&str; 5] = ["Order-X1", "order-x1", "ORDER-X1", "Order-X1 ", "Order-X2"];

/// What a participant answers (or a worker reports) for one claimed activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Transient,
    Refused,
    /// A business error whose code (200 chars) is longer than the column (64).
    LongCode,
    /// A success whose body is several megabytes.
    HugeBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `key`: index into [`KEYS`], or none past its end; `user`: one of two inputs.
    Submit {
        key: usize,
        user: i64,
    },
    Claim {
        worker: usize,
        batch: u32,
    },
    /// `worker` completes its first `answers.len()` claims in one batch (holding none, it
    /// claims that many first, as a runner's loop does); `lease_next`: the next activities
    /// come back leased to it.
    Complete {
        worker: usize,
        answers: Vec<Answer>,
        lease_next: bool,
    },
    /// The `pick`-th worker holding claims dies: its claims (or its leased next activities)
    /// are dropped; their leases run until they expire.
    Crash {
        pick: usize,
    },
    /// The `pick`-th worker holding claims drains: it gives them back unstarted.
    Drain {
        pick: usize,
    },
    /// Time passes for the `wf`-th workflow with work left: its retry falls due, its lease
    /// expires.
    Expire {
        wf: usize,
    },
    /// Time passes for every workflow.
    Tick,
    /// A user aborts the `wf`-th unfinished workflow (any workflow when all have ended).
    Abort {
        wf: usize,
    },
    /// An operator retries the `wf`-th parked workflow (any workflow when none is parked).
    Retry {
        wf: usize,
    },
}

/// Answers; `transient` and `refused` weigh against 12 for a success.
fn answer(transient: u32, refused: u32) -> impl Strategy<Value = Answer> {
    prop_oneof![
        12 => Just(Answer::Ok),
        transient => Just(Answer::Transient),
        refused => Just(Answer::Refused),
        2 => Just(Answer::LongCode),
        1 => Just(Answer::HugeBody),
    ]
}

/// Operations drawn with the given weights (one per kind, in [`Op`]'s order).
fn op(w: [u32; 9], transient: u32, refused: u32) -> impl Strategy<Value = Op> {
    let kinds: Vec<(u32, BoxedStrategy<Op>)> = vec![
        (
            w[0],
            (0..=KEYS.len(), 1..=2i64)
                .prop_map(|(key, user)| Op::Submit { key, user })
                .boxed(),
        ),
        (
            w[1],
            (0..WORKERS, 1..=3u32)
                .prop_map(|(worker, batch)| Op::Claim { worker, batch })
                .boxed(),
        ),
        (
            w[2],
            (
                0..WORKERS,
                prop::collection::vec(answer(transient, refused), 1..=3),
                prop::bool::weighted(0.7),
            )
                .prop_map(|(worker, answers, lease_next)| Op::Complete {
                    worker,
                    answers,
                    lease_next,
                })
                .boxed(),
        ),
        (
            w[3],
            (0..4usize).prop_map(|pick| Op::Crash { pick }).boxed(),
        ),
        (
            w[4],
            (0..4usize).prop_map(|pick| Op::Drain { pick }).boxed(),
        ),
        (w[5], (0..8usize).prop_map(|wf| Op::Expire { wf }).boxed()),
        (w[6], Just(Op::Tick).boxed()),
        (w[7], (0..8usize).prop_map(|wf| Op::Abort { wf }).boxed()),
        (w[8], (0..8usize).prop_map(|wf| Op::Retry { wf }).boxed()),
    ];
    prop::strategy::Union::new_weighted(kinds.into_iter().filter(|(w, _)| *w > 0).collect())
}

/// Swarm testing: each case draws its own operation mix (some kinds left out, others
/// frequent), which reaches deep states (exhausted budgets, parked workflows) far more often
/// than one fixed mix. Claims and completions are always in.
fn sequences(max_ops: usize) -> impl Strategy<Value = Vec<Op>> {
    let weight = || prop::sample::select(vec![0u32, 1, 2, 4]);
    let always = || prop::sample::select(vec![1u32, 2, 4, 8]);
    let first = (0..=KEYS.len(), 1..=2i64).prop_map(|(key, user)| Op::Submit { key, user });
    let answers = (
        prop::sample::select(vec![2u32, 10, 30]),
        prop::sample::select(vec![1u32, 4, 8]),
    );
    let mix = (prop::array::uniform9(weight()), always(), always(), answers);
    (mix, first).prop_flat_map(
        move |((mut w, claim, complete, (transient, refused)), first)| {
            // Few workflows, each driven deep; aborts end them early, so they stay rare.
            w[0] = w[0].clamp(1, 2);
            w[1] = claim;
            w[2] = complete;
            w[7] = w[7].min(1);
            let rest = prop::collection::vec(op(w, transient, refused), 0..max_ops.max(1));
            (Just(first), rest).prop_map(|(first, mut rest)| {
                rest.insert(0, first);
                rest
            })
        },
    )
}

fn outcome_of(answer: Answer) -> Outcome {
    match answer {
        Answer::Ok => Outcome::Success(json!({"amount": 100})),
        Answer::Transient => Outcome::Retryable(ActivityError::new("HTTP_503", "unavailable")),
        Answer::Refused => Outcome::BusinessError(ActivityError::new("OUT_OF_STOCK", "refused")),
        Answer::LongCode => Outcome::BusinessError(ActivityError::new("E".repeat(200), "long")),
        Answer::HugeBody => {
            Outcome::Success(json!({"amount": 100, "blob": "x".repeat(2 * 1024 * 1024)}))
        }
    }
}

// ---------------------------------------------------------------------------------------
// The model: purchase_fast's shape and the saga rules, written independently of the engine.

const STEPS: u32 = 7;
/// Steps after this one are past the pivot.
const PIVOT: u32 = 3;

fn has_compensation(step: u32) -> bool {
    (1..=PIVOT).contains(&step)
}

fn after_pivot(step: u32) -> bool {
    step > PIVOT
}

/// purchase_fast's budgets: the README policy (4) before the pivot, the persistent one (3)
/// after it and for every compensation.
fn budget(step: u32, kind: ActivityKind) -> u32 {
    match kind {
        ActivityKind::Action if !after_pivot(step) => 4,
        _ => 3,
    }
}

/// What happened to an activity, as the saga rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Success,
    Business,
    Retryable,
    Aborted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Next(u32),
    Compensate(u32),
    Retry,
    Complete,
    Compensated,
    Park,
}

/// Where an unfinished activity stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Live {
    /// `due`: certainly due (false: a retry scheduled a few ms ahead; it may be due).
    Ready {
        due: bool,
    },
    Leased {
        owner: String,
        expired: bool,
    },
    Done,
}

#[derive(Debug, Clone)]
struct Act {
    step: u32,
    kind: ActivityKind,
    status: ActivityStatus,
    live: Live,
    attempt: u32,
    max_attempts: u32,
    /// Attempts spent before the last operator retry: the budget counts from here.
    base: u32,
    epoch: i64,
    history: Vec<AttemptOutcome>,
}

impl Act {
    /// A new activity under the workflow lease `epoch`: kept by `leased_to`, or ready.
    fn new(step: u32, kind: ActivityKind, leased_to: Option<&str>, epoch: i64) -> Act {
        let (live, attempt) = match leased_to {
            Some(w) => (
                Live::Leased {
                    owner: w.into(),
                    expired: false,
                },
                1,
            ),
            None => (Live::Ready { due: true }, 0),
        };
        Act {
            step,
            kind,
            status: if leased_to.is_some() {
                ActivityStatus::Leased
            } else {
                ActivityStatus::Ready
            },
            live,
            attempt,
            max_attempts: budget(step, kind),
            base: 0,
            epoch,
            history: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct Wf {
    id: WorkflowId,
    user: i64,
    status: WorkflowStatus,
    abort: bool,
    /// The workflow lease's epoch: every claim raises it; activities handed on keep it.
    epoch: i64,
    /// The journal in creation order; the last one is the only one that can be live.
    acts: Vec<Act>,
    /// The record as read when the workflow became terminal: it must not change.
    frozen: Option<WorkflowRecord>,
}

fn compensate_below(end: u32) -> Decision {
    (0..end)
        .rev()
        .find(|&s| has_compensation(s))
        .map_or(Decision::Compensated, Decision::Compensate)
}

impl Wf {
    fn live(&self) -> Option<&Act> {
        self.acts.last().filter(|a| a.live != Live::Done)
    }

    fn live_mut(&mut self) -> Option<&mut Act> {
        self.acts.last_mut().filter(|a| a.live != Live::Done)
    }

    /// The saga rules: what follows `event` on the live activity.
    fn decide(&self, event: Event) -> Decision {
        let a = self.live().expect("a live activity");
        let budget_left = a.attempt - a.base < budget(a.step, a.kind);
        if a.kind == ActivityKind::Compensation {
            return match event {
                Event::Success => compensate_below(a.step),
                Event::Retryable if budget_left => Decision::Retry,
                Event::Business | Event::Retryable => Decision::Park,
                Event::Aborted => unreachable!("a compensation is never aborted"),
            };
        }
        let abort = self.abort && !after_pivot(a.step);
        match event {
            // An earlier attempt may have taken effect: compensate this step too.
            Event::Aborted => compensate_below(a.step + u32::from(a.attempt > 0)),
            Event::Success if abort => compensate_below(a.step + 1),
            Event::Success if a.step + 1 == STEPS => Decision::Complete,
            Event::Success => Decision::Next(a.step + 1),
            // Refused; but an earlier attempt of this Try (a timeout, a lost lease) may
            // still have taken effect: then its compensation runs too.
            Event::Business if !after_pivot(a.step) => {
                compensate_below(a.step + u32::from(a.attempt > 1))
            }
            Event::Business => Decision::Park,
            Event::Retryable if abort => compensate_below(a.step + 1),
            Event::Retryable if budget_left => Decision::Retry,
            Event::Retryable if !after_pivot(a.step) => compensate_below(a.step + 1),
            Event::Retryable => Decision::Park,
        }
    }

    /// Applies `event` on the live activity; `recorded`: an attempt row is written;
    /// `next_to`: the next activity is leased to this worker (else left ready).
    fn apply(&mut self, event: Event, recorded: bool, next_to: Option<&str>) -> Decision {
        let decision = self.decide(event);
        let a = self.live_mut().expect("a live activity");
        let kind = a.kind;
        if recorded {
            a.history.push(match event {
                Event::Success => AttemptOutcome::Succeeded,
                Event::Business => AttemptOutcome::BusinessError,
                Event::Retryable => AttemptOutcome::RetryableError,
                Event::Aborted => unreachable!("an abort records no attempt"),
            });
        }
        if decision == Decision::Retry {
            a.status = ActivityStatus::Ready;
            a.live = Live::Ready { due: false };
        } else {
            a.status = if event == Event::Success {
                ActivityStatus::Succeeded
            } else {
                ActivityStatus::Failed
            };
            a.live = Live::Done;
        }
        self.status = match decision {
            Decision::Next(step) => {
                self.acts
                    .push(Act::new(step, ActivityKind::Action, next_to, self.epoch));
                WorkflowStatus::Running
            }
            Decision::Compensate(step) => {
                reached(3);
                self.acts.push(Act::new(
                    step,
                    ActivityKind::Compensation,
                    next_to,
                    self.epoch,
                ));
                WorkflowStatus::Compensating
            }
            Decision::Retry if kind == ActivityKind::Action => WorkflowStatus::Running,
            Decision::Retry => WorkflowStatus::Compensating,
            Decision::Complete => WorkflowStatus::Completed,
            Decision::Compensated => WorkflowStatus::Compensated,
            Decision::Park => {
                reached(1);
                WorkflowStatus::Failed
            }
        };
        decision
    }
}

struct Model {
    wfs: Vec<Wf>,
    /// Byte-exact idempotency key -> index into `wfs`.
    keys: HashMap<String, usize>,
    /// What each worker holds: claims and next activities it was handed.
    held: Vec<Vec<Claimed>>,
}

fn worker_name(w: usize) -> String {
    format!("w{w}")
}

impl Model {
    fn new() -> Model {
        Model {
            wfs: Vec::new(),
            keys: HashMap::new(),
            held: vec![Vec::new(); WORKERS],
        }
    }

    fn index(&self, id: WorkflowId) -> Result<usize, String> {
        self.wfs
            .iter()
            .position(|w| w.id == id)
            .ok_or_else(|| format!("the store returned workflow {id}, which was never submitted"))
    }

    /// The `pick`-th worker (cyclically) among those holding something.
    fn holder(&self, pick: usize) -> Option<usize> {
        let holders: Vec<usize> = (0..WORKERS).filter(|&w| !self.held[w].is_empty()).collect();
        (!holders.is_empty()).then(|| holders[pick % holders.len()])
    }

    /// Indexes of the workflows with a live activity.
    fn unfinished(&self) -> Vec<usize> {
        (0..self.wfs.len())
            .filter(|&i| self.wfs[i].live().is_some())
            .collect()
    }

    /// True when `c` is still the lease of its workflow's live activity.
    fn current(&self, c: &Claimed) -> bool {
        self.wfs.iter().any(|w| {
            w.id == c.key.workflow_id
                && w.live().is_some_and(|a| {
                    a.step == c.key.step
                        && a.kind == c.key.kind
                        && a.epoch == c.epoch
                        && matches!(a.live, Live::Leased { .. })
                })
        })
    }
}

// ---------------------------------------------------------------------------------------
// Checking a stored workflow against the model.

fn check_record(m: &Wf, r: &WorkflowRecord) -> Result<(), String> {
    let id = m.id;
    let ctx = |what: String| format!("workflow {id}: {what}");
    if r.status != m.status {
        return Err(ctx(format!("status {} (model: {})", r.status, m.status)));
    }
    if r.abort_requested != m.abort {
        return Err(ctx(format!("abort_requested {}", r.abort_requested)));
    }
    let last = m.acts.last().expect("a first activity");
    if (r.current_step, r.current_kind) != (last.step, last.kind) {
        return Err(ctx(format!(
            "current {}:{} (model: {}:{})",
            r.current_step, r.current_kind, last.step, last.kind
        )));
    }
    let unfinished = r.activities.iter().filter(|a| a.run_at.is_some()).count();
    let wanted = usize::from(!r.status.is_terminal());
    if unfinished != wanted {
        return Err(ctx(format!(
            "{unfinished} activities due or leased in status {}, want {wanted}",
            r.status
        )));
    }
    if r.activities.len() != m.acts.len() {
        let got: Vec<_> = r
            .activities
            .iter()
            .map(|a| format!("{}:{}", a.step, a.kind))
            .collect();
        let want: Vec<_> = m
            .acts
            .iter()
            .map(|a| format!("{}:{}", a.step, a.kind))
            .collect();
        return Err(ctx(format!("journal {got:?} (model: {want:?})")));
    }
    for a in &m.acts {
        let Some(s) = r
            .activities
            .iter()
            .find(|s| s.step == a.step && s.kind == a.kind)
        else {
            return Err(ctx(format!(
                "no activity {}:{} in the journal",
                a.step, a.kind
            )));
        };
        let name = format!("{}:{}", a.step, a.kind);
        let owner = match &a.live {
            Live::Leased { owner, .. } => Some(owner.as_str()),
            _ => None,
        };
        let got = (
            s.status,
            s.attempt,
            s.max_attempts,
            s.epoch,
            s.run_at.is_some(),
            s.lease_owner.as_deref(),
        );
        let want = (
            a.status,
            a.attempt,
            a.max_attempts,
            a.epoch,
            a.live != Live::Done,
            owner,
        );
        if got != want {
            return Err(ctx(format!(
                "activity {name} (status, attempt, max_attempts, epoch, run_at set, owner) = {got:?}, model: {want:?}"
            )));
        }
        let outcomes: Vec<_> = s.attempts.iter().map(|t| t.outcome).collect();
        if outcomes != a.history {
            return Err(ctx(format!(
                "activity {name} history {outcomes:?} (model: {:?})",
                a.history
            )));
        }
        check_history(&s.attempts).map_err(|e| ctx(format!("activity {name}: {e}")))?;
    }
    check_compensation_order(r).map_err(ctx)?;
    Ok(())
}

/// Attempt-history rows of one activity: unique keys, attempt numbers never decreasing,
/// epochs strictly increasing (when recorded).
fn check_history(history: &[AttemptRecord]) -> Result<(), String> {
    let keys: BTreeSet<i64> = history.iter().map(history_key).collect();
    if keys.len() != history.len() {
        return Err(format!("duplicate history keys: {history:?}"));
    }
    if history.windows(2).any(|w| w[1].attempt < w[0].attempt) {
        let numbers: Vec<_> = history.iter().map(|a| a.attempt).collect();
        return Err(format!("attempt numbers decrease: {numbers:?}"));
    }
    if let Some(epochs) = history_epochs(history) {
        if epochs.windows(2).any(|w| w[1] <= w[0]) {
            return Err(format!("history epochs not increasing: {epochs:?}"));
        }
    }
    Ok(())
}

/// Compensations were created in reverse step order.
fn check_compensation_order(r: &WorkflowRecord) -> Result<(), String> {
    let mut comps: Vec<_> = r
        .activities
        .iter()
        .filter(|a| a.kind == ActivityKind::Compensation)
        .map(|a| (a.created_at, a.step))
        .collect();
    comps.sort();
    if comps.windows(2).any(|w| w[1].1 >= w[0].1) {
        return Err(format!(
            "compensations not in reverse order: (created_at, step) {comps:?}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Running one sequence.

struct Case<'a> {
    db: &'a TestDb,
    store: Store,
    registry: Arc<Registry>,
    model: Model,
    /// What ran so far, for failure reports.
    log: String,
}

fn db_err(what: &str, e: Error) -> String {
    format!("{what} failed: {e}")
}

impl Case<'_> {
    /// Runs `ops`; on a failure, the index of the op and what went wrong.
    async fn run(&mut self, ops: &[Op]) -> Result<(), (usize, String)> {
        for (i, op) in ops.iter().enumerate() {
            let _ = writeln!(self.log, "#{i} {op:?}");
            self.step(op).await.map_err(|e| (i, e))?;
            self.check_all()
                .await
                .map_err(|e| (i, format!("(check after the op) {e}")))?;
        }
        Ok(())
    }

    async fn step(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Submit { key, user } => self.submit(KEYS.get(*key).copied(), *user).await,
            Op::Claim { worker, batch } => self.claim(*worker, *batch).await,
            Op::Complete {
                worker,
                answers,
                lease_next,
            } => {
                if self.model.held[*worker].is_empty() {
                    self.claim(*worker, answers.len() as u32).await?;
                }
                self.complete(*worker, answers, *lease_next).await
            }
            Op::Crash { pick } => {
                if let Some(w) = self.model.holder(*pick) {
                    self.model.held[w].clear();
                }
                Ok(())
            }
            Op::Drain { pick } => match self.model.holder(*pick) {
                Some(w) => self.drain(w).await,
                None => Ok(()),
            },
            Op::Expire { wf } => {
                let live: Vec<usize> = self.model.unfinished();
                match live.is_empty() {
                    true => Ok(()),
                    false => self.expire(live[wf % live.len()]).await,
                }
            }
            Op::Tick => {
                for i in self.model.unfinished() {
                    self.expire(i).await?;
                }
                Ok(())
            }
            Op::Abort { wf } => self.abort(*wf).await,
            Op::Retry { wf } => self.retry(*wf).await,
        }
    }

    async fn submit(&mut self, key: Option<&str>, user: i64) -> Result<(), String> {
        let new = NewWorkflow {
            idempotency_key: key.map(str::to_owned),
            submitted_by: None,
            ..purchase(WORKFLOW_TYPE, user, 1)
        };
        let got = bounded("submit", store_submit(&self.store, &self.registry, &new)).await?;
        let known = key.and_then(|k| self.model.keys.get(k).copied());
        match (known, got) {
            (Some(i), got) => {
                let first = &self.model.wfs[i];
                if first.user == user {
                    let want = Submitted {
                        id: first.id,
                        status: first.status,
                        created: false,
                    };
                    match got {
                        Ok(s) if s == want => Ok(()),
                        other => Err(format!(
                            "same key {key:?} and body: got {other:?}, want {want:?}"
                        )),
                    }
                } else {
                    match got {
                        Err(Error::IdempotencyConflict { id }) if id == first.id => Ok(()),
                        other => Err(format!(
                            "same key {key:?}, other body: got {other:?}, want IdempotencyConflict {{ id: {} }}",
                            first.id
                        )),
                    }
                }
            }
            (None, Ok(s)) if s.created && s.status == WorkflowStatus::Pending => {
                if self.model.wfs.iter().any(|w| w.id == s.id) {
                    return Err(format!(
                        "new key {key:?} returned the existing workflow {}",
                        s.id
                    ));
                }
                let _ = writeln!(self.log, "   -> wf{} = {}", self.model.wfs.len(), s.id);
                if let Some(k) = key {
                    self.model.keys.insert(k.to_owned(), self.model.wfs.len());
                }
                self.model.wfs.push(Wf {
                    id: s.id,
                    user,
                    status: WorkflowStatus::Pending,
                    abort: false,
                    epoch: 0,
                    acts: vec![Act::new(0, ActivityKind::Action, None, 0)],
                    frozen: None,
                });
                Ok(())
            }
            (None, other) => Err(format!(
                "a new key {key:?} must create a workflow: got {other:?}"
            )),
        }
    }

    async fn claim(&mut self, worker: usize, batch: u32) -> Result<(), String> {
        let name = worker_name(worker);
        let (mut certain, mut possible) = (BTreeSet::new(), BTreeSet::new());
        for w in &self.model.wfs {
            match w.live().map(|a| &a.live) {
                Some(Live::Ready { due: true }) | Some(Live::Leased { expired: true, .. }) => {
                    certain.insert(w.id);
                }
                Some(Live::Ready { due: false }) => {
                    possible.insert(w.id);
                }
                _ => {}
            }
        }
        let claimed = bounded(
            "claim",
            store_claim(&self.store, &self.registry, &name, batch),
        )
        .await?
        .map_err(|e| db_err(&format!("claim by {name}"), e))?;
        let ids: BTreeSet<_> = claimed.iter().map(|c| c.key.workflow_id).collect();
        if ids.len() != claimed.len() || claimed.len() > batch as usize {
            let keys: Vec<_> = claimed.iter().map(|c| c.key).collect();
            return Err(format!("claim of {batch} returned {keys:?}"));
        }
        if let Some(stray) = ids
            .iter()
            .find(|id| !certain.contains(id) && !possible.contains(id))
        {
            return Err(format!("claimed {stray}, which is neither due nor expired"));
        }
        let fits = certain.len() + possible.len() <= batch as usize;
        if claimed.len() < certain.len().min(batch as usize) || (fits && !certain.is_subset(&ids)) {
            return Err(format!(
                "claim of {batch} took {ids:?}; due for sure: {certain:?}, maybe: {possible:?}"
            ));
        }
        for c in claimed {
            let i = self.model.index(c.key.workflow_id)?;
            let w = &mut self.model.wfs[i];
            // The lease is the workflow's: a claim raises its epoch, and a workflow that was
            // never claimed starts running.
            w.epoch += 1;
            if w.status == WorkflowStatus::Pending {
                w.status = WorkflowStatus::Running;
            }
            let epoch = w.epoch;
            let a = w.live_mut().expect("due, so live");
            if (a.step, a.kind) != (c.key.step, c.key.kind) {
                return Err(format!(
                    "claimed {}, model's live activity is {}:{}",
                    c.key, a.step, a.kind
                ));
            }
            let reclaimed = matches!(a.live, Live::Leased { .. });
            if reclaimed {
                a.history.push(AttemptOutcome::LeaseExpired);
            }
            let exhausted = a.attempt >= a.max_attempts;
            if exhausted {
                reached(0);
            }
            if !exhausted {
                a.attempt += 1;
            }
            a.epoch = epoch;
            a.status = ActivityStatus::Leased;
            a.live = Live::Leased {
                owner: name.clone(),
                expired: false,
            };
            let want = (a.attempt, a.epoch, exhausted, reclaimed);
            let got = (c.attempt, c.epoch, c.exhausted, c.reclaimed);
            if got != want {
                return Err(format!(
                    "claimed {}: (attempt, epoch, exhausted, reclaimed) = {got:?}, model: {want:?}",
                    c.key
                ));
            }
            let _ = writeln!(
                self.log,
                "   -> {name} holds wf{i} {}:{} attempt {} epoch {}{}",
                c.key.step,
                c.key.kind,
                c.attempt,
                c.epoch,
                if exhausted { " (exhausted)" } else { "" }
            );
            self.model.held[worker].push(c);
        }
        Ok(())
    }

    async fn complete(
        &mut self,
        worker: usize,
        answers: &[Answer],
        lease_next: bool,
    ) -> Result<(), String> {
        let name = worker_name(worker);
        let n = answers.len().min(self.model.held[worker].len());
        if n == 0 {
            return Ok(());
        }
        let batch: Vec<Claimed> = self.model.held[worker].drain(..n).collect();
        let completions: Vec<Completion> = batch
            .iter()
            .zip(answers)
            .map(|(c, &answer)| match c.exhausted {
                // As the runner does: the last lease expired, the step is not run again.
                true => Completion {
                    claimed: c.clone(),
                    outcome: Outcome::Retryable(ActivityError::new(
                        "LEASE_EXPIRED",
                        "the lease of the last attempt expired",
                    )),
                    request: None,
                    executed: false,
                    jitter: 0.0,
                },
                false => Completion {
                    claimed: c.clone(),
                    outcome: outcome_of(answer),
                    request: None,
                    executed: true,
                    jitter: 0.0,
                },
            })
            .collect();
        // Fences are checked against the state before the batch.
        let current: Vec<bool> = batch.iter().map(|c| self.model.current(c)).collect();
        let done = bounded(
            "complete",
            store_complete(&self.store, &self.registry, &name, lease_next, &completions),
        )
        .await?
        .map_err(|e| {
            db_err(
                &format!("complete by {name} of {} activities", batch.len()),
                e,
            )
        })?;
        let next_to = lease_next.then_some(name.as_str());
        let mut want_fenced = BTreeSet::new();
        let mut want_next = 0;
        for ((c, &answer), held) in batch.iter().zip(answers).zip(current) {
            if !held {
                reached(4);
                want_fenced.insert(c.key);
                continue;
            }
            let i = self.model.index(c.key.workflow_id)?;
            let (primary, others): (Event, &[Option<Event>]) = match (c.exhausted, answer) {
                (true, _) => (Event::Retryable, &[]),
                (_, Answer::Ok) => (Event::Success, &[]),
                (_, Answer::Transient) => (Event::Retryable, &[]),
                (_, Answer::Refused) => (Event::Business, &[]),
                // What the store does with an answer it cannot store as it is: keep it
                // (truncated), turn it into an error, or leave the lease alone.
                (_, Answer::LongCode) => (Event::Business, &[Some(Event::Retryable), None]),
                (_, Answer::HugeBody) => (
                    Event::Success,
                    &[Some(Event::Retryable), Some(Event::Business), None],
                ),
            };
            let recorded = !c.exhausted;
            if others.is_empty() {
                let d = self.model.wfs[i].apply(primary, recorded, next_to);
                want_next += usize::from(matches!(d, Decision::Next(_) | Decision::Compensate(_)));
                continue;
            }
            // An oversized answer: find which of the acceptable results the store chose.
            let record = bounded("get", store_get(&self.store, c.key.workflow_id))
                .await?
                .map_err(|e| db_err("get", e))?;
            let mut tried = Vec::new();
            let mut chosen = None;
            for event in std::iter::once(Some(primary)).chain(others.iter().copied()) {
                let mut wf = self.model.wfs[i].clone();
                let d = event.map(|e| wf.apply(e, recorded, next_to));
                match check_record(&wf, &record) {
                    Ok(()) => {
                        chosen = Some((wf, d, event));
                        break;
                    }
                    Err(e) => tried.push(format!("as {event:?}: {e}")),
                }
            }
            let Some((wf, d, event)) = chosen else {
                return Err(format!(
                    "{answer:?} answer for {}: no acceptable result matches the store: {}",
                    c.key,
                    tried.join("; ")
                ));
            };
            let _ = writeln!(
                self.log,
                "   -> {answer:?} for wf{i} was taken as {event:?}"
            );
            self.model.wfs[i] = wf;
            if event.is_none() {
                // Not applied: the worker still holds the lease.
                self.model.held[worker].push(c.clone());
            }
            want_next += usize::from(matches!(
                d,
                Some(Decision::Next(_) | Decision::Compensate(_))
            ));
        }
        // The workflows first: their state says more than a count of next activities.
        let ids: BTreeSet<_> = batch.iter().map(|c| c.key.workflow_id).collect();
        for id in ids {
            let i = self.model.index(id)?;
            let record = bounded("get", store_get(&self.store, id))
                .await?
                .map_err(|e| db_err("get", e))?;
            check_record(&self.model.wfs[i], &record).map_err(|e| format!("wf{i}: {e}"))?;
        }
        let fenced: BTreeSet<_> = done.fenced.iter().copied().collect();
        if fenced != want_fenced {
            return Err(format!("fenced {fenced:?}, model: {want_fenced:?}"));
        }
        if !lease_next {
            want_next = 0;
        }
        if done.next.len() != want_next {
            return Err(format!(
                "{} next activities leased, model: {want_next}",
                done.next.len()
            ));
        }
        for c in done.next {
            let i = self.model.index(c.key.workflow_id)?;
            let a = self.model.wfs[i].live().expect("a next activity is live");
            let want = (a.step, a.kind, a.epoch, a.attempt);
            let got = (c.key.step, c.key.kind, c.epoch, c.attempt);
            if got != want {
                return Err(format!(
                    "next activity of {}: (step, kind, epoch, attempt) {got:?}, model: {want:?}",
                    c.key.workflow_id
                ));
            }
            self.model.held[worker].push(c);
        }
        Ok(())
    }

    async fn drain(&mut self, worker: usize) -> Result<(), String> {
        let batch = std::mem::take(&mut self.model.held[worker]);
        let mut want = 0;
        for c in &batch {
            if !self.model.current(c) {
                continue;
            }
            want += 1;
            let i = self.model.index(c.key.workflow_id)?;
            let a = self.model.wfs[i].live_mut().expect("current, so live");
            a.status = ActivityStatus::Ready;
            a.live = Live::Ready { due: true };
            // The attempt it was claimed for is not counted; an exhausted claim was given
            // no attempt.
            if !c.exhausted {
                a.attempt -= 1;
            }
        }
        let released = bounded("release", store_release(&self.store, &batch))
            .await?
            .map_err(|e| db_err("release", e))?;
        if released != want {
            return Err(format!("released {released} leases, model: {want}"));
        }
        Ok(())
    }

    async fn expire(&mut self, i: usize) -> Result<(), String> {
        let id = self.model.wfs[i].id;
        let changed = make_due(self.db, id).await;
        let want = match self.model.wfs[i].live_mut() {
            Some(a) => {
                a.live = match &a.live {
                    Live::Leased { owner, .. } => Live::Leased {
                        owner: owner.clone(),
                        expired: true,
                    },
                    _ => Live::Ready { due: true },
                };
                1
            }
            None => 0,
        };
        if changed != want {
            return Err(format!(
                "workflow {id} had {changed} activities due or leased, model: {want}"
            ));
        }
        Ok(())
    }

    async fn abort(&mut self, wf: usize) -> Result<(), String> {
        if self.model.wfs.is_empty() {
            return Ok(());
        }
        let live = self.model.unfinished();
        let i = match live.is_empty() {
            true => wf % self.model.wfs.len(),
            false => live[wf % live.len()],
        };
        let id = self.model.wfs[i].id;
        let got = bounded("abort", store_abort(&self.store, &self.registry, id)).await?;
        let w = &mut self.model.wfs[i];
        let live = w.live().cloned();
        let want: Result<WorkflowStatus, ()> = match (w.status, live) {
            (s, _) if s.is_terminal() => Err(()),
            (WorkflowStatus::Compensating, _) => Ok(WorkflowStatus::Compensating),
            (_, Some(a)) if after_pivot(a.step) => Err(()),
            (_, Some(a)) => {
                w.abort = true;
                reached(5);
                if matches!(a.live, Live::Ready { .. }) {
                    w.apply(Event::Aborted, false, None);
                }
                Ok(w.status)
            }
            (s, None) => return Err(format!("model: workflow {id} is {s} with no live activity")),
        };
        match (got, want) {
            (Ok(g), Ok(w)) if g == w => Ok(()),
            (Err(Error::Conflict(_)), Err(())) => Ok(()),
            (got, want) => Err(format!(
                "abort of {id}: got {got:?}, model: {}",
                want.map_or("Conflict".into(), |s| s.to_string())
            )),
        }
    }

    async fn retry(&mut self, wf: usize) -> Result<(), String> {
        if self.model.wfs.is_empty() {
            return Ok(());
        }
        let parked: Vec<usize> = (0..self.model.wfs.len())
            .filter(|&i| self.model.wfs[i].status == WorkflowStatus::Failed)
            .collect();
        let i = match parked.is_empty() {
            true => wf % self.model.wfs.len(),
            false => parked[wf % parked.len()],
        };
        let id = self.model.wfs[i].id;
        let got = bounded("retry", store_retry(&self.store, &self.registry, id)).await?;
        let w = &mut self.model.wfs[i];
        if w.status != WorkflowStatus::Failed {
            return match got {
                Err(Error::Conflict(_)) => Ok(()),
                other => Err(format!(
                    "retry of {} workflow {id}: got {other:?}, want Conflict",
                    w.status
                )),
            };
        }
        let a = w.acts.last_mut().expect("a parked activity");
        a.status = ActivityStatus::Ready;
        a.live = Live::Ready { due: true };
        // The full budget again, on top of what was spent.
        a.base = a.attempt;
        a.max_attempts = a.attempt + budget(a.step, a.kind);
        w.status = match a.kind {
            ActivityKind::Action => WorkflowStatus::Running,
            ActivityKind::Compensation => WorkflowStatus::Compensating,
        };
        w.frozen = None;
        reached(2);
        match got {
            Ok(s) if s == w.status => Ok(()),
            other => Err(format!(
                "retry of {id}: got {other:?}, want Ok({})",
                w.status
            )),
        }
    }

    /// Every workflow read back and compared with the model; terminal ones are frozen.
    async fn check_all(&mut self) -> Result<(), String> {
        let listed = bounded("list", store_list(&self.store))
            .await?
            .map_err(|e| db_err("list", e))?;
        let listed: BTreeSet<_> = listed.into_iter().collect();
        let modelled: BTreeSet<_> = self.model.wfs.iter().map(|w| (w.id, w.status)).collect();
        if listed != modelled {
            return Err(format!(
                "list (id, status) {listed:?} differs from the model {modelled:?}"
            ));
        }
        for (i, w) in self.model.wfs.iter_mut().enumerate() {
            let record = bounded("get", store_get(&self.store, w.id))
                .await?
                .map_err(|e| db_err("get", e))?;
            check_record(w, &record).map_err(|e| format!("wf{i}: {e}"))?;
            match &w.frozen {
                Some(frozen) if *frozen != record => {
                    return Err(format!(
                        "wf{i} {} changed after it ended as {}",
                        w.id, frozen.status
                    ));
                }
                Some(_) => {}
                None if w.status.is_terminal() => w.frozen = Some(record),
                None => {}
            }
        }
        Ok(())
    }
}

/// How a sequence failed.
#[derive(Debug)]
struct Failure {
    /// Index of the op that failed (or after which a check failed).
    at: usize,
    message: String,
    /// What ran, with the store's answers.
    log: String,
}

impl Failure {
    /// The failure's kind, without ids and numbers: shrinking keeps to one kind.
    fn signature(&self) -> String {
        let words: Vec<&str> = self
            .message
            .split_whitespace()
            .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
            .take(6)
            .collect();
        words.join(" ")
    }

    fn report(&self, ops: &[Op]) -> String {
        format!(
            "failing sequence ({} ops): {ops:?}\nat op #{}: {}\n--- what ran:\n{}",
            ops.len(),
            self.at,
            self.message,
            self.log
        )
    }
}

/// Runs one sequence on a fresh runtime and an emptied database.
fn run_case(db: &TestDb, ops: &[Op]) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = rt.block_on(async {
        let connect = bounded("connect", async {
            let store = Store::connect(&db.url, 8).await.expect("connect");
            store.migrate().await.expect("migrate");
            store
        });
        let store = connect.await.map_err(|message| Failure {
            at: 0,
            message,
            log: String::new(),
        })?;
        for table in ["attempts", "activities", "workflows"] {
            db.execute(&format!("DELETE FROM {table}")).await;
        }
        let mut case = Case {
            db,
            store,
            registry: registry(),
            model: Model::new(),
            log: String::new(),
        };
        let started = Instant::now();
        let result = case.run(ops).await;
        if std::env::var_os("MODEL_TRACE").is_some() {
            let ms = started.elapsed().as_millis();
            eprintln!("--- case of {} ops, {ms} ms:\n{}", ops.len(), case.log);
        }
        result.map_err(|(at, message)| Failure {
            at,
            message,
            log: case.log,
        })
    });
    // Dropping the runtime ends whatever a hung call left running.
    drop(rt);
    result
}

/// Shrinks a failing sequence further than proptest does through the swarm's flat-map: cuts
/// it after the failing op, then drops chunks of ops (halves, quarters, … single ops) while
/// the same kind of failure remains, within `MODEL_MINIMISE_MS`.
fn minimise(db: &TestDb, mut ops: Vec<Op>, mut failure: Failure) -> (Vec<Op>, Failure) {
    let signature = failure.signature();
    let budget = Duration::from_millis(env_number("MODEL_MINIMISE_MS", 60_000));
    let started = Instant::now();
    ops.truncate(failure.at + 1);
    let mut chunk = (ops.len() / 2).max(1);
    while started.elapsed() < budget {
        let mut removed = false;
        let mut i = 0;
        while i < ops.len() && started.elapsed() < budget {
            let end = (i + chunk).min(ops.len());
            let fewer: Vec<Op> = ops[..i].iter().chain(&ops[end..]).cloned().collect();
            match run_case(db, &fewer) {
                Err(f) if f.signature() == signature => {
                    ops = fewer;
                    ops.truncate(f.at + 1);
                    failure = f;
                    removed = true;
                }
                _ => i += chunk,
            }
        }
        match (removed, chunk) {
            (false, 1) => break,
            (false, _) => chunk /= 2,
            (true, _) => chunk = chunk.min((ops.len() / 2).max(1)),
        }
    }
    (ops, failure)
}

fn run_random(db: &TestDb) -> Result<(), String> {
    let cases = env_number("PROPTEST_CASES", 32) as u32;
    let max_ops = env_number("MODEL_OPS", 40) as usize;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: env_number("MODEL_SHRINK_ITERS", 256) as u32,
        // A hang costs a timeout per shrink step: proptest shrinks for this long, then
        // `minimise` takes over.
        max_shrink_time: env_number("MODEL_SHRINK_MS", 20_000) as u32,
        ..Config::default()
    });
    let result = runner.run(&sequences(max_ops), |ops| {
        run_case(db, &ops).map_err(|f| TestCaseError::fail(f.signature()))
    });
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(reason, ops)) => {
            let Err(failure) = run_case(db, &ops) else {
                return Err(format!(
                    "flaky: {ops:?} failed once ({reason}), then passed"
                ));
            };
            let (ops, failure) = minimise(db, ops, failure);
            Err(failure.report(&ops))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `work` on a thread of its own (it builds a runtime per case), then drops `db`.
async fn off_runtime(db: TestDb, work: fn(&TestDb) -> Result<(), String>) {
    let started = Instant::now();
    let (db, result) = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let result = work(&db);
            (db, result)
        })
        .join()
    })
    .await
    .expect("the blocking task ends")
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let backend = if db.is_mysql() { "MariaDB" } else { "SQLite" };
    eprintln!(
        "model test on {backend}: {:.1} s; reached (this process so far): {}",
        started.elapsed().as_secs_f64(),
        reached_report()
    );
    if let Err(e) = result {
        panic!("{backend}: {e}");
    }
}

/// Random sequences of store operations agree with the saga model after every step.
async fn random_operation_sequences_agree_with_the_model(db: TestDb) {
    off_runtime(db, run_random).await
}

// ---------------------------------------------------------------------------------------
// Shrunk failures, replayed on every run.

/// Failures the random test found on the store of December 2026, one or two per defect,
/// shrunk by proptest and `minimise`, then cleaned by hand (workers renumbered, unrelated ops
/// and answers dropped). Defect 6 and the release variant of defect 1 were found with the
/// earlier defects' rules switched off in a local copy of the model (the test stops at its
/// first failure). The multi-megabyte answer passes today on both backends (2 MiB fits the
/// columns and the packet limit); it stays as a guard for the fix of defect 5.
fn regressions() -> Vec<(&'static str, Vec<Op>)> {
    use Answer::*;
    use Op::*;
    let submit = |key| Submit { key, user: 1 };
    let complete = |worker, answers: &[Answer], lease_next| Complete {
        worker,
        answers: answers.to_vec(),
        lease_next,
    };
    let claim = |worker| Claim { worker, batch: 1 };
    vec![
        (
            "1: reclaiming an exhausted activity whose reclaimer died fails every claim",
            vec![
                submit(0),
                claim(0),
                Tick,
                claim(1),
                Tick,
                claim(2),
                Tick,
                claim(0),
                Tick,
                claim(1),
                Tick,
                claim(2),
            ],
        ),
        (
            "1: releasing an exhausted claim lowers its attempt; the next attempt row collides",
            vec![
                submit(0),
                claim(0),
                Tick,
                claim(1),
                Tick,
                claim(2),
                Tick,
                claim(0),
                Tick,
                claim(1),
                Drain { pick: 1 },
                claim(2),
                Tick,
                claim(0),
            ],
        ),
        (
            "2: keys differing in case or trailing spaces are different workflows",
            vec![submit(0), submit(1), submit(2), submit(3), submit(0)],
        ),
        (
            "3: a refusal at attempt 2 also compensates its own step",
            vec![
                submit(0),
                complete(0, &[Ok], true),
                Tick,
                complete(1, &[Refused], true),
            ],
        ),
        (
            "5: one answer too long for its column does not fail the batch",
            vec![submit(0), submit(5), complete(0, &[Ok, LongCode], true)],
        ),
        (
            "5: one multi-megabyte answer does not fail the batch",
            vec![
                submit(0),
                submit(5),
                complete(0, &[HugeBody, Refused], true),
            ],
        ),
        (
            "6: an operator retry gives the full budget again",
            vec![
                submit(0),
                complete(0, &[Ok], true),
                complete(0, &[Ok], true),
                complete(0, &[Refused], true),
                complete(0, &[Transient], false),
                Tick,
                complete(0, &[Transient], false),
                Tick,
                complete(0, &[Transient], false),
                Retry { wf: 0 },
                complete(0, &[Transient], false),
            ],
        ),
    ]
}

fn run_regressions(db: &TestDb) -> Result<(), String> {
    let failures: Vec<String> = regressions()
        .into_iter()
        .filter_map(|(name, ops)| {
            run_case(db, &ops)
                .err()
                .map(|f| format!("{name}: {}", f.report(&ops)))
        })
        .collect();
    match failures.is_empty() {
        true => Ok(()),
        false => Err(failures.join("\n\n")),
    }
}

/// The minimal sequences proptest found (one per defect) still agree with the model.
async fn shrunk_regressions_agree_with_the_model(db: TestDb) {
    off_runtime(db, run_regressions).await
}
