//! The system under load: a running API given by `--api` (and its services by `--services`),
//! or one the load command starts itself on fresh databases. A self-started system is the
//! participants (the three services, or the lean participant playing all three), always in
//! this process, and the engine: its API and worker pool in this process too
//! (`--topology in-process`, like `sagaflow dev`), or a `sagaflow server` child process and
//! `sagaflow worker` child processes (`--topology processes`, so that each one's CPU and
//! memory can be measured apart).
//!
//! Startup only: how load is offered lives in `drive`.

mod engine_part;
mod participants;

use crate::load::breakers::MetricsSource;
use crate::load::resources::Pids;
use crate::participant::Participant;
use anyhow::Context;
use engine_part::EnginePart;
use participants::Participants;
use roles::dev::Urls;
use roles::WorkerTuning;
use std::path::PathBuf;
use worker::Services;

/// How a self-started system is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    /// Everything in this process, like `sagaflow dev`.
    InProcess,
    /// Participants in this process; the API as a `sagaflow server` child process and the
    /// workers as `sagaflow worker` child processes.
    Processes,
}

/// What to start when no `--api` is given.
#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// A MySQL server (`mysql://user@host:port`): databases `<prefix>_{saga,user,payment,
    /// order}` (or `<prefix>_{saga,lean}`) are recreated on it. Without it: fresh SQLite
    /// files in `data_dir`.
    pub mysql_url: Option<String>,
    pub data_dir: PathBuf,
    /// The MySQL databases' common prefix (`sagaflow_load`).
    pub database_prefix: String,
    pub topology: Topology,
    pub participant: Participant,
    /// Worker processes (with [`Topology::Processes`]).
    pub workers: usize,
    pub tuning: WorkerTuning,
    pub redis_url: Option<String>,
    /// The `sagaflow` binary for server and worker processes (default: this executable).
    pub worker_bin: Option<PathBuf>,
}

/// A system the load test can reach.
pub struct Target {
    pub api: String,
    pub services: Services,
    /// The server and worker processes, to measure.
    pub pids: Pids,
    pub topology: &'static str,
    pub backend: &'static str,
    /// Where the workers' metrics are read (their circuit breakers are charted).
    pub worker_metrics: Vec<MetricsSource>,
    running: Option<(Participants, EnginePart)>,
}

impl Target {
    /// A running system: nothing to start or stop.
    pub fn external(api: &str, services: Services) -> Target {
        Target {
            api: api.trim_end_matches('/').to_owned(),
            services,
            pids: Pids::default(),
            topology: "external",
            backend: "unknown",
            worker_metrics: Vec::new(),
            running: None,
        }
    }

    /// The external system's workers' metrics endpoints.
    pub fn with_worker_metrics(mut self, urls: &[String]) -> Target {
        self.worker_metrics = urls
            .iter()
            .map(|u| MetricsSource::Url(u.trim_end_matches('/').to_owned()))
            .collect();
        self
    }

    /// Starts a fresh system as `config` says.
    pub async fn start(config: &SystemConfig) -> anyhow::Result<Target> {
        let databases = fresh_databases(config).await?;
        let backend = if config.mysql_url.is_some() {
            "mysql"
        } else {
            "sqlite"
        };
        let participants = Participants::start(config.participant, &databases).await?;
        let services = participants.services();
        let engine = match EnginePart::start(config, &databases.urls.saga, &services).await {
            Ok(engine) => engine,
            Err(err) => {
                let _ = participants.stop().await;
                return Err(err);
            }
        };
        Ok(Target {
            api: engine.api.clone(),
            services,
            pids: engine.pids(),
            worker_metrics: engine.metrics_sources(),
            topology: match config.topology {
                Topology::InProcess => "in-process",
                Topology::Processes => "processes",
            },
            backend,
            running: Some((participants, engine)),
        })
    }

    /// The lean participant's ledger, when this run started one.
    pub fn lean_url(&self) -> Option<String> {
        match &self.running {
            Some((Participants::Lean(lean), _)) => Some(lean.url()),
            _ => None,
        }
    }

    /// Stops whatever [`Target::start`] started: the engine first, then the participants.
    pub async fn stop(self) -> anyhow::Result<()> {
        if let Some((participants, engine)) = self.running {
            engine.stop().await?;
            participants.stop().await?;
        }
        Ok(())
    }
}

/// Where a system's databases are: the saga database and the participants' (the lean
/// participant's in `lean`).
#[derive(Debug, Clone)]
pub struct Databases {
    pub urls: Urls,
    pub lean: String,
}

/// The database URLs, on fresh databases (only those the participant uses are recreated).
async fn fresh_databases(config: &SystemConfig) -> anyhow::Result<Databases> {
    let names: &[&str] = match config.participant {
        Participant::Services => &["saga", "user", "payment", "order"],
        Participant::Lean => &["saga", "lean"],
    };
    match &config.mysql_url {
        Some(server) => {
            let server = server.trim_end_matches('/');
            let prefix = &config.database_prefix;
            for name in names {
                crate::procs::recreate_mysql_database(server, &format!("{prefix}_{name}")).await?;
            }
            let db = |name: &str| format!("{server}/{prefix}_{name}");
            Ok(Databases {
                urls: Urls {
                    saga: db("saga"),
                    user: db("user"),
                    payment: db("payment"),
                    order: db("order"),
                },
                lean: db("lean"),
            })
        }
        None => {
            let dir = config.data_dir.join("load");
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("clearing {}", dir.display()))?;
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok(Databases {
                urls: Urls::sqlite(&dir),
                lean: format!("sqlite://{}", dir.join("lean.db").display()),
            })
        }
    }
}
