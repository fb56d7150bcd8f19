//! Helpers for tools that run parts of the system as processes or on scratch databases
//! (`bench e2e`, `chaos`): the worker command line, fresh MySQL databases, and a private
//! MariaDB server that can be killed and restarted.

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

/// Drops database `name` on the MySQL server at `server`, if it exists.
pub async fn drop_mysql_database(server: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::MySqlConnection::connect(server)
        .await
        .with_context(|| format!("connecting to {server}"))?;
    conn.execute(format!("DROP DATABASE IF EXISTS `{name}`").as_str())
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

/// A MariaDB server of its own (own data directory and port, on 127.0.0.1), for runs that
/// kill and restart the database. Stopped and removed when dropped.
pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    server: Option<std::process::Child>,
}

/// Where Debian's MariaDB server binary lives.
pub const MARIADBD: &str = "/usr/sbin/mariadbd";

impl PrivateMariaDb {
    /// Initialises a data directory and starts a server on a free port.
    pub async fn start() -> anyhow::Result<PrivateMariaDb> {
        anyhow::ensure!(
            std::path::Path::new(MARIADBD).exists(),
            "{MARIADBD} is not installed (Debian: apt-get install mariadb-server)"
        );
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let status = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .context("running mariadb-install-db")?;
        anyhow::ensure!(status.success(), "mariadb-install-db failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut db = PrivateMariaDb {
            dir,
            port,
            server: None,
        };
        db.restart().await?;
        Ok(db)
    }

    /// `mysql://root@127.0.0.1:{port}` (no database).
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL): no clean shutdown, like a crash.
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Starts the server on the same data directory and port; returns once it answers.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        use sqlx::Connection;
        self.kill();
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        let server = Command::new(MARIADBD)
            .args([
                "--no-defaults",
                "--user=root",
                "--skip-grant-tables",
                "--skip-log-bin",
                "--bind-address=127.0.0.1",
                "--innodb-buffer-pool-size=64M",
                "--max-connections=300",
            ])
            .arg(format!("--port={}", self.port))
            .arg(format!("--datadir={}", path("data")))
            .arg(format!("--socket={}", path("sock")))
            .arg(format!("--pid-file={}", path("pid")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting mariadbd")?;
        self.server = Some(server);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while sqlx::MySqlConnection::connect(&self.url()).await.is_err() {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the private MariaDB did not come up within 60 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.kill();
    }
}
