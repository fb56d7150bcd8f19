//! The participant outage phase of a chaos run: one participant service stops listening (its
//! callers get connection refused, as when its process dies or restarts) for `--outage`, then
//! comes back on the same address. Worker kills pause meanwhile, so the workers that saw the
//! outage begin are the ones whose breakers are read at its end.
//!
//! What must hold (checked in `storm::settle` and here): the workers' breakers for that
//! service opened, activities were given back uncalled while they were open (no attempt
//! spent), and no workflow ran out of attempts on refused connections but through failed
//! probes: a half-open breaker's probe is a real call and spends its activity's attempt, so
//! each failed probe may end one budget (with four workers, each its own breaker, a 10 s
//! outage fails about four probes); without breakers about a hundred budgets run out.

use super::rig::{Rig, Worker};
use super::storm::sum_series;
use anyhow::Context;
use services::Service;

/// The participant taken down.
pub(super) const SERVICE: Service = Service::Payment;

/// What an outage did to the workers that lived through it.
#[derive(Debug, Default, Clone, Copy)]
pub struct OutageFigures {
    /// Breakers for the downed service that entered `open` during the outage.
    pub breakers_opened: u64,
    /// Activities for it given back uncalled because its breaker was open.
    pub deferred: u64,
    /// Probes that found it still down: every opening of a worker's breaker after that
    /// worker's first one during the outage.
    pub failed_probes: u64,
}

impl Rig {
    /// Takes [`SERVICE`] down for `--outage`, then brings it back on the same address.
    pub(super) async fn outage(&self, workers: &[Worker]) -> anyhow::Result<OutageFigures> {
        let participant = self
            .services
            .iter()
            .find(|p| p.service == SERVICE)
            .expect("every service is started");
        let before = per_worker(workers).await;
        let mut slot = participant.running.lock().await;
        let running = slot.take().context("the participant is already down")?;
        let addr = running.addr();
        running.stop().await?;
        tracing::info!(service = SERVICE.name(), "chaos: participant down");
        // The fault itself: the participant stays down this long (not a synchronisation).
        tokio::time::sleep(self.args.outage.get()).await;
        let after = per_worker(workers).await;
        *slot = Some(
            services::spawn(participant.state.clone(), addr)
                .await
                .with_context(|| format!("restarting {} on {addr}", SERVICE.name()))?,
        );
        tracing::info!(service = SERVICE.name(), "chaos: participant back");
        let mut figures = OutageFigures::default();
        for (b, a) in before.iter().zip(&after) {
            let opened = a.breakers_opened.saturating_sub(b.breakers_opened);
            figures.breakers_opened += opened;
            figures.failed_probes += opened.saturating_sub(1);
            figures.deferred += a.deferred.saturating_sub(b.deferred);
        }
        Ok(figures)
    }
}

/// The breaker counters of each worker, for [`SERVICE`] (a worker whose metrics cannot be
/// read counts nothing).
async fn per_worker(workers: &[Worker]) -> Vec<OutageFigures> {
    let service = format!("service=\"{}\"", SERVICE.name());
    let mut all = Vec::new();
    for worker in workers {
        let mut sum = OutageFigures::default();
        let Ok(text) = metrics_text(worker).await else {
            all.push(sum);
            continue;
        };
        sum.breakers_opened += sum_series(
            &text,
            "sagaflow_circuit_transitions_total",
            &[&service, "to=\"open\""],
        ) as u64;
        sum.deferred += sum_series(&text, "sagaflow_breaker_deferred_total", &[&service]) as u64;
        all.push(sum);
    }
    all
}

async fn metrics_text(worker: &Worker) -> anyhow::Result<String> {
    Ok(reqwest::get(format!("http://{}/metrics", worker.metrics))
        .await?
        .text()
        .await?)
}
