//! The counters of a run as a table, for the terminal and for `index.html`: per profile and
//! for the baseline, what a saga (a purchase) cost — CPU by process, MariaDB's statements,
//! commits, rows written and index reads — and each profile's engine share (profile minus
//! baseline).

use super::resources::Usage;
use super::share::Share;
use super::summary::RunSummary;

/// One row of figures: a label and the values of [`COLUMNS`] (`None`: not measured).
struct Row {
    label: String,
    values: [Option<f64>; 9],
}

/// Column headings, in the order of [`Row::values`].
const COLUMNS: [&str; 9] = [
    "CPU ms",
    "load ms",
    "server ms",
    "workers ms",
    "MariaDB ms",
    "statements",
    "commits",
    "rows written",
    "index reads",
];

fn usage_row(label: String, u: &Usage) -> Row {
    Row {
        label,
        values: [
            Some(u.cpu_ms_per_saga),
            Some(u.load_cpu_ms_per_saga),
            u.server_cpu_ms_per_saga,
            u.worker_cpu_ms_per_saga,
            u.mariadb_cpu_ms_per_saga,
            u.statements_per_saga,
            u.commits_per_saga,
            u.rows_written_per_saga,
            u.index_reads_per_saga,
        ],
    }
}

fn share_row(label: String, s: &Share) -> Row {
    Row {
        label,
        values: [
            Some(s.cpu_ms_per_saga),
            Some(s.load_cpu_ms_per_saga),
            s.server_cpu_ms_per_saga,
            s.worker_cpu_ms_per_saga,
            s.mariadb_cpu_ms_per_saga,
            s.statements_per_saga,
            s.commits_per_saga,
            s.rows_written_per_saga,
            s.index_reads_per_saga,
        ],
    }
}

/// Every row: each profile's cost, the baseline's, then each profile's share.
fn rows(summary: &RunSummary) -> Vec<Row> {
    let mut rows: Vec<Row> = summary
        .profiles
        .iter()
        .filter_map(|p| Some(usage_row(p.name.clone(), p.resources.as_ref()?)))
        .collect();
    if let Some(b) = &summary.baseline_resources {
        rows.push(usage_row(
            format!("baseline ({}, per purchase)", summary.participant),
            b,
        ));
    }
    rows.extend(summary.profiles.iter().filter_map(|p| {
        Some(share_row(
            format!("{}: engine's share", p.name),
            p.engine_share.as_ref()?,
        ))
    }));
    rows
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"))
}

/// The table for the terminal (empty when nothing was measured).
pub fn text(summary: &RunSummary) -> String {
    let rows = rows(summary);
    if rows.is_empty() {
        return String::new();
    }
    let width = rows.iter().map(|r| r.label.len()).max().unwrap_or(0).max(8);
    let mut out = format!("{:<width$}", "per saga");
    for c in COLUMNS {
        out.push_str(&format!(" {c:>12}"));
    }
    out.push('\n');
    for r in &rows {
        out.push_str(&format!("{:<width$}", r.label));
        for v in r.values {
            out.push_str(&format!(" {:>12}", cell(v)));
        }
        out.push('\n');
    }
    out
}

/// The table for `index.html` (empty when nothing was measured).
pub fn html(summary: &RunSummary, escape: impl Fn(&str) -> String) -> String {
    let rows = rows(summary);
    if rows.is_empty() {
        return String::new();
    }
    let head: String = COLUMNS.iter().map(|c| format!("<th>{c}</th>")).collect();
    let body: String = rows
        .iter()
        .map(|r| {
            let cells: String = r
                .values
                .iter()
                .map(|v| format!("<td>{}</td>", cell(*v)))
                .collect();
            format!("<tr><td>{}</td>{cells}</tr>\n", escape(&r.label))
        })
        .collect();
    format!(
        "<h2>Cost per saga, and the engine's share</h2>\n\
         <p>CPU milliseconds by process and MariaDB's counters per saga (per purchase for the \
         baseline); the engine's share is the profile's figure minus the baseline's.</p>\n\
         <table><tr><th>per saga</th>{head}</tr>\n{body}</table>\n"
    )
}
