//! What a load run is held against: the no-engine baseline of its participant (measured
//! after the system stopped, with as many clients as the heavy profile had), the engine's
//! share per profile (profile minus baseline), and, with the lean participant, its ledger
//! against the workflows that completed.

use super::profile::{Case, Mix, HEAVY_CONCURRENCY};
use super::resources::{Pids, Probe, Usage};
use super::share::share;
use super::stats::ProfileSummary;
use super::LoadArgs;
use crate::baseline::{self, BaselineConfig, Report};
use crate::lean::ledger::Ledger;
use crate::participant::Participant;
use serde::Serialize;

/// The lean participant's ledger after the run, checked against the workflows.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerCheck {
    /// No disagreement found.
    pub reconciled: bool,
    /// Whether every workflow had ended, so the completed ones could be counted against the
    /// confirms (otherwise only each step's own books are checked).
    pub against_completed: Option<i64>,
    pub problems: Vec<String>,
    pub ledger: Option<Ledger>,
}

/// Reads the lean participant's ledger and checks it: each step's books, and, when every
/// workflow ended completed or compensated, one confirm per step per completed workflow
/// and nothing left reserved.
pub(super) async fn lean_ledger(url: &str, summaries: &[ProfileSummary]) -> LedgerCheck {
    let all_ended = summaries
        .iter()
        .all(|s| s.counts.unfinished == 0 && s.counts.failed == 0);
    let completed: u64 = summaries.iter().map(|s| s.counts.completed).sum();
    let against_completed = all_ended.then_some(completed as i64);
    let read = async {
        let response = reqwest::get(format!("{url}/admin/ledger")).await?;
        response.error_for_status()?.json::<Ledger>().await
    };
    match read.await {
        Ok(ledger) => {
            let problems = ledger.problems(against_completed);
            LedgerCheck {
                reconciled: problems.is_empty(),
                against_completed,
                problems,
                ledger: Some(ledger),
            }
        }
        Err(err) => LedgerCheck {
            reconciled: false,
            against_completed,
            problems: vec![format!("reading the ledger: {err}")],
            ledger: None,
        },
    }
}

/// The no-engine baseline of the run's participant with as many clients as the heavy
/// profile had, when asked for, and what its purchases cost (this process holds its clients
/// and the participants).
pub(super) async fn measure_baseline(
    args: &LoadArgs,
    summaries: &[ProfileSummary],
    notes: &mut Vec<String>,
) -> (Option<Report>, Option<Usage>) {
    if !args.baseline {
        return (None, None);
    }
    if args.participant == Participant::Services && args.mysql_url.is_none() {
        notes.push("no baseline: the services' baseline needs MariaDB (--mysql-url)".into());
        return (None, None);
    }
    let clients = summaries
        .iter()
        .find_map(|s| s.concurrency)
        .unwrap_or(HEAVY_CONCURRENCY);
    let mut config = BaselineConfig::new(String::new());
    config.participant = args.participant;
    config.mysql_server_url = args.mysql_url.clone();
    config.clients = clients;
    config.purchases = args.baseline_purchases;
    config.users = args.buyers.max(1);
    config.products = args.products.max(1);
    eprintln!(
        "baseline: {} purchases from {clients} clients, {} participant, no engine",
        config.purchases, args.participant
    );
    config.database_prefix = format!("{}_baseline", args.database_prefix);
    let own = vec![format!("{}_", config.database_prefix)];
    let probe = Probe::start(Pids::default(), args.mysql_url.clone()).own_databases(own);
    match baseline::baseline_measured(&config, Some(&probe)).await {
        Ok((report, usage)) => {
            eprintln!("baseline: {report}");
            if args.participant == Participant::Services {
                notes.push(
                    "the services' baseline makes the six TCC calls, not the quote: the \
                     engine's share includes one quote call per saga"
                        .into(),
                );
            }
            (Some(report), usage)
        }
        Err(err) => {
            notes.push(format!("baseline failed: {err}"));
            (None, None)
        }
    }
}

/// Each measured profile's share: its cost per saga minus the baseline's per purchase.
pub(super) fn add_shares(
    summaries: &mut [ProfileSummary],
    baseline: &Usage,
    mix: &Mix,
    notes: &mut Vec<String>,
) {
    for summary in summaries.iter_mut() {
        summary.engine_share = summary.resources.as_ref().map(|r| share(r, baseline));
    }
    let all_succeed = Case::ALL
        .iter()
        .all(|c| *c == Case::Success || mix.weight(*c) == 0);
    if !all_succeed {
        notes.push(
            "the baseline makes successful purchases only: with failures in the mix the \
             engine's share compares unlike work (use --mix success=100)"
                .into(),
        );
    }
}

/// A note naming the databases other clients of MariaDB used while a profile or the baseline
/// was measured, if any: their work is in the server-wide counters.
pub(super) fn other_clients(
    summaries: &[ProfileSummary],
    baseline: Option<&Usage>,
) -> Option<String> {
    let measured = summaries.iter().filter_map(|s| s.resources.as_ref());
    let mut seen: Vec<&String> = measured
        .chain(baseline)
        .flat_map(|u| &u.other_databases)
        .collect();
    seen.sort();
    seen.dedup();
    (!seen.is_empty()).then(|| {
        let names: Vec<&str> = seen.iter().map(|s| s.as_str()).collect();
        format!(
            "other clients used MariaDB while this run measured (databases {}): the server-wide \
             counters include their work",
            names.join(", ")
        )
    })
}
