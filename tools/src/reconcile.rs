//! `sagaflow reconcile`: Mercoin-style reconciliation of the saga journal against every
//! participant's ledger. Money and stock are conserved, every completed purchase has exactly
//! its three effects, every compensated or failed one has none, nothing hangs, no lease is
//! stale and no workflow is stuck. Exit 1 on any mismatch.
//!
//! Works on a live system: the journal is read before the ledgers (so workflows already
//! terminal then have final effects) and again after (so every ledger row's workflow is
//! known). The checks themselves are pure ([`check`]).

use anyhow::Context;
use engine::store::{AuditedWorkflow, Journal};
use engine::{Store, WorkflowStatus};
use roles::dev::{Databases, Urls};
use roles::duration::{self, HumanDuration};
use services::reconcile::{snapshot, Entry, Snapshot};
use services::Service;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// Flags of `sagaflow reconcile`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReconcileArgs {
    /// Where the four databases are (like `dev`): --mysql-url or --data-dir.
    #[command(flatten)]
    pub databases: Databases,
    /// The saga database, when not the --mysql-url / --data-dir layout.
    #[arg(long, env = "SAGAFLOW_DATABASE_URL")]
    pub database_url: Option<String>,
    #[arg(long)]
    pub user_url: Option<String>,
    #[arg(long)]
    pub payment_url: Option<String>,
    #[arg(long)]
    pub order_url: Option<String>,
    /// Σ balance + reserved + captured over all users must equal this (the money put in).
    #[arg(long)]
    pub expect_money: Option<i64>,
    /// Σ available + reserved + sold over all products must equal this.
    #[arg(long)]
    pub expect_stock: Option<i64>,
    /// A workflow still running after this long is reported as stuck (a bare number is
    /// seconds).
    #[arg(
        long,
        visible_alias = "max-age-s",
        value_name = "DURATION",
        value_parser = duration::seconds,
        default_value_t = HumanDuration::from_secs(300)
    )]
    pub max_age: HumanDuration,
    /// A lease expired for longer than this (no worker took it over) is reported (a bare
    /// number is seconds).
    #[arg(
        long,
        visible_alias = "lease-grace-s",
        value_name = "DURATION",
        value_parser = duration::seconds,
        default_value_t = HumanDuration::from_secs(60)
    )]
    pub lease_grace: HumanDuration,
}

/// The conserved totals a run started with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected {
    pub money: Option<i64>,
    pub stock: Option<i64>,
}

/// What reconciliation found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub by_status: BTreeMap<WorkflowStatus, u64>,
    pub mismatches: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// The three participants' ledgers.
pub struct Ledgers {
    pub user: Snapshot,
    pub payment: Snapshot,
    pub order: Snapshot,
}

/// Reads journal, ledgers, journal again, and checks them.
pub async fn reconcile(
    urls: &Urls,
    expected: Expected,
    max_age: Duration,
    lease_grace: Duration,
) -> anyhow::Result<Report> {
    let lease_grace_ms = u64::try_from(lease_grace.as_millis()).unwrap_or(u64::MAX);
    let store = Store::connect(&urls.saga, 2)
        .await
        .with_context(|| format!("connecting to {}", urls.saga))?;
    let before = store
        .journal(lease_grace_ms)
        .await
        .context("reading the journal")?;
    let ledgers = Ledgers {
        user: snapshot(Service::User, &urls.user)
            .await
            .context("reading the user ledger")?,
        payment: snapshot(Service::Payment, &urls.payment)
            .await
            .context("reading the payment ledger")?,
        order: snapshot(Service::Order, &urls.order)
            .await
            .context("reading the order ledger")?,
    };
    let after = store
        .journal(lease_grace_ms)
        .await
        .context("reading the journal again")?;
    store.close().await;
    let known: HashSet<String> = after.workflows.iter().map(|w| w.id.to_string()).collect();
    Ok(check(&before, &known, &ledgers, expected, max_age))
}

/// The checks, on data already read.
pub fn check(
    journal: &Journal,
    known: &HashSet<String>,
    l: &Ledgers,
    expected: Expected,
    max_age: Duration,
) -> Report {
    let max_age_us = i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX);
    let mut report = Report::default();
    let m = &mut report.mismatches;
    check_accounts("user", &l.user, m);
    check_accounts("product", &l.order, m);
    check_orders(&l.order, m);
    let total = |s: &Snapshot| s.accounts.values().map(|(a, b, c)| a + b + c).sum::<i64>();
    if let Some(money) = expected.money.filter(|e| *e != total(&l.user)) {
        m.push(format!(
            "money not conserved: Σ balance+reserved+captured = {}, expected {money}",
            total(&l.user)
        ));
    }
    if let Some(stock) = expected.stock.filter(|e| *e != total(&l.order)) {
        m.push(format!(
            "stock not conserved: Σ available+reserved+sold = {}, expected {stock}",
            total(&l.order)
        ));
    }
    for w in &journal.workflows {
        *report.by_status.entry(w.status).or_default() += 1;
        if w.status.is_terminal() && w.workflow_type == "purchase" {
            check_purchase(w, l, &mut report.mismatches);
        }
        let age_us = journal.now - w.created_at;
        if !w.status.is_terminal() && age_us > max_age_us {
            let age_s = age_us / 1_000_000;
            report.mismatches.push(format!(
                "workflow {} still {} after {age_s} s",
                w.id, w.status
            ));
        }
    }
    let m = &mut report.mismatches;
    for (service, s) in [
        ("user", &l.user),
        ("payment", &l.payment),
        ("order", &l.order),
    ] {
        for tx in s.transactions.keys().filter(|tx| !known.contains(*tx)) {
            m.push(format!(
                "{service}: transaction {tx} belongs to no workflow"
            ));
        }
    }
    m.extend(
        journal
            .stale_leases
            .iter()
            .map(|k| format!("activity {k} leased long past its expiry")),
    );
    report
}

