//! `sagaflow dev`: the whole system in one process — the three participant services, the
//! saga database, an in-process worker pool and the HTTP API — on SQLite files (no server
//! needed) or on a MySQL server. Also what `demo` and the end-to-end tests start.

use crate::settings::{HttpLimits, JwtArgs, ServerTls, SubmitRateArgs, WorkerTuning};
use crate::telemetry::{metrics, metrics_render, shutdown_signal};
use crate::{load_registry, open_store};
use anyhow::Context;
use engine::api::{ApiConfig, ApiState, Watcher};
use engine::runner::Runner;
use engine::Registry;
use services::Service;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use worker::{HttpExecutor, Services, Totals, Wake};

/// Flags of `sagaflow dev`.
#[derive(clap::Args, Debug, Clone)]
pub struct DevArgs {
    /// HTTP address of the API.
    #[arg(long, env = "SAGAFLOW_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub databases: Databases,
    /// Redis for wake-ups (optional; in one process an in-memory signal does the same).
    #[arg(long, env = "SAGAFLOW_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Directory of workflow definitions (default: the built-in ones).
    #[arg(long, env = "SAGAFLOW_WORKFLOWS")]
    pub workflows_dir: Option<PathBuf>,
    /// Comma-separated bearer tokens; when set, every route but /healthz, /readyz and the
    /// console's files (/ui/) needs one, as on `sagaflow server`.
    #[arg(long, env = "SAGAFLOW_API_TOKENS", hide_env_values = true)]
    pub api_tokens: Option<String>,
    #[command(flatten)]
    pub tuning: WorkerTuning,
    #[command(flatten)]
    pub http: HttpLimits,
    #[command(flatten)]
    pub submit_rate: SubmitRateArgs,
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// HTTPS for the API (the in-process services stay plain HTTP on 127.0.0.1: only this
    /// process calls them).
    #[command(flatten)]
    pub tls: ServerTls,
}

/// Where `dev` and `demo` keep their four databases.
#[derive(clap::Args, Debug, Clone)]
pub struct Databases {
    /// Run on this MySQL server instead of SQLite: databases saga_orchestrator, user_service,
    /// payment_service and order_service on it (created if missing). A server URL
    /// (`mysql://user@host:port`), not one database's: hence no `--database-url` alias, which
    /// elsewhere names one database and, in `reconcile`, is a flag of its own.
    #[arg(long, env = "SAGAFLOW_MYSQL_URL")]
    pub mysql_url: Option<String>,
    /// Directory of the SQLite files.
    #[arg(long, env = "SAGAFLOW_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// The four database URLs of a whole system.
#[derive(Debug, Clone)]
pub struct Urls {
    pub saga: String,
    pub user: String,
    pub payment: String,
    pub order: String,
}

impl Urls {
    /// SQLite files in `dir`.
    pub fn sqlite(dir: &Path) -> Urls {
        let file = |name: &str| format!("sqlite://{}", dir.join(format!("{name}.db")).display());
        Urls {
            saga: file("saga"),
            user: file("user"),
            payment: file("payment"),
            order: file("order"),
        }
    }

    /// The scenario's four databases (docs/scenario.md) on one MySQL server (`mysql://user@host:port`).
    pub fn mysql(server: &str) -> Urls {
        let server = server.trim_end_matches('/');
        let db = |name: &str| format!("{server}/{name}");
        Urls {
            saga: db("saga_orchestrator"),
            user: db("user_service"),
            payment: db("payment_service"),
            order: db("order_service"),
        }
    }

    pub fn of(databases: &Databases) -> Urls {
        match &databases.mysql_url {
            Some(server) => Urls::mysql(server),
            None => Urls::sqlite(&databases.data_dir),
        }
    }

