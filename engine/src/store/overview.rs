//! What the console's overview shows, as the database knows it: workflows by type and status,
//! workflows finished per time bucket, lease expiries, and the outcomes of recent attempts.
//!
//! Read-only and bounded: the window's rows are found by the `workflows_finished` and
//! `attempts_finished` indexes, and attempt outcomes are read for a capped sample of recent
//! workflows only. Counting by type and status reads every workflow row (one narrow scan);
//! that is the one part whose cost grows with the table (ARCHITECTURE.md, "The console").

use super::db::{args, Arg};
use super::{parse_name, Dialect, Result, Store};
use kernel::model::{AttemptOutcome, Micros, WorkflowStatus};

/// The time buckets of an overview: `count` buckets of `width` µs, the last one holding `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub width: Micros,
    pub count: u32,
}

impl Buckets {
    /// Start of the first bucket, for a database clock reading `now`: buckets are aligned to
    /// multiples of the width, so two reads a moment apart draw the same bars.
    pub fn start(&self, now: Micros) -> Micros {
        now.div_euclid(self.width) * self.width - Micros::from(self.count - 1) * self.width
    }
}

/// Workflows of one type in one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    pub workflow_type: String,
    pub status: WorkflowStatus,
    pub count: u64,
}

/// Workflows that finished in one bucket with one terminal status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishedCount {
    /// 0 for the oldest bucket.
    pub bucket: u32,
    pub status: WorkflowStatus,
    pub count: u64,
}

/// Attempts that ended in the window with one outcome, for one step of one type and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeCount {
    pub workflow_type: String,
    pub version: u32,
    pub step: u32,
    pub outcome: AttemptOutcome,
    pub count: u64,
}

/// The overview's raw figures (the API names services and fills empty buckets).
#[derive(Debug, Clone, PartialEq)]
pub struct OverviewCounts {
    /// The database clock when it was read.
    pub now: Micros,
    /// Start of the first bucket.
    pub since: Micros,
    pub counts: Vec<StatusCount>,
    pub finished: Vec<FinishedCount>,
    /// Leases that expired in the window (a worker died or stalled and one took over).
    pub lease_expiries: u64,
    /// Outcomes of attempts that ended in the window, from the sampled workflows.
    pub outcomes: Vec<OutcomeCount>,
}

/// Statuses of workflows that are not terminal.
const IN_FLIGHT: &str = "'pending', 'running', 'compensating'";

