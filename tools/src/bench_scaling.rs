//! `sagaflow bench scaling`: how throughput and p99 latency move with the sagas in flight
//! (closed-loop clients, 8 to 512 by default) on one system, and with the worker processes
//! (1, 2, 4 with `--topology processes`, a fresh system each) at a fixed number of clients.
//! Each point is a short closed-loop profile of the load tool (`crate::load`: the same
//! system, seeding, driver with its progress bar, and figures); the results are
//! `scaling.json` and `scaling.png` (`load::charts::scaling`).
//!
//! A subcommand of `bench`, not a `load` flag: it starts several systems and writes its own
//! results, and none of `load`'s profile, baseline or output flags would mean anything here.
//! A documented benchmark, not a CI step.

use crate::load::charts::scaling::{self, Point};
use crate::load::profile::{Mix, Mode, Profile};
use crate::load::stats::ProfileSummary;
use crate::load::system::Topology;
use crate::load::LoadArgs;
use crate::participant::Participant;
use anyhow::Context;
use roles::duration::{self, HumanDuration};
use serde::Serialize;
use std::path::PathBuf;

/// Flags of `sagaflow bench scaling`.
#[derive(clap::Args, Debug, Clone)]
pub struct ScalingArgs {
    /// Sagas in flight of the first sweep: closed-loop clients per point (`--clients` with
    /// no value skips the sweep).
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "8,32,128,512")]
    pub clients: Vec<usize>,
    /// Worker processes of the second sweep, a fresh system with --topology processes each
    /// (`--workers` with no value skips the sweep).
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "1,2,4")]
    pub workers: Vec<usize>,
    /// Clients of every point of the worker sweep.
    #[arg(long, default_value_t = 128)]
    pub workers_clients: usize,
    /// How long each point offers load (a bare number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = duration::seconds,
          default_value_t = HumanDuration::from_secs(10))]
    pub point_duration: HumanDuration,
    /// Layout of the system of the clients sweep.
    #[arg(long, value_enum, default_value_t = Topology::Processes)]
    pub topology: Topology,
    /// Worker processes of the clients sweep (with --topology processes).
    #[arg(long, default_value_t = 1)]
    pub clients_sweep_workers: usize,
    /// Participants: the three services or the lean participant.
    #[arg(long, value_enum, default_value_t = Participant::Services)]
    pub participant: Participant,
    /// Weights of the purchase cases (see `sagaflow load --mix`).
    #[arg(long, default_value = "success=100")]
    pub mix: Mix,
    /// MySQL server (databases sagaflow_load_* are recreated); default: SQLite files.
    #[arg(long, env = "SAGAFLOW_MYSQL_URL")]
    pub mysql_url: Option<String>,
    /// Redis for wake-ups.
    #[arg(long, env = "SAGAFLOW_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Where the SQLite files go (in a `load` subdirectory).
    #[arg(long, env = "SAGAFLOW_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Results directory (default: scaling-results/<UTC date-time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Claim loops per worker.
    #[arg(long, default_value_t = worker::defaults::CONCURRENCY)]
    pub worker_concurrency: usize,
    /// Most activities a worker claims per batch.
    #[arg(long, default_value_t = worker::defaults::CLAIM_BATCH)]
    pub claim_batch_max: u32,
    /// The `sagaflow` binary for server and worker processes (default: this executable).
    #[arg(long, hide = true)]
    pub worker_bin: Option<PathBuf>,
    /// Prefix of the MySQL databases (tests use their own).
    #[arg(long, hide = true, default_value = "sagaflow_load")]
    pub database_prefix: String,
}

impl ScalingArgs {
    /// Parses the flags of `sagaflow bench scaling` (for tests and tools that build a run).
    pub fn from_flags<'a>(
        flags: impl IntoIterator<Item = &'a str>,
    ) -> Result<ScalingArgs, clap::Error> {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ScalingArgs,
        }
        let argv = std::iter::once("scaling").chain(flags);
        <Wrapper as clap::Parser>::try_parse_from(argv).map(|w| w.args)
    }
}

/// One point of a sweep, as `scaling.json` holds it.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingPoint {
    pub clients: usize,
    /// Worker processes (`None` in process).
    pub workers: Option<usize>,
    pub submitted: u64,
    pub completed: u64,
    pub unfinished: u64,
    pub throughput_per_s: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Attempts beyond each activity's first (a stall shows here: expired leases retried).
    pub retried_attempts: u64,
    /// CPU of every sagaflow process per saga.
    pub cpu_ms_per_saga: Option<f64>,
    pub statements_per_saga: Option<f64>,
    /// Databases other clients of MariaDB used during the point (their work shares the
    /// machine and the server).
    pub other_databases: Vec<String>,
}

