//! The roles of the `sagaflow` command: the long-running `server`, `worker`, `service` and
//! `migrate`, each on its own database and configured by flags with environment fallbacks,
//! plus `dev` (everything in one process) and `demo`, and the one API client builder of every
//! caller of the API ([`client`]). No tool code: this crate never depends
//! on `sagaflow-tools` (the tools depend on it, for `dev` and the worker's settings).
//!
//! Settings that cannot work are refused before anything starts, by one pure check per role
//! ([`WorkerTuning::validate`], [`ServerArgs::validate`]): one line naming the flags, exit 1.
//! Startup and wiring only: no engine logic lives here.

pub mod client;
pub mod demo;
pub mod dev;
pub mod duration;
pub mod migrate;
pub mod server;
pub mod service;
pub mod settings;
pub mod telemetry;
pub mod worker;

pub use migrate::{migrate, MigrateArgs};
pub use server::{probe, server, ServerArgs};
pub use service::{service, ServiceArgs};
pub use settings::{ConfigError, WorkerTuning};
pub use worker::{worker, WorkerArgs};

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

#[cfg(test)]
mod tests {
    /// Architecture invariant: roles never depend on tools (nor on the tools' chart and
    /// progress-bar crates); the tools depend on the roles.
    #[test]
    fn the_roles_depend_on_no_tool() {
        let manifest = include_str!("../Cargo.toml");
        let dependencies = manifest
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.starts_with("description"));
        for line in dependencies {
            for tool in ["sagaflow-tools", "plotters", "indicatif"] {
                assert!(!line.starts_with(tool), "roles/Cargo.toml: {line}");
            }
        }
    }
}
