//! The long-running roles: `server`, `worker`, `service` and `migrate`, each on its own
//! database and configured by flags with environment fallbacks.
//!
//! Settings that cannot work are refused before anything starts, by one pure check per role
//! ([`WorkerTuning::validate`], [`ServerArgs::validate`]): one line naming the flags, exit 1.

use crate::duration::{self, HumanDuration};
use crate::telemetry::{metrics, metrics_render, shutdown_signal};
use crate::{load_registry, open_store};
use anyhow::Context;
use engine::api::{ApiConfig, ApiState, Watcher};
use engine::runner::{Runner, RunnerConfig};
use engine::store::CLAIM_BATCH_MAX;
use engine::{Registry, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use worker::{defaults, HttpExecutor, PoolConfig, Services, Wake};

/// A setting that cannot work, refused at start. Each message names the flags involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("--concurrency must be at least 1 (no claim loop would run)")]
    NoConcurrency,
    #[error("--claim-batch-max ({0}) must be between 1 and {CLAIM_BATCH_MAX}")]
    ClaimBatch(u32),
    #[error("--heartbeat must be above 0 (it would renew leases in a busy loop)")]
    NoHeartbeat,
    #[error(
        "--heartbeat ({heartbeat}) must be below --lease-ttl ({lease_ttl}): leases would expire \
         before they are renewed"
    )]
    HeartbeatNotBelowLease {
        heartbeat: HumanDuration,
        lease_ttl: HumanDuration,
    },
    #[error(
        "--poll-interval must be above 0 (idle workers would poll the database in a busy loop)"
    )]
    NoPollInterval,
    #[error(
        "--poll-interval-min must be above 0 (the idle wait doubles from it: it would stay 0, a \
         busy loop)"
    )]
    NoPollIntervalMin,
    #[error("--poll-interval-min ({min}) must not be above --poll-interval ({max})")]
    PollIntervalMinAboveMax {
        min: HumanDuration,
        max: HumanDuration,
    },
    #[error(
        "--drain-timeout must be above 0 (SIGTERM would abandon every batch in flight, even \
         activities not yet started)"
    )]
    NoDrainTimeout,
    #[error("no workflow definitions loaded: --workflows-dir holds no *.toml file")]
    NoWorkflows,
    #[error(
        "step `{step}` of workflow `{workflow}` v{version} calls service `{service}`, which \
         {known_from} has no URL for"
    )]
    UnknownService {
        workflow: String,
        version: u32,
        step: String,
        service: String,
        known_from: String,
    },
    #[error("--body-bytes-max must be above 0 (every request would be refused as too large)")]
    NoBodyBytes,
    #[error("--db-connections-max must be at least 1")]
    NoDbConnections,
    #[error(
        "--api-tokens holds no token (only commas and spaces): the API would run without \
         authentication"
    )]
    NoApiTokens,
}

/// Every service the loaded definitions call must have a URL: a worker claims any activity,
/// so one it cannot send would burn its attempts. `has` says whether a service has one;
/// `known_from` names where the URLs come from, for the message.
fn check_services(
    registry: &Registry,
    has: &dyn Fn(&str) -> bool,
    known_from: &str,
) -> Result<(), ConfigError> {
    let definitions = registry.all();
    if definitions.is_empty() {
        return Err(ConfigError::NoWorkflows);
    }
    for def in definitions {
        if let Some(step) = def.steps.iter().find(|s| !has(&s.service)) {
            return Err(ConfigError::UnknownService {
                workflow: def.name.clone(),
                version: def.version,
                step: step.name.clone(),
                service: step.service.clone(),
                known_from: known_from.to_owned(),
            });
        }
    }
    Ok(())
}

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
    /// Comma-separated bearer tokens; when set, every route but /healthz and /readyz needs one.
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
}

/// Flags of `sagaflow worker`.
#[derive(clap::Args, Debug, Clone)]
pub struct WorkerArgs {
    /// The saga database (mysql://… or sqlite://…).
    #[arg(long, env = "SAGAFLOW_DATABASE_URL")]
    pub database_url: String,
    /// Where the participants live: user=http://…,payment=http://…,order=http://…
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
    /// Directory of workflow definitions (default: the built-in ones).
    #[arg(long, env = "SAGAFLOW_WORKFLOWS")]
    pub workflows_dir: Option<PathBuf>,
}

