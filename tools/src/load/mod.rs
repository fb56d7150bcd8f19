//! `sagaflow load`: load tests through the HTTP API. Runs one or more profiles (open loop at
//! a fixed arrival rate, closed loop at a fixed concurrency) with a mix of purchase cases,
//! optionally with transient faults injected into the payment service, waits until every
//! submitted workflow is terminal (with a deadline), and writes a results directory:
//! `summary.json`, `workflows.csv`, `retries.csv`, PNG charts and `index.html`.
//!
//! Starts its own system (everything in process, or with server and worker processes; the
//! three services or the lean participant) unless given `--api`. With `--baseline`, also
//! measures the no-engine baseline of the same participant and, per profile, the engine's
//! own share of a saga's cost (profile minus baseline). Not a test of correctness under
//! crashes (that is `chaos`); figures, not assertions.

pub mod against;
pub mod breakers;
pub mod charts;
pub mod collect;
pub mod counters_table;
pub mod drive;
pub mod output;
pub mod profile;
pub mod resources;
mod run;
pub mod seed;
pub mod share;
pub mod stats;
mod summary;
pub mod system;

use crate::participant::Participant;
use anyhow::Context;
use clap::Parser;
use output::RunSummary;
use profile::{Choice, Mix, Profile};
use roles::duration::{self, HumanDuration};
use stats::ProfileSummary;
use std::path::PathBuf;
use system::{SystemConfig, Target, Topology};
use worker::Services;

/// Why a load run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Profile(#[from] profile::Error),
    #[error("the `{0}` service is unknown: with --api, pass --services user=…,payment=…,order=… (admin endpoints on)")]
    NoService(String),
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{url} answered {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("--worker-concurrency must be at least 1 (no claim loop would run)")]
    NoWorkerConcurrency,
    #[error("--participant lean starts its own participant: not with --api")]
    LeanExternal,
    #[error("--participant lean injects no faults: --faults needs --participant services")]
    LeanFaults,
    #[error(transparent)]
    Setting(#[from] roles::ConfigError),
    #[error("seeding through the admin API returned unexpected ids")]
    Seed,
    #[error("drawing a chart: {0}")]
    Chart(String),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Flags of `sagaflow load`.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Which profile(s) to run.
    #[arg(long, value_enum, default_value_t = Choice::Light)]
    pub profile: Choice,
    /// Open loop at this many submits per second (overrides the profile's load).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Closed loop with this many clients (overrides the profile's load).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// How long each profile offers load, overriding the profile's (a bare number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = duration::seconds)]
    pub duration: Option<HumanDuration>,
    /// Weights of the purchase cases, in percent.
    #[arg(
        long,
        default_value = "success=85,insufficient=5,out_of_stock=5,invalid_payment=5"
    )]
    pub mix: Mix,
    /// Transient error rate (0..1) injected into the payment service during the run.
    #[arg(long, default_value_t = 0.0)]
    pub faults: f64,
    /// Use this running API instead of starting a system.
    #[arg(long, env = "SAGAFLOW_API")]
    pub api: Option<String>,
    /// With --api: where the services are (their admin endpoints seed the run).
    #[arg(long, env = "SAGAFLOW_SERVICES")]
    pub services: Option<String>,
    /// With --api: the workers' metrics endpoints (`http://host:port`, comma-separated), whose
    /// circuit breakers are charted over the run (a self-started system's are always read).
    #[arg(long, value_delimiter = ',')]
    pub worker_metrics: Vec<String>,
    /// With --api: its bearer token and the CA of an https:// API (roles::client).
    #[command(flatten)]
    pub client: roles::client::ApiClientArgs,
    /// Start the system on this MySQL server (databases sagaflow_load_* are recreated);
    /// also reads its counters. Default: SQLite files under --data-dir/load.
    #[arg(long, env = "SAGAFLOW_MYSQL_URL")]
    pub mysql_url: Option<String>,
    /// Where the self-started system keeps its SQLite files (in a `load` subdirectory).
    #[arg(long, env = "SAGAFLOW_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Results directory (default: load-results/<UTC date-time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Layout of the self-started system.
    #[arg(long, value_enum, default_value_t = Topology::InProcess)]
    pub topology: Topology,
    /// Participants of the self-started system (and of its baseline): the three services, or
    /// one lean participant answering for all three (a barrier insert and one conditional
    /// update per call).
    #[arg(long, value_enum, default_value_t = Participant::Services)]
    pub participant: Participant,
    /// Worker processes, with --topology processes.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Claim loops per worker (pool) of the self-started system.
    #[arg(long, default_value_t = worker::defaults::CONCURRENCY)]
    pub worker_concurrency: usize,
    /// Most activities a worker claims per batch.
    #[arg(long, default_value_t = worker::defaults::CLAIM_BATCH)]
    pub claim_batch_max: u32,
    /// Redis for wake-ups in the self-started system.
    #[arg(long, env = "SAGAFLOW_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Rich buyers seeded for the run.
    #[arg(long, default_value_t = 1000)]
    pub buyers: usize,
    /// Stocked products seeded for the run (1: every purchase locks the same stock row).
    #[arg(long, default_value_t = 1)]
    pub products: usize,
    /// Seed of the case choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// After the load, how long to wait for workflows to become terminal (a bare number is
    /// seconds).
    #[arg(
        long,
        visible_alias = "finish-timeout-s",
        value_name = "DURATION",
        value_parser = duration::seconds,
        default_value_t = HumanDuration::from_secs(120)
    )]
    pub finish_timeout: HumanDuration,
    /// Also measure the no-engine baseline (the participant calls made directly) in the same
    /// run, with as many clients as the heavy profile, and the engine's share per profile
    /// (services: MariaDB only, needs --mysql-url; lean: MariaDB or SQLite).
    #[arg(long)]
    pub baseline: bool,
    /// Purchases the baseline makes.
    #[arg(long, default_value_t = 10_000)]
    pub baseline_purchases: usize,
    /// The `sagaflow` binary for server and worker processes (default: this executable).
    #[arg(long, hide = true)]
    pub worker_bin: Option<PathBuf>,
    /// Prefix of the MySQL databases of the self-started system (tests use their own).
    #[arg(long, hide = true, default_value = "sagaflow_load")]
    pub database_prefix: String,
}

