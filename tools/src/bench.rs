//! `sagaflow bench engine`: the engine alone under load. Submits purchase workflows while
//! worker pools run them with an in-process no-op executor, and reports workflows/s and the
//! SQL work per workflow. Not a load test of the HTTP API (that is `sagaflow load`).

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
    // Finishes are counted as the runner reports them: polling the database for counts
    // would scan the workflows table and count in the SQL work measured.
    let ended = Arc::new(Ended::default());
    let runner = Runner::new(
        store.clone(),
        registry.clone(),
        Arc::new(Fixed(json!({"amount": 100}))),
        RunnerConfig {
            claim_batch_max: args.claim_batch_max,
            ..RunnerConfig::new(format!("bench-{}", std::process::id()))
        },
    )
    .with_on_finished({
        let ended = ended.clone();
        Arc::new(move |_, _| {
            ended
                .count
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ended.notify.notify_one();
        })
    });
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
    let server_before = server_counters(&url).await?;
    let usage_before = store.usage();
    let started = Instant::now();
    let submitted = submit_all(&store, &registry, args.workflows, args.submitters);
    let bar = progress(args.workflows as u64);
    let finished = wait_until_done(&ended, args.workflows, &bar);
    let (submit_result, ()) = tokio::join!(submitted, finished);
    submit_result?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let usage = store.usage();
    let server_after = server_counters(&url).await?;
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
    if let (Some((q0, c0)), Some((q1, c1))) = (server_before, server_after) {
        println!(
            "  server statements/wf {:.2}  (MariaDB Questions, server-wide)",
            per_wf(q1, q0)
        );
        println!(
            "  server COMMITs/wf    {:.2}  (MariaDB Com_commit, server-wide)",
            per_wf(c1, c0)
        );
    }
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

/// Waits until `total` more workflows than `before` are terminal, updating the bar.
/// Workflows the runner saw end, and a wake-up for each.
#[derive(Default)]
struct Ended {
    count: std::sync::atomic::AtomicUsize,
    notify: tokio::sync::Notify,
}

/// Returns once `total` workflows ended; the bar moves as they do.
async fn wait_until_done(ended: &Ended, total: usize, bar: &ProgressBar) {
    loop {
        let done = ended.count.load(std::sync::atomic::Ordering::Relaxed);
        bar.set_position(done as u64);
        if done >= total {
            return;
        }
        ended.notify.notified().await;
    }
}

/// MariaDB's server-wide `Questions` and `Com_commit` counters (`None` on SQLite): a check of
/// the store's own counts from the other side of the wire.
async fn server_counters(url: &str) -> anyhow::Result<Option<(u64, u64)>> {
    if !url.starts_with("mysql:") {
        return Ok(None);
    }
    Ok(Some(mariadb_counters(url).await?))
}

/// MariaDB's server-wide `Questions` and `Com_commit`.
pub(crate) async fn mariadb_counters(url: &str) -> Result<(u64, u64), sqlx::Error> {
    use sqlx::Connection;
    let mut conn = sqlx::MySqlConnection::connect(url).await?;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_commit')")
            .fetch_all(&mut conn)
            .await?;
    let get = |name: &str| {
        rows.iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((get("Questions"), get("Com_commit")))
}
