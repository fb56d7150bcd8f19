//! The no-engine baseline: a purchase's participant calls made directly over real HTTP from
//! concurrent clients, on fresh databases, followed by a ledger reconciliation. It is what
//! the engine's load test is compared with. Not a load-test tool: fixed work, one report.
//!
//! Two participants ([`Participant`]): the three services (the six TCC calls of a purchase,
//! balance, payment and stock try, then their confirms; MariaDB only), or the lean
//! participant (the saga's seven calls, the quote first, so that subtracting this baseline
//! from a load run leaves only what the engine adds; MariaDB or SQLite). The calls and the
//! checks are in [`calls`].

mod calls;

use std::{
    fmt,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde::Serialize;
use sqlx::{migrate::MigrateDatabase, Any};
use tokio::task::JoinSet;

use crate::load::resources::{Probe, Usage};
use crate::participant::Participant;
use calls::{Buyers, Calls};
use services::{AppState, Config, Running, Service};

/// Price of the benchmark product, in minor units; every purchase buys one unit.
const PRICE: i64 = 100;

/// Why the baseline could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start a service: {0}")]
    Service(#[from] services::Error),
    #[error("cannot start the lean participant: {0}")]
    Lean(#[from] crate::lean::Error),
    #[error("the services' baseline needs MariaDB (a MySQL server URL)")]
    NeedsMysql,
    #[error("cannot make a scratch directory: {0}")]
    Scratch(#[from] std::io::Error),
    #[error("cannot drop a benchmark database: {0}")]
    Cleanup(#[source] sqlx::Error),
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("seeding through the admin API returned unexpected ids")]
    Seed,
    #[error("{path} answered {status}: {body}")]
    Refused {
        path: String,
        status: u16,
        body: String,
    },
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BaselineConfig {
    pub participant: Participant,
    /// MariaDB/MySQL server without a database name, e.g. `mysql://root@127.0.0.1:3306`;
    /// `None` puts the lean participant on a SQLite file in a scratch directory.
    pub mysql_server_url: Option<String>,
    pub clients: usize,
    pub purchases: usize,
    /// Buyers, created through the admin API; purchase `i` is made by user `i % users`.
    pub users: usize,
    /// Products; purchase `i` buys product `i % products`. One product (the default) makes its
    /// stock row the hot spot every purchase locks twice, as in the shipped purchase saga.
    pub products: usize,
    pub db_connections_max: u32,
    /// MySQL databases are `<prefix>_<participant>_<run id>` (default `bench`).
    pub database_prefix: String,
}

impl BaselineConfig {
    /// The services' baseline on this MySQL server.
    pub fn new(mysql_server_url: impl Into<String>) -> BaselineConfig {
        BaselineConfig {
            participant: Participant::Services,
            mysql_server_url: Some(mysql_server_url.into()),
            clients: 32,
            purchases: 10_000,
            users: 1_000,
            products: 1,
            db_connections_max: 32,
            database_prefix: "bench".into(),
        }
    }
}

/// What happened.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub participant: Participant,
    /// HTTP calls per purchase: 6 (the TCC calls) for the services, 7 (the quote too) for the
    /// lean participant.
    pub calls_per_purchase: usize,
    pub clients: usize,
    pub products: usize,
    pub purchases: usize,
    /// Purchases with a non-2xx reply or a transport error (not retried).
    pub failed: usize,
    pub elapsed_s: f64,
    pub purchases_per_s: f64,
    /// Latency of one whole purchase (all its calls).
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    /// The ledgers agree with the purchases that succeeded.
    pub reconciled: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} participant: {} purchases of {} calls ({} failed) of {} product(s) from {} \
             clients in {:.2} s: {:.0} purchases/s; \
             purchase latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; reconciled: {}",
            self.participant,
            self.purchases,
            self.calls_per_purchase,
            self.failed,
            self.products,
            self.clients,
            self.elapsed_s,
            self.purchases_per_s,
            self.latency_p50_ms,
            self.latency_p99_ms,
            self.latency_max_ms,
            self.reconciled
        )
    }
}

/// The participants on fresh databases, and where they listen.
#[derive(Default)]
struct Participants {
    services: Vec<Running>,
    lean: Option<crate::lean::Running>,
    database_urls: Vec<String>,
    scratch: Option<tempfile::TempDir>,
    /// The user, payment and order services' URLs (three times the lean one).
    urls: [String; 3],
}

impl Participants {
    /// Creates the databases and starts the participants one by one; on failure, whatever
    /// was started is still listed, so that [`Participants::shut_down`] cleans it up.
    async fn start(&mut self, config: &BaselineConfig) -> Result<(), Error> {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let server = config
            .mysql_server_url
            .as_deref()
            .map(|s| s.trim_end_matches('/'));
        let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let prefix = &config.database_prefix;
        match (config.participant, server) {
            (Participant::Services, None) => return Err(Error::NeedsMysql),
            (Participant::Services, Some(server)) => {
                for (slot, service) in Service::ALL.into_iter().enumerate() {
                    let url = format!("{server}/{prefix}_{}_{}", service.name(), &run[..12]);
                    self.database_urls.push(url.clone());
                    let mut service_config = Config::new(url);
                    service_config.admin_enabled = true;
                    service_config.db_connections_max = config.db_connections_max;
                    let state = AppState::connect(service, &service_config, None).await?;
                    let running = services::spawn(state, listen).await?;
                    self.urls[slot] = running.url();
                    self.services.push(running);
                }
            }
            (Participant::Lean, server) => {
                let url = match server {
                    Some(server) => {
                        let url = format!("{server}/{prefix}_lean_{}", &run[..12]);
                        self.database_urls.push(url.clone());
                        url
                    }
                    None => {
                        let dir = tempfile::tempdir()?;
                        let url = format!("sqlite://{}", dir.path().join("lean.db").display());
                        self.scratch = Some(dir);
                        url
                    }
                };
                let lean = crate::lean::spawn(&url, config.db_connections_max, listen).await?;
                self.urls = std::array::from_fn(|_| lean.url());
                self.lean = Some(lean);
            }
        }
        Ok(())
    }