impl LoadArgs {
    /// Parses the flags of `sagaflow load` (for tests and tools that build a run in code).
    pub fn from_flags<'a>(
        flags: impl IntoIterator<Item = &'a str>,
    ) -> Result<LoadArgs, clap::Error> {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: LoadArgs,
        }
        let argv = std::iter::once("load").chain(flags);
        Wrapper::try_parse_from(argv).map(|w| w.args)
    }

    /// Refuses worker settings of the self-started system that cannot work (nothing to check
    /// with --api: that system is someone else's).
    pub fn validate(&self) -> Result<(), Error> {
        if self.participant == Participant::Lean {
            if self.api.is_some() {
                return Err(Error::LeanExternal);
            }
            if self.faults > 0.0 {
                return Err(Error::LeanFaults);
            }
        }
        if self.api.is_some() {
            return Ok(());
        }
        if self.worker_concurrency == 0 {
            return Err(Error::NoWorkerConcurrency);
        }
        system_config(self).tuning.validate(
            &engine::Registry::shipped(),
            &|name| name.parse::<services::Service>().is_ok(),
            "the self-started system (user, payment, order)",
        )?;
        Ok(())
    }
}

/// What a run produced.
pub struct Finished {
    pub dir: PathBuf,
    pub summary: RunSummary,
}

/// `sagaflow load`.
pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let finished = execute(args).await?;
    print!("{}", output::table(&finished.summary));
    println!("results: {}/index.html", finished.dir.display());
    Ok(())
}

/// Runs the load test and writes its results directory.
pub async fn execute(args: LoadArgs) -> anyhow::Result<Finished> {
    args.validate()?;
    let duration = args.duration.map(HumanDuration::get);
    let profiles = profile::plan(args.profile, args.rate, args.concurrency, duration)?;
    let dir = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("load-results").join(chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string())
    });
    let started_at = chrono::Utc::now().to_rfc3339();
    let target = match &args.api {
        Some(api) => {
            let services = Services::parse(args.services.as_deref().unwrap_or(""))?;
            Target::external(api, services).with_worker_metrics(&args.worker_metrics)
        }
        None => Target::start(&system_config(&args)).await?,
    };
    let result = run::run_profiles(&args, &target, profiles).await;
    let ledger = match (&result, target.lean_url()) {
        (Ok((_, summaries, _)), Some(url)) => Some(against::lean_ledger(&url, summaries).await),
        _ => None,
    };
    target.stop().await.context("stopping the system")?;
    let (records, mut summaries, breaker_samples) = result?;
    let mut notes = Vec::new();
    if args.choice_adapts_medium() {
        notes.push("medium ran at half of heavy's measured throughput".into());
    }
    let (baseline, baseline_resources) =
        against::measure_baseline(&args, &summaries, &mut notes).await;
    if let Some(base) = &baseline_resources {
        against::add_shares(&mut summaries, base, &args.mix, &mut notes);
    }
    if args.api.is_some() {
        notes.push("external API: CPU and memory figures cover only the load process".into());
    }
    notes.extend(against::other_clients(
        &summaries,
        baseline_resources.as_ref(),
    ));
    if args.mysql_url.is_some() {
        notes.push(
            "statements, commits, rows written and index reads per saga are MariaDB's \
             server-wide Questions, Com_commit, Handler_write + Handler_update + Handler_delete \
             and Handler_read_key + Handler_read_next deltas: every other client of the server \
             counts too"
                .into(),
        );
    }
    let summary = RunSummary {
        started_at,
        api: args.api.clone().unwrap_or_else(|| "self-started".into()),
        topology: args
            .api
            .as_ref()
            .map_or_else(|| topology_name(&args), |_| "external".into()),
        backend: backend_name(&args),
        participant: args
            .api
            .as_ref()
            .map_or_else(|| args.participant.name().to_owned(), |_| "external".into()),
        mix: args.mix.to_string(),
        payment_error_rate: args.faults,
        seed: args.seed,
        profiles: summaries,
        baseline,
        baseline_resources,
        participant_ledger: ledger,
        breakers: breakers::report(&breaker_samples),
        notes,
    };
    output::write_all(&dir, &summary, &records, &breaker_samples)?;
    Ok(Finished { dir, summary })
}

