//! What a run reports: the lines and the table printed on the terminal, and the results
//! directory — `summary.json`, `workflows.csv` (one row per submitted workflow),
//! `retries.csv` (every attempt of every retried activity), the charts and `index.html`,
//! which shows the summary table and the charts together.

use super::charts;
use super::resources::Usage;
use super::stats::{ProfileSummary, Record};
use super::Error;
use std::fmt::Write as _;
use std::path::Path;

pub use super::summary::RunSummary;

/// Writes every file of the results directory.
pub fn write_all(
    dir: &Path,
    summary: &RunSummary,
    records: &[Record],
    breaker_samples: &[super::breakers::Sample],
) -> Result<(), Error> {
    let io = |what: &str| {
        let path = dir.join(what);
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(""))?;
    let json = serde_json::to_string_pretty(summary).expect("the summary serializes");
    std::fs::write(dir.join("summary.json"), json).map_err(io("summary.json"))?;
    std::fs::write(dir.join("workflows.csv"), workflows_csv(records))
        .map_err(io("workflows.csv"))?;
    std::fs::write(dir.join("retries.csv"), retries_csv(records)).map_err(io("retries.csv"))?;
    std::fs::write(
        dir.join("breakers.csv"),
        super::breakers::csv(breaker_samples),
    )
    .map_err(io("breakers.csv"))?;
    let baseline = summary
        .baseline
        .as_ref()
        .zip(summary.baseline_resources.as_ref())
        .map(|(report, usage)| charts::BaselineCost {
            purchases_per_s: report.purchases_per_s,
            usage,
        });
    let drawn = charts::draw_all(dir, &summary.profiles, records, baseline, breaker_samples)?;
    std::fs::write(dir.join("index.html"), html(summary, &drawn)).map_err(io("index.html"))?;
    Ok(())
}

/// One row per submit: times are the database's (RFC 3339), latency is submit to end.
pub fn workflows_csv(records: &[Record]) -> String {
    let mut out = String::from(
        "profile,workflow_id,case,sent_ms,submitted_at,finished_at,latency_ms,outcome,failed_step,attempts,retries\n",
    );
    for r in records {
        let id = r.submit.as_deref().unwrap_or("");
        let e = r.ended.as_ref();
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.to_rfc3339()).unwrap_or_default()
        };
        let latency = e
            .and_then(|e| e.latency_ms())
            .map(|l| format!("{l:.3}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{id},{},{:.3},{},{},{latency},{},{},{},{}",
            r.profile,
            r.case.as_str(),
            r.sent_ms,
            time(e.map(|e| e.created_at)),
            time(e.and_then(|e| e.finished_at)),
            r.outcome(),
            e.and_then(|e| e.failed_step.as_deref()).unwrap_or(""),
            e.map_or(0, |e| e.attempts),
            e.map_or(0, |e| e.attempts.saturating_sub(e.activities)),
        );
    }
    out
}

/// Every attempt of every activity that needed more than one.
pub fn retries_csv(records: &[Record]) -> String {
    let mut out =
        String::from("profile,workflow_id,step,kind,attempt,offset_ms,since_created_ms,outcome\n");
    for r in records {
        let (Ok(id), Some(e)) = (&r.submit, &r.ended) else {
            continue;
        };
        for a in &e.retried {
            let _ = writeln!(
                out,
                "{},{id},{},{},{},{:.3},{:.3},{}",
                r.profile, a.step, a.kind, a.attempt, a.offset_ms, a.since_created_ms, a.outcome
            );
        }
    }
    out
}

