//! `sagaflow server`: the HTTP API over the saga database, and `sagaflow probe`, the
//! containers' health check.

use crate::load_registry;
use crate::settings::{ConfigError, HttpLimits, JwtArgs, ServerTls, SubmitRateArgs};
use crate::telemetry::{metrics, metrics_render, shutdown_signal};
use anyhow::Context;
use engine::api::{ApiConfig, ApiState, Watcher};
use engine::{Registry, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use worker::Wake;

/// Flags of `sagaflow server`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The saga database (mysql://user:pass@host:port/db or sqlite://path).
    #[arg(long, env = "SAGAFLOW_DATABASE_URL")]
    pub database_url: String,
    /// HTTP address to listen on.
    #[arg(long, env = "SAGAFLOW_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Redis for wake-ups: a submit wakes idle workers at once (optional).
    #[arg(long, env = "SAGAFLOW_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Comma-separated bearer tokens; when set, every route but /healthz, /readyz and the
    /// console's files (/ui/) needs one.
    #[arg(long, env = "SAGAFLOW_API_TOKENS", hide_env_values = true)]
    pub api_tokens: Option<String>,
    /// Largest request body in bytes.
    #[arg(long, env = "SAGAFLOW_BODY_BYTES_MAX", default_value_t = 64 * 1024)]
    pub body_bytes_max: usize,
    /// Directory of workflow definitions (default: the built-in ones).
    #[arg(long, env = "SAGAFLOW_WORKFLOWS")]
    pub workflows_dir: Option<PathBuf>,
    /// Connections to the saga database.
    #[arg(long, env = "SAGAFLOW_DB_CONNECTIONS_MAX", default_value_t = 16)]
    pub db_connections_max: u32,
    #[command(flatten)]
    pub http: HttpLimits,
    #[command(flatten)]
    pub submit_rate: SubmitRateArgs,
    #[command(flatten)]
    pub jwt: JwtArgs,
    #[command(flatten)]
    pub tls: ServerTls,
}

impl ServerArgs {
    /// Refuses settings that cannot work: see [`ConfigError`].
    pub fn validate(&self, registry: &Registry) -> Result<(), ConfigError> {
        if self.body_bytes_max == 0 {
            return Err(ConfigError::NoBodyBytes);
        }
        if self.db_connections_max == 0 {
            return Err(ConfigError::NoDbConnections);
        }
        crate::settings::api_tokens(self.api_tokens.as_deref())?;
        self.jwt.jwt()?;
        self.http.validate()?;
        if registry.all().is_empty() {
            return Err(ConfigError::NoWorkflows);
        }
        Ok(())
    }
}
/// How often the `?wait=` poller asks which waited-on workflows ended, without Redis.
const WATCH_POLL_MS: u64 = 20;
/// The same with Redis, whose messages report ends at once: the poller only catches a lost one.
const WATCH_POLL_WITH_REDIS_MS: u64 = 1_000;

/// `sagaflow server`: the HTTP API over the saga database.
pub async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let registry = Arc::new(load_registry(args.workflows_dir.as_ref())?);
    args.validate(&registry)?;
    let jwt = args.jwt.jwt()?;
    let tls = args.tls.load()?;
    let store = Store::connect(&args.database_url, args.db_connections_max)
        .await
        .with_context(|| format!("connecting to {}", args.database_url))?;
    let watcher = Watcher::new();
    // With Redis the workers report each end at once, and the poller is only the fallback
    // for a lost message: once a second, not 50 times (each tick reads every waited-on row).
    let poll_ms = if args.redis_url.is_some() {
        WATCH_POLL_WITH_REDIS_MS
    } else {
        WATCH_POLL_MS
    };
    watcher.spawn_poller(store.clone(), poll_ms);
    let _ = metrics();
    crate::telemetry::spawn_backlog_sampler(store.clone(), std::time::Duration::from_secs(5));
    let config = ApiConfig {
        tokens: crate::settings::api_tokens(args.api_tokens.as_deref())?,
        jwt,
        body_bytes_max: args.body_bytes_max,
        requests_in_flight_max: args.http.requests_in_flight_max,
        submit_rate: args.submit_rate.rate(),
        ..ApiConfig::default()
    };
    if let Some(url) = &args.redis_url {
        let watcher = watcher.clone();
        worker::wake::forward_finished(url, move |id, status| watcher.notify_finished(id, status))?;
    }
    let mut state = ApiState::new(store, registry, config, watcher).with_metrics(metrics_render());
    if let Some(url) = &args.redis_url {
        let wake = Wake::with_redis(url).context("SAGAFLOW_REDIS_URL")?;
        state = state.with_on_submit(Arc::new(move || wake.notify()));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let scheme = args.tls.scheme();
    tracing::info!(%addr, url = %format!("{scheme}://{addr}"), console = %format!("{scheme}://{addr}/ui/"), mtls = args.tls.tls_client_ca.is_some(), "server listening");
    httpguard::serve(
        listener,
        engine::api::router(state),
        args.http.limits(),
        tls,
        shutdown_signal(),
    )
    .await?;
    Ok(())
}
/// `sagaflow probe URL`: a health check for containers (GET, 2xx within 2 s); an https://
/// URL needs `ca`, the CA to trust, and a server run with --tls-client-ca a client
/// certificate and its key (`identity`).
pub async fn probe(
    url: &str,
    ca: Option<&std::path::Path>,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !url.starts_with("https://") || ca.is_some(),
        "{url} is https:// but no --ca says which CA to trust"
    );
    let mut builder =
        crate::client::client_builder(None, ca, "--ca")?.timeout(std::time::Duration::from_secs(2));
    if let Some((cert, key)) = identity {
        let mut pem = std::fs::read(cert)
            .with_context(|| format!("--cert {}: cannot read it", cert.display()))?;
        pem.push(b'\n');
        pem.extend(
            std::fs::read(key)
                .with_context(|| format!("--key {}: cannot read it", key.display()))?,
        );
        let identity = reqwest::Identity::from_pem(&pem)
            .with_context(|| format!("--cert {} / --key {}", cert.display(), key.display()))?;
        builder = builder.identity(identity);
    }
    let client = builder.build()?;
    let status = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .status();
    anyhow::ensure!(status.is_success(), "GET {url} answered {status}");
    Ok(())
}
