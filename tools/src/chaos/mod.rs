//! `sagaflow chaos`: the system under load while things break — worker processes killed
//! and restarted, a worker frozen past its lease (a zombie whose late writes must be
//! fenced), participants failing transiently (some calls until their last attempt) or
//! committing and then dropping their answer, duplicate submits and keys differing only in
//! case, on a private MariaDB a database kill and restart — then late Tries that arrive
//! after a refusal, quiescence and `reconcile`. Fails when an invariant breaks or when an
//! injected fault never fired.
//!
//! Here the flags and their check, and the run; the system under test in [`rig`], the storm
//! and how it settles in [`storm`], the traffic in [`load`], the late Tries in [`late`].

use rig::Rig;
use roles::duration::{self, HumanDuration};

mod galera;
mod late;
mod load;
mod outage;
mod rig;
mod storm;

pub use galera::NodeLoss;
pub use outage::OutageFigures;

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
    /// Run on a MariaDB Galera cluster: a MySQL URL listing its nodes
    /// (`mysql://root@127.0.0.1:3311,127.0.0.1:3312,127.0.0.1:3313`, as scripts/galera.sh
    /// starts them; databases sagaflow_chaos_* are recreated). The API, the services and the
    /// even-numbered workers prefer the first node, the odd ones the other nodes in turn;
    /// halfway through, the first node is killed (SIGKILL), and started again 3 s later.
    #[arg(long, value_name = "URL", conflicts_with_all = ["mysql_url", "private_mariadb"])]
    pub galera: Option<String>,
    /// With --galera: the script that kills and starts a node (`SCRIPT kill 1`, `SCRIPT start 1`).
    #[arg(long, default_value = "scripts/galera.sh", requires = "galera")]
    pub galera_script: String,
    /// Kills and restarts of the private MariaDB during the run.
    #[arg(long, default_value_t = 1, requires = "private_mariadb")]
    pub db_restarts: u32,
    /// Late-Try scenarios played after the storm (a frozen Try arriving after its step was
    /// refused and the saga compensated).
    #[arg(long, default_value_t = 3)]
    pub late_tries: usize,
    /// How long the payment service is down (connections refused) two thirds into the run;
    /// 0 for no outage. Worker kills pause meanwhile. Longer than the purchase's retries
    /// before the pivot take (1 + 2 + 4 s), so without breakers some sagas would run out of
    /// attempts.
    #[arg(long, value_name = "DURATION", value_parser = duration::seconds,
          default_value_t = HumanDuration::from_secs(10))]
    pub outage: HumanDuration,
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
    #[error("--galera must list at least two nodes (`mysql://user@host1:port,host2:port`): {0}")]
    GaleraNodes(String),
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
    #[error(
        "--outage ({outage}) must be at most a third of --duration ({duration}): it starts two \
         thirds into the run and must end with it"
    )]
    OutageTooLong {
        outage: HumanDuration,
        duration: HumanDuration,
    },
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
        if let Some(url) = &self.galera {
            match dbha::Nodes::parse(url) {
                Ok(nodes) if nodes.is_cluster() && url.starts_with("mysql") => {}
                Ok(_) => return Err(ConfigError::GaleraNodes("only one node is listed".into())),
                Err(err) => return Err(ConfigError::GaleraNodes(err.to_string())),
            }
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
        if self.outage.get() > self.duration.get() / 3 {
            return Err(ConfigError::OutageTooLong {
                outage: self.outage,
                duration: self.duration,
            });
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
    /// Participant outages played (0 or 1).
    pub outages: u64,
    /// What the outage did to the workers' breakers.
    pub outage: OutageFigures,
    /// What the Galera node loss did (with --galera).
    pub node_loss: NodeLoss,
    /// Workflows that ran out of attempts on refused connections (at most one per failed
    /// probe).
    pub outage_exhaustions: u64,
    pub max_to_terminal_ms: i64,
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
            (&["--duration", "30s", "--outage", "10s"], Ok(())),
            (&["--galera", "mysql://root@a:1,b:2"], Ok(())),
            (
                &["--galera", "mysql://root@a:1"],
                Err(GaleraNodes("only one node is listed".into())),
            ),
            (
                &["--galera", "mysql://root@a:1,,b:2"],
                Err(GaleraNodes(
                    "empty host in the list of `a:1,,b:2` (hosts are separated by single commas)"
                        .into(),
                )),
            ),
            (&["--duration", "30s", "--outage", "0s"], Ok(())),
            (
                &["--duration", "30s", "--outage", "11s"],
                Err(OutageTooLong {
                    outage: HumanDuration::from_secs(11),
                    duration: HumanDuration::from_secs(30),
                }),
            ),
        ];
        for (flags, expected) in cases {
            assert_eq!(&check(flags), expected, "flags {flags:?}");
        }
    }
}
