//! The figures of one profile from its records: outcome counts (overall and per case),
//! success ratio, throughput, latency percentiles and retries. Pure: the records carry the
//! database's times.

use super::collect::Ended;
use super::profile::{Case, Mode, Profile};
use super::resources::Usage;
use super::share::Share;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// One submitted purchase and how it ended.
#[derive(Debug, Clone)]
pub struct Record {
    pub profile: String,
    pub case: Case,
    /// Milliseconds from the profile's start to the submit, on this process's clock.
    pub sent_ms: f64,
    /// The workflow id, or why the submit failed.
    pub submit: Result<String, String>,
    /// How it ended; `None` when it was never readable (or never submitted).
    pub ended: Option<Ended>,
}

impl Record {
    /// `completed`, `compensated`, `failed`, `unfinished` (not terminal by the deadline) or
    /// `submit_error`.
    pub fn outcome(&self) -> &str {
        match (&self.submit, &self.ended) {
            (Err(_), _) => "submit_error",
            (Ok(_), Some(e)) if e.is_terminal() => &e.status,
            (Ok(_), _) => "unfinished",
        }
    }
}

/// Outcome counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub submitted: u64,
    pub submit_errors: u64,
    pub completed: u64,
    pub compensated: u64,
    pub failed: u64,
    pub unfinished: u64,
}

impl Counts {
    fn add(&mut self, record: &Record) {
        self.submitted += 1;
        match record.outcome() {
            "submit_error" => self.submit_errors += 1,
            "completed" => self.completed += 1,
            "compensated" => self.compensated += 1,
            "failed" => self.failed += 1,
            _ => self.unfinished += 1,
        }
    }

    /// Workflows that reached a terminal status.
    pub fn finished(&self) -> u64 {
        self.completed + self.compensated + self.failed
    }
}

/// Submit-to-end latency in database time, over terminal workflows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// Retry figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Retries {
    /// Attempts over every activity of every workflow.
    pub attempts: u64,
    /// Attempts beyond each activity's first.
    pub retried_attempts: u64,
    /// Workflows with at least one retried activity.
    pub workflows_retried: u64,
}

/// One profile's figures, as `summary.json` holds them.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileSummary {
    pub name: String,
    /// `open` or `closed`.
    pub mode: &'static str,
    pub rate_per_s: Option<f64>,
    pub concurrency: Option<usize>,
    pub duration_s: f64,
    #[serde(flatten)]
    pub counts: Counts,
    /// Workflows that ended as their case must (success completed, the others compensated).
    pub as_expected: u64,
    /// Completed over submitted.
    pub success_ratio: f64,
    /// From the first workflow's creation to the last one's end, database time (retries
    /// after the load stopped make it longer than the profile).
    pub span_s: f64,
    /// Workflows that reached a terminal status within the load window (the profile's
    /// duration from the first workflow's creation, database time), per second of it.
    pub throughput_per_s: f64,
    /// Completed workflows within the load window, per second of it.
    pub completed_per_s: f64,
    pub latency_ms: Latency,
    pub retries: Retries,
    pub by_case: BTreeMap<&'static str, Counts>,
    /// CPU, SQL and memory figures, where they could be read.
    pub resources: Option<Usage>,
    /// `resources` minus the no-engine baseline's, per saga (with `--baseline`).
    pub engine_share: Option<Share>,
}

