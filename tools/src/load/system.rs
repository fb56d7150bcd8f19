//! The system under load: a running API given by `--api` (and its services by `--services`),
//! or one the load command starts itself — the whole `dev` system in this process, or the
//! services and the API in this process with `sagaflow worker` child processes (so a
//! worker's own memory and CPU can be measured).
//!
//! Startup only: how load is offered lives in `drive`.

use anyhow::Context;
use engine::api::{ApiConfig, ApiState, Watcher};
use roles::dev::{Dev, DevConfig, Urls};
use roles::WorkerTuning;
use roles::{load_registry, open_store};
use services::Service;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use tokio::task::JoinHandle;
use worker::{Services, Wake};

/// How a self-started system is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    /// Everything in this process, like `sagaflow dev`.
    InProcess,
    /// Services and API in this process, workers as `sagaflow worker` child processes.
    Processes,
}

/// What to start when no `--api` is given.
#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// A MySQL server (`mysql://user@host:port`): databases `sagaflow_load_{saga,user,payment,
    /// order}` are recreated on it. Without it: fresh SQLite files in `data_dir`.
    pub mysql_url: Option<String>,
    pub data_dir: PathBuf,
    pub topology: Topology,
    /// Worker processes (with [`Topology::Processes`]).
    pub workers: usize,
    pub tuning: WorkerTuning,
    pub redis_url: Option<String>,
    /// The `sagaflow` binary for worker processes (default: this executable).
    pub worker_bin: Option<PathBuf>,
}

/// A system the load test can reach.
pub struct Target {
    pub api: String,
    pub services: Services,
    /// Process ids of worker processes, to measure.
    pub worker_pids: Vec<u32>,
    pub topology: &'static str,
    pub backend: &'static str,
    running: Running,
}

enum Running {
    External,
    Dev(Box<Dev>),
    Processes(Processes),
}

struct Processes {
    services: Vec<services::Running>,
    server: JoinHandle<std::io::Result<()>>,
    poller: JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
    children: Vec<Child>,
}

impl Target {
    /// A running system: nothing to start or stop.
    pub fn external(api: &str, services: Services) -> Target {
        Target {
            api: api.trim_end_matches('/').to_owned(),
            services,
            worker_pids: Vec::new(),
            topology: "external",
            backend: "unknown",
            running: Running::External,
        }
    }

    /// Starts a fresh system as `config` says.
    pub async fn start(config: &SystemConfig) -> anyhow::Result<Target> {
        let urls = fresh_databases(config).await?;
        let backend = if config.mysql_url.is_some() {
            "mysql"
        } else {
            "sqlite"
        };
        match config.topology {
            Topology::InProcess => {
                let dev = Dev::start(DevConfig {
                    urls,
                    listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                    redis_url: config.redis_url.clone(),
                    registry: Arc::new(load_registry(None)?),
                    tuning: config.tuning.clone(),
                })
                .await?;
                let mut services = Services::default();
                for s in Service::ALL {
                    services.insert(s.name(), dev.service_url(s));
                }
                Ok(Target {
                    api: dev.api_url(),
                    services,
                    worker_pids: Vec::new(),
                    topology: "in-process",
                    backend,
                    running: Running::Dev(Box::new(dev)),
                })
            }
            Topology::Processes => start_processes(config, urls, backend).await,
        }
    }

    /// Stops whatever [`Target::start`] started.
    pub async fn stop(self) -> anyhow::Result<()> {
        match self.running {
            Running::External => {}
            Running::Dev(dev) => {
                dev.stop().await?;
            }
            Running::Processes(mut p) => {
                for child in &mut p.children {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                let _ = p.stop.send(());
                p.poller.abort();
                p.server.await.context("api")??;
                for running in p.services {
                    running.stop().await?;
                }
            }
        }
        Ok(())
    }
}

/// The four database URLs, on fresh databases.
async fn fresh_databases(config: &SystemConfig) -> anyhow::Result<Urls> {
    match &config.mysql_url {
        Some(server) => {
            let server = server.trim_end_matches('/');
            for name in ["saga", "user", "payment", "order"] {
                crate::procs::recreate_mysql_database(server, &format!("sagaflow_load_{name}"))
                    .await?;
            }
            let db = |name: &str| format!("{server}/sagaflow_load_{name}");
            Ok(Urls {
                saga: db("saga"),
                user: db("user"),
                payment: db("payment"),
                order: db("order"),
            })
        }
        None => {
            let dir = config.data_dir.join("load");
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("clearing {}", dir.display()))?;
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok(Urls::sqlite(&dir))
        }
    }
}

/// Services and API here, `config.workers` worker processes.
async fn start_processes(
    config: &SystemConfig,
    urls: Urls,
    backend: &'static str,
) -> anyhow::Result<Target> {
    let mut running = Vec::new();
    let mut services = Services::default();
    for (service, url) in [
        (Service::User, &urls.user),
        (Service::Payment, &urls.payment),
        (Service::Order, &urls.order),
    ] {
        engine::store::ensure_database(url)
            .await
            .with_context(|| format!("creating {url}"))?;
        let mut c = services::Config::new(url.clone());
        c.admin_enabled = true;
        let state = services::AppState::connect(service, &c, None).await?;
        let r = services::spawn(state, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        services.insert(service.name(), r.url());
        running.push(r);
    }
    let store = open_store(&urls.saga, 16).await?;
    let watcher = Watcher::new();
    // Without Redis the API learns that a workflow finished only by polling.
    let poll_ms = if config.redis_url.is_some() { 20 } else { 5 };
    let poller = watcher.spawn_poller(store.clone(), poll_ms);
    let mut state = ApiState::new(
        store,
        Arc::new(load_registry(None)?),
        ApiConfig::default(),
        watcher.clone(),
    );
    if let Some(redis) = &config.redis_url {
        worker::wake::forward_finished(redis, move |id, status| {
            watcher.notify_finished(id, status)
        })?;
        let wake = Wake::with_redis(redis)?;
        state = state.with_on_submit(Arc::new(move || wake.notify()));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve = axum::serve(listener, engine::api::router(state)).with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    let server = tokio::spawn(async move { serve.await });
    let flag = Service::ALL
        .map(|s| format!("{}={}", s.name(), services.get(s.name()).expect("started")))
        .join(",");
    let children = (0..config.workers.max(1))
        .map(|i| spawn_worker(config, &urls.saga, &flag, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Target {
        api,
        services,
        worker_pids: children.iter().map(Child::id).collect(),
        topology: "processes",
        backend,
        running: Running::Processes(Processes {
            services: running,
            server,
            poller,
            stop,
            children,
        }),
    })
}

fn spawn_worker(
    config: &SystemConfig,
    saga: &str,
    services: &str,
    i: usize,
) -> anyhow::Result<Child> {
    let exe = match &config.worker_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe().context("locating the sagaflow binary")?,
    };
    let t = &config.tuning;
    let mut command = Command::new(&exe);
    command.args(["worker", "--database-url", saga, "--services", services]);
    command.args(["--worker-id", &format!("load-{i}")]);
    command.args(t.to_flags());
    if let Some(redis) = &config.redis_url {
        command.args(["--redis-url", redis]);
    }
    command
        .env("RUST_LOG", "warn")
        .spawn()
        .with_context(|| format!("starting {} worker", exe.display()))
}
