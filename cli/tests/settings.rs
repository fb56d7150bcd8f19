//! Settings that cannot work stop the binary before it starts anything: exit status 1 and
//! one line on stderr naming the flags. The databases named here do not exist (and cannot be
//! created), so a role that skipped the check would fail differently instead of running.

use std::process::Command;

/// The binary, with no `SAGAFLOW_*` environment.
fn sagaflow() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sagaflow"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SAGAFLOW_") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `sagaflow args…` with no `SAGAFLOW_*` environment; asserts a refusal with `line`.
fn refused(args: &[&str], line: &str) {
    let out = sagaflow()
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("the sagaflow binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(stderr, format!("error: {line}\n"), "{args:?}");
    assert!(out.stdout.is_empty(), "{args:?}");
}

const NO_DB: &str = "sqlite:///nonexistent-sagaflow-dir/saga.db";
const SERVICES: &str =
    "user=http://127.0.0.1:9,payment=http://127.0.0.1:9,order=http://127.0.0.1:9";

#[test]
fn a_worker_with_a_heartbeat_not_below_its_lease_is_refused() {
    refused(
        &[
            "worker",
            "--database-url",
            NO_DB,
            "--services",
            SERVICES,
            "--heartbeat",
            "30s",
        ],
        "--heartbeat (30s) must be below --lease-ttl (30s): leases would expire before they \
         are renewed",
    );
}

/// The old spelling (a bare number of milliseconds, the `-ms` name) is read the same way.
#[test]
fn a_worker_with_a_lease_of_zero_is_refused_in_either_spelling() {
    for lease in [["--lease-ttl", "0s"], ["--lease-ttl-ms", "0"]] {
        let mut args = vec!["worker", "--database-url", NO_DB, "--services", SERVICES];
        args.extend(lease);
        refused(
            &args,
            "--heartbeat (10s) must be below --lease-ttl (0s): leases would expire before they \
             are renewed",
        );
    }
}

/// A value that is not a duration stops the binary in the flag parser: a non-zero exit and
/// a first line naming the value, the flag and what a duration looks like.
#[test]
fn a_duration_flag_with_a_bad_value_is_refused_by_the_parser() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["worker", "--lease-ttl", "abc"],
            "error: invalid value 'abc' for '--lease-ttl <DURATION>': not a duration: write e.g. \
             500ms, 10s or 2m (a bare number is milliseconds)",
        ),
        (
            &["chaos", "--duration", "soon"],
            "error: invalid value 'soon' for '--duration <DURATION>': not a duration: write e.g. \
             500ms, 10s or 2m (a bare number is seconds)",
        ),
        (
            &["dev", "--drain-timeout-ms", "1.5"],
            "error: invalid value '1.5' for '--drain-timeout <DURATION>': not a duration: write \
             e.g. 500ms, 10s or 2m (a bare number is milliseconds)",
        ),
    ];
    for (args, line) in cases {
        let out = sagaflow()
            .args(*args)
            .output()
            .expect("the sagaflow binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().next(), Some(*line), "{args:?}");
    }
    let out = sagaflow()
        .args(["worker", "--database-url", NO_DB, "--services", SERVICES])
        .env("SAGAFLOW_HEARTBEAT_MS", "often")
        .output()
        .expect("the sagaflow binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: invalid value 'often' for '--heartbeat <DURATION>'"),
        "the environment fallback goes through the same parser: {stderr}"
    );
}

#[test]
fn a_worker_without_a_url_for_a_called_service_is_refused() {
    refused(
        &[
            "worker",
            "--database-url",
            NO_DB,
            "--services",
            "user=http://127.0.0.1:9",
        ],
        "step `quote` of workflow `purchase` v1 calls service `order`, which --services \
         (user=http://127.0.0.1:9) has no URL for",
    );
}

#[test]
fn dev_with_zero_concurrency_is_refused_before_starting_anything() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data");
    refused(
        &[
            "dev",
            "--data-dir",
            &data.to_string_lossy(),
            // Not an address of this machine: a dev that skipped the check fails to bind.
            "--listen",
            "192.0.2.1:1",
            "--concurrency",
            "0",
        ],
        "--concurrency must be at least 1 (no claim loop would run)",
    );
    assert!(!data.exists(), "nothing was created");
}