/// An account's `reserved` and confirmed column equal its open and confirmed rows.
fn check_accounts(what: &str, s: &Snapshot, m: &mut Vec<String>) {
    let mut open: BTreeMap<i64, i64> = BTreeMap::new();
    let mut done: BTreeMap<i64, i64> = BTreeMap::new();
    for e in s.transactions.values() {
        match e.status.as_str() {
            "reserved" => *open.entry(e.owner).or_default() += e.amount,
            "confirmed" => *done.entry(e.owner).or_default() += e.amount,
            _ => {}
        }
    }
    for (id, (_, reserved, settled)) in &s.accounts {
        let (o, d) = (
            open.get(id).copied().unwrap_or(0),
            done.get(id).copied().unwrap_or(0),
        );
        if *reserved != o || *settled != d {
            m.push(format!("{what} {id}: reserved {reserved} / settled {settled} but reservations say {o} / {d}"));
        }
    }
}

/// Every confirmed stock reservation has its order and every order its reservation.
fn check_orders(order: &Snapshot, m: &mut Vec<String>) {
    for (tx, e) in order
        .transactions
        .iter()
        .filter(|(_, e)| e.status == "confirmed")
    {
        match order.orders.get(tx) {
            Some((product, quantity, _)) if *product == e.owner && *quantity == e.amount => {}
            other => m.push(format!("order: confirmed stock {tx} has order {other:?}")),
        }
    }
    for tx in order.orders.keys() {
        if order
            .transactions
            .get(tx)
            .is_none_or(|e| e.status != "confirmed")
        {
            m.push(format!(
                "order: order {tx} has no confirmed stock reservation"
            ));
        }
    }
}

/// Completed: exactly the three effects of the right amounts; otherwise none left.
fn check_purchase(w: &AuditedWorkflow, l: &Ledgers, m: &mut Vec<String>) {
    let tx = w.id.to_string();
    let amount = w.outputs.get("quote").and_then(|q| q["amount"].as_i64());
    let quantity = w.input["quantity"].as_i64();
    let rows = [
        ("user", l.user.transactions.get(&tx)),
        ("payment", l.payment.transactions.get(&tx)),
        ("order", l.order.transactions.get(&tx)),
    ];
    if w.status == WorkflowStatus::Completed {
        let wanted = [
            ("user", "confirmed", amount),
            ("payment", "executed", amount),
            ("order", "confirmed", quantity),
        ];
        for ((service, row), (_, status, value)) in rows.iter().zip(wanted) {
            let ok = matches!(row, Some(Entry { status: s, amount: a, .. }) if s == status && Some(*a) == value);
            if !ok {
                m.push(format!(
                    "completed {tx}: {service} has {row:?}, expected {status} of {value:?}"
                ));
            }
        }
        let order_total = l.order.orders.get(&tx).map(|(_, _, total)| *total);
        if order_total != amount {
            m.push(format!(
                "completed {tx}: order total {order_total:?}, expected {amount:?}"
            ));
        }
        return;
    }
    for (service, row) in rows {
        if let Some(e) = row.filter(|e| e.status != "cancelled") {
            m.push(format!(
                "{} {tx}: {service} still has a {} row of {}",
                w.status, e.status, e.amount
            ));
        }
    }
    if l.order.orders.contains_key(&tx) {
        m.push(format!("{} {tx}: an order exists", w.status));
    }
}

/// The four URLs from the flags.
pub fn urls(args: &ReconcileArgs) -> Urls {
    let base = Urls::of(&args.databases);
    Urls {
        saga: args.database_url.clone().unwrap_or(base.saga),
        user: args.user_url.clone().unwrap_or(base.user),
        payment: args.payment_url.clone().unwrap_or(base.payment),
        order: args.order_url.clone().unwrap_or(base.order),
    }
}

/// Prints a report: counts by status, then every mismatch.
pub fn print(report: &Report) {
    let counts: Vec<String> = report
        .by_status
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    println!(
        "reconcile: workflows: {}",
        if counts.is_empty() {
            "none".into()
        } else {
            counts.join(", ")
        }
    );
    for line in &report.mismatches {
        println!("MISMATCH {line}");
    }
    match report.mismatches.len() {
        0 => println!("reconcile: OK, no mismatch"),
        n => println!("reconcile: {n} mismatches"),
    }
}

/// `sagaflow reconcile`.
pub async fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    let expected = Expected {
        money: args.expect_money,
        stock: args.expect_stock,
    };
    let report = reconcile(
        &urls(&args),
        expected,
        args.max_age.get(),
        args.lease_grace.get(),
    )
    .await?;
    print(&report);
    anyhow::ensure!(report.ok(), "{} mismatches", report.mismatches.len());
    Ok(())
}
