//! The storm of a chaos run and how it settles: traffic with worker kills, a zombie and
//! database restarts, late Tries, then quiescence, reconciliation and the check that every
//! injected fault fired.

use super::rig::{Rig, Worker};
use super::{late, load, Figures};
use crate::procs::signal;
use crate::reconcile::{reconcile, Expected};
use anyhow::{bail, Context};
use engine::WorkflowStatus;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Rig {
    /// The run: load and faults for the duration, then quiescence and reconciliation.
    pub(super) async fn storm(
        &self,
        (expected, cast): (Expected, load::Cast),
    ) -> anyhow::Result<Figures> {
        let mut workers: Vec<Worker> = (0..self.args.workers)
            .map(|i| self.spawn_worker(&format!("w{i}")))
            .collect::<Result<_, _>>()?;
        self.faults(true).await?;
        let started = Instant::now();
        let deadline = Instant::now() + self.args.duration.get();
        let traffic = tokio::spawn(load::drive(
            self.api.clone(),
            cast.clone(),
            self.args.rate,
            deadline,
            self.args.seed,
        ));
        let mut figures = Figures::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.args.seed);
        let zombie_at = Instant::now() + self.args.duration.get() / 3;
        let mut zombie_done = false;
        let restarts = if self.db.is_some() {
            self.args.db_restarts
        } else {
            0
        };
        let restart_at = |n: u32| started + self.args.duration.get() * (n + 1) / (restarts + 1);
        let outage_at = started + self.args.duration.get() * 2 / 3;
        let node_loss_at = started + self.args.duration.get() / 2;
        let mut node_loss_done = self.args.galera.is_none();
        let mut outage_done = self.args.outage.is_zero();
        let mut generation = 0;
        while Instant::now() < deadline {
            tokio::time::sleep(self.args.kill_every.get()).await;
            if !outage_done && Instant::now() >= outage_at {
                // No kills while it lasts: the workers that saw it begin see it end.
                figures.outage = self.outage(&workers).await?;
                figures.outages += 1;
                outage_done = true;
            }
            if !node_loss_done && Instant::now() >= node_loss_at {
                // No worker kills while the node is down and rejoins (a few seconds).
                figures.node_loss = self.node_loss(&self.args.galera_script).await?;
                node_loss_done = true;
            }
            if !zombie_done && Instant::now() >= zombie_at {
                self.zombie(&workers[0]).await?;
                zombie_done = true;
            }
            if (figures.db_restarts as u32) < restarts
                && Instant::now() >= restart_at(figures.db_restarts as u32)
            {
                self.restart_database().await?;
                figures.db_restarts += 1;
            }
            // Worker 0 is the zombie: it is never killed, so its fenced writes can be read.
            let victim = rng
                .gen_range(1..workers.len().max(2))
                .min(workers.len() - 1);
            if victim == 0 {
                continue;
            }
            generation += 1;
            // Dropping the old one kills it (SIGKILL).
            workers[victim] = self.spawn_worker(&format!("w{victim}-{generation}"))?;
            figures.kills += 1;
        }
        let sent = traffic.await.context("load task")??;
        self.faults(false).await?;
        figures.submitted = sent.submitted;
        figures.acknowledged = sent.acknowledged.len() as u64;
        figures.duplicates_absorbed = sent.duplicates_absorbed;
        figures.case_pairs_distinct = sent.case_pairs_distinct;
        figures.case_pairs_merged = sent.case_pairs_merged;
        figures.late_tries_refused = self.late_tries(&cast).await?;
        figures.zombie_fenced = scrape(workers[0].metrics, "sagaflow_fenced_writes_total")
            .await
            .unwrap_or(0.0) as u64;
        self.settle(&sent.acknowledged, expected, &mut figures)
            .await?;
        drop(workers);
        Ok(figures)
    }

    /// Kills the private MariaDB (SIGKILL) and starts it again on the same data.
    async fn restart_database(&self) -> anyhow::Result<()> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        let mut db = db.lock().await;
        tracing::info!("chaos: killing the database server");
        db.kill();
        // The fault itself: the database stays down for a second.
        tokio::time::sleep(Duration::from_secs(1)).await;
        db.restart().await?;
        tracing::info!("chaos: database server back");
        Ok(())
    }

    /// Plays the late-Try scenario once per tight buyer; returns how many late Tries were
    /// refused, and fails on one that took effect.
    async fn late_tries(&self, cast: &load::Cast) -> anyhow::Result<u64> {
        let executor = Arc::new(worker::HttpExecutor::new(worker::Services::parse(
            &self.flag,
        )?));
        let scene = late::Scene::new(self.store.clone(), executor)?;
        let mut refused = 0;
        for buyer in &cast.tight {
            match scene.play(cast, *buyer).await? {
                engine::Outcome::BusinessError(_) => refused += 1,
                other => bail!("a late Try after a refusal was not refused: {other:?}"),
            }
        }
        Ok(refused)
    }

    /// Freezes a worker while it holds a lease, keeps it frozen well past the lease (others
    /// take its work over), then wakes it: its late completions must be fenced.
    async fn zombie(&self, w: &Worker) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if self.store.leases_held_by(&w.id).await? > 0 {
                signal(w.child.id(), "-STOP")?;
                if self.store.leases_held_by(&w.id).await? > 0 {
                    tracing::info!(worker = %w.id, "zombie: frozen holding a lease");
                    // The fault itself: frozen for three lease lengths (not a synchronisation).
                    tokio::time::sleep(self.args.lease_ttl.get() * 3).await;
                    return signal(w.child.id(), "-CONT");
                }
                signal(w.child.id(), "-CONT")?;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        bail!("worker {} never held a lease to freeze it with", w.id)
    }

    /// Waits for every workflow to end, then reconciles and checks every fault fired.
    async fn settle(
        &self,
        acknowledged: &HashSet<String>,
        expected: Expected,
        f: &mut Figures,
    ) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(180);
        let journal = loop {
            let journal = self.store.journal(60_000).await?;
            if journal.workflows.iter().all(|w| w.status.is_terminal()) {
                break journal;
            }
            if Instant::now() > until {
                bail!("workflows still running 180 s after the storm");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let ids: HashSet<String> = journal.workflows.iter().map(|w| w.id.to_string()).collect();
        let lost: Vec<_> = acknowledged.difference(&ids).collect();
        f.lease_reclaims = journal.lease_expired_attempts;
        f.last_attempt_successes = journal.last_attempt_successes;
        f.max_to_terminal_ms = journal
            .workflows
            .iter()
            .filter_map(|w| w.finished_at.map(|t| (t - w.created_at) / 1_000))
            .max()
            .unwrap_or(0);
        f.injected_faults = injected_faults();
        f.outage_exhaustions = self.outage_exhaustions(&journal.workflows).await?;
        let count = |s: WorkflowStatus| journal.workflows.iter().filter(|w| w.status == s).count();
        println!(
            "chaos: submitted {} acknowledged {} completed {} compensated {} failed {} kills {} lease reclaims {} \
             fenced writes (zombie) {} duplicates absorbed {} case-variant key pairs {} (merged {}) injected faults {} \
             successes at the last attempt {} database restarts {} late tries refused {} participant outages {} \
             (breakers opened {}, failed probes {}, activities deferred uncalled {}, budgets run out on refused connections {}) \
             galera node kills {} (failovers in the API and services {}, rejoined in {} ms) max time to terminal {} ms",
            f.submitted, f.acknowledged, count(WorkflowStatus::Completed), count(WorkflowStatus::Compensated),
            count(WorkflowStatus::Failed), f.kills, f.lease_reclaims, f.zombie_fenced, f.duplicates_absorbed,
            f.case_pairs_distinct, f.case_pairs_merged, f.injected_faults, f.last_attempt_successes,
            f.db_restarts, f.late_tries_refused, f.outages, f.outage.breakers_opened, f.outage.failed_probes, f.outage.deferred,
            f.outage_exhaustions, f.node_loss.kills, f.node_loss.failovers, f.node_loss.rejoin_ms,
            f.max_to_terminal_ms
        );
        let report = reconcile(
            &self.urls,
            expected,
            Duration::from_secs(600),
            Duration::from_secs(60),
        )
        .await?;
        crate::reconcile::print(&report);
        let mut failures = Vec::new();
        if !lost.is_empty() {
            failures.push(format!("{} acknowledged workflows are missing", lost.len()));
        }
        if !report.ok() {
            failures.push(format!(
                "reconcile found {} mismatches",
                report.mismatches.len()
            ));
        }
        if f.case_pairs_merged > 0 {
            failures.push(format!(
                "{} pairs of keys differing only in case were taken for one key",
                f.case_pairs_merged
            ));
        }
        if f.outage_exhaustions > f.outage.failed_probes {
            failures.push(format!(
                "{} workflows ran out of attempts on refused connections, more than the {} \
                 failed probes could end: the breakers did not keep the participant outage from \
                 spending their budgets",
                f.outage_exhaustions, f.outage.failed_probes
            ));
        }
        let a = &self.args;
        let outage = !a.outage.is_zero();
        let expected = [
            ("worker kills", f.kills, true),
            ("lease takeovers", f.lease_reclaims, true),
            ("fenced zombie writes", f.zombie_fenced, true),
            ("duplicate submits", f.duplicates_absorbed, true),
            ("case-variant key pairs", f.case_pairs_distinct, true),
            ("injected participant faults", f.injected_faults, true),
            (
                "successes at the last attempt",
                f.last_attempt_successes,
                a.fail_first_share > 0.0,
            ),
            (
                "database restarts",
                f.db_restarts,
                a.private_mariadb && a.db_restarts > 0,
            ),
            ("late tries refused", f.late_tries_refused, a.late_tries > 0),
            ("galera node kills", f.node_loss.kills, a.galera.is_some()),
            (
                "failovers to another node",
                f.node_loss.failovers,
                a.galera.is_some(),
            ),
            ("participant outages", f.outages, outage),
            (
                "breakers opened by the outage",
                f.outage.breakers_opened,
                outage,
            ),
            (
                "activities deferred by an open breaker",
                f.outage.deferred,
                outage,
            ),
        ];
        for (name, fired, _) in expected.iter().filter(|(_, _, wanted)| *wanted) {
            if *fired == 0 {
                failures.push(format!(
                    "no {name} happened: that fault was never exercised"
                ));
            }
        }
        if !failures.is_empty() {
            bail!("chaos failed: {}", failures.join("; "));
        }
        Ok(())
    }
}

