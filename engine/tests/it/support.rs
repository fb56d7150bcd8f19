//! Shared test fixtures: a migrated store, the registry with fast test policies, and a
//! scripted in-memory executor that records every call.

use engine::definition::{Definition, Registry, Request};
use engine::model::{ActivityError, Outcome};
use engine::runner::{Executor, Runner, RunnerConfig};
use engine::store::NewWorkflow;
use engine::{Store, WorkflowId};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
pub use testkit::TestDb;

/// A migrated store on the test's database.
pub async fn store(db: &TestDb) -> Store {
    let store = Store::connect(&db.url, 8).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// The shipped purchase workflow, plus `purchase_fast`: the same steps with millisecond
/// retry policies and small budgets, so parking is reached in a few attempts.
pub fn registry() -> Arc<Registry> {
    let mut registry = Registry::shipped();
    let text = testkit::replace_counted(
        include_str!("../../../workflows/purchase.toml"),
        &[
            ("name = \"purchase\"", "name = \"purchase_fast\"", 1),
            ("max_attempts = 40", "max_attempts = 3", 1),
            ("initial_interval_ms = 1000", "initial_interval_ms = 100", 2),
            ("max_interval_ms = 4000", "max_interval_ms = 400", 1),
            ("max_interval_ms = 60000", "max_interval_ms = 400", 1),
        ],
    );
    registry
        .insert(Definition::parse(Path::new("purchase_fast.toml"), &text).unwrap())
        .unwrap();
    Arc::new(registry)
}

pub fn purchase(workflow_type: &str, user_id: i64, quantity: i64) -> NewWorkflow {
    NewWorkflow {
        workflow_type: workflow_type.into(),
        input: json!({"user_id": user_id, "product_id": 1, "quantity": quantity, "payment_method_id": user_id}),
        idempotency_key: None,
        submitted_by: None,
    }
}

/// An executor answering per path from a script (then `{"amount": 100}`), recording calls.
#[derive(Default)]
pub struct Script {
    answers: Mutex<HashMap<String, VecDeque<Outcome>>>,
    calls: Mutex<Vec<(String, String)>>,
}

impl Script {
    /// Queues `outcome` for the next call of `path`.
    pub fn then(&self, path: &str, outcome: Outcome) -> &Script {
        self.answers
            .lock()
            .unwrap()
            .entry(path.into())
            .or_default()
            .push_back(outcome);
        self
    }

    /// `(idempotency key, path)` of every call so far, in order.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.calls.lock().unwrap().clone()
    }

    /// Paths called so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.calls().into_iter().map(|(_, p)| p).collect()
    }
}

impl Executor for Script {
    async fn execute(&self, request: &Request) -> Outcome {
        self.calls
            .lock()
            .unwrap()
            .push((request.idempotency_key.clone(), request.path.clone()));
        let scripted = self
            .answers
            .lock()
            .unwrap()
            .get_mut(&request.path)
            .and_then(VecDeque::pop_front);
        scripted.unwrap_or_else(|| Outcome::Success(json!({"amount": 100})))
    }
}

pub fn business(code: &str) -> Outcome {
    Outcome::BusinessError(ActivityError::new(code, "refused"))
}

pub fn transient() -> Outcome {
    Outcome::Retryable(ActivityError::new("HTTP_503", "unavailable"))
}

pub fn runner(
    store: &Store,
    registry: &Arc<Registry>,
    script: &Arc<Script>,
    worker: &str,
) -> Runner<Script> {
    Runner::new(
        store.clone(),
        registry.clone(),
        script.clone(),
        RunnerConfig::new(worker),
    )
}

/// Makes every unfinished activity of `id` due now (a scheduled retry, or an expired lease),
/// as if the time had passed; never sleeps.
pub async fn make_due(db: &TestDb, id: WorkflowId) -> u64 {
    db.execute(&format!("UPDATE workflows SET run_at = run_at - 86400000000 WHERE id = '{id}' AND run_at IS NOT NULL"))
        .await
}

/// Runs `runner` until nothing is due, making scheduled retries due at once; at most
/// `rounds` rounds.
pub async fn drive(db: &TestDb, runner: &Runner<Script>, id: WorkflowId, rounds: usize) {
    for _ in 0..rounds {
        runner.run_once().await.expect("run");
        if make_due(db, id).await == 0 {
            return;
        }
    }
    panic!("workflow {id} still has due work after {rounds} rounds");
}