impl Store {
    /// Reads the overview for `buckets` ending now. Attempt outcomes come from at most
    /// `sample_max` workflows finished in the window (newest first) and `sample_max`
    /// unfinished ones (newest first).
    pub async fn overview(&self, buckets: Buckets, sample_max: u32) -> Result<OverviewCounts> {
        let bucket_of = match self.dialect() {
            Dialect::MySql => "(finished_at - ?) DIV ?",
            Dialect::Sqlite => "(finished_at - ?) / ?",
        };
        let mut tx = self.begin_read().await?;
        // The clock in the same read transaction: one round trip less than `Store::now`.
        let clock = format!("SELECT {} AS now", self.dialect().now());
        let now = tx.fetch_all(&clock, vec![]).await?[0].int("now")?;
        let since = buckets.start(now);
        let counted = tx
            .fetch_all(
                "SELECT workflow_type, status, COUNT(*) AS n FROM workflows \
                 GROUP BY workflow_type, status ORDER BY workflow_type, status",
                vec![],
            )
            .await?;
        let finished = tx
            .fetch_all(
                &format!(
                    "SELECT {bucket_of} AS bucket, status, COUNT(*) AS n FROM workflows \
                     WHERE finished_at >= ? GROUP BY bucket, status ORDER BY bucket, status"
                ),
                args![since, buckets.width, since],
            )
            .await?;
        let expired = tx
            .fetch_all(
                "SELECT COUNT(*) AS n FROM attempts WHERE finished_at >= ? AND outcome = ?",
                args![since, AttemptOutcome::LeaseExpired.as_str()],
            )
            .await?;
        let sample = format!(
            "SELECT id, workflow_type, version FROM (SELECT id, workflow_type, version FROM workflows \
             WHERE finished_at >= ? ORDER BY finished_at DESC LIMIT ?) f \
             UNION ALL SELECT id, workflow_type, version FROM (SELECT id, workflow_type, version \
             FROM workflows WHERE status IN ({IN_FLIGHT}) ORDER BY id DESC LIMIT ?) u"
        );
        let mut outcomes = Vec::new();
        for table in ["activities", "attempts"] {
            let sql = format!(
                "SELECT s.workflow_type, s.version, x.step, x.outcome, COUNT(*) AS n \
                 FROM ({sample}) s JOIN {table} x ON x.workflow_id = s.id \
                 WHERE x.finished_at >= ? AND x.outcome IS NOT NULL \
                 GROUP BY s.workflow_type, s.version, x.step, x.outcome"
            );
            let sample_args: Vec<Arg> =
                args![since, i64::from(sample_max), i64::from(sample_max), since];
            outcomes.extend(tx.fetch_all(&sql, sample_args).await?);
        }
        tx.commit().await?;
        Ok(OverviewCounts {
            now,
            since,
            counts: counted
                .iter()
                .map(|r| {
                    Ok(StatusCount {
                        workflow_type: r.text("workflow_type")?,
                        status: workflow_status(&r.text("status")?)?,
                        count: r.int("n")? as u64,
                    })
                })
                .collect::<Result<_>>()?,
            finished: finished
                .iter()
                .map(|r| {
                    Ok(FinishedCount {
                        // A finish stamped a moment after `now` was read lands in the last bucket.
                        bucket: (r.int("bucket")?.clamp(0, i64::from(buckets.count - 1))) as u32,
                        status: workflow_status(&r.text("status")?)?,
                        count: r.int("n")? as u64,
                    })
                })
                .collect::<Result<_>>()?,
            lease_expiries: expired[0].int("n")? as u64,
            outcomes: merge_outcomes(
                outcomes
                    .iter()
                    .map(|r| {
                        Ok(OutcomeCount {
                            workflow_type: r.text("workflow_type")?,
                            version: r.int("version")? as u32,
                            step: r.int("step")? as u32,
                            outcome: parse_name(
                                &r.text("outcome")?,
                                AttemptOutcome::parse,
                                "attempt outcome",
                            )?,
                            count: r.int("n")? as u64,
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
        })
    }
}

fn workflow_status(text: &str) -> Result<WorkflowStatus> {
    parse_name(text, WorkflowStatus::parse, "workflow status")
}

/// Adds up the groups that the journal rows and the attempt history both hold.
fn merge_outcomes(mut rows: Vec<OutcomeCount>) -> Vec<OutcomeCount> {
    rows.sort_by(|a, b| {
        (&a.workflow_type, a.version, a.step, a.outcome.as_str()).cmp(&(
            &b.workflow_type,
            b.version,
            b.step,
            b.outcome.as_str(),
        ))
    });
    let mut merged: Vec<OutcomeCount> = Vec::with_capacity(rows.len());
    for row in rows {
        match merged.last_mut() {
            Some(last)
                if (&last.workflow_type, last.version, last.step, last.outcome)
                    == (&row.workflow_type, row.version, row.step, row.outcome) =>
            {
                last.count += row.count
            }
            _ => merged.push(row),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_aligned_and_end_with_the_one_holding_now() {
        let b = Buckets {
            width: 10,
            count: 6,
        };
        assert_eq!(b.start(1_000), 950);
        assert_eq!(b.start(1_009), 950);
        assert_eq!(b.start(1_010), 960);
        // now falls in the last bucket: [start + 5 * width, start + 6 * width)
        let now = 1_234;
        let last = b.start(now) + 5 * b.width;
        assert!(last <= now && now < last + b.width);
    }

    #[test]
    fn outcome_groups_of_journal_and_history_add_up() {
        let row = |step, outcome, count| OutcomeCount {
            workflow_type: "purchase".into(),
            version: 1,
            step,
            outcome,
            count,
        };
        let merged = merge_outcomes(vec![
            row(1, AttemptOutcome::RetryableError, 2),
            row(0, AttemptOutcome::Succeeded, 5),
            row(1, AttemptOutcome::RetryableError, 3),
            row(1, AttemptOutcome::Succeeded, 4),
        ]);
        assert_eq!(
            merged,
            vec![
                row(0, AttemptOutcome::Succeeded, 5),
                row(1, AttemptOutcome::RetryableError, 5),
                row(1, AttemptOutcome::Succeeded, 4),
            ]
        );
    }
}
