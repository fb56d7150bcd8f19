//! Worker and server settings checked at start: [`WorkerTuning`] (the worker's flags, shared
//! by `worker`, `dev` and the tools), [`ConfigError`] and the check that every service the
//! definitions call has a URL; TLS flags in `tls` ([`ServerTls`], [`ParticipantTls`]). One pure check per role, run before any connection.

use crate::duration::{self, HumanDuration};
use engine::runner::RunnerConfig;
use engine::store::CLAIM_BATCH_MAX;
use engine::Registry;
use worker::{defaults, PoolConfig};

mod auth;
mod protection;
pub use auth::JwtArgs;
pub use protection::{ProtectionFlags, Ratio, ServiceOverride, Setting};
mod tls;
pub use tls::{scheme, ParticipantTls, ServerTls};

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
    #[error("{0}")]
    Protection(String),
    #[error("--db-connections-max must be at least 1")]
    NoDbConnections,
    #[error(
        "--api-tokens holds no token (only commas and spaces): the API would run without \
         authentication"
    )]
    NoApiTokens,
    /// A JWT key or secret file that cannot be read or used (the detail says why).
    #[error("{flag} {path}: {detail}")]
    JwtFile {
        flag: &'static str,
        path: String,
        detail: String,
    },
    #[error(
        "--jwt-issuer and --jwt-audience need --jwt-jwks or --jwt-hs256-secret-file (no token \
         could be verified)"
    )]
    JwtWithoutKey,
    #[error("{0} must be above 0 (every connection would be closed at once)")]
    NoHttpTimeout(&'static str),
    #[error("{0} must be at least 1 (nothing would be served)")]
    NoHttpCap(&'static str),
    /// A TLS flag or file that cannot work (the message names the flag and the path).
    #[error("{0}")]
    Tls(String),
}

/// The HTTP server's timeouts and caps against slow, idle and too many clients
/// (`httpguard::Limits`), flags of `server`, `dev` and `service`. The defaults are
/// `httpguard::Limits`'s; ARCHITECTURE.md ("Protecting the API") says why.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest wait for a request's headers, counted from when the connection starts waiting
    /// for a request: also the longest a keep-alive connection may stay idle.
    #[arg(
        long,
        env = "SAGAFLOW_HEADER_READ_TIMEOUT",
        value_name = "DURATION",
        value_parser = duration::seconds,
        default_value_t = HumanDuration::from(httpguard::Limits::HEADER_READ_TIMEOUT)
    )]
    pub header_read_timeout: HumanDuration,
    /// Longest silence while a request body is read.
    #[arg(
        long,
        env = "SAGAFLOW_BODY_READ_TIMEOUT",
        value_name = "DURATION",
        value_parser = duration::seconds,
        default_value_t = HumanDuration::from(httpguard::Limits::BODY_READ_TIMEOUT)
    )]
    pub body_read_timeout: HumanDuration,
    /// Open connections at once; at the cap new ones wait in the listen backlog.
    #[arg(long, env = "SAGAFLOW_CONNECTIONS_MAX", default_value_t = httpguard::Limits::CONNECTIONS_MAX)]
    pub connections_max: usize,
    /// Requests handled at once; more are answered 503 OVERLOADED with Retry-After (a
    /// `?wait=` long poll does not count while it waits).
    #[arg(
        long,
        env = "SAGAFLOW_REQUESTS_IN_FLIGHT_MAX",
        default_value_t = httpguard::Limits::REQUESTS_IN_FLIGHT_MAX
    )]
    pub requests_in_flight_max: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits::from(httpguard::Limits::default())
    }
}

impl From<httpguard::Limits> for HttpLimits {
    fn from(l: httpguard::Limits) -> HttpLimits {
        HttpLimits {
            header_read_timeout: l.header_read_timeout.into(),
            body_read_timeout: l.body_read_timeout.into(),
            connections_max: l.connections_max,
            requests_in_flight_max: l.requests_in_flight_max,
        }
    }
}

impl HttpLimits {
    /// Refuses limits that cannot work: a zero timeout or cap.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.header_read_timeout.is_zero() {
            return Err(ConfigError::NoHttpTimeout("--header-read-timeout"));
        }
        if self.body_read_timeout.is_zero() {
            return Err(ConfigError::NoHttpTimeout("--body-read-timeout"));
        }
        if self.connections_max == 0 {
            return Err(ConfigError::NoHttpCap("--connections-max"));
        }
        if self.requests_in_flight_max == 0 {
            return Err(ConfigError::NoHttpCap("--requests-in-flight-max"));
        }
        Ok(())
    }

    pub fn limits(&self) -> httpguard::Limits {
        httpguard::Limits {
            header_read_timeout: self.header_read_timeout.get(),
            body_read_timeout: self.body_read_timeout.get(),
            connections_max: self.connections_max,
            requests_in_flight_max: self.requests_in_flight_max,
        }
    }
}

/// The per-caller submit rate of `server` and `dev`: off unless `--submit-rate` is given
/// (ARCHITECTURE.md, "Protecting the API", says why).
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitRateArgs {
    /// Submits (`POST /v1/workflows`) per caller, such as `100/s`, `6000/m`; over it is 429
    /// RATE_LIMITED with Retry-After. The caller is the authenticated subject (a JWT's `sub`,
    /// a static token's name) when --api-tokens or a JWT key is set, else the client's IP
    /// address. [default: no limit]
    #[arg(long, env = "SAGAFLOW_SUBMIT_RATE", value_name = "RATE")]
    pub submit_rate: Option<engine::api::SubmitRate>,
    /// Most submits a caller may make at once before the rate applies. [default: the rate's
    /// count]
    #[arg(long, env = "SAGAFLOW_SUBMIT_BURST", requires = "submit_rate")]
    pub submit_burst: Option<std::num::NonZeroU32>,
}

impl SubmitRateArgs {
    pub fn rate(&self) -> Option<engine::api::SubmitRate> {
        let rate = self.submit_rate?;
        Some(match self.submit_burst {
            Some(burst) => rate.with_burst(burst),
            None => rate,
        })
    }
}

/// The bearer tokens of `--api-tokens` (comma-separated, spaces trimmed); refuses a value that
/// holds none, which would run the API without authentication by mistake.
pub fn api_tokens(flag: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let Some(value) = flag else {
        return Ok(Vec::new());
    };
    let tokens: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() && !value.trim().is_empty() {
        return Err(ConfigError::NoApiTokens);
    }
    Ok(tokens)
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
    /// Circuit breakers and bulkheads per participant service.
    #[command(flatten)]
    pub protection: ProtectionFlags,
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
            protection: ProtectionFlags::default(),
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
        if let Some(problem) = self.protection.problem(has_service) {
            return Err(ConfigError::Protection(problem));
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
        flags.extend(self.protection.to_flags());
        flags
    }
}

#[cfg(test)]
mod tests;
