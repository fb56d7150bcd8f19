//! Reads how every submitted workflow ended: `GET /v1/workflows/{id}?wait=` from a few
//! readers at once until it is terminal or the deadline passes. Times are the database's
//! (`created_at`, `finished_at`, each attempt's `started_at`), never this process's clock.

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Workflows read at once.
const READERS_MAX: usize = 16;
/// Longest `?wait=` of one read.
const READ_WAIT_MS_MAX: u64 = 10_000;

/// How one workflow ended (or stood at the deadline).
#[derive(Debug, Clone)]
pub struct Ended {
    /// The workflow's status: `completed`, `compensated`, `failed`, or not terminal.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The forward step that failed, for a compensated workflow.
    pub failed_step: Option<String>,
    /// Attempts over all its activities.
    pub attempts: u32,
    /// Activities run (actions and compensations).
    pub activities: u32,
    /// Every attempt of each activity that needed more than one.
    pub retried: Vec<RetriedAttempt>,
}

impl Ended {
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "compensated" | "failed")
    }

    /// Submit to end in database time, for a terminal workflow.
    pub fn latency_ms(&self) -> Option<f64> {
        let finished = self.finished_at.filter(|_| self.is_terminal())?;
        Some((finished - self.created_at).num_microseconds()? as f64 / 1e3)
    }
}

/// One attempt of an activity that was retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetriedAttempt {
    pub step: String,
    pub kind: String,
    pub attempt: u32,
    /// Since the start of the activity's first attempt (so 0 for attempt 1).
    pub offset_ms: f64,
    /// Since the workflow's creation.
    pub since_created_ms: f64,
    pub outcome: String,
}

#[derive(Deserialize)]
struct WireWorkflow {
    status: String,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    activities: Vec<WireActivity>,
}

#[derive(Deserialize)]
struct WireActivity {
    name: String,
    kind: String,
    status: String,
    attempts: Vec<WireAttempt>,
}

#[derive(Deserialize)]
struct WireAttempt {
    attempt: u32,
    started_at: DateTime<Utc>,
    outcome: String,
}

impl From<WireWorkflow> for Ended {
    fn from(wf: WireWorkflow) -> Ended {
        let failed_step = wf
            .activities
            .iter()
            .find(|a| a.kind == "action" && a.status == "failed")
            .map(|a| a.name.clone());
        let attempts = wf.activities.iter().map(|a| a.attempts.len() as u32).sum();
        let ms = |d: chrono::TimeDelta| d.num_microseconds().unwrap_or(0) as f64 / 1e3;
        let mut retried = Vec::new();
        for activity in wf.activities.iter().filter(|a| a.attempts.len() > 1) {
            let first = activity.attempts[0].started_at;
            retried.extend(activity.attempts.iter().map(|t| RetriedAttempt {
                step: activity.name.clone(),
                kind: activity.kind.clone(),
                attempt: t.attempt,
                offset_ms: ms(t.started_at - first),
                since_created_ms: ms(t.started_at - wf.created_at),
                outcome: t.outcome.clone(),
            }));
        }
        Ended {
            status: wf.status,
            created_at: wf.created_at,
            finished_at: wf.finished_at,
            failed_step,
            attempts,
            activities: wf.activities.len() as u32,
            retried,
        }
    }
}

/// Reads every workflow in `ids` until it is terminal or `deadline` passes; answers in the
/// order of `ids` (`None`: never readable).
pub async fn collect(
    client: &reqwest::Client,
    api: &str,
    ids: Vec<String>,
    deadline: Instant,
) -> Vec<Option<Ended>> {
    let bar = progress(ids.len());
    let ids = Arc::new(ids);
    let slots = Arc::new(Mutex::new(vec![None; ids.len()]));
    let next = Arc::new(AtomicUsize::new(0));
    let mut readers = JoinSet::new();
    for _ in 0..READERS_MAX.min(ids.len()) {
        let (client, api, bar) = (client.clone(), api.to_owned(), bar.clone());
        let (ids, slots, next) = (ids.clone(), slots.clone(), next.clone());
        readers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else { return };
                let ended = read_until_terminal(&client, &api, id, deadline).await;
                slots.lock().expect("not poisoned")[i] = ended;
                bar.inc(1);
            }
        });
    }
    readers.join_all().await;
    bar.finish_and_clear();
    let mut slots = slots.lock().expect("not poisoned");
    std::mem::take(&mut *slots)
}

/// The workflow once terminal, or as it stood at the deadline.
async fn read_until_terminal(
    client: &reqwest::Client,
    api: &str,
    id: &str,
    deadline: Instant,
) -> Option<Ended> {
    let mut last = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let wait_ms = (left.as_millis() as u64).min(READ_WAIT_MS_MAX);
        let url = format!("{api}/v1/workflows/{id}?wait={wait_ms}ms");
        match read(client, &url).await {
            Ok(ended) if ended.is_terminal() => return Some(ended),
            Ok(ended) => last = Some(ended),
            Err(err) => {
                tracing::warn!(workflow.id = %id, error = %err, "reading a workflow failed")
            }
        }
        if Instant::now() >= deadline {
            return last;
        }
        if wait_ms == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn read(client: &reqwest::Client, url: &str) -> Result<Ended, reqwest::Error> {
    let wf: WireWorkflow = client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(wf.into())
}

fn progress(total: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>7} [{bar:30}] {pos}/{len} workflows read")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("reading");
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_activity_lists_its_attempts() {
        let wire: WireWorkflow = serde_json::from_value(serde_json::json!({
            "status": "completed",
            "created_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:00:03.5Z",
            "activities": [
                {"name": "quote", "kind": "action", "status": "succeeded", "attempts": [
                    {"attempt": 1, "started_at": "2026-01-01T00:00:00.010Z", "outcome": "succeeded"}]},
                {"name": "reserve_payment", "kind": "action", "status": "succeeded", "attempts": [
                    {"attempt": 1, "started_at": "2026-01-01T00:00:00.020Z", "outcome": "retryable_error"},
                    {"attempt": 2, "started_at": "2026-01-01T00:00:01.020Z", "outcome": "retryable_error"},
                    {"attempt": 3, "started_at": "2026-01-01T00:00:03.020Z", "outcome": "succeeded"}]}
            ]
        }))
        .unwrap();
        let ended = Ended::from(wire);
        assert_eq!(ended.attempts, 4);
        assert_eq!(ended.activities, 2);
        assert_eq!(ended.latency_ms(), Some(3500.0));
        let offsets: Vec<f64> = ended.retried.iter().map(|r| r.offset_ms).collect();
        assert_eq!(offsets, [0.0, 1000.0, 3000.0]);
        assert_eq!(ended.retried[2].since_created_ms, 3020.0);
        assert_eq!(ended.failed_step, None);
    }
}
