//! One participant process: which service it is, its configuration and shared state, the
//! router (service routes behind fault injection, health, metrics, admin when enabled) and
//! serving it until shutdown. Not the command line: the CLI builds a [`Config`].

use std::{fmt, future::Future, io, net::SocketAddr, str::FromStr, sync::Arc};

use axum::{
    extract::State,
    http::StatusCode,
    middleware,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::migrate::Migrator;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    db::{self, Backend, Db},
    faults::{self, Faults, Injector},
    http, order, payment, user,
};

/// Database connections per MySQL pool unless configured.
pub const DB_CONNECTIONS_MAX_DEFAULT: u32 = 16;

/// Why a service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Db(#[from] db::Error),
    #[error("invalid fault settings: {0}")]
    Faults(#[from] faults::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("server failed: {0}")]
    Serve(#[source] io::Error),
    #[error("unknown service {0:?} (expected user, payment or order)")]
    UnknownService(String),
    #[error("reading the ledger failed: {0}")]
    Read(#[source] sqlx::Error),
}

/// One of the three participants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    User,
    Payment,
    Order,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::User, Service::Payment, Service::Order];

    pub fn name(self) -> &'static str {
        match self {
            Service::User => "user",
            Service::Payment => "payment",
            Service::Order => "order",
        }
    }

    /// The service's migrations in the backend's dialect (embedded at compile time).
    pub fn migrator(self, backend: Backend) -> &'static Migrator {
        match self {
            Service::User => user::migrator(backend),
            Service::Payment => payment::migrator(backend),
            Service::Order => order::migrator(backend),
        }
    }

    fn routes(self) -> Router<AppState> {
        match self {
            Service::User => user::routes(),
            Service::Payment => payment::routes(),
            Service::Order => order::routes(),
        }
    }

    fn admin_routes(self) -> Router<AppState> {
        match self {
            Service::User => user::admin_routes(),
            Service::Payment => payment::admin_routes(),
            Service::Order => order::admin_routes(),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Service {
    type Err = Error;

    fn from_str(name: &str) -> Result<Service, Error> {
        Service::ALL
            .into_iter()
            .find(|service| service.name() == name)
            .ok_or_else(|| Error::UnknownService(name.to_owned()))
    }
}

/// What one service process needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// `mysql://…/user_service` or `sqlite://…` (created and migrated when missing).
    pub database_url: String,
    pub listen: SocketAddr,
    /// Mounts `/admin/*` (bulk creation, ledger totals, faults); otherwise they are 404.
    pub admin_enabled: bool,
    pub faults: Faults,
    /// Seed of the fault dice; `None` draws one from the OS.
    pub fault_seed: Option<u64>,
    pub db_connections_max: u32,
    /// Timeouts and caps of the HTTP server (`httpguard`): slow or too many clients.
    pub limits: httpguard::Limits,
    /// HTTPS (and with a client CA, mTLS) when set: `httpguard::tls::server_config`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Config {
    /// Safe defaults: a free port on localhost, admin off, no faults.
    pub fn new(database_url: impl Into<String>) -> Config {
        Config {
            database_url: database_url.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_enabled: false,
            faults: Faults::default(),
            fault_seed: None,
            db_connections_max: DB_CONNECTIONS_MAX_DEFAULT,
            limits: httpguard::Limits::default(),
            tls: None,
        }
    }
}

/// Opens a service's database (creating it when missing) and applies its migrations, which
/// also insert the seed data.
pub async fn connect_and_migrate(
    service: Service,
    url: &str,
    connections_max: u32,
) -> Result<Db, Error> {
    let db = Db::connect(url, connections_max).await?;
    let migrator = service.migrator(db.backend());
    crate::migrations::adopt_reworded(db.pool(), db.backend(), migrator)
        .await
        .map_err(|e| crate::db::Error::Migrate(e.into()))?;
    db.migrate(migrator).await?;
    Ok(db)
}

/// What every handler of one service shares.
#[derive(Clone, Debug)]
pub struct AppState {
    service: Service,
    db: Db,
    faults: Injector,
    metrics: Option<PrometheusHandle>,
    admin_enabled: bool,
    limits: httpguard::Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    in_flight: httpguard::InFlight,
}

impl AppState {
    /// Connects, migrates and sets up fault injection. `metrics` renders `GET /metrics`; the
    /// binary installs the recorder.
    pub async fn connect(
        service: Service,
        config: &Config,
        metrics: Option<PrometheusHandle>,
    ) -> Result<AppState, Error> {
        let db =
            connect_and_migrate(service, &config.database_url, config.db_connections_max).await?;
        let faults = Injector::new(service.name(), config.faults, config.fault_seed)?;
        let name = service.name();
        let shed: httpguard::Shed = Arc::new(move || {
            crate::observe::shed(name);
            http::overloaded()
        });
        let in_flight =
            httpguard::InFlight::new(config.limits.requests_in_flight_max, shed).exempt(NEVER_SHED);
        Ok(AppState {
            service,
            db,
            faults,
            metrics,
            admin_enabled: config.admin_enabled,
            limits: config.limits,
            tls: config.tls.clone(),
            in_flight,
        })
    }

    pub fn service(&self) -> Service {
        self.service
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn faults(&self) -> &Injector {
        &self.faults
    }
}

/// Paths the in-flight cap never sheds: the health probe and the metrics.
const NEVER_SHED: &[&str] = &["/healthz", "/metrics"];

/// The service's whole HTTP surface. Each request runs in a task of its own ([`http::detach`]):
/// a client that hangs up does not cut a handler short.
pub fn router(state: AppState) -> Router {
    let service = state.service;
    let participant = service.routes().route_layer(middleware::from_fn_with_state(
        state.faults.clone(),
        faults::inject,
    ));
    let mut router = Router::new()
        .merge(participant)
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics));
    if state.admin_enabled {
        router = router
            .merge(service.admin_routes())
            .route("/admin/faults", get(faults::get).put(faults::put))
            .route("/admin/faults/counts", get(faults::counts));
    }
    let in_flight = state.in_flight.clone();
    router
        .fallback(http::not_found)
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            in_flight,
            httpguard::limit_in_flight,
        ))
        .layer(middleware::from_fn(http::detach))
}