/// `scaling.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingSummary {
    pub started_at: String,
    pub backend: &'static str,
    pub participant: Participant,
    pub mix: String,
    pub point_duration_s: f64,
    pub worker_concurrency: usize,
    pub claim_batch_max: u32,
    pub redis: bool,
    /// Against sagas in flight, on one system.
    pub clients_sweep: Vec<ScalingPoint>,
    /// Against worker processes, a fresh system each, at `workers_clients` clients.
    pub workers_sweep: Vec<ScalingPoint>,
    pub workers_clients: usize,
}

/// `sagaflow bench scaling`.
pub async fn scaling(args: ScalingArgs) -> anyhow::Result<()> {
    let (dir, summary) = execute(args).await?;
    print!("{}", table(&summary));
    println!("results: {}", dir.join("scaling.png").display());
    Ok(())
}

/// Runs both sweeps and writes `scaling.json` and `scaling.png` into the results directory.
pub async fn execute(args: ScalingArgs) -> anyhow::Result<(PathBuf, ScalingSummary)> {
    anyhow::ensure!(
        args.clients.iter().all(|c| *c > 0) && args.workers.iter().all(|w| *w > 0),
        "--clients and --workers take numbers of at least 1"
    );
    anyhow::ensure!(
        args.workers_clients > 0,
        "--workers-clients must be at least 1"
    );
    let dir = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("scaling-results")
            .join(chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string())
    });
    let started_at = chrono::Utc::now().to_rfc3339();
    let total = args.clients.len() + args.workers.len();
    let profiles: Vec<Profile> = (args.clients.iter().enumerate())
        .map(|(i, c)| point_profile(&args, i + 1, total, *c))
        .collect();
    eprintln!(
        "clients sweep: {} points on one system ({:?})",
        profiles.len(),
        args.topology
    );
    let load = load_args(&args, args.topology, args.clients_sweep_workers)?;
    let in_process = args.topology == Topology::InProcess;
    let workers = (!in_process).then_some(args.clients_sweep_workers.max(1));
    let ran = if profiles.is_empty() {
        Vec::new()
    } else {
        crate::load::on_fresh_system(&load, profiles).await?
    };
    let clients_sweep = ran
        .iter()
        .zip(&args.clients)
        .map(|(s, c)| point(s, *c, workers))
        .collect();
    let mut workers_sweep = Vec::new();
    for (i, w) in args.workers.iter().enumerate() {
        let n = args.clients.len() + i + 1;
        eprintln!("workers sweep: {w} worker process(es), a fresh system");
        let load = load_args(&args, Topology::Processes, *w)?;
        let profile = point_profile(&args, n, total, args.workers_clients);
        let ran = crate::load::on_fresh_system(&load, vec![profile]).await?;
        workers_sweep.extend(ran.iter().map(|s| point(s, args.workers_clients, Some(*w))));
    }
    let summary = ScalingSummary {
        started_at,
        backend: if args.mysql_url.is_some() {
            "mysql"
        } else {
            "sqlite"
        },
        participant: args.participant,
        mix: args.mix.to_string(),
        point_duration_s: args.point_duration.get().as_secs_f64(),
        worker_concurrency: args.worker_concurrency,
        claim_batch_max: args.claim_batch_max,
        redis: args.redis_url.is_some(),
        clients_sweep,
        workers_sweep,
        workers_clients: args.workers_clients,
    };
    write(&dir, &summary)?;
    Ok((dir, summary))
}

/// A point's closed-loop profile; its name (the progress bar's prefix) says which of all.
fn point_profile(args: &ScalingArgs, n: usize, total: usize, clients: usize) -> Profile {
    Profile {
        name: format!("{n}/{total}"),
        mode: Mode::Closed {
            concurrency: clients,
        },
        duration: args.point_duration.get(),
    }
}

/// The load tool's settings of one system of the sweep.
fn load_args(args: &ScalingArgs, topology: Topology, workers: usize) -> anyhow::Result<LoadArgs> {
    let mut load = LoadArgs::from_flags([]).context("the load tool's defaults")?;
    load.api = None;
    load.services = None;
    load.mysql_url = args.mysql_url.clone();
    load.redis_url = args.redis_url.clone();
    load.data_dir = args.data_dir.clone();
    load.topology = topology;
    load.participant = args.participant;
    load.workers = workers;
    load.worker_concurrency = args.worker_concurrency;
    load.claim_batch_max = args.claim_batch_max;
    load.mix = args.mix;
    load.worker_bin = args.worker_bin.clone();
    load.database_prefix = args.database_prefix.clone();
    Ok(load)
}

fn point(s: &ProfileSummary, clients: usize, workers: Option<usize>) -> ScalingPoint {
    let res = s.resources.as_ref();
    ScalingPoint {
        clients,
        workers,
        submitted: s.counts.submitted,
        completed: s.counts.completed,
        unfinished: s.counts.unfinished + s.counts.submit_errors,
        throughput_per_s: s.throughput_per_s,
        latency_p50_ms: s.latency_ms.p50,
        latency_p99_ms: s.latency_ms.p99,
        retried_attempts: s.retries.retried_attempts,
        cpu_ms_per_saga: res.map(|r| r.cpu_ms_per_saga),
        statements_per_saga: res.and_then(|r| r.statements_per_saga),
        other_databases: res.map(|r| r.other_databases.clone()).unwrap_or_default(),
    }
}

