//! The participant outage phase of a chaos run: one participant service stops listening (its
//! callers get connection refused, as when its process dies or restarts) for `--outage`, then
//! comes back on the same address. Worker kills pause meanwhile, so the workers that saw the
//! outage begin are the ones whose breakers are read at its end.
//!
//! What must hold (checked in `storm::settle` and here): the workers' breakers for that
//! service opened, activities were given back uncalled while they were open (no attempt
//! spent), and no workflow ended because its budget ran out on refused connections.

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
}

impl Rig {
    /// Takes [`SERVICE`] down for `--outage`, then brings it back on the same address.
    pub(super) async fn outage(&self, workers: &[Worker]) -> anyhow::Result<OutageFigures> {
        let participant = self
            .services
            .iter()
            .find(|p| p.service == SERVICE)
            .expect("every service is started");
        let before = breaker_counts(workers).await;
        let mut slot = participant.running.lock().await;
        let running = slot.take().context("the participant is already down")?;
        let addr = running.addr();
        running.stop().await?;
        tracing::info!(service = SERVICE.name(), "chaos: participant down");
        // The fault itself: the participant stays down this long (not a synchronisation).
        tokio::time::sleep(self.args.outage.get()).await;
        let after = breaker_counts(workers).await;
        *slot = Some(
            services::spawn(participant.state.clone(), addr)
                .await
                .with_context(|| format!("restarting {} on {addr}", SERVICE.name()))?,
        );
        tracing::info!(service = SERVICE.name(), "chaos: participant back");
        Ok(OutageFigures {
            breakers_opened: after.breakers_opened.saturating_sub(before.breakers_opened),
            deferred: after.deferred.saturating_sub(before.deferred),
        })
    }
}

/// The breaker counters of every worker, for [`SERVICE`], summed (a worker whose metrics
/// cannot be read counts nothing).
async fn breaker_counts(workers: &[Worker]) -> OutageFigures {
    let service = format!("service=\"{}\"", SERVICE.name());
    let mut sum = OutageFigures::default();
    for worker in workers {
        let Ok(text) = metrics_text(worker).await else {
            continue;
        };
        sum.breakers_opened += sum_series(
            &text,
            "sagaflow_circuit_transitions_total",
            &[&service, "to=\"open\""],
        ) as u64;
        sum.deferred += sum_series(&text, "sagaflow_breaker_deferred_total", &[&service]) as u64;
    }
    sum
}

async fn metrics_text(worker: &Worker) -> anyhow::Result<String> {
    Ok(reqwest::get(format!("http://{}/metrics", worker.metrics))
        .await?
        .text()
        .await?)
}