/// `GET /healthz`: 200 when the database answers and, on a Galera node, is synced.
async fn healthz(
    State(app): State<AppState>,
) -> Result<axum::Json<serde_json::Value>, http::Error> {
    match app.db.ready().await {
        Ok(()) => Ok(axum::Json(
            serde_json::json!({ "status": "ok", "service": app.service.name() }),
        )),
        Err(why) => {
            tracing::warn!(reason = %why, "health check failed");
            Err(http::Error::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "database unreachable or not synced",
            ))
        }
    }
}

/// `GET /metrics` in the Prometheus text format (empty without a recorder).
async fn render_metrics(State(app): State<AppState>) -> Response {
    let body = app
        .metrics
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
}

/// A service serving in the background.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    tls: bool,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`, or `https://{addr}` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server.
    pub async fn stop(self) -> Result<(), Error> {
        // A send error means the server already stopped; the join below reports why.
        let _ = self.shutdown.send(());
        match self.task.await {
            Ok(served) => served.map_err(Error::Serve),
            Err(join) => Err(Error::Serve(io::Error::other(join))),
        }
    }
}

/// Binds `listen` (port 0 picks a free one) and serves `state` in a background task.
pub async fn spawn(state: AppState, listen: SocketAddr) -> Result<Running, Error> {
    let (shutdown, stopped) = oneshot::channel::<()>();
    let listener = bind(listen).await?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: listen,
        source,
    })?;
    let limits = state.limits;
    let tls = state.tls.clone();
    let https = tls.is_some();
    let serve = httpguard::serve(listener, router(state), limits, tls, async {
        // Either a stop request or a dropped handle ends the server.
        let _ = stopped.await;
    });
    let task = tokio::spawn(serve);
    Ok(Running {
        addr,
        tls: https,
        shutdown,
        task,
    })
}

/// Runs one service until `shutdown` completes: `sagaflow service user|payment|order`.
pub async fn run(
    service: Service,
    config: Config,
    metrics: Option<PrometheusHandle>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let state = AppState::connect(service, &config, metrics).await?;
    let listener = bind(config.listen).await?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{addr}");
    tracing::info!(service = service.name(), %addr, %url, admin = config.admin_enabled, "service listening");
    let limits = state.limits;
    let tls = state.tls.clone();
    httpguard::serve(listener, router(state), limits, tls, shutdown)
        .await
        .map_err(Error::Serve)?;
    tracing::info!(service = service.name(), "service stopped");
    Ok(())
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}
