//! Serving an axum [`Router`] so that slow, idle or too many clients cannot exhaust the
//! process: [`serve`] runs its own accept loop over hyper's HTTP/1 connection builder instead
//! of `axum::serve`, which exposes none of these knobs (and, with no timer, never times a
//! connection out). Shared by the engine's API and the three participant services.
//!
//! What [`Limits`] bounds:
//! - **header read**: a connection must deliver a whole request head within
//!   `header_read_timeout` of starting to wait for it, else hyper closes it. hyper starts that
//!   clock whenever the connection waits for a request, so it is also the longest a keep-alive
//!   connection may sit idle between requests (there is no separate idle clock in hyper).
//! - **body read**: reading a request body may go silent at most `body_read_timeout` between
//!   two chunks (tower-http's `RequestBodyTimeoutLayer`); the body size cap is the app's.
//! - **open connections**: at most `connections_max` at once. At the cap the loop stops
//!   accepting: new connections wait in the kernel's backlog until one closes.
//! - **requests in flight**: [`InFlight`] (a middleware the app adds, since the refusal is the
//!   app's JSON error) answers at once when `requests_in_flight_max` are being handled; a
//!   handler that waits for long without working (a long poll) gives its slot back with
//!   [`Slot::release`].
//!
//! - **TLS** (optional, [`tls`]): the handshake runs in the connection's task within the
//!   header-read timeout; a TLS connection counts against the connection cap like any other.
//!
//! Graceful shutdown as with `axum::serve`: stop accepting, let requests in flight finish.

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub mod tls;
pub use tls::TlsError;

/// How long a pause after an accept error such as "too many open files" before accepting
/// again (the same as `axum::serve`).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The bounds of one server (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub connections_max: usize,
    pub requests_in_flight_max: usize,
}

impl Limits {
    /// Header read (and keep-alive idle) timeout unless configured.
    pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Longest silence while a body is read unless configured.
    pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// Open connections unless configured.
    pub const CONNECTIONS_MAX: usize = 10_000;
    /// Requests handled at once unless configured.
    pub const REQUESTS_IN_FLIGHT_MAX: usize = 1024;
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Limits::HEADER_READ_TIMEOUT,
            body_read_timeout: Limits::BODY_READ_TIMEOUT,
            connections_max: Limits::CONNECTIONS_MAX,
            requests_in_flight_max: Limits::REQUESTS_IN_FLIGHT_MAX,
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then stops
/// accepting and waits for the open connections' requests to finish (idle connections close
/// at once). Each request carries the peer's [`ConnectInfo<SocketAddr>`] as an extension.
/// HTTP/1.1 only (every client of this system speaks it; the header timeout is HTTP/1's).
///
/// With `tls` (see [`tls::server_config`]) every connection is TLS: the handshake runs in the
/// connection's own task, never in the accept loop (a client that stalls mid-handshake cannot
/// hold up accepting), within `header_read_timeout`, and the connection counts against
/// `connections_max` from its accept, as a plain one does. A client that does not speak TLS
/// (plain HTTP) fails the handshake and is disconnected without an HTTP answer.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_read_timeout,
    ));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let open = Arc::new(Semaphore::new(limits.connections_max.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<_>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            tower::ServiceExt::oneshot(router.clone(), request)
        });
        // Watched from now on: a shutdown during a handshake waits for that connection too.
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            // A client's error (a header timeout, a reset, a failed handshake) is the
            // client's: nothing to report above debug.
            let served = match acceptor {
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let connection =
                                builder.serve_connection(TokioIo::new(stream), service);
                            watcher.watch(connection).await
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(error = %err, %peer, "TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(err) = served {
                tracing::debug!(error = %err, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The response to a request shed at the in-flight cap.
pub type Shed = Arc<dyn Fn() -> Response + Send + Sync>;

/// The cap on requests in flight: add [`limit_in_flight`] with this as its state.
#[derive(Clone)]
pub struct InFlight {
    slots: Arc<Semaphore>,
    shed: Shed,
    exempt: &'static [&'static str],
}

impl InFlight {
    /// At most `max` requests at once (at least one); `shed` answers the others at once
    /// (and counts them).
    pub fn new(max: usize, shed: Shed) -> InFlight {
        InFlight {
            slots: Arc::new(Semaphore::new(max.max(1))),
            shed,
            exempt: &[],
        }
    }

    /// Never sheds requests for these exact paths (nor counts them): probes and scraping.
    pub fn exempt(mut self, paths: &'static [&'static str]) -> InFlight {
        self.exempt = paths;
        self
    }

    /// Slots free right now.
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("available", &self.available())
            .finish()
    }
}

/// A request's slot under the in-flight cap, in its extensions. Held until the response is
/// made, unless the handler gives it back first.
#[derive(Clone, Debug)]
pub struct Slot(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl Slot {
    /// Gives the slot back before the request ends: for a handler about to wait without
    /// working (a `?wait=` long poll), which must not count as load for that long.
    pub fn release(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// The middleware: takes a slot and runs the request, or answers `shed()` when none is free.
pub async fn limit_in_flight(
    State(limit): State<InFlight>,
    mut request: Request,
    next: Next,
) -> Response {
    if limit.exempt.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(permit) = limit.slots.clone().try_acquire_owned() else {
        return (limit.shed)();
    };
    let slot = Slot(Arc::new(Mutex::new(Some(permit))));
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    drop(slot);
    response
}

/// True when `error` (say, a body extractor's rejection) comes from the body-read timeout of
/// [`serve`]: the client went silent while sending its body.
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}