#[test]
fn a_server_with_no_room_for_a_body_is_refused() {
    refused(
        &["server", "--database-url", NO_DB, "--body-bytes-max", "0"],
        "--body-bytes-max must be above 0 (every request would be refused as too large)",
    );
}

/// The breaker flags have environment fallbacks and go through the same check: a zero
/// `SAGAFLOW_BREAKER_PROBES`, and an override naming a service with no URL, are refused.
#[test]
fn a_worker_with_breaker_settings_that_cannot_work_is_refused() {
    let out = sagaflow()
        .args(["worker", "--database-url", NO_DB, "--services", SERVICES])
        .env("SAGAFLOW_BREAKER_PROBES", "0")
        .env("RUST_LOG", "off")
        .output()
        .expect("the sagaflow binary runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --breaker-probes must be at least 1 (a half-open breaker would never close)\n"
    );
    refused(
        &[
            "worker",
            "--database-url",
            NO_DB,
            "--services",
            SERVICES,
            "--breaker-service",
            "user:failures=2;billing:bulkhead=4",
        ],
        "--breaker-service names `billing`, which has no URL in --services",
    );
}

#[test]
fn http_limits_that_cannot_work_are_refused_by_server_dev_and_service() {
    refused(
        &[
            "server",
            "--database-url",
            NO_DB,
            "--header-read-timeout",
            "0s",
        ],
        "--header-read-timeout must be above 0 (every connection would be closed at once)",
    );
    let data = std::env::temp_dir().join(format!("sagaflow-http-refused-{}", std::process::id()));
    let data = data.to_str().unwrap();
    refused(
        &["dev", "--data-dir", data, "--requests-in-flight-max", "0"],
        "--requests-in-flight-max must be at least 1 (nothing would be served)",
    );
    assert!(!std::path::Path::new(data).exists(), "nothing was created");
    refused(
        &[
            "service",
            "user",
            "--database-url",
            NO_DB,
            "--connections-max",
            "0",
        ],
        "--connections-max must be at least 1 (nothing would be served)",
    );
}

/// TLS flags: a certificate without its key (or the reverse) and an unreadable file are one
/// line naming the flag, from `server`, `dev` and `service` alike; an https:// participant or
/// API without the CA to trust is refused by the worker and by `demo`.
#[test]
fn tls_flags_that_cannot_work_are_refused_in_one_line() {
    refused(
        &[
            "server",
            "--database-url",
            NO_DB,
            "--tls-cert",
            "/nonexistent/c.pem",
        ],
        "--tls-cert needs --tls-key (both or neither)",
    );
    let data = std::env::temp_dir().join(format!("sagaflow-tls-refused-{}", std::process::id()));
    let data = data.to_str().unwrap();
    refused(
        &["dev", "--data-dir", data, "--tls-key", "/nonexistent/k.pem"],
        "--tls-key needs --tls-cert (both or neither)",
    );
    assert!(!std::path::Path::new(data).exists(), "nothing was created");
    refused(
        &[
            "service",
            "user",
            "--database-url",
            NO_DB,
            "--tls-cert",
            "/nonexistent/c.pem",
            "--tls-key",
            "/nonexistent/k.pem",
        ],
        "--tls-cert /nonexistent/c.pem: cannot read it: No such file or directory (os error 2)",
    );
    refused(
        &[
            "worker",
            "--database-url",
            NO_DB,
            "--services",
            "user=https://127.0.0.1:9,payment=http://127.0.0.1:9,order=http://127.0.0.1:9",
        ],
        "service `user` is https:// (https://127.0.0.1:9) but no --participant-ca says which \
         CA to trust (there is no built-in root store; for a public CA name the system bundle, \
         e.g. /etc/ssl/certs/ca-certificates.crt)",
    );
    refused(
        &["demo", "--api", "https://127.0.0.1:9"],
        "--api https://127.0.0.1:9 is https:// but no --api-ca says which CA to trust (there \
         is no built-in root store; for a public CA name the system bundle, e.g. \
         /etc/ssl/certs/ca-certificates.crt)",
    );
}
