//! `sagaflow`: every role and tool of the engine as a subcommand.
//!
//! Startup only: parses flags (with environment fallbacks), builds what a subcommand needs
//! and runs it. No engine logic lives here.

mod bench;

use anyhow::Context;
use clap::{Parser, Subcommand};
use engine::{Registry, Store};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "sagaflow",
    version,
    about = "Durable saga / TCC workflows on MySQL or SQLite"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the saga database migrations (creating the database if it is missing).
    Migrate {
        /// The saga database: mysql://user@host:port/db or sqlite://path.
        #[arg(
            long,
            env = "SAGAFLOW_DATABASE_URL",
            default_value = "sqlite://data/saga.db"
        )]
        database_url: String,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The engine alone: purchase workflows with an in-process no-op executor.
    Engine(bench::EngineArgs),
}

/// Loads workflow definitions from `dir` when given, else the ones built into the binary.
pub fn load_registry(dir: Option<&PathBuf>) -> anyhow::Result<Registry> {
    match dir {
        Some(dir) => Registry::load_dir(dir)
            .with_context(|| format!("loading workflow definitions from {}", dir.display())),
        None => Ok(Registry::shipped()),
    }
}

/// Connects to the saga database (creating it if missing) and migrates it.
pub async fn open_store(url: &str, max_connections: u32) -> anyhow::Result<Store> {
    engine::store::ensure_database(url)
        .await
        .with_context(|| format!("creating database {url}"))?;
    let store = Store::connect(url, max_connections)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    store
        .migrate()
        .await
        .context("migrating the saga database")?;
    Ok(store)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Migrate { database_url } => open_store(&database_url, 1)
            .await
            .map(|_| println!("migrated {database_url}")),
        Command::Bench {
            which: BenchCommand::Engine(args),
        } => bench::engine(args).await,
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