/// Summarises `records`, which all belong to `profile`.
pub fn summarize(profile: &Profile, records: &[Record]) -> ProfileSummary {
    let window_end = window_end(profile, records);
    let mut in_window = Counts::default();
    let mut counts = Counts::default();
    let mut by_case: BTreeMap<&'static str, Counts> = BTreeMap::new();
    let (mut retries, mut as_expected) = (Retries::default(), 0);
    let mut latencies = Vec::new();
    let (mut first, mut last) = (None, None);
    for record in records {
        counts.add(record);
        by_case.entry(record.case.as_str()).or_default().add(record);
        as_expected += u64::from(record.outcome() == record.case.expected_status());
        let Some(ended) = record.ended.as_ref().filter(|e| e.is_terminal()) else {
            continue;
        };
        if ended
            .finished_at
            .zip(window_end)
            .is_some_and(|(f, end)| f <= end)
        {
            in_window.add(record);
        }
        latencies.extend(ended.latency_ms());
        retries.attempts += u64::from(ended.attempts);
        retries.retried_attempts +=
            u64::from(ended.attempts - ended.activities.min(ended.attempts));
        retries.workflows_retried += u64::from(!ended.retried.is_empty());
        first = Some(first.map_or(ended.created_at, |t: DateTime<Utc>| t.min(ended.created_at)));
        last = last.max(ended.finished_at);
    }
    let span_s = match (first, last) {
        (Some(a), Some(b)) => (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6,
        _ => 0.0,
    };
    let window_s = profile.duration.as_secs_f64();
    let per_s = |n: u64| {
        if window_s > 0.0 {
            n as f64 / window_s
        } else {
            0.0
        }
    };
    let (mode, rate_per_s, concurrency) = match profile.mode {
        Mode::Open { rate_per_s } => ("open", Some(rate_per_s), None),
        Mode::Closed { concurrency } => ("closed", None, Some(concurrency)),
    };
    ProfileSummary {
        name: profile.name.clone(),
        mode,
        rate_per_s,
        concurrency,
        duration_s: profile.duration.as_secs_f64(),
        as_expected,
        success_ratio: ratio(counts.completed, counts.submitted),
        span_s,
        throughput_per_s: per_s(in_window.finished()),
        completed_per_s: per_s(in_window.completed),
        latency_ms: latency(&mut latencies),
        retries,
        by_case,
        counts,
        resources: None,
        engine_share: None,
    }
}

/// The end of the load window: the profile's duration after its first workflow's creation
/// (database time).
fn window_end(profile: &Profile, records: &[Record]) -> Option<DateTime<Utc>> {
    let first = records
        .iter()
        .filter_map(|r| r.ended.as_ref())
        .map(|e| e.created_at)
        .min()?;
    Some(first + chrono::TimeDelta::from_std(profile.duration).ok()?)
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Nearest-rank percentiles (zeros when empty).
pub fn latency(values: &mut [f64]) -> Latency {
    if values.is_empty() {
        return Latency::default();
    }
    values.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let rank = (values.len() as f64 * p).ceil() as usize;
        values[rank.clamp(1, values.len()) - 1]
    };
    Latency {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: at(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::time::Duration;

    fn record(case: Case, status: Option<&str>, created_ms: i64, took_ms: i64) -> Record {
        let created_at = Utc.timestamp_millis_opt(created_ms).unwrap();
        let ended = status.map(|status| Ended {
            status: status.to_owned(),
            created_at,
            finished_at: Some(created_at + chrono::TimeDelta::milliseconds(took_ms)),
            failed_step: None,
            attempts: 8,
            activities: 7,
            retried: Vec::new(),
        });
        Record {
            profile: "p".into(),
            case,
            sent_ms: 0.0,
            submit: Ok("id".into()),
            ended,
        }
    }

    #[test]
    fn counts_ratios_and_throughput_add_up() {
        let profile = Profile {
            name: "p".into(),
            mode: Mode::Open { rate_per_s: 2.0 },
            duration: Duration::from_secs(2),
        };
        let mut records = vec![
            record(Case::Success, Some("completed"), 0, 10),
            record(Case::Success, Some("completed"), 500, 20),
            record(Case::OutOfStock, Some("compensated"), 1000, 30),
            record(Case::Success, Some("completed"), 1500, 7000),
            record(Case::Success, Some("running"), 1500, 0),
        ];
        records.push(Record {
            submit: Err("transport".into()),
            ..record(Case::InvalidPayment, None, 0, 0)
        });
        let s = summarize(&profile, &records);
        assert_eq!(s.counts.submitted, 6);
        assert_eq!(
            (
                s.counts.completed,
                s.counts.compensated,
                s.counts.unfinished
            ),
            (3, 1, 1)
        );
        assert_eq!(s.counts.submit_errors, 1);
        assert_eq!(s.as_expected, 4);
        assert_eq!(s.success_ratio, 0.5);
        assert_eq!(s.span_s, 8.5);
        assert_eq!(s.throughput_per_s, 1.5, "3 finished in the 2 s window");
        assert_eq!(s.completed_per_s, 1.0);
        assert_eq!(s.latency_ms.p50, 20.0);
        assert_eq!(s.latency_ms.max, 7000.0);
        assert_eq!(s.retries.attempts, 32);
        assert_eq!(s.retries.retried_attempts, 4);
        assert_eq!(s.by_case["success"].completed, 3);
        assert_eq!(s.by_case["success"].unfinished, 1);
        assert_eq!(s.by_case["out_of_stock"].compensated, 1);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut values: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = latency(&mut values);
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(latency(&mut []), Latency::default());
    }
}
