//! `sagaflow bench engine`: the engine alone under load. Submits purchase workflows while
//! worker pools run them with an in-process no-op executor, and reports workflows/s, the SQL
//! work per workflow as the store counts it and, on MariaDB, as the server counts it
//! (statements, commits, rows written, index reads: `crate::counters`), and CPU per workflow
//! of this process and of MariaDB. Not a load test of the HTTP API (that is `sagaflow load`).

use crate::load::resources::{Pids, Probe, Usage};
use anyhow::Context;
use engine::runner::{Fixed, Runner, RunnerConfig};
use engine::store::NewWorkflow;
use engine::WorkflowStatus;
use indicatif::{ProgressBar, ProgressStyle};
use roles::{load_registry, open_store};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct EngineArgs {
    /// The saga database. Default: a fresh SQLite file under ./data.
    #[arg(long, env = "SAGAFLOW_DATABASE_URL")]
    database_url: Option<String>,
    /// Workflows to run.
    #[arg(long, default_value_t = 20_000)]
    workflows: usize,
    /// Concurrent submitters.
    #[arg(long, default_value_t = 16)]
    submitters: usize,
    /// Claim loops (concurrent batches) of the worker pool.
    #[arg(long, default_value_t = worker::defaults::CONCURRENCY)]
    workers: usize,
    /// Most activities claimed per batch (default: the most a claim takes).
    #[arg(long, default_value_t = engine::store::CLAIM_BATCH_MAX)]
    claim_batch_max: u32,
    /// Workflow definitions directory (default: the built-in ones).
    #[arg(long, env = "SAGAFLOW_WORKFLOWS")]
    workflows_dir: Option<PathBuf>,
}

pub async fn engine(args: EngineArgs) -> anyhow::Result<()> {
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => fresh_sqlite("data/bench-engine.db")?,
    };
    let connections = (args.submitters + args.workers + 2) as u32;
    let store = open_store(&url, connections).await?;
    let registry = Arc::new(load_registry(args.workflows_dir.as_ref())?);
    // Finished workflows are counted as the runner ends them, not by polling the database:
    // a poll's reads would be counted as the engine's by the server's counters.
    let finished = Arc::new(Finished::default());
    let on_finished = finished.clone();
    let runner = Runner::new(
        store.clone(),
        registry.clone(),
        Arc::new(Fixed(json!({"amount": 100}))),
        RunnerConfig {
            claim_batch_max: args.claim_batch_max,
            ..RunnerConfig::new(format!("bench-{}", std::process::id()))
        },
    )
    .with_on_finished(Arc::new(move |_, _| on_finished.add()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let pool_config = worker::PoolConfig {
        concurrency: args.workers,
        ..Default::default()
    };
    let pool = tokio::spawn(worker::run(
        runner,
        pool_config,
        worker::Wake::local(),
        async { stop_rx.await.unwrap_or(()) },
    ));
    let mysql = url.starts_with("mysql:").then(|| url.clone());
    let database = url.rsplit('/').next().unwrap_or_default();
    let own = database.split('?').next().unwrap_or_default().to_owned();
    let probe = Probe::start(Pids::default(), mysql).own_databases(vec![own]);
    let probe_before = probe.snapshot().await;
    let usage_before = store.usage();
    let started = Instant::now();
    let submitted = submit_all(&store, &registry, args.workflows, args.submitters);
    let bar = progress(args.workflows as u64);
    let done = finished.wait_for(args.workflows as u64, &bar);
    let (submit_result, ()) = tokio::join!(submitted, done);
    submit_result?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let usage = store.usage();
    let server = probe.usage(&probe_before, args.workflows as u64).await;
    let counts = store.count_by_status().await?;
    let _ = stop_tx.send(());
    pool.await.context("worker pool")?;
    let n = args.workflows as f64;
    let per_wf = |x: u64, y: u64| (x - y) as f64 / n;
    println!(
        "engine benchmark ({}, 7-step purchase, no-op executor)",
        store.dialect_name()
    );
    println!("  workflows            {}", args.workflows);
    println!(
        "  submitters/workers   {}/{} (claim batch {})",
        args.submitters, args.workers, args.claim_batch_max
    );
    println!("  elapsed              {:.2} s", elapsed.as_secs_f64());
    println!("  workflows/s          {:.0}", n / elapsed.as_secs_f64());
    println!(
        "  commits/workflow     {:.2}",
        per_wf(usage.commits, usage_before.commits)
    );
    println!(
        "  statements/workflow  {:.2}",
        per_wf(usage.statements, usage_before.statements)
    );
    print!("{}", server_lines(&server));
    println!(
        "  completed (all runs) {}",
        counts.get(&WorkflowStatus::Completed).copied().unwrap_or(0)
    );
    Ok(())
}

/// A SQLite URL for `path`, after removing any earlier file.
fn fresh_sqlite(path: &str) -> anyhow::Result<String> {
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        if std::path::Path::new(&file).exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {file}"))?;
        }
    }
    Ok(format!("sqlite://{path}"))
}

fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} workflows finished ({per_sec})",
        )
        .expect("valid template"),
    );
    bar
}

async fn submit_all(
    store: &engine::Store,
    registry: &Arc<engine::Registry>,
    total: usize,
    submitters: usize,
) -> anyhow::Result<()> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..submitters.max(1) {
        let (store, registry, next) = (store.clone(), registry.clone(), next.clone());
        tasks.spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let new = NewWorkflow {
                    workflow_type: "purchase".into(),
                    input: json!({"user_id": 1, "product_id": 1, "quantity": 1, "payment_method_id": 1}),
                    idempotency_key: None,
                    submitted_by: None,
                };
                store.submit(&registry, &new).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("submitter")??;
    }
    Ok(())
}

/// Workflows the runner brought to an end, and a wake-up for whoever waits for them.
#[derive(Default)]
struct Finished {
    count: std::sync::atomic::AtomicU64,
    changed: tokio::sync::Notify,
}

impl Finished {
    fn add(&self) {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// Waits until `total` workflows ended, moving the bar as they do.
    async fn wait_for(&self, total: u64, bar: &ProgressBar) {
        loop {
            let done = self.count.load(std::sync::atomic::Ordering::Relaxed);
            bar.set_position(done);
            if done >= total {
                return;
            }
            self.changed.notified().await;
        }
    }
}

/// What the server and the processes counted, per workflow: MariaDB's counters (a check of
/// the store's own counts from the other side of the wire, and the row work they hide) and
/// CPU. Server-wide counters: other clients of the server count too.
fn server_lines(u: &Usage) -> String {
    let mut out = String::new();
    let mut line = |name: &str, v: Option<f64>, note: &str| {
        if let Some(v) = v {
            out.push_str(&format!("  {name:<20} {v:.2}{note}\n"));
        }
    };
    line(
        "server statements/wf",
        u.statements_per_saga,
        "  (MariaDB Questions, server-wide)",
    );
    line(
        "server COMMITs/wf",
        u.commits_per_saga,
        "  (MariaDB Com_commit, server-wide)",
    );
    line(
        "rows written/wf",
        u.rows_written_per_saga,
        "  (Handler_write + _update + _delete)",
    );
    line(
        "index reads/wf",
        u.index_reads_per_saga,
        "  (Handler_read_key + _read_next)",
    );
    line(
        "CPU ms/wf, bench",
        Some(u.load_cpu_ms_per_saga),
        "  (this process: submitters, workers)",
    );
    line(
        "CPU ms/wf, MariaDB",
        u.mariadb_cpu_ms_per_saga,
        "  (the whole mariadbd process)",
    );
    if !u.other_databases.is_empty() {
        out.push_str(&format!(
            "  note: other clients used MariaDB meanwhile (databases {}): the server-wide \
             figures include their work\n",
            u.other_databases.join(", ")
        ));
    }
    out
}