/// One profile's row of the summary table.
fn row(p: &ProfileSummary) -> String {
    let load = match (p.rate_per_s, p.concurrency) {
        (Some(rate), _) => format!("open, {rate:.0}/s"),
        (_, Some(c)) => format!("closed, {c} clients"),
        _ => String::new(),
    };
    let res = p.resources.as_ref();
    let opt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
    format!(
        "<tr><td>{}</td><td>{load}, {:.0} s</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{:.1}%</td><td>{:.1}</td><td>{:.1}</td><td>{:.1} / {:.1} / {:.1} / {:.1}</td><td>{}</td>\
         <td>{}</td><td>{}</td></tr>",
        escape(&p.name),
        p.duration_s,
        p.counts.submitted,
        p.counts.completed,
        p.counts.compensated,
        p.counts.failed,
        p.counts.unfinished + p.counts.submit_errors,
        p.success_ratio * 100.0,
        p.throughput_per_s,
        p.completed_per_s,
        p.latency_ms.p50,
        p.latency_ms.p90,
        p.latency_ms.p99,
        p.latency_ms.max,
        p.retries.retried_attempts,
        opt(res.map(|r| r.cpu_ms_per_saga)),
        opt(res.and_then(|r| r.statements_per_saga)),
    )
}

/// The page: what ran, the summary table, the baseline, the counters, then the charts.
pub fn html(summary: &RunSummary, drawn: &[&str]) -> String {
    let rows: String = summary.profiles.iter().map(row).collect();
    let baseline = summary.baseline.as_ref().map_or_else(
        || {
            "<p>No no-engine baseline in this run (<code>--baseline</code>; the services' needs \
             MariaDB: <code>--mysql-url</code>).</p>"
                .to_owned()
        },
        |b| {
            format!(
                "<p>No-engine baseline, same run: {}</p>",
                escape(&b.to_string())
            )
        },
    );
    let notes: String = summary
        .notes
        .iter()
        .map(|n| format!("<li>{}</li>", escape(n)))
        .collect();
    let charts: String = drawn
        .iter()
        .map(|f| format!("<figure><img src=\"{f}\" alt=\"{f}\"></figure>\n"))
        .collect();
    let counters = super::counters_table::html(summary, escape);
    let ledger = summary
        .participant_ledger
        .as_ref()
        .map_or_else(String::new, |l| {
            format!(
                "<p>Lean participant's ledger: {}</p>\n",
                escape(&ledger_line(l))
            )
        });
    let breakers = breakers_html(summary);
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>sagaflow load {started}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}\n\
         td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }} img {{ max-width: 100%; }}\n\
         </style></head><body>\n<h1>sagaflow load test</h1>\n\
         <p>Started {started} against {api} ({topology}, {backend}; participant {participant}); mix {mix}; payment error rate {rate}; seed {seed}.</p>\n\
         <table><tr><th>profile</th><th>load</th><th>submitted</th><th>completed</th><th>compensated</th>\
         <th>failed</th><th>unfinished / refused</th><th>success</th><th>finished/s</th><th>completed/s</th>\
         <th>latency p50 / p90 / p99 / max (ms)</th><th>retries</th><th>CPU ms/saga</th><th>SQL statements/saga</th></tr>\n\
         {rows}</table>\n{baseline}\n{ledger}{counters}{breakers}<ul>{notes}</ul>\n{charts}\
         <p>Data: <a href=\"summary.json\">summary.json</a>, <a href=\"workflows.csv\">workflows.csv</a>, \
         <a href=\"retries.csv\">retries.csv</a>, <a href=\"breakers.csv\">breakers.csv</a>.</p>\n</body></html>\n",
        started = escape(&summary.started_at),
        api = escape(&summary.api),
        topology = escape(&summary.topology),
        backend = escape(&summary.backend),
        participant = escape(&summary.participant),
        mix = escape(&summary.mix),
        rate = summary.payment_error_rate,
        seed = summary.seed,
    )
}

