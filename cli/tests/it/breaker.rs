//! Protecting the participants: a worker process's circuit breaker against a participant that
//! goes down for a while, and against one that answers business errors.

use crate::support::*;
use engine::model::AttemptOutcome;
use engine::WorkflowStatus;
use serde_json::json;
use services::Service;
use std::net::TcpListener;

testkit::backend_tests!(
    an_outage_opens_the_breaker_probes_only_and_costs_no_workflow_its_budget,
    business_errors_never_open_the_breaker
);

/// A free TCP port on 127.0.0.1 (bound, read, released) for the worker's metrics.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// One worker process on the fast purchase definition (retries after 100, 200, 400 ms; four
/// attempts before the pivot), one claim loop of one activity (calls go out one by one), with
/// its metrics at `port` and the breaker flags `extra`.
fn worker(
    dbs: &Databases,
    participants: &Participants,
    dir: &std::path::Path,
    port: u16,
    extra: &[&str],
) -> WorkerProcess {
    std::fs::write(dir.join("purchase.toml"), fast_purchase_text()).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let mut flags = vec![
        "--workflows-dir",
        dir.to_str().unwrap(),
        "--metrics-listen",
        &listen,
        "--concurrency",
        "1",
        "--claim-batch-max",
        "1",
    ];
    flags.extend_from_slice(extra);
    spawn_worker(&dbs.saga.url, &participants.flag(), "protected", &flags)
}

