//! `sagaflow worker`: one stateless worker process (claims, executes and journals
//! activities); its settings are [`WorkerTuning`].

use crate::load_registry;
use crate::settings::{ParticipantTls, WorkerTuning};
use crate::telemetry::{metrics, shutdown_signal};
use anyhow::Context;
use engine::runner::Runner;
use engine::Store;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use worker::{HttpExecutor, Services, Wake};

/// Flags of `sagaflow worker`.
#[derive(clap::Args, Debug, Clone)]
pub struct WorkerArgs {
    /// The saga database (mysql://… or sqlite://…).
    #[arg(long, env = "SAGAFLOW_DATABASE_URL")]
    pub database_url: String,
    /// Where the participants live: user=http://…,payment=http://…,order=http://… (https://
    /// needs --participant-ca).
    #[arg(long, env = "SAGAFLOW_SERVICES")]
    pub services: String,
    /// Redis for wake-ups (optional; without it the worker polls adaptively).
    #[arg(long, env = "SAGAFLOW_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Serve Prometheus metrics at http://<this>/metrics (off unless set): HOST:PORT, or
    /// HOST:FIRST-LAST (e.g. 127.0.0.1:9201-9210) to bind the first free port of the range, so
    /// replicas sharing one network namespace (compose with host networking) each get their own.
    #[arg(long, env = "SAGAFLOW_METRICS_LISTEN", value_parser = MetricsListen::parse)]
    pub metrics_listen: Option<MetricsListen>,
    /// Write the metrics address actually bound (HOST:PORT) to this file once it listens, for a
    /// health check or scraper of a worker whose --metrics-listen is a range.
    #[arg(long, env = "SAGAFLOW_METRICS_ADDR_FILE", requires = "metrics_listen")]
    pub metrics_addr_file: Option<PathBuf>,
    /// Lease owner name (default: host name, process id and a random suffix, so that
    /// containers sharing a host name and all being process 1 still differ).
    #[arg(long, env = "SAGAFLOW_WORKER_ID")]
    pub worker_id: Option<String>,
    #[command(flatten)]
    pub tuning: WorkerTuning,
    #[command(flatten)]
    pub tls: ParticipantTls,
    /// Directory of workflow definitions (default: the built-in ones).
    #[arg(long, env = "SAGAFLOW_WORKFLOWS")]
    pub workflows_dir: Option<PathBuf>,
}

/// `sagaflow worker`: one stateless worker process.
pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let services = Services::parse(&args.services)?;
    let registry = Arc::new(load_registry(args.workflows_dir.as_ref())?);
    args.tuning.validate(
        &registry,
        &|name| services.get(name).is_some(),
        &format!("--services ({})", args.services),
    )?;
    let tls = args.tls.load(&services)?;
    let http = HttpExecutor::with_tls(services.clone(), &tls)
        .context("--participant-cert/--participant-key/--participant-ca")?;
    let _ = metrics();
    engine::metrics::worker_up();
    if let Some(listen) = &args.metrics_listen {
        let listener = listen
            .bind()
            .await
            .with_context(|| format!("--metrics-listen {listen}"))?;
        let bound = listener.local_addr()?;
        crate::telemetry::serve_metrics_on(listener)?;
        if let Some(path) = &args.metrics_addr_file {
            write_addr_file(path, bound)
                .with_context(|| format!("--metrics-addr-file {}", path.display()))?;
        }
    }
    let connections = (args.tuning.concurrency * 2 + 2) as u32;
    let store = Store::connect(&args.database_url, connections)
        .await
        .with_context(|| format!("connecting to {}", args.database_url))?;
    let wake = match &args.redis_url {
        Some(url) => Wake::with_redis(url).context("SAGAFLOW_REDIS_URL")?,
        None => Wake::local(),
    };
    let id = args.worker_id.clone().unwrap_or_else(default_worker_id);
    let executor = Arc::new(args.tuning.protection.protect(http, &services));
    let finished = wake.clone();
    let runner = Runner::new(
        store,
        registry,
        executor,
        args.tuning.runner_config(id.clone()),
    )
    .with_on_finished(Arc::new(move |wf, status| {
        finished.publish_finished(wf, status)
    }));
    tracing::info!(worker = %id, concurrency = args.tuning.concurrency, "worker started");
    let totals = worker::run(
        runner,
        args.tuning.pool_config(args.redis_url.is_some()),
        wake,
        shutdown_signal(),
    )
    .await;
    tracing::info!(worker = %id, executed = totals.executed, released = totals.released, deferred = totals.deferred, timed_out = totals.drain_timed_out, "worker stopped");
    Ok(())
}

