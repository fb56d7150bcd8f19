//! `sagaflow chaos`: the system under load while things break — worker processes killed
//! and restarted, a worker frozen past its lease (a zombie whose late writes must be
//! fenced), participants failing transiently (some calls until their last attempt) or
//! committing and then dropping their answer, duplicate submits and keys differing only in
//! case, on a private MariaDB a database kill and restart — then late Tries that arrive
//! after a refusal, quiescence and `reconcile`. Fails when an invariant breaks or when an
//! injected fault never fired.

use crate::procs::{recreate_mysql_database, signal, worker_command, PrivateMariaDb};
use crate::reconcile::{reconcile, Expected};
use anyhow::{bail, Context};
use engine::api::{ApiConfig, ApiState, Watcher};
use engine::{Registry, Store, WorkflowStatus};
use rand::{Rng, SeedableRng};
use roles::dev::Urls;
use roles::duration::{self, HumanDuration};
use serde_json::{json, Value};
use services::Service;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod late;
mod load;

/// Flags of `sagaflow chaos`.
#[derive(clap::Args, Debug, Clone)]
pub struct ChaosArgs {
    /// Run on this MySQL server (databases sagaflow_chaos_* are recreated); default SQLite.
    #[arg(long, env = "SAGAFLOW_MYSQL_URL")]
    pub mysql_url: Option<String>,
    /// Worker processes.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// How long faults are injected (a bare number is seconds).
    #[arg(
        long,
        visible_alias = "duration-s",
        value_name = "DURATION",
        value_parser = duration::seconds,
        default_value_t = HumanDuration::from_secs(60)
    )]
    pub duration: HumanDuration,
    /// SIGKILL a random worker (and start a new one) this often (a bare number is ms).
    #[arg(
        long,
        visible_alias = "kill-every-ms",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::from_millis(2_000)
    )]
    pub kill_every: HumanDuration,
    /// Purchases submitted per second.
    #[arg(long, default_value_t = 25)]
    pub rate: u32,
    /// Workers' lease length (short, so takeovers happen within the run; a bare number is ms).
    #[arg(
        long,
        visible_alias = "lease-ttl-ms",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::from_millis(1_500)
    )]
    pub lease_ttl: HumanDuration,
    /// Share of participant calls answered 503 before doing anything.
    #[arg(long, default_value_t = 0.05)]
    pub error_rate: f64,
    /// Share of participant calls that commit, then answer 503 (the ambiguous outcome).
    #[arg(long, default_value_t = 0.03)]
    pub drop_rate: f64,
    /// Share of participant calls (by Idempotency-Key) whose first 3 attempts fail, so the
    /// engine's retries run to the last attempt of the README policy.
    #[arg(long, default_value_t = 0.02)]
    pub fail_first_share: f64,
    /// Run every database on a MariaDB server of the run's own (needs Debian's
    /// mariadb-server), killed with SIGKILL and restarted `--db-restarts` times mid-run.
    #[arg(long, conflicts_with = "mysql_url")]
    pub private_mariadb: bool,
    /// Kills and restarts of the private MariaDB during the run.
    #[arg(long, default_value_t = 1, requires = "private_mariadb")]
    pub db_restarts: u32,
    /// Late-Try scenarios played after the storm (a frozen Try arriving after its step was
    /// refused and the saga compensated).
    #[arg(long, default_value_t = 3)]
    pub late_tries: usize,
    /// Seed of the random choices.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// A `chaos` setting with which a run cannot pass (a fault it must exercise could never
