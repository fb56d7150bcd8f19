//! Process plumbing every role shares: logs (`RUST_LOG`, text or JSON; coloured only on a
//! terminal and without `NO_COLOR`), the Prometheus recorder, and the shutdown signal (SIGINT
//! or SIGTERM).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::io::IsTerminal;
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

/// Starts logging to stderr; `RUST_LOG` filters (default `info`). Colours only when stderr
/// is a terminal and `NO_COLOR` is unset or empty ([`colour_logs`]).
pub fn init_logs(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let no_color = std::env::var_os("NO_COLOR");
    let ansi = colour_logs(std::io::stderr().is_terminal(), no_color.as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Whether logs carry ANSI colours: only on a terminal, and never when `NO_COLOR` has a
/// value (<https://no-color.org>: any non-empty value disables colour).
pub fn colour_logs(to_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    to_terminal && no_color.is_none_or(|v| v.is_empty())
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

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled: a signal sent as soon as a role announced itself
/// (after this call) is a graceful shutdown, not the default action's kill.
#[cfg(unix)]
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).expect("a SIGINT handler can be installed");
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler can be installed");
    async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutdown requested");
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested");
    }
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

/// Serves the recorder's text at `GET /metrics` on `listen` (for roles without an HTTP API),
/// with `httpguard`'s default timeouts and caps like every server of the system.
pub async fn serve_metrics(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    serve_metrics_on(tokio::net::TcpListener::bind(listen).await?)
}

/// [`serve_metrics`] on a listener already bound (a worker's `--metrics-listen` range).
pub fn serve_metrics_on(listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let handle = metrics();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move { handle.render() }),
    );
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    let limits = httpguard::Limits::default();
    tokio::spawn(httpguard::serve(
        listener,
        app,
        limits,
        // Plain HTTP: the worker's metrics are for a scraper on a private network.
        None,
        std::future::pending(),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::colour_logs;
    use std::ffi::OsStr;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        let cases = [
            (true, None, true),
            (true, Some(""), true),
            (true, Some("1"), false),
            (true, Some("0"), false),
            (false, None, false),
            (false, Some(""), false),
            (false, Some("1"), false),
        ];
        for (terminal, no_color, coloured) in cases {
            assert_eq!(
                colour_logs(terminal, no_color.map(OsStr::new)),
                coloured,
                "terminal {terminal}, NO_COLOR {no_color:?}"
            );
        }
    }
}