/// `--metrics-listen`: one address, or a host and an inclusive range of ports of which the
/// first free one is bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsListen {
    host: IpAddr,
    first: u16,
    last: u16,
}

impl MetricsListen {
    /// Parses `HOST:PORT` or `HOST:FIRST-LAST` (IPv6 hosts in brackets: `[::1]:9201-9210`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let shape = || {
            format!("`{text}`: expected HOST:PORT or HOST:FIRST-LAST (e.g. 127.0.0.1:9100 or 127.0.0.1:9201-9210)")
        };
        let (host, ports) = text.rsplit_once(':').ok_or_else(shape)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host: IpAddr = host
            .parse()
            .map_err(|_| format!("{}: `{host}` is not an IP address", shape()))?;
        let port = |p: &str| -> Result<u16, String> {
            p.parse::<u16>()
                .map_err(|_| format!("{}: `{p}` is not a port (0-65535)", shape()))
        };
        let (first, last) = match ports.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(ports)?;
                (p, p)
            }
        };
        if first > last {
            return Err(format!(
                "`{text}`: the range {first}-{last} is empty (FIRST must not exceed LAST)"
            ));
        }
        if first == 0 && last != 0 {
            return Err(format!(
                "`{text}`: port 0 (any free port) cannot be part of a range"
            ));
        }
        Ok(Self { host, first, last })
    }

    /// The addresses to try, in order.
    pub fn addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        (self.first..=self.last).map(|p| SocketAddr::new(self.host, p))
    }

    /// Binds the first address of the range that is free; an error names the last refusal.
    pub async fn bind(&self) -> anyhow::Result<tokio::net::TcpListener> {
        let mut last_error = None;
        for addr in self.addresses() {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => return Ok(listener),
                Err(e) => last_error = Some(e),
            }
        }
        let e = last_error.expect("a range has at least one port");
        Err(anyhow::anyhow!(
            "no port of {self} could be bound ({} tried; the last: {e})",
            self.last - self.first + 1
        ))
    }
}

impl std::fmt::Display for MetricsListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addr = SocketAddr::new(self.host, self.first);
        if self.first == self.last {
            write!(f, "{addr}")
        } else {
            write!(f, "{addr}-{}", self.last)
        }
    }
}

/// Writes `addr` to `path` whole (a temporary file renamed over it): a reader never sees half.
fn write_addr_file(path: &std::path::Path, addr: SocketAddr) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{addr}\n"))?;
    std::fs::rename(&tmp, path)
}