/// happen) or cannot start its workers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "--workers ({0}) must be at least 2: worker 0 is frozen as the zombie and never killed, \
         the others are killed and take its leases over"
    )]
    TooFewWorkers(usize),
    #[error("--duration must be above 0 (no fault would be injected)")]
    NoDuration,
    #[error("--kill-every must be above 0 (workers would be killed in a busy loop)")]
    NoKillInterval,
    #[error(
        "--kill-every ({kill_every}) must be below --duration ({duration}): no worker would be \
         killed"
    )]
    KillAfterEnd {
        kill_every: HumanDuration,
        duration: HumanDuration,
    },
    #[error("--rate must be at least 1 (no purchase would be submitted)")]
    NoRate,
    #[error(
        "--lease-ttl ({0}) must be at least 3ms: workers renew their leases every third of it"
    )]
    LeaseTooShort(HumanDuration),
    #[error("--{flag} ({rate}) must be between 0 and 1")]
    Rate { flag: &'static str, rate: f64 },
    #[error("--error-rate and --drop-rate are both 0: the run must inject participant faults")]
    NoFaults,
}

impl ChaosArgs {
    /// Refuses settings with which the run cannot pass: see [`ConfigError`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.workers < 2 {
            return Err(ConfigError::TooFewWorkers(self.workers));
        }
        if self.duration.is_zero() {
            return Err(ConfigError::NoDuration);
        }
        if self.kill_every.is_zero() {
            return Err(ConfigError::NoKillInterval);
        }
        if self.kill_every >= self.duration {
            return Err(ConfigError::KillAfterEnd {
                kill_every: self.kill_every,
                duration: self.duration,
            });
        }
        if self.rate == 0 {
            return Err(ConfigError::NoRate);
        }
        if self.lease_ttl.as_millis() < 3 {
            return Err(ConfigError::LeaseTooShort(self.lease_ttl));
        }
        for (flag, rate) in [
            ("error-rate", self.error_rate),
            ("drop-rate", self.drop_rate),
            ("fail-first-share", self.fail_first_share),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(ConfigError::Rate { flag, rate });
            }
        }
        if self.error_rate == 0.0 && self.drop_rate == 0.0 {
            return Err(ConfigError::NoFaults);
        }
        Ok(())
    }
}

/// The figures of a run.
#[derive(Debug, Default)]
pub struct Figures {
    pub submitted: u64,
    pub acknowledged: u64,
    pub duplicates_absorbed: u64,
    /// Pairs of submits under keys differing only in case that made two workflows.
    pub case_pairs_distinct: u64,
    /// Such pairs merged into one workflow (must stay 0).
    pub case_pairs_merged: u64,
    pub kills: u64,
    pub zombie_fenced: u64,
    pub injected_faults: u64,
    pub lease_reclaims: u64,
    /// Activities that succeeded at the last attempt of their budget.
    pub last_attempt_successes: u64,
    /// Kills and restarts of the private MariaDB.
    pub db_restarts: u64,
    /// Late Tries refused after their step was refused and compensated.
    pub late_tries_refused: u64,
    pub max_to_terminal_ms: i64,
}

struct Worker {
    id: String,
    child: Child,
    metrics: SocketAddr,
}

