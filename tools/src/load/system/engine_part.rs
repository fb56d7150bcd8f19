//! The engine of a self-started system: its API and worker pool in this process (as
//! `sagaflow dev` runs them), or a `sagaflow server` process and `sagaflow worker` processes.
//! Either way the saga database is migrated here first.

use super::{SystemConfig, Topology};
use crate::load::breakers::MetricsSource;
use crate::load::resources::Pids;
use anyhow::Context;
use engine::api::{ApiConfig, ApiState, Watcher};
use engine::runner::Runner;
use roles::{load_registry, open_store};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use worker::{HttpExecutor, Services, Totals, Wake};

/// How long a server process gets to answer `/healthz` after it started.
const SERVER_READY_WITHIN: Duration = Duration::from_secs(30);
/// How often its readiness is asked for meanwhile.
const SERVER_READY_POLL: Duration = Duration::from_millis(50);

pub(super) struct EnginePart {
    /// `http://…` of the API.
    pub(super) api: String,
    running: Running,
}

enum Running {
    InProcess {
        stop: watch::Sender<bool>,
        pool: JoinHandle<Totals>,
        server: JoinHandle<std::io::Result<()>>,
        sampler: JoinHandle<()>,
        /// The worker's breakers.
        breakers: MetricsSource,
    },
    Processes {
        server: Child,
        workers: Vec<Child>,
        /// Each worker's metrics endpoint.
        metrics: Vec<String>,
    },
}

impl EnginePart {
    pub(super) async fn start(
        config: &SystemConfig,
        saga: &str,
        services: &Services,
    ) -> anyhow::Result<EnginePart> {
        match config.topology {
            Topology::InProcess => in_process(config, saga, services).await,
            Topology::Processes => processes(config, saga, services).await,
        }
    }

    pub(super) fn pids(&self) -> Pids {
        match &self.running {
            Running::InProcess { .. } => Pids::default(),
            Running::Processes {
                server, workers, ..
            } => Pids {
                server: Some(server.id()),
                workers: workers.iter().map(Child::id).collect(),
            },
        }
    }

    /// Where the workers' metrics are: this process's recorder, or each worker process's.
    pub(super) fn metrics_sources(&self) -> Vec<MetricsSource> {
        match &self.running {
            Running::InProcess { breakers, .. } => vec![breakers.clone()],
            Running::Processes { metrics, .. } => {
                metrics.iter().cloned().map(MetricsSource::Url).collect()
            }
        }
    }

