//! Offers one profile's load to the API: an open loop (a fixed arrival rate; submits without
//! waiting) or a closed loop (a fixed number of clients, each submitting with `?wait=` and
//! then the next), with a progress bar showing the live rate and errors.
//!
//! Only submits: how each workflow ended is read afterwards (`collect`).

use super::profile::{Case, Mix, Mode, Profile};
use super::seed::Fixtures;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// How long a closed-loop client holds a submit open for its workflow to end.
const CLOSED_LOOP_WAIT: &str = "30s";
/// How often the progress bar's rate is recomputed.
const PROGRESS_TICK_MS: u64 = 500;

/// One submit: what was asked and what the API answered.
#[derive(Debug, Clone)]
pub struct Submission {
    pub case: Case,
    /// Milliseconds since the profile started, on this process's clock.
    pub sent_ms: f64,
    /// The workflow id, or why the submit failed.
    pub result: Result<String, String>,
}

/// What every submit needs.
pub struct Driver {
    pub client: reqwest::Client,
    pub api: String,
    pub fixtures: Fixtures,
    pub mix: Mix,
    pub seed: u64,
}

/// Counters the progress bar shows.
#[derive(Default)]
struct Live {
    submitted: AtomicU64,
    errors: AtomicU64,
}

/// Runs `profile` to its end and returns every submit in the order it was made.
pub async fn drive(driver: Arc<Driver>, profile: &Profile) -> Vec<Submission> {
    let live = Arc::new(Live::default());
    let bar = progress(profile);
    let ticker = spawn_ticker(bar.clone(), live.clone());
    let mut submissions = match profile.mode {
        Mode::Open { rate_per_s } => open_loop(&driver, rate_per_s, profile.duration, &live).await,
        Mode::Closed { concurrency } => {
            closed_loop(&driver, concurrency, profile.duration, &live).await
        }
    };
    ticker.abort();
    bar.finish_and_clear();
    submissions.sort_by(|a, b| a.sent_ms.total_cmp(&b.sent_ms));
    submissions
}

async fn open_loop(
    driver: &Arc<Driver>,
    rate_per_s: f64,
    duration: Duration,
    live: &Arc<Live>,
) -> Vec<Submission> {
    let start = Instant::now();
    let end = tokio::time::Instant::from(start + duration);
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate_per_s));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut rng = StdRng::seed_from_u64(driver.seed);
    let (mut tasks, mut done) = (JoinSet::new(), Vec::new());
    for n in 0.. {
        if ticks.tick().await >= end {
            break;
        }
        let case = driver.mix.pick(&mut rng);
        let (driver, live) = (driver.clone(), live.clone());
        tasks.spawn(async move { driver.submit(n, case, start, false, &live).await });
        while let Some(finished) = tasks.try_join_next() {
            done.push(finished.expect("a submit task does not panic"));
        }
    }
    done.extend(tasks.join_all().await);
    done
}

async fn closed_loop(
    driver: &Arc<Driver>,
    concurrency: usize,
    duration: Duration,
    live: &Arc<Live>,
) -> Vec<Submission> {
    let start = Instant::now();
    let end = start + duration;
    let sequence = Arc::new(Mutex::new((0_usize, StdRng::seed_from_u64(driver.seed))));
    let mut clients = JoinSet::new();
    for _ in 0..concurrency {
        let (driver, live, sequence) = (driver.clone(), live.clone(), sequence.clone());
        clients.spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < end {
                let (n, case) = {
                    let mut next = sequence.lock().expect("not poisoned");
                    let n = next.0;
                    next.0 += 1;
                    (n, driver.mix.pick(&mut next.1))
                };
                mine.push(driver.submit(n, case, start, true, &live).await);
            }
            mine
        });
    }
    clients.join_all().await.into_iter().flatten().collect()
}

impl Driver {
    /// Submits the `n`-th purchase (of `case`); with `wait`, holds until it ends.
    async fn submit(
        &self,
        n: usize,
        case: Case,
        start: Instant,
        wait: bool,
        live: &Live,
    ) -> Submission {
        let sent_ms = start.elapsed().as_secs_f64() * 1e3;
        let query = if wait {
            format!("?wait={CLOSED_LOOP_WAIT}")
        } else {
            String::new()
        };
        let body = json!({"type": "purchase", "input": self.fixtures.input(case, n)});
        let url = format!("{}/v1/workflows{query}", self.api);
        let result = send(&self.client, &url, &body).await;
        live.submitted.fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            live.errors.fetch_add(1, Ordering::Relaxed);
        }
        Submission {
            case,
            sent_ms,
            result,
        }
    }
}

/// The new workflow's id, or a short description of the failure.
async fn send(client: &reqwest::Client, url: &str, body: &Value) -> Result<String, String> {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .map_err(|e| format!("HTTP {status}: unreadable answer: {e}"))?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", answer["error"]["code"]));
    }
    answer["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("HTTP {status}: no id in {answer}"))
}

fn progress(profile: &Profile) -> ProgressBar {
    let bar = ProgressBar::new(profile.duration.as_millis() as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>7} [{bar:30}] {elapsed:>4} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(profile.name.clone());
    bar
}

/// Moves the bar with the clock and shows the submitted count, the rate over the last tick
/// and the errors.
fn spawn_ticker(bar: ProgressBar, live: Arc<Live>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = Instant::now();
        let tick = Duration::from_millis(PROGRESS_TICK_MS);
        let mut last = 0;
        loop {
            tokio::time::sleep(tick).await;
            let submitted = live.submitted.load(Ordering::Relaxed);
            let rate = (submitted - last) as f64 / tick.as_secs_f64();
            last = submitted;
            bar.set_position(start.elapsed().as_millis() as u64);
            bar.set_message(format!(
                "{submitted} submitted, {rate:.0}/s, {} errors",
                live.errors.load(Ordering::Relaxed)
            ));
        }
    })
}
