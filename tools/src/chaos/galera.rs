//! The Galera phase of a chaos run (`--galera`): the cluster node that the API, the services
//! and half the workers prefer is killed with SIGKILL mid-run, stays down a while, and is
//! started again (it rejoins by IST or SST); everyone must fail over to another node and
//! lose nothing.

use super::rig::Rig;
use super::storm::sum_metric;
use anyhow::{bail, Context};
use std::time::{Duration, Instant};

/// How long the killed node stays down before it is started again.
const DOWN: Duration = Duration::from_secs(3);

/// What the node loss did.
#[derive(Debug, Default, Clone, Copy)]
pub struct NodeLoss {
    /// Nodes killed (0 or 1).
    pub kills: u64,
    /// Moves to another node by the API's store and the three services (this process).
    pub failovers: u64,
    /// From the start of the node's restart until it was synced again.
    pub rejoin_ms: u64,
}

impl Rig {
    /// Kills node 1 of the cluster (`SCRIPT kill 1`), waits [`DOWN`], starts it again
    /// (`SCRIPT start 1`, which returns once it is synced).
    pub(super) async fn node_loss(&self, script: &str) -> anyhow::Result<NodeLoss> {
        let before = failovers();
        run_script(script, "kill").await?;
        tracing::info!("chaos: galera node 1 killed");
        // The fault itself: the node stays down (not a synchronisation).
        tokio::time::sleep(DOWN).await;
        let restart = Instant::now();
        run_script(script, "start").await?;
        let rejoin_ms = restart.elapsed().as_millis() as u64;
        tracing::info!(rejoin_ms, "chaos: galera node 1 synced again");
        Ok(NodeLoss {
            kills: 1,
            failovers: failovers() - before,
            rejoin_ms,
        })
    }
}

async fn run_script(script: &str, verb: &str) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("bash")
        .args([script, verb, "1"])
        .output()
        .await
        .with_context(|| format!("running {script} {verb} 1"))?;
    if !out.status.success() {
        bail!(
            "{script} {verb} 1 failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Failovers of this process's pools (the API's store and the in-process services).
fn failovers() -> u64 {
    sum_metric(
        &roles::telemetry::metrics().render(),
        "sagaflow_db_failovers_total",
    ) as u64
}
