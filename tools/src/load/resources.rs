//! What a profile cost: CPU time of this process, of a server process, of worker processes
//! and of MariaDB (from `/proc/<pid>/stat`), resident memory peaks (sampled from
//! `/proc/<pid>/status`), and MariaDB's server-wide counters (`crate::counters`: statements,
//! commits, rows written, index reads). Linux only; figures that cannot be read are left out,
//! never guessed.

use crate::counters::Counters;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `/proc` counts CPU time in clock ticks of `USER_HZ`, which Linux fixes at 100 per second
/// on every architecture it exposes to user space.
const CLOCK_TICKS_PER_S: u64 = 100;
/// How often resident memory is sampled.
const RSS_SAMPLE_MS: u64 = 100;
/// How often the server's connections are looked at for other clients.
const OTHERS_SAMPLE_S: u64 = 1;

/// What one profile cost, per finished saga where it says so.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// The sagas (or purchases) the figures are divided by.
    pub sagas: u64,
    /// CPU of every sagaflow process: this one, the server's and the workers' (when they run
    /// apart). With an in-process system this process holds the API, the workers, the
    /// participants and the load generator.
    pub cpu_ms_per_saga: f64,
    /// Of which this process (the load generator and the participants; everything in
    /// process with `--topology in-process`).
    pub load_cpu_ms_per_saga: f64,
    /// Of which the `sagaflow server` process (with `--topology processes`).
    pub server_cpu_ms_per_saga: Option<f64>,
    /// Of which the worker processes (with `--topology processes`).
    pub worker_cpu_ms_per_saga: Option<f64>,
    /// MariaDB's own CPU (when its process is readable).
    pub mariadb_cpu_ms_per_saga: Option<f64>,
    /// `Com_commit` delta per saga: server-wide, so everything else on the server counts too.
    pub commits_per_saga: Option<f64>,
    /// `Questions` delta per saga (statements sent by clients): server-wide as well.
    pub statements_per_saga: Option<f64>,
    /// `Handler_write + Handler_update + Handler_delete` delta per saga (server-wide).
    pub rows_written_per_saga: Option<f64>,
    /// `Handler_read_key + Handler_read_next` delta per saga (server-wide).
    pub index_reads_per_saga: Option<f64>,
    /// Peak resident memory of the load process.
    pub process_rss_max_mib: f64,
    /// Peak resident memory of the largest worker process.
    pub worker_rss_max_mib: Option<f64>,
    /// Databases that other clients of the MariaDB server used meanwhile (sampled every
    /// second; empty: none seen): their work is in the server-wide counters too.
    pub other_databases: Vec<String>,
}

/// The processes of a system besides this one, to measure.
#[derive(Debug, Clone, Default)]
pub struct Pids {
    /// A `sagaflow server` child process.
    pub server: Option<u32>,
    /// `sagaflow worker` child processes.
    pub workers: Vec<u32>,
}

/// CPU and counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    own_ticks: u64,
    server_ticks: Option<u64>,
    worker_ticks: u64,
    mariadb_ticks: Option<u64>,
    server: Option<Counters>,
}

/// Reads the processes and the database server of one run.
pub struct Probe {
    pids: Pids,
    mariadb: Option<u32>,
    mysql_url: Option<String>,
    own_rss_kib: Arc<AtomicU64>,
    worker_rss_kib: Arc<AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
    /// Databases seen in use on the server since the last snapshot, and the run's own
    /// (name prefixes), which are not reported.
    seen: Arc<Mutex<BTreeSet<String>>>,
    own_databases: Vec<String>,
    watcher: Option<tokio::task::JoinHandle<()>>,
}