impl Drop for Worker {
    /// A worker process never outlives the run, whatever path ends it.
    fn drop(&mut self) {
        let _ = signal(self.child.id(), "-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The system under test: in-process services and API, worker processes.
struct Rig {
    urls: Urls,
    store: Store,
    api: String,
    services: Vec<(Service, services::Running)>,
    flag: String,
    args: ChaosArgs,
    /// The private MariaDB, when the run has one (killed and restarted mid-run).
    db: Option<tokio::sync::Mutex<PrivateMariaDb>>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn run(args: ChaosArgs) -> anyhow::Result<()> {
    args.validate()?;
    let rig = Rig::start(args.clone()).await?;
    let expected = rig.expected().await?;
    let result = rig.storm(expected).await;
    rig.stop().await;
    let figures = result?;
    println!("chaos: passed ({figures:?})");
    Ok(())
}

impl Rig {
    async fn start(args: ChaosArgs) -> anyhow::Result<Rig> {
        let db = match args.private_mariadb {
            true => Some(
                PrivateMariaDb::start()
                    .await
                    .context("the private MariaDB")?,
            ),
            false => None,
        };
        let server = db
            .as_ref()
            .map(PrivateMariaDb::url)
            .or(args.mysql_url.clone());
        let (urls, dir) = match &server {
            Some(server) => {
                let server = server.trim_end_matches('/');
                for name in ["saga", "user", "payment", "order"] {
                    recreate_mysql_database(server, &format!("sagaflow_chaos_{name}")).await?;
                }
                let db = |n: &str| format!("{server}/sagaflow_chaos_{n}");
                (
                    Urls {
                        saga: db("saga"),
                        user: db("user"),
                        payment: db("payment"),
                        order: db("order"),
                    },
                    None,
                )
            }
            None => {
                let dir = tempfile::tempdir()?;
                (Urls::sqlite(dir.path()), Some(dir))
            }
        };
        let mut running = Vec::new();
        for (service, url) in [
            (Service::User, &urls.user),
            (Service::Payment, &urls.payment),
            (Service::Order, &urls.order),
        ] {
            let mut config = services::Config::new(url.clone());
            config.admin_enabled = true;
            config.faults.latency_ms = 10;
            config.db_connections_max = 8;
            let state =
                services::AppState::connect(service, &config, Some(roles::telemetry::metrics()))
                    .await?;
            running.push((
                service,
                services::spawn(state, SocketAddr::from(([127, 0, 0, 1], 0))).await?,
            ));
        }
        let flag = running
            .iter()
            .map(|(s, r)| format!("{}={}", s.name(), r.url()))
            .collect::<Vec<_>>()
            .join(",");
        let store = roles::open_store(&urls.saga, 8).await?;
        let watcher = Watcher::new();
        watcher.spawn_poller(store.clone(), 20);
        let state = ApiState::new(
            store.clone(),
            Arc::new(Registry::shipped()),
            ApiConfig::default(),
            watcher,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, engine::api::router(state)).await });
        Ok(Rig {
            urls,
            store,
            api,
            services: running,
            flag,
            args,
            db: db.map(tokio::sync::Mutex::new),
            _dir: dir,
        })
    }

    fn service(&self, service: Service) -> String {
        self.services
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, r)| r.url())
            .expect("started")
    }

    /// Seeds buyers and stock; returns the totals that must be conserved.
    async fn expected(&self) -> anyhow::Result<(Expected, load::Cast)> {
        let cast = load::seed(
            &self.service(Service::User),
            &self.service(Service::Payment),
            &self.service(Service::Order),
            self.args.late_tries,
        )
        .await?;
        let ledger = |s: Service| async move {
            let v: Value = reqwest::get(format!("{}/admin/ledger", self.service(s)))
                .await?
                .json()
                .await?;
            anyhow::Ok(v)
        };
        let (user, order) = (ledger(Service::User).await?, ledger(Service::Order).await?);
        let sum = |v: &Value, keys: [&str; 3]| {
            keys.iter()
                .map(|k| v[*k].as_i64().unwrap_or(0))
                .sum::<i64>()
        };
        let expected = Expected {
            money: Some(sum(&user, ["balance", "reserved", "captured"])),
            stock: Some(sum(&order, ["available", "reserved", "sold"])),
        };
        Ok((expected, cast))
    }

    fn spawn_worker(&self, id: &str) -> anyhow::Result<Worker> {
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut command = worker_command(&self.urls.saga, &self.flag, id)?;
        let heartbeat = HumanDuration::from_millis(self.args.lease_ttl.as_millis() / 3);
        command.arg(format!("--lease-ttl={}", self.args.lease_ttl));
        command.arg(format!("--heartbeat={heartbeat}"));
        command.args([
            "--poll-interval",
            "50ms",
            "--concurrency",
            "2",
            "--metrics-listen",
            &metrics.to_string(),
        ]);
        Ok(Worker {
            id: id.to_owned(),
            child: command.spawn()?,
            metrics,
        })
    }