/// The sum of the series of `name` whose labels include every one of `labels` (`k="v"`).
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            (n == name && labels.iter().all(|want| rest.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

async fn scrape(port: u16) -> Option<String> {
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?;
    response.text().await.ok()
}

async fn payment_counts(participants: &Participants) -> (u64, u64) {
    let c = get_json(&format!(
        "{}/admin/faults/counts",
        participants.url(Service::Payment)
    ))
    .await;
    (
        c["requests"].as_u64().unwrap(),
        c["injected_errors"].as_u64().unwrap(),
    )
}

async fn set_payment_error_rate(participants: &Participants, rate: f64) {
    let url = format!("{}/admin/faults", participants.url(Service::Payment));
    assert_eq!(put_json(&url, &json!({"error_rate": rate})).await, 200);
}

/// Payment answers every call 503 (before any effect) until the breaker has opened, failed a
/// probe and opened again twice: about 1.5 s of outage (open 500 ms, then 1 s; the next
/// interval, 2 s, leaves ample time to end the outage before another probe), more than the
/// retry policy's four attempts last (100 + 200 + 400 ms), so without the breaker every
/// workflow would run out of attempts and compensate. With it, payment receives the two calls that open the breaker and
/// then only probes (one per half-open), every workflow keeps attempts to spare, and all
/// complete once payment is back.
async fn an_outage_opens_the_breaker_probes_only_and_costs_no_workflow_its_budget(db: TestDb) {
    let dbs = Databases::fresh(db).await;
    let participants = Participants::start(&dbs, 0).await;
    let store = open(&dbs).await;
    let registry = fast_registry();
    set_payment_error_rate(&participants, 1.0).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut worker = worker(
        &dbs,
        &participants,
        dir.path(),
        port,
        &[
            "--breaker-failures",
            "2",
            "--breaker-min-calls",
            "1000",
            "--breaker-open",
            "500ms",
            "--breaker-open-max",
            "2s",
        ],
    );
    let mut ids = Vec::new();
    for user in 1..=3 {
        ids.push(store.submit(&registry, &purchase(user)).await.unwrap().id);
    }
    let opened = |text: &str| {
        metric(
            text,
            "sagaflow_circuit_transitions_total",
            &[r#"service="payment""#, r#"to="open""#],
        )
    };
    eventually(
        30,
        "the breaker opened, then reopened after two failed probes",
        || async {
            let text = scrape(port).await?;
            (opened(&text) >= 3.0).then_some(())
        },
    )
    .await;
    let (_, down_calls) = payment_counts(&participants).await;
    // Read after the count: a probe that went out since is in both or only here.
    let text = scrape(port).await.unwrap();
    let probes = metric(
        &text,
        "sagaflow_circuit_transitions_total",
        &[r#"service="payment""#, r#"to="half_open""#],
    );
    assert!(probes >= 2.0, "{text}");
    assert!(
        down_calls as f64 <= 2.0 + probes,
        "payment got {down_calls} calls while down: the 2 that opened the breaker and at most \
         one per half-open ({probes})"
    );
    assert!(
        metric(
            &text,
            "sagaflow_breaker_deferred_total",
            &[r#"service="payment""#]
        ) >= 1.0,
        "activities were given back while open: {text}"
    );
    assert_eq!(
        metric(&text, "sagaflow_circuit_state", &[r#"service="user""#]),
        0.0,
        "the other services' breakers are exported closed: {text}"
    );
    set_payment_error_rate(&participants, 0.0).await;
    for id in &ids {
        let wf = eventually(30, "every workflow to end", || async {
            let wf = store.get(*id).await.unwrap()?;
            wf.status.is_terminal().then_some(wf)
        })
        .await;
        assert_eq!(wf.status, WorkflowStatus::Completed, "{wf:?}");
        let payment = wf
            .activities
            .iter()
            .find(|a| a.name == "reserve_payment")
            .unwrap();
        let failed = payment
            .attempts
            .iter()
            .filter(|t| t.outcome == AttemptOutcome::RetryableError)
            .count();
        assert!(
            failed <= 3,
            "reserve_payment had 4 attempts, the outage cost it {failed}"
        );
    }
    let text = scrape(port).await.unwrap();
    assert_eq!(
        metric(&text, "sagaflow_circuit_state", &[r#"service="payment""#]),
        0.0,
        "closed after recovery: {text}"
    );
    assert!(
        metric(
            &text,
            "sagaflow_circuit_transitions_total",
            &[r#"service="payment""#, r#"to="closed""#]
        ) >= 1.0
    );
    worker.kill().unwrap();
    worker.wait().unwrap();
}

/// Payment refuses every payment (422 `INVALID_PAYMENT_METHOD`: the method is another
/// user's): business errors, so even a breaker that opens at the first failure stays closed,
/// every workflow calls payment once and compensates for the business reason.
async fn business_errors_never_open_the_breaker(db: TestDb) {
    let dbs = Databases::fresh(db).await;
    let participants = Participants::start(&dbs, 0).await;
    let store = open(&dbs).await;
    let registry = fast_registry();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut worker = worker(
        &dbs,
        &participants,
        dir.path(),
        port,
        &["--breaker-failures", "1", "--breaker-min-calls", "1"],
    );
    let mut ids = Vec::new();
    for _ in 0..4 {
        let mut wf = purchase(1);
        wf.input["payment_method_id"] = json!(2);
        ids.push(store.submit(&registry, &wf).await.unwrap().id);
    }
    for id in &ids {
        let wf = eventually(30, "every workflow to end", || async {
            let wf = store.get(*id).await.unwrap()?;
            wf.status.is_terminal().then_some(wf)
        })
        .await;
        assert_eq!(wf.status, WorkflowStatus::Compensated, "{wf:?}");
    }
    let (requests, injected) = payment_counts(&participants).await;
    assert_eq!(
        (requests, injected),
        (4, 0),
        "each workflow called payment once"
    );
    let text = scrape(port).await.unwrap();
    for (name, labels) in [
        (
            "sagaflow_circuit_transitions_total",
            &[r#"service="payment""#][..],
        ),
        (
            "sagaflow_breaker_deferred_total",
            &[r#"service="payment""#][..],
        ),
        ("sagaflow_circuit_state", &[r#"service="payment""#][..]),
    ] {
        assert_eq!(metric(&text, name, labels), 0.0, "{name}: {text}");
    }
    assert!(
        text.contains(r#"sagaflow_circuit_state{service="payment"} 0"#),
        "the breaker's state is exported from the start: {text}"
    );
    worker.kill().unwrap();
    worker.wait().unwrap();
}
