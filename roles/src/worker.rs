//! `sagaflow worker`: one stateless worker process (claims, executes and journals
//! activities); its settings are [`WorkerTuning`].

use crate::load_registry;
use crate::settings::{ParticipantTls, WorkerTuning};
use crate::telemetry::{metrics, shutdown_signal};
use anyhow::Context;
use engine::runner::Runner;
use engine::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use worker::{HttpExecutor, Services, Wake};

/// Flags of `sagaflow worker`.
#[derive(clap::Args, Debug, Clone)]
pub struct WorkerArgs {
    /// The saga database (mysql://… or sqlite://…).
    #[arg(long, env = "SAGAFLOW_DATABASE_URL")]
    pub database_url: String,
    /// Where the participants live: user=http://…,payment=http://…,order=http://… (https://
    /// needs --participant-ca).
    #[arg(long, env = "SAGAFLOW_SERVICES")]
    pub services: String,
    /// Redis for wake-ups (optional; without it the worker polls adaptively).
    #[arg(long, env = "SAGAFLOW_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Serve Prometheus metrics at http://<this>/metrics (off unless set).
    #[arg(long, env = "SAGAFLOW_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Lease owner name (default: host name and process id).
    #[arg(long, env = "SAGAFLOW_WORKER_ID")]
    pub worker_id: Option<String>,
    #[command(flatten)]
    pub tuning: WorkerTuning,
    #[command(flatten)]
    pub tls: ParticipantTls,
    /// Directory of workflow definitions (default: the built-in ones).
    #[arg(long, env = "SAGAFLOW_WORKFLOWS")]
    pub workflows_dir: Option<PathBuf>,
}

/// `sagaflow worker`: one stateless worker process.
pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let services = Services::parse(&args.services)?;
    let registry = Arc::new(load_registry(args.workflows_dir.as_ref())?);
    args.tuning.validate(
        &registry,
        &|name| services.get(name).is_some(),
        &format!("--services ({})", args.services),
    )?;
    let tls = args.tls.load(&services)?;
    let http = HttpExecutor::with_tls(services.clone(), &tls)
        .context("--participant-cert/--participant-key/--participant-ca")?;
    let _ = metrics();
    engine::metrics::worker_up();
    if let Some(listen) = args.metrics_listen {
        crate::telemetry::serve_metrics(listen)
            .await
            .with_context(|| format!("--metrics-listen {listen}"))?;
    }
    let connections = (args.tuning.concurrency * 2 + 2) as u32;
    let store = Store::connect(&args.database_url, connections)
        .await
        .with_context(|| format!("connecting to {}", args.database_url))?;
    let wake = match &args.redis_url {
        Some(url) => Wake::with_redis(url).context("SAGAFLOW_REDIS_URL")?,
        None => Wake::local(),
    };
    let id = args.worker_id.clone().unwrap_or_else(default_worker_id);
    let executor = Arc::new(args.tuning.protection.protect(http, &services));
    let finished = wake.clone();
    let runner = Runner::new(
        store,
        registry,
        executor,
        args.tuning.runner_config(id.clone()),
    )
    .with_on_finished(Arc::new(move |wf, status| {
        finished.publish_finished(wf, status)
    }));
    tracing::info!(worker = %id, concurrency = args.tuning.concurrency, "worker started");
    let totals = worker::run(
        runner,
        args.tuning.pool_config(args.redis_url.is_some()),
        wake,
        shutdown_signal(),
    )
    .await;
    tracing::info!(worker = %id, executed = totals.executed, released = totals.released, deferred = totals.deferred, timed_out = totals.drain_timed_out, "worker stopped");
    Ok(())
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".into());
    format!("{host}-{}", std::process::id())
}
