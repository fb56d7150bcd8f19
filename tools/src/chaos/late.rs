//! The late-Try scenario of a chaos run: a worker freezes with its Try on the wire, the step
//! is reclaimed and refused, the saga compensates, and only then does the frozen Try reach
//! the participant. It must be refused (the step's own cancel blocks it); reconcile then
//! checks that nothing stays reserved.
//!
//! Played by two in-process runners on a workflow version of their own (the purchase steps
//! as version 2, which the run's worker processes do not have and so never claim), against
//! the run's real participants over HTTP. Not a test of the worker processes.

use super::load::Cast;
use anyhow::{bail, Context};
use engine::definition::{Definition, Request};
use engine::runner::{Executor, Runner, RunnerConfig};
use engine::store::{Claimed, NewWorkflow};
use engine::{Outcome, Registry, Store, WorkflowId, WorkflowStatus};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::HttpExecutor;

/// The frozen worker's lease: short, so the takeover comes soon.
const ZOMBIE_LEASE_MS: u64 = 2_000;
/// The other runner's lease: long, so what it holds stays held while the scenario runs.
const SURVIVOR_LEASE_MS: u64 = 120_000;

/// The purchase steps as a version only these runners have.
fn registry() -> anyhow::Result<Arc<Registry>> {
    let text =
        include_str!("../../../workflows/purchase.toml").replacen("version = 1", "version = 2", 1);
    let mut registry = Registry::default();
    registry.insert(Definition::parse(
        Path::new("purchase-late-try.toml"),
        &text,
    )?)?;
    Ok(Arc::new(registry))
}

/// The two runners, the registry and the participants' executor.
pub struct Scene {
    store: Store,
    registry: Arc<Registry>,
    executor: Arc<HttpExecutor>,
    zombie: Runner<HttpExecutor>,
    survivor: Runner<HttpExecutor>,
}

impl Scene {
    pub fn new(store: Store, executor: Arc<HttpExecutor>) -> anyhow::Result<Scene> {
        let registry = registry()?;
        let runner = |id: &str, lease_ttl_ms: u64| {
            let config = RunnerConfig {
                lease_ttl_ms,
                ..RunnerConfig::new(id)
            };
            Runner::new(store.clone(), registry.clone(), executor.clone(), config)
        };
        Ok(Scene {
            zombie: runner("late-try-zombie", ZOMBIE_LEASE_MS),
            survivor: runner("late-try-survivor", SURVIVOR_LEASE_MS),
            store,
            registry,
            executor,
        })
    }

    /// Plays the scenario once for a tight buyer (money for one purchase): returns the
    /// frozen Try's answer, which must be a refusal.
    pub async fn play(&self, cast: &Cast, buyer: (i64, i64)) -> anyhow::Result<Outcome> {
        let (user, card) = buyer;
        let purchase = NewWorkflow {
            workflow_type: "purchase".into(),
            input: json!({"user_id": user, "product_id": cast.stocked, "quantity": 1, "payment_method_id": card}),
            idempotency_key: None,
            submitted_by: None,
        };
        // The zombie prices P1, is handed its reserve_balance and freezes with the Try rendered.
        let p1 = self.store.submit(&self.registry, &purchase).await?.id;
        let quote = self.claim_of(&self.zombie, p1).await?;
        let held = self
            .zombie
            .run_batch(quote, &mut Default::default())
            .await?;
        let late_try = self.render(p1, &held)?;
        // Meanwhile P0 of the same buyer reserves the money and holds it (its next step leased).
        let p0 = self.store.submit(&self.registry, &purchase).await?.id;
        let mut p0_next = self.claim_of(&self.survivor, p0).await?;
        while p0_next.first().is_some_and(|c| c.name != "reserve_payment") {
            p0_next = self
                .survivor
                .run_batch(p0_next, &mut Default::default())
                .await?;
        }
        // The zombie's lease expires; its Try is reclaimed and refused (P0 holds the money).
        let reclaimed = self.claim_of(&self.survivor, p1).await?;
        self.run_to_end(reclaimed).await?;
        self.expect(p1, WorkflowStatus::Compensated, "INSUFFICIENT_BALANCE")
            .await?;
        // P0 is aborted: its money comes back, so a Try of P1 would now find enough.
        self.store.abort(&self.registry, p0, None).await?;
        self.run_to_end(p0_next).await?;
        self.expect(p0, WorkflowStatus::Compensated, "ABORTED")
            .await?;
        // The frozen Try reaches the participant at last.
        Ok(self.executor.execute(&late_try).await)
    }

    /// Claims until the batch holds `id`'s activity (the lease of another may still hold).
    async fn claim_of(
        &self,
        runner: &Runner<HttpExecutor>,
        id: WorkflowId,
    ) -> anyhow::Result<Vec<Claimed>> {
        let c = runner.config();
        let deadline = Instant::now() + Duration::from_millis(ZOMBIE_LEASE_MS * 10);
        loop {
            let batch = self
                .store
                .claim(&self.registry, &c.worker_id, 1, c.lease_ttl_ms)
                .await?;
            if let Some(mine) = batch.iter().find(|a| a.key.workflow_id == id) {
                return Ok(vec![mine.clone()]);
            }
            if let Some(other) = batch.first() {
                bail!(
                    "late-try scenario: {} claimed {} instead of {id}",
                    c.worker_id,
                    other.key
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "late-try scenario: {id} never became due for {}",
                    c.worker_id
                );
            }
            // Waiting out the zombie's lease is the fault itself, not a synchronisation.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn render(&self, id: WorkflowId, held: &[Claimed]) -> anyhow::Result<Request> {
        let step = held
            .first()
            .context("the zombie was handed its next step")?;
        anyhow::ensure!(
            step.name == "reserve_balance",
            "the zombie holds {}",
            step.name
        );
        let def = self
            .registry
            .get(&step.workflow_type, step.version)
            .context("loaded")?;
        def.render(id, step.key.step, step.key.kind, &step.input, &step.outputs)
            .map_err(|e| anyhow::anyhow!("rendering the frozen Try: {e}"))
    }

    /// Runs `batch` and whatever follows it (leased to the survivor) to the workflow's end.
    async fn run_to_end(&self, mut batch: Vec<Claimed>) -> anyhow::Result<()> {
        while !batch.is_empty() {
            batch = self
                .survivor
                .run_batch(batch, &mut Default::default())
                .await?;
        }
        Ok(())
    }

    async fn expect(
        &self,
        id: WorkflowId,
        status: WorkflowStatus,
        code: &str,
    ) -> anyhow::Result<()> {
        let wf = self.store.get(id).await?.context("the workflow exists")?;
        let got = wf.error.as_ref().map(|e| e.code.as_str());
        if wf.status != status || got != Some(code) {
            bail!(
                "late-try scenario: {id} ended {} ({got:?}), expected {status} ({code})",
                wf.status
            );
        }
        Ok(())
    }
}
