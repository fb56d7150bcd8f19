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

/// The saga database URL of worker `id` (`w3`, `w3-7`): even workers prefer the cluster's
/// first node (the one killed, with the API and the services), odd ones the other nodes in
/// turn (`w1` the second, `w3` the third, …).
pub(super) fn worker_url(saga: &str, id: &str) -> String {
    let index: usize = id
        .trim_start_matches('w')
        .split('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    match dbha::Nodes::parse(saga) {
        Ok(nodes) if nodes.is_cluster() && index % 2 == 1 => {
            let others = nodes.len() - 1;
            nodes.starting_at(1 + (index / 2) % others).to_url()
        }
        _ => saga.to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_workers_prefer_the_other_nodes_in_turn_and_single_hosts_stay() {
        let saga = "mysql://root@n1:1,n2:2,n3:3/saga";
        assert_eq!(worker_url(saga, "w0"), saga);
        assert_eq!(worker_url(saga, "w2-9"), saga);
        assert_eq!(worker_url(saga, "w1"), "mysql://root@n2:2,n3:3,n1:1/saga");
        assert_eq!(
            worker_url(saga, "w3-12"),
            "mysql://root@n3:3,n1:1,n2:2/saga"
        );
        assert_eq!(worker_url(saga, "w5"), "mysql://root@n2:2,n3:3,n1:1/saga");
        assert_eq!(
            worker_url("mysql://root@h/saga", "w1"),
            "mysql://root@h/saga"
        );
    }
}