    /// Stops the participants and drops their databases, reporting the first failure.
    async fn shut_down(self) -> Result<(), Error> {
        let mut first_error = None;
        for running in self.services {
            first_error = first_error.or(running.stop().await.err().map(Error::from));
        }
        if let Some(lean) = self.lean {
            first_error = first_error.or(lean.stop().await.err().map(Error::from));
        }
        for url in &self.database_urls {
            let dropped = Any::drop_database(url).await.map_err(Error::Cleanup);
            first_error = first_error.or(dropped.err());
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Runs the baseline: fresh databases, the participants on `127.0.0.1:0`, seeding through
/// the admin API, the purchases, reconciliation, and cleanup (participants stopped,
/// databases dropped, also after a failure).
pub async fn baseline(config: &BaselineConfig) -> Result<Report, Error> {
    Ok(baseline_measured(config, None).await?.0)
}

/// [`baseline`], and with a probe what the purchases cost: measured from the first call to
/// the last reply only (not the seeding, the start-up or the reconciliation).
pub async fn baseline_measured(
    config: &BaselineConfig,
    probe: Option<&Probe>,
) -> Result<(Report, Option<Usage>), Error> {
    sqlx::any::install_default_drivers();
    let mut participants = Participants::default();
    let outcome = match participants.start(config).await {
        Ok(()) => measure(config, &participants.urls, probe).await,
        Err(err) => Err(err),
    };
    let cleanup = participants.shut_down().await;
    let report = outcome?;
    cleanup?;
    Ok(report)
}

async fn measure(
    config: &BaselineConfig,
    urls: &[String; 3],
    probe: Option<&Probe>,
) -> Result<(Report, Option<Usage>), Error> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(config.clients)
        .build()?;
    let calls = Calls {
        client,
        urls: urls.clone(),
        participant: config.participant,
    };
    let buyers = Arc::new(calls.seed(config).await?);
    let next = Arc::new(AtomicUsize::new(0));
    let before = match probe {
        Some(probe) => Some(probe.snapshot().await),
        None => None,
    };
    let started = Instant::now();
    let mut clients = JoinSet::new();
    for _ in 0..config.clients {
        let shopper = Shopper {
            calls: calls.clone(),
            buyers: buyers.clone(),
            next: next.clone(),
            purchases: config.purchases,
        };
        clients.spawn(shopper.run());
    }
    let mut latencies = Vec::with_capacity(config.purchases);
    let mut failed = 0;
    for (client_latencies, client_failed) in clients.join_all().await {
        latencies.extend(client_latencies);
        failed += client_failed;
    }
    let elapsed = started.elapsed();
    let usage = match (probe, before) {
        (Some(probe), Some(before)) => Some(probe.usage(&before, latencies.len() as u64).await),
        _ => None,
    };
    let reconciled = calls.reconcile(latencies.len() as i64).await?;
    let report = report(config, failed, elapsed, latencies, reconciled);
    Ok((report, usage))
}

/// One client: takes the next purchase number until all are taken.
struct Shopper {
    calls: Calls,
    buyers: Arc<Buyers>,
    next: Arc<AtomicUsize>,
    purchases: usize,
}

impl Shopper {
    /// Latencies of the purchases that succeeded, and the number that failed.
    async fn run(self) -> (Vec<Duration>, usize) {
        let (mut latencies, mut failed) = (Vec::new(), 0);
        loop {
            let number = self.next.fetch_add(1, Ordering::Relaxed);
            if number >= self.purchases {
                return (latencies, failed);
            }
            let began = Instant::now();
            match self.calls.purchase(self.buyers.buyer(number)).await {
                Ok(()) => latencies.push(began.elapsed()),
                Err(err) => {
                    tracing::warn!(error = %err, "purchase failed");
                    failed += 1;
                }
            }
        }
    }
}

fn report(
    config: &BaselineConfig,
    failed: usize,
    elapsed: Duration,
    mut latencies: Vec<Duration>,
    reconciled: bool,
) -> Report {
    latencies.sort_unstable();
    let quantile_ms = |q: f64| {
        let index = ((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
        latencies.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Report {
        participant: config.participant,
        calls_per_purchase: calls::per_purchase(config.participant),
        clients: config.clients,
        products: config.products.max(1),
        purchases: config.purchases,
        failed,
        elapsed_s: elapsed.as_secs_f64(),
        purchases_per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
        latency_p50_ms: quantile_ms(0.5),
        latency_p99_ms: quantile_ms(0.99),
        latency_max_ms: quantile_ms(1.0),
        reconciled,
    }
}
