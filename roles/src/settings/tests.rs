//! Table tests of every role's settings check.

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
        protection: ProtectionFlags {
            breaker_failures: 2,
            breaker_ratio: Ratio(0.25),
            breaker_window: ms(2_500),
            breaker_min_calls: 3,
            breaker_open: ms(300),
            breaker_open_max: ms(4_000),
            breaker_probes: 2,
            bulkhead: 5,
            overrides: vec![
                ServiceOverride::parse("payment:failures=3,open=2s,ratio=0.75").unwrap(),
                ServiceOverride::parse(
                    "order:bulkhead=1,probes=4,window=1s,min-calls=2,open-max=1m",
                )
                .unwrap(),
            ],
        },
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
        (
            &["--breaker-service", "payment:failures=1,bulkhead=1"],
            Ok(()),
        ),
        (
            &["--breaker-failures", "0"],
            Err(Protection("--breaker-failures must be at least 1".into())),
        ),
        (
            &["--breaker-open", "0s"],
            Err(Protection(
                "--breaker-open must be above 0 (an open breaker would let every call through)"
                    .into(),
            )),
        ),
        (
            &["--breaker-open", "10s", "--breaker-open-max", "5s"],
            Err(Protection(
                "--breaker-open-max must not be below --breaker-open".into(),
            )),
        ),
        (
            &["--breaker-probes", "0"],
            Err(Protection(
                "--breaker-probes must be at least 1 (a half-open breaker would never close)"
                    .into(),
            )),
        ),
        (
            &["--breaker-min-calls", "0"],
            Err(Protection("--breaker-min-calls must be at least 1".into())),
        ),
        (
            &["--breaker-window", "0s"],
            Err(Protection("--breaker-window must be above 0".into())),
        ),
        (
            &["--bulkhead", "0"],
            Err(Protection(
                "--bulkhead must be at least 1 (no call would go out)".into(),
            )),
        ),
        (
            &["--breaker-service", "order:open-max=1s"],
            Err(Protection(
                "--breaker-service order:open-max must not be below --breaker-service order:open"
                    .into(),
            )),
        ),
        (
            &["--breaker-service", "paymnet:failures=2"],
            Err(Protection(
                "--breaker-service names `paymnet`, which has no URL in --services".into(),
            )),
        ),
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
        (
            &["--header-read-timeout", "0s"],
            Err(NoHttpTimeout("--header-read-timeout")),
        ),
        (
            &["--body-read-timeout", "0"],
            Err(NoHttpTimeout("--body-read-timeout")),
        ),
        (
            &["--connections-max", "0"],
            Err(NoHttpCap("--connections-max")),
        ),
        (
            &["--requests-in-flight-max", "0"],
            Err(NoHttpCap("--requests-in-flight-max")),
        ),
        (
            &["--header-read-timeout", "500ms", "--connections-max", "1"],
            Ok(()),
        ),
        (&["--submit-rate", "100/s", "--submit-burst", "200"], Ok(())),
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

/// Per-service overrides apply on top of the flags, a later one on top of an earlier one;
/// the environment separates services with `;`; nonsense is refused by the parser.
#[test]
fn breaker_overrides_apply_per_service_on_top_of_the_flags() {
    let t = tuning(&[
        "--breaker-failures",
        "7",
        "--bulkhead",
        "9",
        "--breaker-service",
        "payment:failures=2,open=1500ms",
        "--breaker-service",
        "payment:bulkhead=3",
    ]);
    let (default, per_service) = t.protection.protection();
    assert_eq!((default.breaker.failures, default.bulkhead), (7, 9));
    let payment = per_service["payment"];
    assert_eq!(
        (
            payment.breaker.failures,
            payment.bulkhead,
            payment.breaker.open
        ),
        (2, 3, std::time::Duration::from_millis(1_500))
    );
    assert_eq!(payment.breaker.probes, default.breaker.probes);
    assert!(!per_service.contains_key("order"));
    let defaults = tuning(&[]).protection.protection().0;
    assert_eq!(defaults, worker::Protection::default());
    assert_eq!(
        (defaults.breaker.failures, defaults.bulkhead),
        (5, 32),
        "the documented defaults"
    );
    for bad in [
        "payment",
        "payment:",
        "payment:failures",
        "payment:fails=2",
        "payment:ratio=1.5",
        "payment:open=soon",
        ":failures=1",
    ] {
        let err = Flags::try_parse_from(["worker", "--breaker-service", bad]);
        assert!(err.is_err(), "{bad} parsed");
    }
    assert!(Flags::try_parse_from(["worker", "--breaker-ratio", "0"]).is_err());
}

/// One value holds several services separated by `;` (how `SAGAFLOW_BREAKER_SERVICE` holds
/// them: clap splits the variable the same way; not set here, as tests share the process).
#[test]
fn several_breaker_overrides_in_one_value_are_separated_by_semicolons() {
    let t = tuning(&["--breaker-service", "payment:failures=2;order:bulkhead=4"]);
    let (_, per_service) = t.protection.protection();
    assert_eq!(per_service["payment"].breaker.failures, 2);
    assert_eq!(per_service["order"].bulkhead, 4);
}
