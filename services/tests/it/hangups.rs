//! Clients that hang up mid-request, against a real server on 127.0.0.1: a request future that
//! hyper drops never leaves the service's database connection inside a transaction, so the
//! service keeps answering at once and its ledger stays consistent.

use std::{net::SocketAddr, time::Duration};

use serde_json::{json, Value};
use services::Service;
use testkit::TestDb;
use tokio::{io::AsyncWriteExt, net::TcpStream, task::JoinSet};

use crate::support::{new_tx, App};

testkit::backend_tests!(hung_up_tries_leave_the_service_answering);

/// Clients sending a try and hanging up at once, per round.
const HANGUPS_PER_ROUND: usize = 400;
/// Injected latency of each round: mostly none (the futures are dropped in the database work),
/// and some (the handlers wake up together). One round without latency wedged the old code 7
/// times in 8; six rounds make a miss unlikely.
const ROUND_LATENCIES_MS: [u64; 6] = [0, 0, 10, 0, 0, 20];
/// Normal tries after the hang-ups; each must be answered within [`ANSWER_DEADLINE`].
const NORMAL_TRIES: usize = 20;
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

/// 6 × 400 clients that send a complete `POST /balance/try` and close the connection at once
/// leave the user service answering every next try within 5 s, with a consistent ledger.
async fn hung_up_tries_leave_the_service_answering(db: TestDb) {
    let app = App::start(Service::User, &db).await;
    let (_, created) = app
        .post(
            "/admin/users",
            json!({ "users": [{ "username": "hangup", "balance": 1_000_000 }] }),
        )
        .await;
    let user_id = created["users"][0]["id"].as_i64().expect("created user id");
    let total_before = ledger_total(&app.ledger().await);
    let server = services::spawn(app.state.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("service listens");

    for latency_ms in ROUND_LATENCIES_MS {
        app.set_faults(json!({ "latency_ms": latency_ms })).await;
        hang_up_tries(server.addr(), user_id, HANGUPS_PER_ROUND).await;
    }
    app.set_faults(json!({})).await;

    let client = reqwest::Client::new();
    for n in 0..NORMAL_TRIES {
        let tx = new_tx();
        let body = json!({ "transaction_id": tx, "user_id": user_id, "amount": 1 });
        let call = client
            .post(format!("{}/balance/try", server.url()))
            .json(&body)
            .send();
        let response = tokio::time::timeout(ANSWER_DEADLINE, call)
            .await
            .unwrap_or_else(|_| panic!("try {n} after the hang-ups got no answer within 5 s"))
            .expect("the service accepts the request");
        let status = response.status();
        let reply: Value = response.json().await.expect("JSON reply");
        assert_eq!(
            (status.as_u16(), reply),
            (200, json!({ "transaction_id": tx, "status": "reserved" })),
            "try {n} after the hang-ups"
        );
    }

    let ledger = app.ledger().await;
    assert_eq!(
        ledger_total(&ledger),
        total_before,
        "no money appeared or vanished: {ledger}"
    );
    assert_eq!(
        ledger["reserved"], ledger["reservations"]["reserved"]["amount"],
        "every reserved unit has its reservation: {ledger}"
    );
    let reservations = ledger["reservations"]["reserved"]["count"]
        .as_i64()
        .expect("count");
    assert!(
        reservations >= NORMAL_TRIES as i64,
        "the normal tries reserved: {ledger}"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM tcc_barrier WHERE phase = 'try'")
            .await,
        reservations,
        "one try barrier per reservation"
    );
    server.stop().await.expect("service stops");
}

/// `balance + reserved + captured` over all users.
fn ledger_total(ledger: &Value) -> i64 {
    ["balance", "reserved", "captured"]
        .iter()
        .map(|field| ledger[field].as_i64().expect("ledger integer"))
        .sum()
}

/// Opens `clients` connections at once, each sending one complete try of 1 and closing right
/// after the last byte is written.
async fn hang_up_tries(addr: SocketAddr, user_id: i64, clients: usize) {
    let mut sent = JoinSet::new();
    for _ in 0..clients {
        let body =
            json!({ "transaction_id": new_tx(), "user_id": user_id, "amount": 1 }).to_string();
        let request = format!(
            "POST /balance/try HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        sent.spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream
                .write_all(request.as_bytes())
                .await
                .expect("send the request");
            // Dropping the stream closes the connection with the request in flight.
        });
    }
    sent.join_all().await;
}
