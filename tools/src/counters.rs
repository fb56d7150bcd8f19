//! MariaDB's server-wide work counters, read with `SHOW GLOBAL STATUS` before and after a
//! measurement: statements (`Questions`), commits (`Com_commit`), rows written
//! (`Handler_write + Handler_update + Handler_delete`) and index reads
//! (`Handler_read_key + Handler_read_next`). Server-wide: every client of the server counts,
//! so a figure per saga is only as clean as the server was quiet.
//!
//! The parsing and the arithmetic are pure (tested below); only [`read`] talks to the server.

use serde::Serialize;

/// The status variables read, in the order of [`Counters`]' fields.
pub const VARIABLES: [&str; 7] = [
    "Questions",
    "Com_commit",
    "Handler_write",
    "Handler_update",
    "Handler_delete",
    "Handler_read_key",
    "Handler_read_next",
];

/// The counters at one moment (or, from [`Counters::since`], a difference of two moments).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub questions: u64,
    pub com_commit: u64,
    pub handler_write: u64,
    pub handler_update: u64,
    pub handler_delete: u64,
    pub handler_read_key: u64,
    pub handler_read_next: u64,
}

impl Counters {
    /// From `SHOW GLOBAL STATUS` rows (name, value). Names are matched case-insensitively
    /// (MariaDB and MySQL differ); a variable that is missing or not a number counts 0, other
    /// rows are ignored.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> Counters {
        let mut values = [0u64; VARIABLES.len()];
        for (name, value) in rows {
            if let Some(i) = VARIABLES.iter().position(|v| v.eq_ignore_ascii_case(name)) {
                values[i] = value.trim().parse().unwrap_or(0);
            }
        }
        let [questions, com_commit, handler_write, handler_update, handler_delete, handler_read_key, handler_read_next] =
            values;
        Counters {
            questions,
            com_commit,
            handler_write,
            handler_update,
            handler_delete,
            handler_read_key,
            handler_read_next,
        }
    }

    /// What happened from `before` to `self`. A counter that went down (the server restarted
    /// or `FLUSH STATUS` ran) counts 0, never a wrapped-around number.
    pub fn since(&self, before: &Counters) -> Counters {
        let d = |after: u64, before: u64| after.saturating_sub(before);
        Counters {
            questions: d(self.questions, before.questions),
            com_commit: d(self.com_commit, before.com_commit),
            handler_write: d(self.handler_write, before.handler_write),
            handler_update: d(self.handler_update, before.handler_update),
            handler_delete: d(self.handler_delete, before.handler_delete),
            handler_read_key: d(self.handler_read_key, before.handler_read_key),
            handler_read_next: d(self.handler_read_next, before.handler_read_next),
        }
    }

    /// Rows inserted, updated and deleted (temporary tables included: they are handler work).
    pub fn rows_written(&self) -> u64 {
        self.handler_write + self.handler_update + self.handler_delete
    }

    /// Index lookups and index range steps.
    pub fn index_reads(&self) -> u64 {
        self.handler_read_key + self.handler_read_next
    }

    /// The four figures the summaries show, per unit of `units` (sagas or purchases).
    pub fn per(&self, units: u64) -> PerUnit {
        let per = |n: u64| n as f64 / units.max(1) as f64;
        PerUnit {
            rows_written: per(self.rows_written()),
            index_reads: per(self.index_reads()),
            statements: per(self.questions),
            commits: per(self.com_commit),
        }
    }
}

/// Counters divided by the sagas (or purchases) they were spent on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PerUnit {
    pub rows_written: f64,
    pub index_reads: f64,
    pub statements: f64,
    pub commits: f64,
}

/// Reads the counters of the server at `url` (any database of it, or none) on a connection
/// of its own.
pub async fn read(url: &str) -> Result<Counters, sqlx::Error> {
    use sqlx::Connection;
    let mut conn = sqlx::MySqlConnection::connect(url).await?;
    let list = VARIABLES.map(|v| format!("'{v}'")).join(", ");
    let rows: Vec<(String, String)> = sqlx::query_as(&format!(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ({list})"
    ))
    .fetch_all(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(Counters::from_rows(
        rows.iter().map(|(n, v)| (n.as_str(), v.as_str())),
    ))
}

/// The databases other connections of the server are using now (not this one's; sessions
/// with no database are left out): who else the server-wide counters may be counting.
pub async fn databases_in_use(
    conn: &mut sqlx::MySqlConnection,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT db FROM information_schema.PROCESSLIST \
         WHERE id <> CONNECTION_ID() AND db IS NOT NULL",
    )
    .fetch_all(conn)
    .await
}

/// The databases of `seen` that belong to nobody in `own` (name prefixes), sorted.
pub fn foreign<'a>(seen: impl IntoIterator<Item = &'a String>, own: &[String]) -> Vec<String> {
    let mut found: Vec<String> = seen
        .into_iter()
        .filter(|db| !own.iter().any(|prefix| db.starts_with(prefix.as_str())))
        .cloned()
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_rows_parse_by_name_in_any_case_and_order() {
        let rows = [
            ("Handler_read_next", "70"),
            ("QUESTIONS", "10"),
            ("Com_commit", " 20 "),
            ("Handler_write", "30"),
            ("Handler_update", "40"),
            ("Handler_delete", "50"),
            ("Handler_read_key", "60"),
            ("Handler_read_rnd", "999"),
        ];
        let c = Counters::from_rows(rows);
        assert_eq!(
            c,
            Counters {
                questions: 10,
                com_commit: 20,
                handler_write: 30,
                handler_update: 40,
                handler_delete: 50,
                handler_read_key: 60,
                handler_read_next: 70,
            }
        );
        assert_eq!(c.rows_written(), 120);
        assert_eq!(c.index_reads(), 130);
    }

    #[test]
    fn missing_or_garbled_values_count_zero() {
        let c = Counters::from_rows([("Questions", "many"), ("Com_commit", "5")]);
        assert_eq!((c.questions, c.com_commit, c.handler_write), (0, 5, 0));
    }

    #[test]
    fn databases_of_the_run_are_not_foreign() {
        let seen: Vec<String> = [
            "sagaflow_load_saga",
            "t_other_1",
            "bench_lean_ab",
            "t_other_1",
        ]
        .map(String::from)
        .to_vec();
        let own = ["sagaflow_load_".to_owned(), "bench_".to_owned()];
        assert_eq!(foreign(&seen, &own), ["t_other_1"]);
        assert!(foreign(&seen[..1], &own).is_empty());
    }

    #[test]
    fn deltas_subtract_and_never_wrap() {
        let before = Counters::from_rows([("Questions", "100"), ("Handler_write", "50")]);
        let after = Counters::from_rows([
            ("Questions", "160"),
            ("Handler_write", "10"),
            ("Com_commit", "4"),
        ]);
        let d = after.since(&before);
        assert_eq!(d.questions, 60);
        assert_eq!(d.handler_write, 0, "a counter that went down counts 0");
        assert_eq!(d.com_commit, 4);
    }

    #[test]
    fn figures_per_unit_divide_and_survive_zero_units() {
        let c = Counters::from_rows([
            ("Questions", "90"),
            ("Com_commit", "30"),
            ("Handler_write", "12"),
            ("Handler_update", "6"),
            ("Handler_read_key", "45"),
            ("Handler_read_next", "15"),
        ]);
        let p = c.per(3);
        assert_eq!(
            (p.rows_written, p.index_reads, p.statements, p.commits),
            (6.0, 20.0, 30.0, 10.0)
        );
        assert_eq!(c.per(0).statements, 90.0, "no unit: the totals");
    }
}