/// How a worker claims, leases, polls and drains. The defaults are [`worker::defaults`], for
/// the flags as for [`WorkerTuning::default`]. Durations as in [`crate::duration`]: the old
/// `…-ms` names are aliases, and a bare number is milliseconds.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct WorkerTuning {
    /// Claim loops (batches in flight at once).
    #[arg(long, env = "SAGAFLOW_CONCURRENCY", default_value_t = defaults::CONCURRENCY)]
    pub concurrency: usize,
    /// Most activities claimed per batch.
    #[arg(long, env = "SAGAFLOW_CLAIM_BATCH_MAX", default_value_t = defaults::CLAIM_BATCH)]
    pub claim_batch_max: u32,
    /// Lease length; a worker silent this long loses its activities to others.
    #[arg(
        long,
        visible_alias = "lease-ttl-ms",
        env = "SAGAFLOW_LEASE_TTL_MS",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::from_millis(defaults::LEASE_TTL_MS)
    )]
    pub lease_ttl: HumanDuration,
    /// How often leases of running activities are renewed.
    #[arg(
        long,
        visible_alias = "heartbeat-ms",
        env = "SAGAFLOW_HEARTBEAT_MS",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::from_millis(defaults::HEARTBEAT_MS)
    )]
    pub heartbeat: HumanDuration,
    /// Longest wait between claims while idle (the wait starts at the minimum and doubles).
    #[arg(
        long,
        visible_alias = "poll-interval-ms",
        env = "SAGAFLOW_POLL_INTERVAL_MS",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::from_millis(defaults::POLL_INTERVAL_MAX_MS)
    )]
    pub poll_interval: HumanDuration,
    // First wait after an empty claim: the help names the default, which depends on Redis.
    #[arg(
        long,
        visible_alias = "poll-interval-min-ms",
        env = "SAGAFLOW_POLL_INTERVAL_MIN_MS",
        value_name = "DURATION",
        value_parser = duration::millis,
        help = poll_interval_min_help()
    )]
    pub poll_interval_min: Option<HumanDuration>,
    /// On SIGTERM, how long in-flight work may take before the worker exits anyway.
    #[arg(
        long,
        visible_alias = "drain-timeout-ms",
        env = "SAGAFLOW_DRAIN_TIMEOUT_MS",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::from_millis(defaults::DRAIN_TIMEOUT_MS)
    )]
    pub drain_timeout: HumanDuration,
}

/// The first wait without Redis: the pool's default.
const POLL_INTERVAL_MIN: HumanDuration = HumanDuration::from_millis(defaults::POLL_INTERVAL_MIN_MS);

fn poll_interval_min_help() -> String {
    format!(
        "First wait after a claim found nothing [default: {POLL_INTERVAL_MIN}; with \
         --redis-url, the longest wait: submits and due retries wake the worker, so polling \
         only covers lost messages and other workers' expired leases]"
    )
}

/// The flags' defaults: what `sagaflow worker` runs with when given none.
impl Default for WorkerTuning {
    fn default() -> WorkerTuning {
        WorkerTuning {
            concurrency: defaults::CONCURRENCY,
            claim_batch_max: defaults::CLAIM_BATCH,
            lease_ttl: HumanDuration::from_millis(defaults::LEASE_TTL_MS),
            heartbeat: HumanDuration::from_millis(defaults::HEARTBEAT_MS),
            poll_interval: HumanDuration::from_millis(defaults::POLL_INTERVAL_MAX_MS),
            poll_interval_min: None,
            drain_timeout: HumanDuration::from_millis(defaults::DRAIN_TIMEOUT_MS),
        }
    }
}