    fn service(&self, service: Service) -> &str {
        match service {
            Service::User => &self.user,
            Service::Payment => &self.payment,
            Service::Order => &self.order,
        }
    }
}

/// What one in-process system is made of.
#[derive(Clone)]
pub struct DevConfig {
    pub urls: Urls,
    pub listen: SocketAddr,
    pub redis_url: Option<String>,
    pub registry: Arc<Registry>,
    pub tuning: WorkerTuning,
    /// Bearer tokens the API asks for; empty: none.
    pub api_tokens: Vec<String>,
    /// JWTs the API accepts (with the tokens, if any); `None`: none.
    pub jwt: Option<engine::api::Jwt>,
    /// Timeouts and caps of the API's and the services' HTTP servers.
    pub http: httpguard::Limits,
    /// Per-caller submit rate of the API; `None`: no limit.
    pub submit_rate: Option<engine::api::SubmitRate>,
    /// HTTPS (and with a client CA, mTLS) for the API; `None`: plain HTTP. The in-process
    /// services are plain HTTP on 127.0.0.1 either way.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl DevConfig {
    /// A system on `urls` with the shipped workflow types and default tuning, its API on a
    /// free port of 127.0.0.1, without Redis, auth, TLS or a submit rate: set the fields
    /// that differ.
    pub fn new(urls: Urls) -> DevConfig {
        DevConfig {
            urls,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            redis_url: None,
            registry: Arc::new(Registry::shipped()),
            tuning: WorkerTuning::default(),
            api_tokens: Vec::new(),
            jwt: None,
            http: httpguard::Limits::default(),
            submit_rate: None,
            tls: None,
        }
    }
}

/// A running in-process system.
pub struct Dev {
    api: SocketAddr,
    https: bool,
    services: Vec<(Service, services::Running)>,
    stop: watch::Sender<bool>,
    pool: JoinHandle<Totals>,
    server: JoinHandle<std::io::Result<()>>,
    sampler: JoinHandle<()>,
}

impl Dev {
    /// Starts services, worker pool and API; returns once all of them listen. Worker settings
    /// that cannot work are refused first (see `roles::ConfigError`).
    pub async fn start(config: DevConfig) -> anyhow::Result<Dev> {
        config.tuning.validate(
            &config.registry,
            &|name| name.parse::<Service>().is_ok(),
            "the in-process system (user, payment, order)",
        )?;
        let mut running = Vec::new();
        let mut map = Services::default();
        for service in [Service::User, Service::Payment, Service::Order] {
            let url = config.urls.service(service);
            engine::store::ensure_database(url)
                .await
                .with_context(|| format!("creating {url}"))?;
            let mut c = services::Config::new(url);
            c.admin_enabled = true;
            c.limits = config.http;
            let state = services::AppState::connect(service, &c, Some(metrics())).await?;
            let r = services::spawn(state, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            map.insert(service.name(), r.url());
            running.push((service, r));
        }
        let store = open_store(
            &config.urls.saga,
            (config.tuning.concurrency * 2 + 8) as u32,
        )
        .await?;
        let wake = match &config.redis_url {
            Some(url) => Wake::with_redis(url).context("SAGAFLOW_REDIS_URL")?,
            None => Wake::local(),
        };
        let watcher = Watcher::new();
        let _ = metrics();
        engine::metrics::worker_up();
        let sampler = crate::telemetry::spawn_backlog_sampler(
            store.clone(),
            std::time::Duration::from_secs(2),
        );
        let executor = config
            .tuning
            .protection
            .protect(HttpExecutor::new(map.clone()), &map);
        let runner = Runner::new(
            store.clone(),
            config.registry.clone(),
            Arc::new(executor),
            config.tuning.runner_config("dev".into()),
        )
        .with_on_finished(watcher.on_finished());
        let (stop, stopped) = watch::channel(false);
        let pool = tokio::spawn(worker::run(
            runner,
            config.tuning.pool_config(false),
            wake.clone(),
            wait_true(stopped.clone()),
        ));
        let api_config = ApiConfig {
            tokens: config.api_tokens.clone(),
            jwt: config.jwt.clone(),
            requests_in_flight_max: config.http.requests_in_flight_max,
            submit_rate: config.submit_rate,
            ..ApiConfig::default()
        };
        let state = ApiState::new(store, config.registry.clone(), api_config, watcher)
            .with_local_workers()
            .with_metrics(metrics_render())
            .with_on_submit(Arc::new(move || wake.notify()));
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let api = listener.local_addr()?;
        let https = config.tls.is_some();
        let serve = httpguard::serve(
            listener,
            engine::api::router(state),
            config.http,
            config.tls.clone(),
            wait_true(stopped),
        );
        let server = tokio::spawn(serve);
        Ok(Dev {
            api,
            https,
            services: running,
            stop,
            pool,
            server,
            sampler,
        })
    }

    /// `http://{addr}` of the API (`https://` with TLS).
    pub fn api_url(&self) -> String {
        format!("{}://{}", crate::settings::scheme(self.https), self.api)
    }

    /// Base URL of one participant service.
    pub fn service_url(&self, service: Service) -> String {
        self.services
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, r)| r.url())
            .expect("every service runs")
    }

    /// Drains the worker pool, then stops the API and the services.
    pub async fn stop(self) -> anyhow::Result<Totals> {
        let _ = self.stop.send(true);
        self.sampler.abort();
        let totals = self.pool.await.context("worker pool")?;
        self.server.await.context("api")??;
        for (_, r) in self.services {
            r.stop().await?;
        }
        Ok(totals)
    }
}

async fn wait_true(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|stop| *stop).await;
}

/// `sagaflow dev`: runs until SIGINT/SIGTERM.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let registry = Arc::new(load_registry(args.workflows_dir.as_ref())?);
    args.http.validate()?;
    let tls = args.tls.load()?;
    let urls = Urls::of(&args.databases);
    let config = DevConfig {
        urls,
        listen: args.listen,
        redis_url: args.redis_url.clone(),
        registry,
        tuning: args.tuning.clone(),
        api_tokens: crate::settings::api_tokens(args.api_tokens.as_deref())?,
        jwt: args.jwt.jwt()?,
        http: args.http.limits(),
        submit_rate: args.submit_rate.rate(),
        tls,
    };
    let dev = Dev::start(config).await?;
    // Before the announcement: a SIGTERM right after it is a graceful stop too.
    let shutdown = shutdown_signal();
    println!("sagaflow dev: API on {}", dev.api_url());
    for service in [Service::User, Service::Payment, Service::Order] {
        println!("  {:<8} {}", service.name(), dev.service_url(service));
    }
    println!("  console  {}/ui/", dev.api_url());
    println!("  metrics  {}/metrics", dev.api_url());
    shutdown.await;
    dev.stop().await?;
    Ok(())
}