impl Rig {
    /// Workflows that did not complete because an activity's last attempt found its
    /// participant refusing connections (`CONNECT`): only the outage refuses them.
    async fn outage_exhaustions(
        &self,
        workflows: &[engine::store::AuditedWorkflow],
    ) -> anyhow::Result<u64> {
        let mut exhausted = 0;
        for w in workflows
            .iter()
            .filter(|w| w.status != WorkflowStatus::Completed)
        {
            let record = self.store.get(w.id).await?;
            let code = record.and_then(|r| r.error).map(|e| e.code);
            if code.as_deref() == Some("CONNECT") {
                exhausted += 1;
            }
        }
        Ok(exhausted)
    }
}

/// One counter (summed over its series) from a process's `/metrics`.
async fn scrape(addr: SocketAddr, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(sum_metric(&text, name))
}

pub(super) fn sum_metric(text: &str, name: &str) -> f64 {
    sum_series(text, name, &[])
}

/// The sum of the series of `name` whose labels include each of `labels` (`k="v"`).
pub(super) fn sum_series(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            (n == name && labels.iter().all(|want| rest.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Faults the in-process services injected (they share this process's recorder).
fn injected_faults() -> u64 {
    sum_metric(
        &roles::telemetry::metrics().render(),
        "tcc_injected_faults_total",
    ) as u64
}