impl WorkerTuning {
    /// Refuses settings that cannot work: see [`ConfigError`]. `has_service` and
    /// `known_from` as for the services check: every service `registry`'s steps call needs a URL.
    pub fn validate(
        &self,
        registry: &Registry,
        has_service: &dyn Fn(&str) -> bool,
        known_from: &str,
    ) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::NoConcurrency);
        }
        if !(1..=CLAIM_BATCH_MAX).contains(&self.claim_batch_max) {
            return Err(ConfigError::ClaimBatch(self.claim_batch_max));
        }
        if self.heartbeat.is_zero() {
            return Err(ConfigError::NoHeartbeat);
        }
        if self.heartbeat >= self.lease_ttl {
            return Err(ConfigError::HeartbeatNotBelowLease {
                heartbeat: self.heartbeat,
                lease_ttl: self.lease_ttl,
            });
        }
        if self.poll_interval.is_zero() {
            return Err(ConfigError::NoPollInterval);
        }
        match self.poll_interval_min {
            Some(min) if min.is_zero() => return Err(ConfigError::NoPollIntervalMin),
            Some(min) if min > self.poll_interval => {
                return Err(ConfigError::PollIntervalMinAboveMax {
                    min,
                    max: self.poll_interval,
                })
            }
            _ => {}
        }
        if self.drain_timeout.is_zero() {
            return Err(ConfigError::NoDrainTimeout);
        }
        check_services(registry, has_service, known_from)
    }

    pub fn runner_config(&self, worker_id: String) -> RunnerConfig {
        RunnerConfig {
            worker_id,
            claim_batch_max: self.claim_batch_max,
            lease_ttl_ms: self.lease_ttl.as_millis(),
            continue_inline: true,
            heartbeat_ms: self.heartbeat.as_millis(),
        }
    }

    /// The claim loops' settings; `woken_by_redis` when Redis wake-ups reach this worker. The
    /// default first wait never exceeds the longest (an explicit one above it is refused by
    /// [`WorkerTuning::validate`]).
    pub fn pool_config(&self, woken_by_redis: bool) -> PoolConfig {
        let min_default = match woken_by_redis {
            true => self.poll_interval,
            false => POLL_INTERVAL_MIN,
        };
        let min = self.poll_interval_min.unwrap_or(min_default);
        PoolConfig {
            concurrency: self.concurrency,
            poll_interval_min_ms: min.min(self.poll_interval).as_millis(),
            poll_interval_max_ms: self.poll_interval.as_millis(),
            drain_timeout_ms: self.drain_timeout.as_millis(),
        }
    }

    /// These settings as `sagaflow worker` flags, for starting worker processes.
    pub fn to_flags(&self) -> Vec<String> {
        let mut flags = vec![
            format!("--concurrency={}", self.concurrency),
            format!("--claim-batch-max={}", self.claim_batch_max),
            format!("--lease-ttl={}", self.lease_ttl),
            format!("--heartbeat={}", self.heartbeat),
            format!("--poll-interval={}", self.poll_interval),
            format!("--drain-timeout={}", self.drain_timeout),
        ];
        if let Some(min) = self.poll_interval_min {
            flags.push(format!("--poll-interval-min={min}"));
        }
        flags
    }
}

/// Flags of `sagaflow service <name>`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServiceArgs {
    /// Which participant: user, payment or order.
    pub name: String,
    /// This service's own database (mysql://…/user_service, sqlite://…).
    #[arg(long, env = "SAGAFLOW_DATABASE_URL")]
    pub database_url: String,
    /// HTTP address to listen on.
    #[arg(long, env = "SAGAFLOW_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Mount /admin/* (bulk creation, ledgers, fault injection). Off by default.
    #[arg(long, env = "SAGAFLOW_ADMIN", default_value_t = false)]
    pub admin: bool,
    /// Fault injection: share of requests answered 503 before doing anything (0..1).
    #[arg(long, env = "SAGAFLOW_FAULT_ERROR_RATE", default_value_t = 0.0)]
    pub fault_error_rate: f64,
    /// Fault injection: latency added to every request (a bare number is milliseconds).
    #[arg(
        long,
        visible_alias = "fault-latency-ms",
        env = "SAGAFLOW_FAULT_LATENCY_MS",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::ZERO
    )]
    pub fault_latency: HumanDuration,
    /// Fault injection: share of requests that commit, then answer 503 (0..1).
    #[arg(
        long,
        env = "SAGAFLOW_FAULT_DROP_AFTER_COMMIT_RATE",
        default_value_t = 0.0
    )]
    pub fault_drop_after_commit_rate: f64,
}