fn default_worker_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".into());
    // Containers on the host's network share its host name and each runs as process 1: the
    // suffix (RandomState is seeded randomly per process) keeps their lease owners apart.
    let suffix = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32;
    format!("{host}-{}-{suffix:08x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::{default_worker_id, write_addr_file, MetricsListen};
    use std::net::SocketAddr;

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        worker: super::WorkerArgs,
    }

    fn parse(extra: &[&str]) -> Result<Cli, clap::Error> {
        use clap::Parser;
        let base = [
            "worker",
            "--database-url",
            "sqlite://x.db",
            "--services",
            "user=http://a",
        ];
        Cli::try_parse_from(base.iter().chain(extra))
    }

    #[test]
    fn the_metrics_flags_parse_and_refuse_on_the_command_line() {
        let cli = parse(&[
            "--metrics-listen",
            "127.0.0.1:9201-9210",
            "--metrics-addr-file",
            "/tmp/m",
        ])
        .unwrap();
        assert_eq!(
            cli.worker.metrics_listen.unwrap().to_string(),
            "127.0.0.1:9201-9210"
        );
        let err = parse(&["--metrics-listen", "127.0.0.1:9210-9201"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("the range 9210-9201 is empty"), "{err}");
        // An address file without an address to write is a mistake, not a no-op.
        let err = parse(&["--metrics-addr-file", "/tmp/m"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--metrics-listen"), "{err}");
    }

    #[test]
    fn default_worker_ids_differ_within_one_host_and_process() {
        let (a, b) = (default_worker_id(), default_worker_id());
        assert_ne!(a, b);
        assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
    }

    #[test]
    fn the_bound_metrics_address_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.addr");
        write_addr_file(&path, "127.0.0.1:9203".parse().unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "127.0.0.1:9203\n");
        write_addr_file(&path, "127.0.0.1:9201".parse().unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "127.0.0.1:9201\n");
        assert!(!path.with_extension("tmp").exists());
        let err = write_addr_file(
            &dir.path().join("no/such/dir"),
            "127.0.0.1:1".parse().unwrap(),
        );
        assert!(err.is_err());
    }

    fn addrs(text: &str) -> Vec<SocketAddr> {
        MetricsListen::parse(text).unwrap().addresses().collect()
    }

    #[test]
    fn metrics_listen_takes_one_address_or_a_range() {
        assert_eq!(addrs("127.0.0.1:9100"), ["127.0.0.1:9100".parse().unwrap()]);
        assert_eq!(
            addrs("0.0.0.0:9201-9203"),
            ["0.0.0.0:9201", "0.0.0.0:9202", "0.0.0.0:9203"]
                .map(|a| a.parse::<SocketAddr>().unwrap())
        );
        assert_eq!(addrs("[::1]:9201-9201"), ["[::1]:9201".parse().unwrap()]);
        assert_eq!(
            MetricsListen::parse("127.0.0.1:9201-9210")
                .unwrap()
                .to_string(),
            "127.0.0.1:9201-9210"
        );
        assert_eq!(
            MetricsListen::parse("[::1]:9100").unwrap().to_string(),
            "[::1]:9100"
        );
        assert_eq!(addrs("127.0.0.1:0"), ["127.0.0.1:0".parse().unwrap()]);
    }

    #[test]
    fn metrics_listen_refuses_bad_input_with_a_reason() {
        for (text, reason) in [
            ("9100", "expected HOST:PORT or HOST:FIRST-LAST"),
            ("localhost:9100", "`localhost` is not an IP address"),
            ("127.0.0.1:", "`` is not a port"),
            ("127.0.0.1:http", "`http` is not a port"),
            ("127.0.0.1:9201-", "`` is not a port"),
            ("127.0.0.1:9201-70000", "`70000` is not a port"),
            ("127.0.0.1:9210-9201", "the range 9210-9201 is empty"),
            (
                "127.0.0.1:0-5",
                "port 0 (any free port) cannot be part of a range",
            ),
        ] {
            let err = MetricsListen::parse(text).unwrap_err();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[tokio::test]
    async fn a_range_binds_the_first_free_port_and_fails_when_all_are_taken() {
        // Two adjacent ports, both free at the start (the OS picks them; retried if the
        // neighbour of a free port is taken).
        let (held, first) = loop {
            let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = a.local_addr().unwrap().port();
            if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
                break (a, port);
            }
        };
        let range = MetricsListen::parse(&format!("127.0.0.1:{first}-{}", first + 1)).unwrap();
        // The first port is taken (held): the second one is bound.
        let second = range.bind().await.unwrap();
        assert_eq!(second.local_addr().unwrap().port(), first + 1);
        // Both taken: a clear error naming the range.
        let err = range.bind().await.unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "no port of 127.0.0.1:{first}-{} could be bound (2 tried",
                first + 1
            )),
            "{err}"
        );
        drop(held);
        // The first one free again: it is the one bound.
        let again = range.bind().await.unwrap();
        assert_eq!(again.local_addr().unwrap().port(), first);
    }
}
