//! Worker calls timing out at a slow service: the worker's HTTP client drops each request
//! mid-flight, and the service still never leaves its database connection inside a
//! transaction.

use crate::support::*;
use engine::definition::Request;
use engine::runner::Executor;
use engine::{Outcome, WorkflowId};
use serde_json::{json, Value};
use services::Service;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use worker::{HttpExecutor, Services};

testkit::backend_tests!(calls_the_worker_timed_out_leave_the_service_answering);

/// Rounds of calls cut short.
const ROUNDS: u64 = 30;
/// Calls per round, all at once: as many as the executor keeps idle connections, so that
/// each goes out at once on a warm connection.
const CALLS_PER_ROUND: u64 = 64;
/// Injected latency of the rounds: none (cut in the database work) and above every timeout
/// (cut while the service waits).
const LATENCIES_MS: [u64; 2] = [0, 10];
const NORMAL_CALLS: usize = 20;
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

/// 30 rounds of 64 tries cut short by their per-attempt timeouts (1 to 4 ms, on warm
/// connections, the service adding no latency or 10 ms) leave the user service answering
/// each next try within 5 s, and its ledger consistent.
async fn calls_the_worker_timed_out_leave_the_service_answering(db: TestDb) {
    let mut config = services::Config::new(db.url.clone());
    config.admin_enabled = true;
    let state = services::AppState::connect(Service::User, &config, None)
        .await
        .expect("service starts");
    let server = services::spawn(state, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("service listens");
    let url = server.url();
    let users = json!({ "users": [{ "username": "timeouts", "balance": 1_000_000 }] });
    let (status, created) = post_json(&format!("{url}/admin/users"), &users).await;
    assert_eq!(status, 200, "{created}");
    let user_id = created["users"][0]["id"].as_i64().expect("created user id");
    let total_before = ledger_total(&get_json(&format!("{url}/admin/ledger")).await);
    let executor = Arc::new(HttpExecutor::new(
        Services::parse(&format!("user={url}")).expect("services"),
    ));
    let mut timed_out = 0;
    for round in 0..ROUNDS {
        let latency_ms = LATENCIES_MS[round as usize % LATENCIES_MS.len()];
        // Warm connections first (every call answered), then cut calls on them after 1 to
        // 4 ms: while queueing for the database, inside the transaction, or waiting.
        let faults = json!({ "latency_ms": 0 });
        assert_eq!(put_json(&format!("{url}/admin/faults"), &faults).await, 200);
        calls_at_once(&executor, user_id, |_| 4_000).await;
        let faults = json!({ "latency_ms": latency_ms });
        assert_eq!(put_json(&format!("{url}/admin/faults"), &faults).await, 200);
        timed_out += calls_at_once(&executor, user_id, |n| 1 + n % 4).await;
    }
    assert!(timed_out >= 100, "many calls timed out: {timed_out}");
    assert_eq!(
        put_json(&format!("{url}/admin/faults"), &json!({})).await,
        200
    );

    for n in 0..NORMAL_CALLS {
        let outcome = tokio::time::timeout(
            ANSWER_DEADLINE,
            executor.execute(&try_request(user_id, 4_000)),
        )
        .await
        .unwrap_or_else(|_| panic!("try {n} after the timeouts: no answer within 5 s"));
        assert!(
            matches!(&outcome, Outcome::Success(reply) if reply["status"] == "reserved"),
            "try {n} after the timeouts: {outcome:?}"
        );
    }
    let ledger = get_json(&format!("{url}/admin/ledger")).await;
    assert_eq!(
        ledger_total(&ledger),
        total_before,
        "no money appeared or vanished: {ledger}"
    );
    assert_eq!(
        ledger["reserved"], ledger["reservations"]["reserved"]["amount"],
        "every reserved unit has its reservation: {ledger}"
    );
    server.stop().await.expect("service stops");
}

/// Sends [`CALLS_PER_ROUND`] tries at once, call `n` with a timeout of `timeout_ms(n)`;
/// returns how many did not succeed.
async fn calls_at_once(
    executor: &Arc<HttpExecutor>,
    user_id: i64,
    timeout_ms: impl Fn(u64) -> u64,
) -> usize {
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..CALLS_PER_ROUND {
        let (executor, request) = (executor.clone(), try_request(user_id, timeout_ms(n)));
        calls.spawn(async move { executor.execute(&request).await });
    }
    calls
        .join_all()
        .await
        .iter()
        .filter(|outcome| !matches!(outcome, Outcome::Success(_)))
        .count()
}

/// A try of 1 for `user_id` with a fresh transaction id.
fn try_request(user_id: i64, timeout_ms: u64) -> Request {
    let transaction_id = WorkflowId::new().to_string();
    Request {
        service: "user".into(),
        method: "POST".into(),
        path: "/balance/try".into(),
        body: json!({ "transaction_id": transaction_id, "user_id": user_id, "amount": 1 }),
        timeout_ms,
        idempotency_key: format!("{transaction_id}:0:action"),
    }
}

/// `balance + reserved + captured` over all users.
fn ledger_total(ledger: &Value) -> i64 {
    ["balance", "reserved", "captured"]
        .iter()
        .map(|field| ledger[field].as_i64().expect("ledger integer"))
        .sum()
}