/// Flags of `sagaflow migrate`.
#[derive(clap::Args, Debug, Clone)]
pub struct MigrateArgs {
    /// The database to migrate (created if missing).
    #[arg(long, env = "SAGAFLOW_DATABASE_URL")]
    pub database_url: String,
    /// Whose schema: saga (the engine), user, payment or order.
    #[arg(long = "for", env = "SAGAFLOW_MIGRATE_FOR", default_value = "saga")]
    pub target: String,
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
        if let Some(tokens) = &self.api_tokens {
            let mut listed = tokens.split(',').map(str::trim);
            if !tokens.trim().is_empty() && listed.all(str::is_empty) {
                return Err(ConfigError::NoApiTokens);
            }
        }
        if registry.all().is_empty() {
            return Err(ConfigError::NoWorkflows);
        }
        Ok(())
    }
}

/// `sagaflow server`: the HTTP API over the saga database.
pub async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let registry = Arc::new(load_registry(args.workflows_dir.as_ref())?);
    args.validate(&registry)?;
    let store = Store::connect(&args.database_url, args.db_connections_max)
        .await
        .with_context(|| format!("connecting to {}", args.database_url))?;
    let watcher = Watcher::new();
    watcher.spawn_poller(store.clone(), 20);
    let _ = metrics();
    crate::telemetry::spawn_backlog_sampler(store.clone(), std::time::Duration::from_secs(5));
    let tokens = args
        .api_tokens
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let config = ApiConfig {
        tokens: tokens.map(str::to_owned).collect(),
        body_bytes_max: args.body_bytes_max,
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
    tracing::info!(addr = %listener.local_addr()?, "server listening");
    axum::serve(listener, engine::api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
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
    let executor = Arc::new(HttpExecutor::new(services));
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
    tracing::info!(worker = %id, executed = totals.executed, released = totals.released, timed_out = totals.drain_timed_out, "worker stopped");
    Ok(())
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".into());
    format!("{host}-{}", std::process::id())
}

/// `sagaflow service <name>`: one participant service.
pub async fn service(args: ServiceArgs) -> anyhow::Result<()> {
    let service: services::Service = args.name.parse()?;
    let mut config = services::Config::new(args.database_url.clone());
    config.listen = args.listen;
    config.admin_enabled = args.admin;
    config.faults = services::faults::Faults {
        error_rate: args.fault_error_rate,
        latency_ms: args.fault_latency.as_millis(),
        drop_after_commit_rate: args.fault_drop_after_commit_rate,
        ..services::faults::Faults::default()
    };
    services::run(service, config, Some(metrics()), shutdown_signal()).await?;
    Ok(())
}

/// `sagaflow migrate`: applies one database's migrations.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    match args.target.as_str() {
        "saga" => {
            open_store(&args.database_url, 1).await?;
        }
        other => {
            let service: services::Service = other
                .parse()
                .with_context(|| format!("--for {other}: use saga, user, payment or order"))?;
            services::connect_and_migrate(service, &args.database_url, 1).await?;
        }
    }
    println!("migrated {} ({})", args.database_url, args.target);
    Ok(())
}

