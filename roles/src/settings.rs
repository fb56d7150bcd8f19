//! Worker and server settings checked at start: [`WorkerTuning`] (the worker's flags, shared
//! by `worker`, `dev` and the tools), [`ConfigError`] and the check that every service the
//! definitions call has a URL. One pure check per role, run before any connection.

use crate::duration::{self, HumanDuration};
use engine::runner::RunnerConfig;
use engine::store::CLAIM_BATCH_MAX;
use engine::Registry;
use worker::{defaults, PoolConfig};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::ServerArgs;
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
