//! Process plumbing every role shares: logs (`RUST_LOG`, text or JSON), the Prometheus
//! recorder, and the shutdown signal (SIGINT or SIGTERM).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (containers, log shippers).
    Json,
}

/// Starts logging to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logs(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Latency buckets from 1 ms to 30 s, for every `*_seconds` histogram.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's Prometheus recorder, installed on first use.
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .expect("the buckets are not empty")
                .install_recorder()
                .expect("the recorder is installed once");
            engine::metrics::describe();
            services::describe_metrics();
            handle
        })
        .clone()
}

/// The recorder's text, as the API's `/metrics` wants it.
pub fn metrics_render() -> Arc<dyn Fn() -> String + Send + Sync> {
    let handle = metrics();
    Arc::new(move || handle.render())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown requested");
}

/// Samples the saga database's backlog into the `sagaflow_ready_activities`,
/// `sagaflow_overdue_activities` and `sagaflow_parked_workflows` gauges every `every`.
pub fn spawn_backlog_sampler(
    store: engine::Store,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match store.backlog().await {
                Ok(b) => engine::metrics::sampled(b.ready, b.overdue, b.parked),
                Err(err) => tracing::warn!(error = %err, "backlog sampling failed"),
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// Serves the recorder's text at `GET /metrics` on `listen` (for roles without an HTTP API).
pub async fn serve_metrics(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let handle = metrics();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move { handle.render() }),
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(())
}
