//! `httpguard::serve` over real sockets with a tiny router: the connection cap holds new
//! connections back until one closes, and a graceful shutdown lets the request in flight
//! finish. (The timeouts and the in-flight cap on the real API and services:
//! `cli/tests/it/guard.rs`.)

use axum::routing::get;
use axum::Router;
use httpguard::Limits;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// Sends `GET path` with `Connection: close` and reads the whole answer.
async fn ask(stream: &mut TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn at_the_connection_cap_a_new_connection_waits_until_one_closes() {
    let (listener, addr) = listener().await;
    let router = Router::new().route("/", get(|| async { "hello" }));
    let limits = Limits {
        connections_max: 2,
        header_read_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(httpguard::serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    // Two idle connections fill the cap (the server accepted both: each one answers).
    let mut first = TcpStream::connect(&addr).await.unwrap();
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    assert!(first.read(&mut buf).await.unwrap() > 0, "first served");
    let mut second = TcpStream::connect(&addr).await.unwrap();
    second
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(second.read(&mut buf).await.unwrap() > 0, "second served");

    // A third connects (the kernel's backlog takes it) but is not served...
    let mut third = TcpStream::connect(&addr).await.unwrap();
    let answer = tokio::spawn(async move { ask(&mut third, "/").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!answer.is_finished(), "served past the cap");
    // ...until one of the others closes.
    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(second);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_graceful_shutdown_lets_the_request_in_flight_finish() {
    let (listener, addr) = listener().await;
    let release = std::sync::Arc::new(Notify::new());
    let entered = std::sync::Arc::new(Notify::new());
    let (r, e) = (release.clone(), entered.clone());
    let router = Router::new().route(
        "/slow",
        get(move || {
            let (r, e) = (r.clone(), e.clone());
            async move {
                e.notify_one();
                r.notified().await;
                "done"
            }
        }),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(httpguard::serve(
        listener,
        router,
        Limits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let answer = tokio::spawn(async move { ask(&mut stream, "/slow").await });
    entered.notified().await;
    let _ = stop.send(());
    // The server waits for the request in flight; new connections are no longer accepted.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!server.is_finished(), "stopped with a request in flight");
    release.notify_one();
    let answer = tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .expect("answered")
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"),
        "{answer}"
    );
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server ends once the request is done")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_header_timeout() {
    let (listener, addr) = listener().await;
    let router = Router::new().route("/", get(|| async { "hello" }));
    let limits = Limits {
        header_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(httpguard::serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).await.unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"),
        "{answer}"
    );
    // The connection is kept alive, then closed by the server once idle for the timeout.
    let idle = std::time::Instant::now();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("closed while idle");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        idle.elapsed() >= Duration::from_millis(400),
        "kept alive first"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
