//! Helpers for tools that run parts of the system as processes or on scratch databases
//! (`bench e2e`, `chaos`): the worker command line and fresh MySQL databases.

use anyhow::Context;
use std::process::Command;

/// `sagaflow worker` (this very binary) on `saga`, calling `services`, as `id`.
pub fn worker_command(saga: &str, services: &str, id: &str) -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("locating the sagaflow binary")?;
    let mut command = Command::new(exe);
    command.args([
        "worker",
        "--database-url",
        saga,
        "--services",
        services,
        "--worker-id",
        id,
    ]);
    command.env(
        "RUST_LOG",
        std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
    );
    Ok(command)
}

/// Drops and creates database `name` on the MySQL server at `server`.
pub async fn recreate_mysql_database(server: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::MySqlConnection::connect(server)
        .await
        .with_context(|| format!("connecting to {server}"))?;
    conn.execute(format!("DROP DATABASE IF EXISTS `{name}`").as_str())
        .await?;
    conn.execute(format!("CREATE DATABASE `{name}`").as_str())
        .await?;
    Ok(())
}

/// Sends `signal` (`-STOP`, `-CONT`, `-TERM`) to a process.
pub fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .context("running kill")?;
    anyhow::ensure!(status.success(), "kill {signal} {pid} failed");
    Ok(())
}