    /// Drains the in-process pool and stops the API, or kills the processes.
    pub(super) async fn stop(self) -> anyhow::Result<()> {
        match self.running {
            Running::InProcess {
                stop,
                pool,
                server,
                sampler,
                ..
            } => {
                let _ = stop.send(true);
                sampler.abort();
                pool.await.context("worker pool")?;
                server.await.context("api")??;
            }
            Running::Processes {
                mut server,
                mut workers,
                ..
            } => {
                for child in workers.iter_mut().chain(std::iter::once(&mut server)) {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        Ok(())
    }
}

/// API and worker pool in this process, wired as `roles::dev` wires them.
async fn in_process(
    config: &SystemConfig,
    saga: &str,
    services: &Services,
) -> anyhow::Result<EnginePart> {
    let registry = Arc::new(load_registry(None)?);
    let tuning = &config.tuning;
    let store = open_store(saga, (tuning.concurrency * 2 + 8) as u32).await?;
    let wake = match &config.redis_url {
        Some(url) => Wake::with_redis(url).context("--redis-url")?,
        None => Wake::local(),
    };
    let watcher = Watcher::new();
    let _ = roles::telemetry::metrics();
    let sampler = roles::telemetry::spawn_backlog_sampler(store.clone(), Duration::from_secs(2));
    let executor = Arc::new(
        tuning
            .protection
            .protect(HttpExecutor::new(services.clone()), services),
    );
    let breakers = MetricsSource::local(executor.clone());
    let runner = Runner::new(
        store.clone(),
        registry.clone(),
        executor.clone(),
        tuning.runner_config("load".into()),
    )
    .with_on_finished(watcher.on_finished());
    let (stop, stopped) = watch::channel(false);
    let pool = tokio::spawn(worker::run(
        runner,
        tuning.pool_config(false),
        wake.clone(),
        wait_true(stopped.clone()),
    ));
    let state = ApiState::new(store, registry, ApiConfig::default(), watcher)
        .with_on_submit(Arc::new(move || wake.notify()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    let serve = axum::serve(listener, engine::api::router(state))
        .with_graceful_shutdown(wait_true(stopped));
    let server = tokio::spawn(async move { serve.await });
    Ok(EnginePart {
        api,
        running: Running::InProcess {
            stop,
            pool,
            server,
            sampler,
            breakers,
        },
    })
}

async fn wait_true(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|stop| *stop).await;
}

/// One `sagaflow server` process and `config.workers` `sagaflow worker` processes.
async fn processes(
    config: &SystemConfig,
    saga: &str,
    services: &Services,
) -> anyhow::Result<EnginePart> {
    open_store(saga, 2).await?;
    let flag = services::Service::ALL
        .map(|s| format!("{}={}", s.name(), services.get(s.name()).expect("started")))
        .join(",");
    let (mut server, api) = spawn_server(config, saga)?;
    if let Err(err) = ready(&mut server, &api).await {
        let _ = server.kill();
        let _ = server.wait();
        return Err(err);
    }
    let (mut workers, mut metrics) = (Vec::new(), Vec::new());
    for i in 0..config.workers.max(1) {
        match spawn_worker(config, saga, &flag, i) {
            Ok((child, url)) => {
                workers.push(child);
                metrics.push(url);
            }
            Err(err) => {
                for mut child in workers.into_iter().chain(std::iter::once(server)) {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(err);
            }
        }
    }
    Ok(EnginePart {
        api,
        running: Running::Processes {
            server,
            workers,
            metrics,
        },
    })
}

fn binary(config: &SystemConfig) -> anyhow::Result<std::path::PathBuf> {
    match &config.worker_bin {
        Some(bin) => Ok(bin.clone()),
        None => std::env::current_exe().context("locating the sagaflow binary"),
    }
}

/// `sagaflow server` on a free port of 127.0.0.1 (asked of the OS, then handed over).
fn spawn_server(config: &SystemConfig, saga: &str) -> anyhow::Result<(Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port for the server")?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let exe = binary(config)?;
    let mut command = Command::new(&exe);
    command.args(["server", "--database-url", saga, "--listen", &listen]);
    if let Some(redis) = &config.redis_url {
        command.args(["--redis-url", redis]);
    }
    let child = command
        .env("RUST_LOG", "warn")
        .spawn()
        .with_context(|| format!("starting {} server", exe.display()))?;
    Ok((child, format!("http://{listen}")))
}

/// Waits until the server answers `/healthz`; fails when it exits or takes too long.
async fn ready(server: &mut Child, api: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(SERVER_READY_POLL * 10)
        .build()?;
    let deadline = Instant::now() + SERVER_READY_WITHIN;
    loop {
        if let Some(status) = server.try_wait()? {
            anyhow::bail!("the server process exited at start: {status}");
        }
        let answered = client.get(format!("{api}/healthz")).send().await;
        if answered.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the server at {api} did not answer /healthz within {SERVER_READY_WITHIN:?}"
        );
        tokio::time::sleep(SERVER_READY_POLL).await;
    }
}

/// A `sagaflow worker` process with its metrics on a free port of 127.0.0.1; returns it and
/// that endpoint's URL.
fn spawn_worker(
    config: &SystemConfig,
    saga: &str,
    services: &str,
    i: usize,
) -> anyhow::Result<(Child, String)> {
    let exe = binary(config)?;
    let t = &config.tuning;
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port for a worker's metrics")?;
    let mut command = Command::new(&exe);
    command.args(["worker", "--database-url", saga, "--services", services]);
    command.args(["--worker-id", &format!("load-{i}")]);
    command.args(["--metrics-listen", &metrics.to_string()]);
    command.args(t.to_flags());
    if let Some(redis) = &config.redis_url {
        command.args(["--redis-url", redis]);
    }
    let child = command
        .env("RUST_LOG", "warn")
        .spawn()
        .with_context(|| format!("starting {} worker", exe.display()))?;
    Ok((child, format!("http://{metrics}")))
}