/// The breakers' line: which breakers opened, for how long; or that none did.
fn breakers_html(summary: &RunSummary) -> String {
    if summary.breakers.is_empty() {
        return "<p>Circuit breakers: not sampled (no worker metrics; with <code>--api</code>, \
                <code>--worker-metrics</code>).</p>\n"
            .to_owned();
    }
    let opened: Vec<String> = summary
        .breakers
        .iter()
        .filter(|b| b.openings > 0 || b.half_open_s > 0.0)
        .map(|b| {
            format!(
                "{}, {}: opened {} times, open {:.1} s, half-open {:.1} s",
                b.worker, b.service, b.openings, b.open_s, b.half_open_s
            )
        })
        .collect();
    if opened.is_empty() {
        return format!(
            "<p>Circuit breakers: all {} stayed closed.</p>\n",
            summary.breakers.len()
        );
    }
    format!("<p>Circuit breakers: {}.</p>\n", escape(&opened.join("; ")))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One line per profile, as printed after it ran.
pub fn line(s: &ProfileSummary) -> String {
    let c = &s.counts;
    format!(
        "{:>7}: {} submitted, {} completed, {} compensated, {} failed, {} unfinished, {} refused; \
         {:.1} finished/s; p50 {:.1} ms, p99 {:.1} ms; {} retries",
        s.name,
        c.submitted,
        c.completed,
        c.compensated,
        c.failed,
        c.unfinished,
        c.submit_errors,
        s.throughput_per_s,
        s.latency_ms.p50,
        s.latency_ms.p99,
        s.retries.retried_attempts
    )
}

/// The lean participant's ledger check in one line.
fn ledger_line(check: &super::against::LedgerCheck) -> String {
    let against = check.against_completed.map_or_else(
        || "each step's books only (not every workflow ended)".to_owned(),
        |n| format!("against {n} completed workflows"),
    );
    match check.reconciled {
        true => format!("reconciled, {against}"),
        false => format!("NOT reconciled, {against}: {}", check.problems.join("; ")),
    }
}

/// Memory figures in one line.
fn memory(r: &Usage) -> String {
    format!(
        "peak RSS {:.0} MiB{}",
        r.process_rss_max_mib,
        r.worker_rss_max_mib
            .map_or_else(String::new, |m| format!(", worker peak RSS {m:.0} MiB")),
    )
}

/// The summary table printed at the end.
pub fn table(summary: &RunSummary) -> String {
    let mut out = format!(
        "{} ({}), participant {}\n",
        summary.topology, summary.backend, summary.participant
    );
    out.push_str(&format!(
        "{:<8} {:>9} {:>9} {:>11} {:>6} {:>8} {:>11} {:>8} {:>8} {:>8} {:>7} {:>8}\n",
        "profile",
        "submitted",
        "completed",
        "compensated",
        "failed",
        "success",
        "finished/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "retries",
        "CPU ms"
    ));
    for s in &summary.profiles {
        let cpu = s.resources.as_ref().map_or(0.0, |r| r.cpu_ms_per_saga);
        out.push_str(&format!(
            "{:<8} {:>9} {:>9} {:>11} {:>6} {:>7.1}% {:>11.1} {:>8.1} {:>8.1} {:>8.1} {:>7} {:>8.2}\n",
            s.name,
            s.counts.submitted,
            s.counts.completed,
            s.counts.compensated,
            s.counts.failed,
            s.success_ratio * 100.0,
            s.throughput_per_s,
            s.latency_ms.p50,
            s.latency_ms.p99,
            s.latency_ms.max,
            s.retries.retried_attempts,
            cpu
        ));
    }
    if let Some(b) = &summary.baseline {
        out.push_str(&format!("baseline (no engine, same run): {b}\n"));
    }
    out.push_str(&super::counters_table::text(summary));
    for s in &summary.profiles {
        if let Some(r) = &s.resources {
            out.push_str(&format!("{} memory: {}\n", s.name, memory(r)));
        }
    }
    if let Some(check) = &summary.participant_ledger {
        out.push_str(&format!("lean ledger: {}\n", ledger_line(check)));
    }
    for note in &summary.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