/// Starts a fresh system as `args` say, runs `profiles` on it in order and stops it: for
/// benchmarks built on the load tool (`sagaflow bench scaling`). No results directory.
pub(crate) async fn on_fresh_system(
    args: &LoadArgs,
    profiles: Vec<Profile>,
) -> anyhow::Result<Vec<ProfileSummary>> {
    args.validate()?;
    let target = Target::start(&system_config(args)).await?;
    let result = run::run_profiles(args, &target, profiles).await;
    target.stop().await.context("stopping the system")?;
    Ok(result?.1)
}

impl LoadArgs {
    /// With `--profile all` and no explicit load, medium follows heavy's throughput.
    fn choice_adapts_medium(&self) -> bool {
        self.profile == Choice::All
    }
}

fn topology_name(args: &LoadArgs) -> String {
    match args.topology {
        Topology::InProcess => "in-process".into(),
        Topology::Processes => format!(
            "processes (a server process, worker processes: {})",
            args.workers.max(1)
        ),
    }
}

fn backend_name(args: &LoadArgs) -> String {
    match (&args.api, &args.mysql_url) {
        (Some(_), _) => "unknown".into(),
        (None, Some(_)) => "mysql".into(),
        (None, None) => "sqlite".into(),
    }
}

fn system_config(args: &LoadArgs) -> SystemConfig {
    let tuning = roles::WorkerTuning {
        concurrency: args.worker_concurrency,
        claim_batch_max: args.claim_batch_max,
        ..roles::WorkerTuning::default()
    };
    SystemConfig {
        mysql_url: args.mysql_url.clone(),
        data_dir: args.data_dir.clone(),
        database_prefix: args.database_prefix.clone(),
        topology: args.topology,
        participant: args.participant,
        workers: args.workers,
        tuning,
        redis_url: args.redis_url.clone(),
        worker_bin: args.worker_bin.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roles::ConfigError;

    #[test]
    fn worker_settings_of_the_self_started_system_that_cannot_work_are_refused() {
        let check = |flags: &[&str]| {
            LoadArgs::from_flags(flags.iter().copied())
                .expect("flags parse")
                .validate()
        };
        assert!(check(&[]).is_ok());
        assert!(check(&["--claim-batch-max", "128", "--worker-concurrency", "1"]).is_ok());
        assert!(matches!(
            check(&["--worker-concurrency", "0"]),
            Err(Error::NoWorkerConcurrency)
        ));
        assert!(matches!(
            check(&["--claim-batch-max", "0"]),
            Err(Error::Setting(ConfigError::ClaimBatch(0)))
        ));
        assert!(matches!(
            check(&["--claim-batch-max", "500", "--topology", "processes"]),
            Err(Error::Setting(ConfigError::ClaimBatch(500)))
        ));
        assert!(
            check(&["--api", "http://127.0.0.1:1", "--worker-concurrency", "0"]).is_ok(),
            "an external system's workers are not this run's to check"
        );
        assert!(check(&["--participant", "lean", "--topology", "processes"]).is_ok());
        assert!(matches!(
            check(&["--participant", "lean", "--api", "http://127.0.0.1:1"]),
            Err(Error::LeanExternal)
        ));
        assert!(matches!(
            check(&["--participant", "lean", "--faults", "0.1"]),
            Err(Error::LeanFaults)
        ));
    }
}
