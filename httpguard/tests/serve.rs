//! `httpguard::serve` over real sockets with a tiny router: the connection cap holds new
//! connections back until one closes, and a graceful shutdown lets the request in flight
//! finish; with TLS, handshakes run in the connection's task within the header timeout, a
//! plain-HTTP client is disconnected, and a client CA makes client certificates required.
//! (The timeouts and the in-flight cap on the real API and services:
//! `cli/tests/it/guard.rs`.)

use axum::routing::get;
use axum::Router;
use httpguard::Limits;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use testkit::certs::{Pair, Pki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio_rustls::TlsConnector;

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
    let server = tokio::spawn(httpguard::serve(listener, router, limits, None, async {
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
        None,
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
    let server = tokio::spawn(httpguard::serve(listener, router, limits, None, async {
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

// --- TLS -----------------------------------------------------------------------------------

/// A server with TLS (and with `mtls`, client certificates of the test CA required) on a
/// tiny router; the PKI, the address, the stop handle and the server task.
struct TlsServer {
    pki: Pki,
    addr: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TlsServer {
    async fn start(limits: Limits, mtls: bool) -> TlsServer {
        let pki = Pki::new();
        let config = httpguard::tls::server_config(
            pki.server_issued.cert_pem.as_bytes(),
            pki.server_issued.key_pem.as_bytes(),
            mtls.then_some(pki.ca_pem.as_bytes()),
        )
        .unwrap();
        let (listener, addr) = listener().await;
        let router = Router::new().route("/", get(|| async { "hello" }));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(httpguard::serve(
            listener,
            router,
            limits,
            Some(config),
            async {
                let _ = stopped.await;
            },
        ));
        TlsServer {
            pki,
            addr,
            stop,
            task,
        }
    }

    /// A client trusting `ca` (PEM file), presenting `identity` when given.
    fn connector(ca: &Path, identity: Option<&Pair>) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        for cert in httpguard::tls::certificates(&std::fs::read(ca).unwrap()).unwrap() {
            roots.add(cert).unwrap();
        }
        let builder = ClientConfig::builder_with_provider(httpguard::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(pair) => {
                let chain =
                    httpguard::tls::certificates(&std::fs::read(&pair.cert).unwrap()).unwrap();
                let key = httpguard::tls::private_key(&std::fs::read(&pair.key).unwrap()).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
        };
        TlsConnector::from(Arc::new(config))
    }

    /// `GET /` over TLS with `connector`: the whole answer, or the error that ended it.
    async fn ask(&self, connector: &TlsConnector) -> std::io::Result<String> {
        let tcp = TcpStream::connect(&self.addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await?;
        tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = String::new();
        tls.read_to_string(&mut answer).await?;
        Ok(answer)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

fn served(answer: &std::io::Result<String>) -> bool {
    matches!(answer, Ok(a) if a.starts_with("HTTP/1.1 200") && a.ends_with("hello"))
}

#[tokio::test]
async fn a_tls_client_trusting_the_ca_is_served_and_one_trusting_another_ca_is_not() {
    let server = TlsServer::start(Limits::default(), false).await;
    let trusting = TlsServer::connector(&server.pki.ca, None);
    let answer = server.ask(&trusting).await;
    assert!(served(&answer), "{answer:?}");
    let wrong = TlsServer::connector(&server.pki.other_ca, None);
    let answer = server.ask(&wrong).await;
    let err = answer.expect_err("a server certificate of an unknown CA is refused");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn a_plain_http_client_on_a_tls_port_gets_no_answer_but_a_closed_connection() {
    let server = TlsServer::start(Limits::default(), false).await;
    let mut stream = TcpStream::connect(&server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // At most a TLS alert, then the end of the stream (or a reset): never an HTTP answer.
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection");
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{read:?} {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(answer.len() < 64, "{answer:?}");
    // The server still serves TLS clients.
    let answer = server
        .ask(&TlsServer::connector(&server.pki.ca, None))
        .await;
    assert!(served(&answer), "{answer:?}");
    server.stop().await;
}

/// A client that connects and never sends its ClientHello holds its connection (and its place
/// under the cap) only until the header-read timeout; meanwhile the accept loop goes on
/// accepting and serving others, as the handshake runs in the connection's own task.
#[tokio::test]
async fn a_stalled_handshake_is_closed_at_the_header_timeout_without_blocking_accepts() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(500),
        connections_max: 2,
        ..Limits::default()
    };
    let server = TlsServer::start(limits, false).await;
    let mut stalled = TcpStream::connect(&server.addr).await.unwrap();
    let stalled_at = std::time::Instant::now();
    let answer = server
        .ask(&TlsServer::connector(&server.pki.ca, None))
        .await;
    assert!(
        served(&answer),
        "served while a handshake stalls: {answer:?}"
    );
    assert!(
        stalled_at.elapsed() < Duration::from_millis(450),
        "served before the stalled handshake timed out"
    );
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut buf))
        .await
        .expect("the stalled connection is closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        stalled_at.elapsed() >= Duration::from_millis(400),
        "closed at the timeout, not before"
    );
    server.stop().await;
}

/// TLS connections count against the cap as plain ones do: with a cap of one, a second TLS
/// client waits while a first, stalled one holds the only place, and is served once it is
/// closed at the header timeout.
#[tokio::test]
async fn tls_connections_count_against_the_connection_cap() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(800),
        connections_max: 1,
        ..Limits::default()
    };
    let server = TlsServer::start(limits, false).await;
    let _stalled = TcpStream::connect(&server.addr).await.unwrap();
    let stalled_at = std::time::Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        server.ask(&TlsServer::connector(&server.pki.ca, None)),
    )
    .await
    .expect("served once the stalled connection is closed");
    assert!(served(&answer), "{answer:?}");
    assert!(
        stalled_at.elapsed() >= Duration::from_millis(700),
        "served only once the stalled connection left the cap: {:?}",
        stalled_at.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn with_a_client_ca_only_clients_with_a_certificate_of_that_ca_are_served() {
    let server = TlsServer::start(Limits::default(), true).await;
    let ca = &server.pki.ca;
    let answer = server
        .ask(&TlsServer::connector(ca, Some(&server.pki.client)))
        .await;
    assert!(served(&answer), "{answer:?}");
    for (who, identity) in [
        ("no certificate", None),
        ("another CA's certificate", Some(&server.pki.stranger)),
    ] {
        let answer = server.ask(&TlsServer::connector(ca, identity)).await;
        assert!(
            !served(&answer) && answer.as_ref().map_or(true, String::is_empty),
            "{who}: {answer:?}"
        );
    }
    server.stop().await;
}
