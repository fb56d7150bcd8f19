//! Protection of the HTTP servers (docs/api.md, "Protection against slow, idle and too many
//! clients") on a whole `dev` system over real sockets: thousands of stalled connections are
//! closed at the header timeout while a normal request is answered; the in-flight cap sheds
//! with 503 `OVERLOADED` and counts it; a stalled body is answered 408 at the body timeout;
//! the per-caller submit rate answers 429 `RATE_LIMITED`. The API and a participant service.

use crate::support::{fast_registry, fast_tuning, Databases, TestDb};
use engine::api::SubmitRate;
use httpguard::Limits;
use sagaflow::dev::{Dev, DevConfig};
use serde_json::{json, Value};
use services::Service;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Stalled connections per server when the open-file limit allows (each takes two
/// descriptors in this process: the client's and the server's end).
const STALLED: u64 = 2_500;

/// A system with these limits, submit rate and tokens.
/// (The databases must outlive the system: keep the second value.)
async fn start(
    limits: Limits,
    submit_rate: Option<SubmitRate>,
    tokens: &[&str],
) -> (Dev, Databases) {
    let dbs = Databases::fresh(TestDb::sqlite("guard")).await;
    let config = DevConfig {
        registry: fast_registry(),
        tuning: fast_tuning(),
        api_tokens: tokens.iter().map(|t| (*t).to_owned()).collect(),
        http: limits,
        submit_rate,
        ..DevConfig::new(dbs.urls())
    };
    (Dev::start(config).await.expect("system starts"), dbs)
}

/// How many stalled connections this process can hold: [`STALLED`], or fewer when the
/// open-file limit cannot be raised enough (leaving room for the databases and clients).
fn stalled_budget() -> u64 {
    let limit = rlimit::increase_nofile_limit(4 * STALLED + 1_000).unwrap_or(1_024);
    STALLED.min(limit.saturating_sub(1_000) / 2)
}

fn host(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (0 or an error); `false` if `deadline`
/// comes first.
async fn closed_by(mut stream: TcpStream, deadline: tokio::time::Instant) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_elapsed) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// One raw HTTP answer: status, headers (lower-case names) and body, read to the end of the
/// connection (the requests here send `Connection: close` or are closed by the server).
async fn read_answer(stream: &mut TcpStream, within: Duration) -> (u16, String, String) {
    let mut raw = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole answer");
    let status = head
        .split(' ')
        .nth(1)
        .expect("status")
        .parse()
        .expect("a number");
    (status, head.to_lowercase(), body.to_owned())
}

/// The value of the series `name` (exactly, labels included) in `base`'s `/metrics`.
async fn metric(client: &reqwest::Client, base: &str, series: &str) -> f64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_stalled_connections_are_closed_at_the_header_timeout_and_others_served() {
    let stalled = stalled_budget();
    let header_timeout = Duration::from_secs(4);
    let limits = Limits {
        header_read_timeout: header_timeout,
        ..Limits::default()
    };
    let (system, _dbs) = start(limits, None, &[]).await;
    let client = reqwest::Client::new();
    let targets = [
        ("API", system.api_url(), "/v1/workflow-types"),
        (
            "user service",
            system.service_url(Service::User),
            "/healthz",
        ),
    ];
    for (what, base, path) in targets {
        let addr = host(&base);
        let opened = Instant::now();
        let mut streams = Vec::new();
        for _ in 0..stalled {
            let mut stream = TcpStream::connect(&addr).await.expect("connect");
            // Half a request: the request line and part of a header, then nothing.
            stream
                .write_all(b"POST /v1/workflows HTTP/1.1\r\nHost: x\r\nContent-Ty")
                .await
                .expect("write");
            streams.push(stream);
        }
        let all_open = opened.elapsed();

        let asked = Instant::now();
        let answer = tokio::time::timeout(
            header_timeout.mul_f64(0.75),
            client.get(format!("{base}{path}")).send(),
        )
        .await
        .unwrap_or_else(|_| panic!("{what}: a normal request waited behind {stalled} stalled"))
        .expect("answered");
        assert_eq!(answer.status(), 200, "{what}");
        let answered = asked.elapsed();

        // Every stalled connection is closed by the server: within the header timeout of its
        // own start, observed here with a generous margin for a loaded machine.
        let deadline = tokio::time::Instant::now() + header_timeout + Duration::from_secs(15);
        let closes =
            futures::future::join_all(streams.into_iter().map(|s| closed_by(s, deadline))).await;
        let all_closed = opened.elapsed();
        let still_open = closes.iter().filter(|closed| !**closed).count();
        assert_eq!(still_open, 0, "{what}: stalled connections still open");
        eprintln!(
            "{what}: {stalled} stalled connections opened in {all_open:?}; a normal request \
             answered in {answered:?}; all closed {all_closed:?} after the first opened \
             (header timeout {header_timeout:?})"
        );
    }
    system.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_cap_sheds_with_503_and_a_stalled_body_times_out_with_an_answer() {
    let limits = Limits {
        requests_in_flight_max: 1,
        body_read_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let (system, _dbs) = start(limits, None, &[]).await;
    let client = reqwest::Client::new();
    let api = system.api_url();
    let user = system.service_url(Service::User);
    let targets = [
        (
            "API",
            &api,
            "/v1/workflows",
            "/v1/workflows",
            "http_requests_shed_total",
        ),
        (
            "user service",
            &user,
            "/balance/try",
            "/healthz-not-exempt",
            "tcc_requests_shed_total{service=\"user\"}",
        ),
    ];
    for (what, base, body_route, other, series) in targets {
        let shed_before = metric(&client, &api, series).await;
        // One request holds the only slot: its body never comes.
        let head = format!(
            "POST {body_route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 64\r\nConnection: close\r\n\r\n{{"
        );
        let hold = || async {
            let mut holder = TcpStream::connect(host(base)).await.expect("connect");
            holder.write_all(head.as_bytes()).await.expect("write");
            holder
        };
        let mut holder = hold().await;

        // Once it holds the slot, any other request is shed at once. If the holder arrived
        // while one of these requests had the slot, it was the one shed (it has an answer or
        // was closed): it holds again, on a new connection.
        let deadline = Instant::now() + Duration::from_secs(10);
        let shed = loop {
            let answer = client
                .get(format!("{base}{other}"))
                .send()
                .await
                .expect("answer");
            if answer.status() == 503 {
                break answer;
            }
            let mut peek = [0u8; 1];
            match holder.try_read(&mut peek) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                _ => holder = hold().await,
            }
            assert!(Instant::now() < deadline, "{what}: nothing was shed");
        };
        assert_eq!(shed.headers()["retry-after"], "1", "{what}");
        let body: Value = shed.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "OVERLOADED", "{what}: {body}");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        // Probes and metrics are never shed, and the shed request was counted.
        let health = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200, "{what}: /healthz is never shed");
        let shed_after = metric(&client, &api, series).await;
        assert!(
            shed_after > shed_before,
            "{what}: {series} {shed_before} -> {shed_after}"
        );

        // The stalled body is answered at the body-read timeout, which frees the slot.
        let (status, _, body) = read_answer(&mut holder, Duration::from_secs(15)).await;
        if what == "API" {
            assert_eq!(status, 408, "{what}: {body}");
            let body: Value = serde_json::from_str(&body).expect("JSON");
            assert_eq!(body["error"]["code"], "BODY_TIMEOUT", "{body}");
        } else {
            assert!((400..500).contains(&status), "{what}: {status} {body}");
        }
        let after = client.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(after.status(), 200);
        let served = client.get(format!("{base}{other}")).send().await.unwrap();
        assert_ne!(served.status(), 503, "{what}: the slot came back");
    }
    system.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submits_over_a_callers_rate_are_429_and_let_in_after_the_announced_wait() {
    let one = NonZeroU32::new(1).unwrap();
    let rate = SubmitRate::new(one, Duration::from_secs(1)).with_burst(NonZeroU32::new(2).unwrap());
    let (system, _dbs) = start(Limits::default(), Some(rate), &["alice", "bob"]).await;
    let client = reqwest::Client::new();
    let api = system.api_url();
    let submit = |token: &'static str| {
        let body = json!({"type": "purchase", "input": {
            "user_id": 1, "product_id": 1, "quantity": 1, "payment_method_id": 1}});
        client
            .post(format!("{api}/v1/workflows"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let limited_before = metric_with_token(&client, &api, "alice").await;
    assert_eq!(submit("alice").await.unwrap().status(), 201);
    assert_eq!(submit("alice").await.unwrap().status(), 201);
    let refused = submit("alice").await.unwrap();
    assert_eq!(refused.status(), 429, "the burst of two is spent");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED", "{body}");

    // Another caller has its own budget; reads by the limited caller are not limited.
    assert_eq!(
        submit("bob").await.unwrap().status(),
        201,
        "bob is not alice"
    );
    let list = client
        .get(format!("{api}/v1/workflows"))
        .bearer_auth("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200, "reads are not rate limited");
    let limited_after = metric_with_token(&client, &api, "alice").await;
    assert!(
        limited_after > limited_before,
        "{limited_before} -> {limited_after}"
    );

    // After the wait the server announced, alice is let in again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(
        submit("alice").await.unwrap().status(),
        201,
        "let in after Retry-After"
    );
    system.stop().await.expect("stops");
}

/// `http_submits_rate_limited_total` from an API that asks for a token.
async fn metric_with_token(client: &reqwest::Client, api: &str, token: &str) -> f64 {
    let text = client
        .get(format!("{api}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("http_submits_rate_limited_total ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}