/// `sagaflow probe URL`: a health check for containers (GET, 2xx within 2 s).
pub async fn probe(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()?;
    let status = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .status();
    anyhow::ensure!(status.is_success(), "GET {url} answered {status}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        tuning: WorkerTuning,
    }

    fn pool(flags: &[&str], woken_by_redis: bool) -> PoolConfig {
        let flags = Flags::try_parse_from(std::iter::once("worker").chain(flags.iter().copied()))
            .expect("valid flags");
        flags.tuning.pool_config(woken_by_redis)
    }

    #[test]
    fn redis_wakeups_replace_fast_idle_polls_unless_the_flag_says_otherwise() {
        let polling = pool(&[], false);
        assert_eq!(
            (polling.poll_interval_min_ms, polling.poll_interval_max_ms),
            (5, 250)
        );
        let woken = pool(&[], true);
        assert_eq!(
            (woken.poll_interval_min_ms, woken.poll_interval_max_ms),
            (250, 250)
        );
        let explicit = pool(&["--poll-interval-min", "20ms"], true);
        assert_eq!(explicit.poll_interval_min_ms, 20);
        let capped = pool(&["--poll-interval", "3ms"], false);
        assert_eq!(
            capped.poll_interval_min_ms, 3,
            "the default first wait is never above the longest"
        );
    }

    /// One definition of every default: the flags given nothing, `WorkerTuning::default`, the
    /// engine's `RunnerConfig::new` and the worker's `PoolConfig::default` agree.
    #[test]
    fn the_flags_defaults_are_the_engine_s_and_the_pool_s() {
        let parsed = tuning(&[]);
        assert_eq!(parsed, WorkerTuning::default());
        let runner = parsed.runner_config("w".into());
        let engine = RunnerConfig::new("w");
        assert_eq!(
            (
                runner.claim_batch_max,
                runner.lease_ttl_ms,
                runner.heartbeat_ms
            ),
            (
                engine.claim_batch_max,
                engine.lease_ttl_ms,
                engine.heartbeat_ms
            )
        );
        let pool = parsed.pool_config(false);
        let worker = PoolConfig::default();
        assert_eq!(
            (
                pool.concurrency,
                pool.poll_interval_min_ms,
                pool.poll_interval_max_ms,
                pool.drain_timeout_ms
            ),
            (
                worker.concurrency,
                worker.poll_interval_min_ms,
                worker.poll_interval_max_ms,
                worker.drain_timeout_ms
            )
        );
    }

    fn ms(ms: u64) -> HumanDuration {
        HumanDuration::from_millis(ms)
    }

    /// Scripts written for the `…-ms` flags run unchanged: the old names are aliases and a
    /// bare number is still milliseconds; the new names take human durations.
    #[test]
    fn old_ms_flags_still_work_and_new_ones_take_human_durations() {
        let old = tuning(&[
            "--lease-ttl-ms",
            "1500",
            "--heartbeat-ms",
            "500",
            "--poll-interval-ms",
            "50",
            "--poll-interval-min-ms",
            "5",
            "--drain-timeout-ms",
            "10000",
        ]);
        let new = tuning(&[
            "--lease-ttl",
            "1.5s",
            "--heartbeat",
            "500ms",
            "--poll-interval=50ms",
            "--poll-interval-min",
            "5ms",
            "--drain-timeout",
            "10s",
        ]);
        assert_eq!(old, new);
        assert_eq!(
            (old.lease_ttl, old.heartbeat, old.poll_interval),
            (ms(1_500), ms(500), ms(50))
        );
        assert_eq!(
            (old.poll_interval_min, old.drain_timeout),
            (Some(ms(5)), ms(10_000))
        );
        assert_eq!(tuning(&["--lease-ttl", "2m"]).lease_ttl, ms(120_000));
        assert_eq!(tuning(&["--lease-ttl", "1500"]).lease_ttl, ms(1_500));
    }

    #[test]
    fn a_worker_s_settings_as_flags_parse_back_to_the_same_settings() {
        let custom = WorkerTuning {
            concurrency: 3,
            claim_batch_max: 7,
            lease_ttl: ms(1_500),
            heartbeat: ms(500),
            poll_interval: ms(50),
            poll_interval_min: Some(ms(2)),
            drain_timeout: ms(61_001),
        };
        for settings in [WorkerTuning::default(), custom] {
            let flags = settings.to_flags();
            let parsed = tuning(&flags.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(parsed, settings, "{flags:?}");
        }
    }

    #[test]
    fn a_bad_duration_is_refused_by_the_parser_naming_the_flag() {
        for (flag, value, named) in [
            ("--lease-ttl", "abc", "--lease-ttl"),
            ("--lease-ttl-ms", "1.5", "--lease-ttl"),
            ("--heartbeat", "10 parsecs", "--heartbeat"),
            ("--drain-timeout", "1500us", "--drain-timeout"),
        ] {
            let err = Flags::try_parse_from(["worker", flag, value])
                .err()
                .unwrap_or_else(|| panic!("{flag} {value} parsed"));
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
            let text = err.to_string();
            let first = text.lines().next().unwrap_or_default();
            assert!(
                first.contains(&format!("invalid value '{value}'")) && first.contains(named),
                "{first}"
            );
        }
    }

    fn tuning(flags: &[&str]) -> WorkerTuning {
        Flags::try_parse_from(std::iter::once("worker").chain(flags.iter().copied()))
            .expect("flags parse")
            .tuning
    }

    fn purchase_services(name: &str) -> bool {
        ["user", "payment", "order"].contains(&name)
    }

    #[test]
    fn worker_settings_that_cannot_work_are_refused() {
        use ConfigError::*;
        let cases: &[(&[&str], Result<(), ConfigError>)] = &[
            (&[], Ok(())),
            (&["--heartbeat", "1ms", "--lease-ttl", "2ms"], Ok(())),
            (&["--poll-interval-min", "250ms"], Ok(())),
            (&["--claim-batch-max", "128"], Ok(())),
            (&["--concurrency", "0"], Err(NoConcurrency)),
            (&["--claim-batch-max", "0"], Err(ClaimBatch(0))),
            (&["--claim-batch-max", "129"], Err(ClaimBatch(129))),
            (&["--heartbeat", "0s"], Err(NoHeartbeat)),
            (
                &["--heartbeat", "30s"],
                Err(HeartbeatNotBelowLease {
                    heartbeat: ms(30_000),
                    lease_ttl: ms(30_000),
                }),
            ),
            (
                &["--lease-ttl", "500ms", "--heartbeat", "900ms"],
                Err(HeartbeatNotBelowLease {
                    heartbeat: ms(900),
                    lease_ttl: ms(500),
                }),
            ),
            (
                &["--lease-ttl", "0s"],
                Err(HeartbeatNotBelowLease {
                    heartbeat: ms(10_000),
                    lease_ttl: ms(0),
                }),
            ),
            (&["--poll-interval", "0s"], Err(NoPollInterval)),
            (&["--poll-interval-min", "0ms"], Err(NoPollIntervalMin)),
            (
                &["--poll-interval-min", "900ms", "--poll-interval", "100ms"],
                Err(PollIntervalMinAboveMax {
                    min: ms(900),
                    max: ms(100),
                }),
            ),
            (&["--drain-timeout", "0s"], Err(NoDrainTimeout)),
        ];
        let registry = Registry::shipped();
        for (flags, expected) in cases {
            let got = tuning(flags).validate(&registry, &purchase_services, "--services");
            assert_eq!(&got, expected, "flags {flags:?}");
        }
    }

    #[test]
    fn a_worker_needs_a_url_for_every_service_its_workflows_call() {
        let shipped = Registry::shipped();
        let no_order = |name: &str| name != "order" && purchase_services(name);
        let err = tuning(&[])
            .validate(&shipped, &no_order, "--services (user=…,payment=…)")
            .expect_err("order is called by the purchase workflow");
        assert_eq!(
            err.to_string(),
            "step `quote` of workflow `purchase` v1 calls service `order`, which --services \
             (user=…,payment=…) has no URL for"
        );
        assert_eq!(
            tuning(&[]).validate(&Registry::default(), &purchase_services, "--services"),
            Err(ConfigError::NoWorkflows)
        );
    }

    #[test]
    fn refusals_name_the_flags_and_their_values_on_one_line() {
        let err = tuning(&["--heartbeat", "30s"])
            .validate(&Registry::shipped(), &purchase_services, "--services")
            .expect_err("heartbeat equals the lease");
        let message = err.to_string();
        assert!(
            message.starts_with("--heartbeat (30s) must be below --lease-ttl (30s)"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn server_settings_that_cannot_work_are_refused() {
        #[derive(Parser)]
        struct Server {
            #[command(flatten)]
            args: ServerArgs,
        }
        let server = |flags: &[&str]| {
            let argv = ["server", "--database-url", "sqlite://x.db"];
            Server::try_parse_from(argv.iter().chain(flags))
                .expect("flags parse")
                .args
        };
        use ConfigError::*;
        let cases: &[(&[&str], Result<(), ConfigError>)] = &[
            (&[], Ok(())),
            (&["--api-tokens", "a, b"], Ok(())),
            (&["--api-tokens", ""], Ok(())),
            (&["--body-bytes-max", "0"], Err(NoBodyBytes)),
            (&["--db-connections-max", "0"], Err(NoDbConnections)),
            (&["--api-tokens", " , ,"], Err(NoApiTokens)),
        ];
        let registry = Registry::shipped();
        for (flags, expected) in cases {
            assert_eq!(
                &server(flags).validate(&registry),
                expected,
                "flags {flags:?}"
            );
        }
        assert_eq!(server(&[]).validate(&Registry::default()), Err(NoWorkflows));
    }
}