fn write(dir: &std::path::Path, summary: &ScalingSummary) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(summary).expect("the summary serializes");
    let path = dir.join("scaling.json");
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    let chart = |points: &[ScalingPoint], label: fn(&ScalingPoint) -> String| {
        let point = |p: &ScalingPoint| Point {
            label: label(p),
            throughput_per_s: p.throughput_per_s,
            p99_ms: p.latency_p99_ms,
        };
        points.iter().map(point).collect::<Vec<_>>()
    };
    let clients = chart(&summary.clients_sweep, |p| p.clients.to_string());
    let workers = chart(&summary.workers_sweep, |p| {
        p.workers.map_or_else(String::new, |w| w.to_string())
    });
    scaling::draw(&dir.join("scaling.png"), &clients, &workers)?;
    Ok(())
}

/// Both sweeps as a table.
pub fn table(summary: &ScalingSummary) -> String {
    let mut out = format!(
        "scaling ({}, participant {}, {:.0} s per point)\n{:<8} {:>8} {:>8} {:>10} {:>12} {:>9} {:>9} {:>8} {:>8}\n",
        summary.backend,
        summary.participant,
        summary.point_duration_s,
        "sweep",
        "clients",
        "workers",
        "submitted",
        "finished/s",
        "p50 ms",
        "p99 ms",
        "retries",
        "CPU ms"
    );
    let sweeps = [
        ("clients", &summary.clients_sweep),
        ("workers", &summary.workers_sweep),
    ];
    for (name, points) in sweeps {
        for p in points {
            out.push_str(&format!(
                "{name:<8} {:>8} {:>8} {:>10} {:>12.1} {:>9.1} {:>9.1} {:>8} {:>8}\n",
                p.clients,
                p.workers
                    .map_or_else(|| "in-proc".to_owned(), |w| w.to_string()),
                p.submitted,
                p.throughput_per_s,
                p.latency_p50_ms,
                p.latency_p99_ms,
                p.retried_attempts,
                p.cpu_ms_per_saga
                    .map_or_else(|| "–".to_owned(), |c| format!("{c:.2}")),
            ));
            if !p.other_databases.is_empty() {
                out.push_str(&format!(
                    "  note: other clients used MariaDB during this point (databases {})\n",
                    p.other_databases.join(", ")
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> ScalingArgs {
        ScalingArgs::from_flags(flags.iter().copied()).expect("flags parse")
    }

    #[test]
    fn the_default_sweeps_are_the_documented_ones_and_either_can_be_skipped() {
        let args = parse(&[]);
        assert_eq!(args.clients, [8, 32, 128, 512]);
        assert_eq!(args.workers, [1, 2, 4]);
        assert_eq!(
            args.point_duration.get(),
            std::time::Duration::from_secs(10)
        );
        let args = parse(&["--clients", "2,4", "--workers", "--point-duration", "3s"]);
        assert_eq!(args.clients, [2, 4]);
        assert!(args.workers.is_empty());
        assert_eq!(args.point_duration.get(), std::time::Duration::from_secs(3));
    }

    #[test]
    fn every_point_is_a_closed_loop_profile_of_the_load_tool() {
        let args = parse(&["--participant", "lean", "--point-duration", "2s"]);
        let profile = point_profile(&args, 3, 7, 128);
        assert_eq!(profile.name, "3/7");
        assert_eq!(profile.mode, Mode::Closed { concurrency: 128 });
        let load = load_args(&args, Topology::Processes, 4).unwrap();
        assert_eq!(load.participant, Participant::Lean);
        assert_eq!((load.topology, load.workers), (Topology::Processes, 4));
        assert!(load.validate().is_ok());
    }

    #[test]
    fn the_table_has_one_row_per_point() {
        let p = |clients, workers| ScalingPoint {
            clients,
            workers,
            submitted: 10,
            completed: 10,
            unfinished: 0,
            throughput_per_s: 5.0,
            latency_p50_ms: 1.0,
            latency_p99_ms: 2.0,
            retried_attempts: 0,
            cpu_ms_per_saga: None,
            statements_per_saga: None,
            other_databases: Vec::new(),
        };
        let summary = ScalingSummary {
            started_at: String::new(),
            backend: "sqlite",
            participant: Participant::Services,
            mix: "success=100".into(),
            point_duration_s: 1.0,
            worker_concurrency: 2,
            claim_batch_max: 32,
            redis: false,
            clients_sweep: vec![p(8, None), p(32, None)],
            workers_sweep: vec![p(128, Some(2))],
            workers_clients: 128,
        };
        let text = table(&summary);
        assert_eq!(text.lines().count(), 2 + 3, "{text}");
        assert!(text
            .lines()
            .any(|l| l.starts_with("workers") && l.contains(" 2 ")));
        assert!(text.contains("in-proc"));
    }
}
