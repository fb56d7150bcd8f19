//! The `sagaflow` command as a library: every role and tool, so the binary stays a thin
//! dispatcher and the end-to-end tests can start a whole system in process.
//!
//! Startup and wiring only: no engine logic lives here.

pub mod bench;
pub mod bench_e2e;
pub mod chaos;
pub mod demo;
pub mod dev;
pub mod duration;
pub mod load;
pub mod procs;
pub mod reconcile;
pub mod roles;
pub mod telemetry;

use anyhow::Context;
use engine::{Registry, Store};
use std::path::PathBuf;

/// Loads workflow definitions from `dir` when given, else the ones built into the binary.
pub fn load_registry(dir: Option<&PathBuf>) -> anyhow::Result<Registry> {
    match dir {
        Some(dir) => engine::definition::load_dir(dir)
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
