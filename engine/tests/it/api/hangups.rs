//! Clients that hang up mid-request, against the API served on 127.0.0.1: a request future
//! that hyper drops never leaves a saga database connection inside a transaction, so the API
//! keeps answering at once.

use super::*;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

testkit::backend_tests!(hung_up_requests_leave_the_api_answering);

/// Clients per kind of request (submit, read, abort) that send it and hang up at once.
const HANGUPS_PER_KIND: usize = 400;
/// Rounds of hang-ups.
const ROUNDS: usize = 3;
/// Normal requests after the hang-ups; each must be answered within [`ANSWER_DEADLINE`].
const NORMAL_REQUESTS: usize = 10;
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

/// 3 rounds of 400 submits, 400 reads and 400 aborts whose clients close the connection
/// right after sending leave the API answering each next submit, read and abort within 5 s,
/// and every workflow written is due (for a worker) or ended.
async fn hung_up_requests_leave_the_api_answering(db: TestDb) {
    let app = App::new(db).await;
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound address");
    let serve = axum::serve(listener, app.router());
    let server = tokio::spawn(async move { serve.await });
    let mut ids = Vec::new();
    for _ in 0..HANGUPS_PER_KIND {
        let new = crate::support::purchase("purchase", 1, 1);
        let submitted = app.store.submit(&app.registry, &new).await.expect("submit");
        ids.push(submitted.id.to_string());
    }

    for _ in 0..ROUNDS {
        let body = purchase("purchase", 1, 1).to_string();
        let mut requests: Vec<String> = (0..HANGUPS_PER_KIND)
            .map(|_| raw_request("POST", "/v1/workflows", &body))
            .collect();
        requests.extend(
            ids.iter()
                .map(|id| raw_request("GET", &format!("/v1/workflows/{id}"), "")),
        );
        requests.extend(
            ids.iter()
                .map(|id| raw_request("POST", &format!("/v1/workflows/{id}/abort"), "")),
        );
        hang_up(addr, requests).await;
    }

    for n in 0..NORMAL_REQUESTS {
        let body = purchase("purchase", 1, 1).to_string();
        let (status, submitted) = answer(addr, "POST", "/v1/workflows", &body).await;
        assert_eq!(status, 201, "submit {n} after the hang-ups: {submitted}");
        let id = submitted["id"].as_str().expect("an id").to_owned();
        let (status, read) = answer(addr, "GET", &format!("/v1/workflows/{id}"), "").await;
        assert_eq!(
            (status, &read["status"]),
            (200, &json!("pending")),
            "read {n}: {read}"
        );
        let (status, aborted) =
            answer(addr, "POST", &format!("/v1/workflows/{id}/abort"), "").await;
        assert_eq!(
            (status, aborted),
            (200, json!({"id": id, "status": "compensated"})),
            "abort {n}"
        );
    }

    let orphans = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM workflows w WHERE w.run_at IS NULL \
             AND w.status NOT IN ('completed', 'compensated', 'failed')",
        )
        .await;
    assert_eq!(orphans, 0, "every workflow written is due or ended");
    server.abort();
}

/// One complete HTTP/1.1 request; `Connection: close` so that reading to the end reads one
/// answer.
fn raw_request(method: &str, path: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Sends every request on a connection of its own, all at once, and closes each connection
/// right after its last byte is written.
async fn hang_up(addr: SocketAddr, requests: Vec<String>) {
    let mut sent = JoinSet::new();
    for request in requests {
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

/// Sends one request and reads its answer: the status and the JSON body. Fails the test when
/// no answer comes within [`ANSWER_DEADLINE`].
async fn answer(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let request = raw_request(method, path, body);
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send the request");
        let mut bytes = Vec::new();
        stream
            .read_to_end(&mut bytes)
            .await
            .expect("read the answer");
        bytes
    };
    let bytes = tokio::time::timeout(ANSWER_DEADLINE, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer within 5 s"));
    let text = String::from_utf8(bytes).expect("a UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let json = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    (status, json)
}