    /// Sets every participant's faults (`on`: the run's rates; off: none).
    async fn faults(&self, on: bool) -> anyhow::Result<()> {
        let a = &self.args;
        let rate = |r: f64| if on { r } else { 0.0 };
        let body = json!({
            "error_rate": rate(a.error_rate),
            "latency_ms": 10,
            "drop_after_commit_rate": rate(a.drop_rate),
            // The README policy's 4 attempts: 3 fail, the last one goes through.
            "fail_first_calls": if on { 3 } else { 0 },
            "fail_first_share": rate(a.fail_first_share),
        });
        for (service, _) in &self.services {
            let url = format!("{}/admin/faults", self.service(*service));
            reqwest::Client::new()
                .put(url)
                .json(&body)
                .send()
                .await?
                .error_for_status()?;
        }
        Ok(())
    }

    /// The run: load and faults for the duration, then quiescence and reconciliation.
    async fn storm(&self, (expected, cast): (Expected, load::Cast)) -> anyhow::Result<Figures> {
        let mut workers: Vec<Worker> = (0..self.args.workers)
            .map(|i| self.spawn_worker(&format!("w{i}")))
            .collect::<Result<_, _>>()?;
        self.faults(true).await?;
        let started = Instant::now();
        let deadline = Instant::now() + self.args.duration.get();
        let traffic = tokio::spawn(load::drive(
            self.api.clone(),
            cast.clone(),
            self.args.rate,
            deadline,
            self.args.seed,
        ));
        let mut figures = Figures::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.args.seed);
        let zombie_at = Instant::now() + self.args.duration.get() / 3;
        let mut zombie_done = false;
        let restarts = if self.db.is_some() {
            self.args.db_restarts
        } else {
            0
        };
        let restart_at = |n: u32| started + self.args.duration.get() * (n + 1) / (restarts + 1);
        let mut generation = 0;
        while Instant::now() < deadline {
            tokio::time::sleep(self.args.kill_every.get()).await;
            if !zombie_done && Instant::now() >= zombie_at {
                self.zombie(&workers[0]).await?;
                zombie_done = true;
            }
            if (figures.db_restarts as u32) < restarts
                && Instant::now() >= restart_at(figures.db_restarts as u32)
            {
                self.restart_database().await?;
                figures.db_restarts += 1;
            }
            // Worker 0 is the zombie: it is never killed, so its fenced writes can be read.
            let victim = rng
                .gen_range(1..workers.len().max(2))
                .min(workers.len() - 1);
            if victim == 0 {
                continue;
            }
            generation += 1;
            // Dropping the old one kills it (SIGKILL).
            workers[victim] = self.spawn_worker(&format!("w{victim}-{generation}"))?;
            figures.kills += 1;
        }
        let sent = traffic.await.context("load task")??;
        self.faults(false).await?;
        figures.submitted = sent.submitted;
        figures.acknowledged = sent.acknowledged.len() as u64;
        figures.duplicates_absorbed = sent.duplicates_absorbed;
        figures.case_pairs_distinct = sent.case_pairs_distinct;
        figures.case_pairs_merged = sent.case_pairs_merged;
        figures.late_tries_refused = self.late_tries(&cast).await?;
        figures.zombie_fenced = scrape(workers[0].metrics, "sagaflow_fenced_writes_total")
            .await
            .unwrap_or(0.0) as u64;
        self.settle(&sent.acknowledged, expected, &mut figures)
            .await?;
        drop(workers);
        Ok(figures)
    }

    /// Kills the private MariaDB (SIGKILL) and starts it again on the same data.
    async fn restart_database(&self) -> anyhow::Result<()> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        let mut db = db.lock().await;
        tracing::info!("chaos: killing the database server");
        db.kill();
        // The fault itself: the database stays down for a second.
        tokio::time::sleep(Duration::from_secs(1)).await;
        db.restart().await?;
        tracing::info!("chaos: database server back");
        Ok(())
    }

    /// Plays the late-Try scenario once per tight buyer; returns how many late Tries were
    /// refused, and fails on one that took effect.
    async fn late_tries(&self, cast: &load::Cast) -> anyhow::Result<u64> {
        let executor = Arc::new(worker::HttpExecutor::new(worker::Services::parse(
            &self.flag,
        )?));
        let scene = late::Scene::new(self.store.clone(), executor)?;
        let mut refused = 0;
        for buyer in &cast.tight {
            match scene.play(cast, *buyer).await? {
                engine::Outcome::BusinessError(_) => refused += 1,
                other => bail!("a late Try after a refusal was not refused: {other:?}"),
            }
        }
        Ok(refused)
    }

    /// Freezes a worker while it holds a lease, keeps it frozen well past the lease (others
    /// take its work over), then wakes it: its late completions must be fenced.
    async fn zombie(&self, w: &Worker) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if self.store.leases_held_by(&w.id).await? > 0 {
                signal(w.child.id(), "-STOP")?;
                if self.store.leases_held_by(&w.id).await? > 0 {
                    tracing::info!(worker = %w.id, "zombie: frozen holding a lease");
                    // The fault itself: frozen for three lease lengths (not a synchronisation).
                    tokio::time::sleep(self.args.lease_ttl.get() * 3).await;
                    return signal(w.child.id(), "-CONT");
                }
                signal(w.child.id(), "-CONT")?;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        bail!("worker {} never held a lease to freeze it with", w.id)
    }

    /// Waits for every workflow to end, then reconciles and checks every fault fired.
    async fn settle(
        &self,
        acknowledged: &HashSet<String>,
        expected: Expected,
        f: &mut Figures,
    ) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(180);
        let journal = loop {
            let journal = self.store.journal(60_000).await?;
            if journal.workflows.iter().all(|w| w.status.is_terminal()) {
                break journal;
            }
            if Instant::now() > until {
                bail!("workflows still running 180 s after the storm");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let ids: HashSet<String> = journal.workflows.iter().map(|w| w.id.to_string()).collect();
        let lost: Vec<_> = acknowledged.difference(&ids).collect();
        f.lease_reclaims = journal.lease_expired_attempts;
        f.last_attempt_successes = journal.last_attempt_successes;
        f.max_to_terminal_ms = journal
            .workflows
            .iter()
            .filter_map(|w| w.finished_at.map(|t| (t - w.created_at) / 1_000))
            .max()
            .unwrap_or(0);
        f.injected_faults = injected_faults();
        let count = |s: WorkflowStatus| journal.workflows.iter().filter(|w| w.status == s).count();
        println!(
            "chaos: submitted {} acknowledged {} completed {} compensated {} failed {} kills {} lease reclaims {} \
             fenced writes (zombie) {} duplicates absorbed {} case-variant key pairs {} (merged {}) injected faults {} \
             successes at the last attempt {} database restarts {} late tries refused {} max time to terminal {} ms",
            f.submitted, f.acknowledged, count(WorkflowStatus::Completed), count(WorkflowStatus::Compensated),
            count(WorkflowStatus::Failed), f.kills, f.lease_reclaims, f.zombie_fenced, f.duplicates_absorbed,
            f.case_pairs_distinct, f.case_pairs_merged, f.injected_faults, f.last_attempt_successes,
            f.db_restarts, f.late_tries_refused, f.max_to_terminal_ms
        );
        let report = reconcile(
            &self.urls,
            expected,
            Duration::from_secs(600),
            Duration::from_secs(60),
        )
        .await?;
        crate::reconcile::print(&report);
        let mut failures = Vec::new();
        if !lost.is_empty() {
            failures.push(format!("{} acknowledged workflows are missing", lost.len()));
        }
        if !report.ok() {
            failures.push(format!(
                "reconcile found {} mismatches",
                report.mismatches.len()
            ));
        }
        if f.case_pairs_merged > 0 {
            failures.push(format!(
                "{} pairs of keys differing only in case were taken for one key",
                f.case_pairs_merged
            ));
        }
        let a = &self.args;
        let expected = [
            ("worker kills", f.kills, true),
            ("lease takeovers", f.lease_reclaims, true),
            ("fenced zombie writes", f.zombie_fenced, true),
            ("duplicate submits", f.duplicates_absorbed, true),
            ("case-variant key pairs", f.case_pairs_distinct, true),
            ("injected participant faults", f.injected_faults, true),
            (
                "successes at the last attempt",
                f.last_attempt_successes,
                a.fail_first_share > 0.0,
            ),
            (
                "database restarts",
                f.db_restarts,
                a.private_mariadb && a.db_restarts > 0,
            ),
            ("late tries refused", f.late_tries_refused, a.late_tries > 0),
        ];
        for (name, fired, _) in expected.iter().filter(|(_, _, wanted)| *wanted) {
            if *fired == 0 {
                failures.push(format!(
                    "no {name} happened: that fault was never exercised"
                ));
            }
        }
        if !failures.is_empty() {
            bail!("chaos failed: {}", failures.join("; "));
        }
        Ok(())
    }

    async fn stop(self) {
        for (_, r) in self.services {
            let _ = r.stop().await;
        }
        self.store.close().await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One counter (summed over its series) from a process's `/metrics`.
async fn scrape(addr: SocketAddr, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(sum_metric(&text, name))
}

fn sum_metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Faults the in-process services injected (they share this process's recorder).
fn injected_faults() -> u64 {
    sum_metric(
        &roles::telemetry::metrics().render(),
        "tcc_injected_faults_total",
    ) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn settings_with_which_a_run_cannot_pass_are_refused() {
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            args: ChaosArgs,
        }
        let check = |flags: &[&str]| {
            Flags::try_parse_from(std::iter::once("chaos").chain(flags.iter().copied()))
                .expect("flags parse")
                .args
                .validate()
        };
        use ConfigError::*;
        let cases: &[(&[&str], Result<(), ConfigError>)] = &[
            (&[], Ok(())),
            (
                &["--workers", "2", "--lease-ttl", "3ms", "--drop-rate", "0"],
                Ok(()),
            ),
            (&["--workers", "1"], Err(TooFewWorkers(1))),
            (&["--duration", "0s"], Err(NoDuration)),
            (&["--kill-every", "0ms"], Err(NoKillInterval)),
            (
                &["--duration", "2s", "--kill-every", "2s"],
                Err(KillAfterEnd {
                    kill_every: HumanDuration::from_secs(2),
                    duration: HumanDuration::from_secs(2),
                }),
            ),
            // The old spellings: bare seconds and milliseconds.
            (
                &["--duration-s", "2", "--kill-every-ms", "2000"],
                Err(KillAfterEnd {
                    kill_every: HumanDuration::from_secs(2),
                    duration: HumanDuration::from_secs(2),
                }),
            ),
            (&["--duration-s", "60", "--kill-every-ms", "2000"], Ok(())),
            (&["--rate", "0"], Err(NoRate)),
            (
                &["--lease-ttl-ms", "2"],
                Err(LeaseTooShort(HumanDuration::from_millis(2))),
            ),
            (
                &["--error-rate", "1.5"],
                Err(Rate {
                    flag: "error-rate",
                    rate: 1.5,
                }),
            ),
            (
                &["--drop-rate=-0.1"],
                Err(Rate {
                    flag: "drop-rate",
                    rate: -0.1,
                }),
            ),
            (&["--error-rate", "0", "--drop-rate", "0"], Err(NoFaults)),
        ];
        for (flags, expected) in cases {
            assert_eq!(&check(flags), expected, "flags {flags:?}");
        }
    }
}