impl Probe {
    /// Starts sampling the resident memory of this process and of the workers in `pids`.
    /// With a MySQL server URL, also reads its counters and (when it runs here) its process.
    pub fn start(pids: Pids, mysql_url: Option<String>) -> Probe {
        let own_rss_kib = Arc::new(AtomicU64::new(0));
        let worker_rss_kib = Arc::new(AtomicU64::new(0));
        let (own, peak, workers) = (
            own_rss_kib.clone(),
            worker_rss_kib.clone(),
            pids.workers.clone(),
        );
        let sampler = tokio::spawn(async move {
            loop {
                own.fetch_max(rss_kib(std::process::id()).unwrap_or(0), Ordering::Relaxed);
                for pid in &workers {
                    peak.fetch_max(rss_kib(*pid).unwrap_or(0), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(RSS_SAMPLE_MS)).await;
            }
        });
        let mariadb = mysql_url
            .as_ref()
            .and_then(|_| find_process(&["mariadbd", "mysqld"]));
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let watcher = mysql_url
            .clone()
            .map(|url| tokio::spawn(watch_databases(url, seen.clone())));
        Probe {
            pids,
            mariadb,
            mysql_url,
            own_rss_kib,
            worker_rss_kib,
            sampler,
            seen,
            own_databases: Vec::new(),
            watcher,
        }
    }

    /// Names the run's own databases (prefixes), so that only other clients' are reported.
    pub fn own_databases(mut self, prefixes: Vec<String>) -> Probe {
        self.own_databases = prefixes;
        self
    }

    /// CPU and counters now; also restarts the memory peaks.
    pub async fn snapshot(&self) -> Snapshot {
        self.own_rss_kib.store(0, Ordering::Relaxed);
        self.worker_rss_kib.store(0, Ordering::Relaxed);
        self.seen.lock().expect("not poisoned").clear();
        let server = match &self.mysql_url {
            Some(url) => crate::counters::read(url)
                .await
                .map_err(|err| tracing::warn!(error = %err, "reading MariaDB's counters failed"))
                .ok(),
            None => None,
        };
        Snapshot {
            own_ticks: cpu_ticks(std::process::id()).unwrap_or(0),
            server_ticks: self.pids.server.and_then(cpu_ticks),
            worker_ticks: self.pids.workers.iter().filter_map(|p| cpu_ticks(*p)).sum(),
            mariadb_ticks: self.mariadb.and_then(cpu_ticks),
            server,
        }
    }

    /// What happened between `before` and now, per saga of `sagas`.
    pub async fn usage(&self, before: &Snapshot, sagas: u64) -> Usage {
        let own_peak = self.own_rss_kib.load(Ordering::Relaxed);
        let worker_peak = self.worker_rss_kib.load(Ordering::Relaxed);
        let after = self.snapshot().await;
        let mut usage = usage_between(before, &after, sagas, !self.pids.workers.is_empty());
        let mib = |kib: u64| kib as f64 / 1024.0;
        usage.process_rss_max_mib = mib(own_peak);
        usage.worker_rss_max_mib = usage.worker_cpu_ms_per_saga.map(|_| mib(worker_peak));
        let seen = self.seen.lock().expect("not poisoned");
        usage.other_databases = crate::counters::foreign(seen.iter(), &self.own_databases);
        usage
    }
}

/// Every second, adds the databases other connections use to `seen`.
async fn watch_databases(url: String, seen: Arc<Mutex<BTreeSet<String>>>) {
    use sqlx::Connection;
    let mut conn = None;
    loop {
        if conn.is_none() {
            conn = sqlx::MySqlConnection::connect(&url).await.ok();
        }
        if let Some(c) = conn.as_mut() {
            match crate::counters::databases_in_use(c).await {
                Ok(dbs) => seen.lock().expect("not poisoned").extend(dbs),
                Err(_) => conn = None,
            }
        }
        tokio::time::sleep(Duration::from_secs(OTHERS_SAMPLE_S)).await;
    }
}

/// The figures between two snapshots (memory peaks left at 0: they are sampled, not
/// snapshotted).
fn usage_between(before: &Snapshot, after: &Snapshot, sagas: u64, has_workers: bool) -> Usage {
    let per = |delta: u64| delta as f64 / sagas.max(1) as f64;
    let cpu_ms = |ticks: u64| per(ticks * 1000 / CLOCK_TICKS_PER_S);
    let own = after.own_ticks.saturating_sub(before.own_ticks);
    let workers = after.worker_ticks.saturating_sub(before.worker_ticks);
    let server = before
        .server_ticks
        .zip(after.server_ticks)
        .map(|(a, b)| b.saturating_sub(a));
    let counters = before
        .server
        .zip(after.server)
        .map(|(a, b)| b.since(&a).per(sagas));
    Usage {
        sagas,
        cpu_ms_per_saga: cpu_ms(own + workers + server.unwrap_or(0)),
        load_cpu_ms_per_saga: cpu_ms(own),
        server_cpu_ms_per_saga: server.map(cpu_ms),
        worker_cpu_ms_per_saga: has_workers.then(|| cpu_ms(workers)),
        mariadb_cpu_ms_per_saga: before
            .mariadb_ticks
            .zip(after.mariadb_ticks)
            .map(|(a, b)| cpu_ms(b.saturating_sub(a))),
        commits_per_saga: counters.map(|c| c.commits),
        statements_per_saga: counters.map(|c| c.statements),
        rows_written_per_saga: counters.map(|c| c.rows_written),
        index_reads_per_saga: counters.map(|c| c.index_reads),
        process_rss_max_mib: 0.0,
        worker_rss_max_mib: None,
        other_databases: Vec::new(),
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.sampler.abort();
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat)
}

/// Fields 14 and 15 of `/proc/<pid>/stat`, counted after the command name (which may hold
/// spaces and parentheses, so the split starts at the last `)`).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The first process whose command name is one of `names`.
fn find_process(names: &[&str]) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        names.contains(&comm.trim()).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_odd_command_names() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194304 126 0 0 0 7 5 0 0 20 0 1";
        assert_eq!(parse_cpu_ticks(stat), Some(12));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn this_process_is_readable() {
        assert!(cpu_ticks(std::process::id()).is_some());
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn usage_splits_cpu_by_process_and_divides_the_counter_deltas() {
        let counters =
            |q: &str, w: &str| Counters::from_rows([("Questions", q), ("Handler_write", w)]);
        let before = Snapshot {
            own_ticks: 100,
            server_ticks: Some(50),
            worker_ticks: 10,
            mariadb_ticks: Some(1000),
            server: Some(counters("1000", "500")),
        };
        let after = Snapshot {
            own_ticks: 120,
            server_ticks: Some(60),
            worker_ticks: 40,
            mariadb_ticks: Some(1100),
            server: Some(counters("1400", "700")),
        };
        // 10 sagas; a tick is 10 ms.
        let u = usage_between(&before, &after, 10, true);
        assert_eq!(u.load_cpu_ms_per_saga, 20.0);
        assert_eq!(u.server_cpu_ms_per_saga, Some(10.0));
        assert_eq!(u.worker_cpu_ms_per_saga, Some(30.0));
        assert_eq!(u.cpu_ms_per_saga, 60.0);
        assert_eq!(u.mariadb_cpu_ms_per_saga, Some(100.0));
        assert_eq!(u.statements_per_saga, Some(40.0));
        assert_eq!(u.rows_written_per_saga, Some(20.0));
        assert_eq!(u.commits_per_saga, Some(0.0));

        let alone = Snapshot {
            server_ticks: None,
            mariadb_ticks: None,
            server: None,
            ..after
        };
        let u = usage_between(&before, &alone, 10, false);
        assert_eq!(u.server_cpu_ms_per_saga, None);
        assert_eq!(u.worker_cpu_ms_per_saga, None);
        assert_eq!(
            u.statements_per_saga, None,
            "no counters without both snapshots"
        );
        assert_eq!(u.cpu_ms_per_saga, 20.0 + 30.0);
    }
}
