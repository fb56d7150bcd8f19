//! The workers' circuit breakers over a load run: every half second the state of each
//! worker's breaker per participant service is read — from the executor itself for an
//! in-process worker (not from this process's metrics recorder, which every in-process
//! worker of the process shares), over HTTP from a worker process's `/metrics`
//! (`sagaflow_circuit_state`: 0 closed, 1 half-open, 2 open). The samples become
//! `breakers.csv`, the state chart (`breakers.png`) and, per worker and service, the time
//! spent open and half-open and the number of openings in the summary.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How often the states are read.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// An in-process worker's breaker states, by service.
pub type LocalStates = Arc<dyn Fn() -> Vec<(String, State)> + Send + Sync>;

/// Where one worker's breakers are read.
#[derive(Clone)]
pub enum MetricsSource {
    /// The worker pool runs in this process: its executor says.
    Local(LocalStates),
    /// A worker process's metrics endpoint (`http://host:port`).
    Url(String),
}

impl MetricsSource {
    /// An in-process worker's executor as a source.
    pub fn local<E: Send + Sync + 'static>(executor: Arc<worker::Protected<E>>) -> MetricsSource {
        MetricsSource::Local(Arc::new(move || {
            executor
                .states()
                .into_iter()
                .map(|(service, state)| (service, State::from(state)))
                .collect()
        }))
    }
}

impl From<worker::breaker::State> for State {
    fn from(state: worker::breaker::State) -> State {
        match state {
            worker::breaker::State::Closed => State::Closed,
            worker::breaker::State::HalfOpen => State::HalfOpen,
            worker::breaker::State::Open => State::Open,
        }
    }
}

/// A breaker's state, as the gauge says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Closed,
    HalfOpen,
    Open,
}

impl State {
    fn from_gauge(value: f64) -> Option<State> {
        match value.round() as i64 {
            0 => Some(State::Closed),
            1 => Some(State::HalfOpen),
            2 => Some(State::Open),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::HalfOpen => "half_open",
            State::Open => "open",
        }
    }
}

/// One reading: at `t_ms` after sampling began, `worker`'s breaker for `service` was `state`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub t_ms: u64,
    /// The worker's label: `worker 1`, `worker 2`, … in the order of the sources.
    pub worker: String,
    pub service: String,
    pub state: State,
}

/// Per worker and service: how long the breaker was open and half-open, and how often it
/// opened (a sample open after one that was not), as far as the samples tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerReport {
    pub worker: String,
    pub service: String,
    pub open_s: f64,
    pub half_open_s: f64,
    pub openings: u64,
}

/// The breakers' states from a Prometheus text: `(service, state)` per series of
/// `sagaflow_circuit_state`.
pub fn parse_states(text: &str) -> Vec<(String, State)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("sagaflow_circuit_state{")?;
            let (labels, value) = rest.rsplit_once(' ')?;
            let service = labels.split("service=\"").nth(1)?.split('"').next()?;
            let state = State::from_gauge(value.parse().ok()?)?;
            Some((service.to_owned(), state))
        })
        .collect()
}

/// Reads the sources every [`SAMPLE_EVERY`] until [`Sampler::finish`].
pub struct Sampler {
    task: JoinHandle<()>,
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl Sampler {
    /// Starts sampling `sources` (nothing is sampled when there are none).
    pub fn start(sources: Vec<MetricsSource>) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let sink = samples.clone();
        let task = tokio::spawn(async move {
            if sources.is_empty() {
                return;
            }
            let client = reqwest::Client::builder()
                .timeout(SAMPLE_EVERY)
                .build()
                .expect("a plain HTTP client builds");
            let started = Instant::now();
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let t_ms = started.elapsed().as_millis() as u64;
                for (i, source) in sources.iter().enumerate() {
                    let Some(states) = read(&client, source).await else {
                        continue; // a worker that does not answer this time is skipped
                    };
                    let worker = format!("worker {}", i + 1);
                    let mut sink = sink.lock().expect("the samples' lock is never poisoned");
                    sink.extend(states.into_iter().map(|(service, state)| Sample {
                        t_ms,
                        worker: worker.clone(),
                        service,
                        state,
                    }));
                }
            }
        });
        Sampler { task, samples }
    }

    /// Stops sampling and hands the samples over, oldest first.
    pub fn finish(self) -> Vec<Sample> {
        self.task.abort();
        std::mem::take(&mut *self.samples.lock().expect("never poisoned"))
    }
}

async fn read(client: &reqwest::Client, source: &MetricsSource) -> Option<Vec<(String, State)>> {
    match source {
        MetricsSource::Local(states) => Some(states()),
        MetricsSource::Url(base) => {
            let response = client.get(format!("{base}/metrics")).send().await.ok()?;
            Some(parse_states(&response.text().await.ok()?))
        }
    }
}

/// The samples grouped by worker and service, in time order.
pub fn series(samples: &[Sample]) -> BTreeMap<(String, String), Vec<(u64, State)>> {
    let mut by: BTreeMap<(String, String), Vec<(u64, State)>> = BTreeMap::new();
    for s in samples {
        by.entry((s.worker.clone(), s.service.clone()))
            .or_default()
            .push((s.t_ms, s.state));
    }
    by
}

/// Time in each state and openings per worker and service: a sample's state is taken to
/// hold until the next sample of the same series.
pub fn report(samples: &[Sample]) -> Vec<BreakerReport> {
    series(samples)
        .into_iter()
        .map(|((worker, service), points)| {
            let (mut open_ms, mut half_open_ms, mut openings) = (0u64, 0u64, 0u64);
            for (i, (t, state)) in points.iter().enumerate() {
                let held = points.get(i + 1).map_or(0, |(next, _)| next - t);
                match state {
                    State::Open => open_ms += held,
                    State::HalfOpen => half_open_ms += held,
                    State::Closed => {}
                }
                let was_open = i > 0 && points[i - 1].1 == State::Open;
                if *state == State::Open && !was_open {
                    openings += 1;
                }
            }
            BreakerReport {
                worker,
                service,
                open_s: open_ms as f64 / 1000.0,
                half_open_s: half_open_ms as f64 / 1000.0,
                openings,
            }
        })
        .collect()
}

/// `breakers.csv`: one row per sample.
pub fn csv(samples: &[Sample]) -> String {
    let mut out = String::from("t_ms,worker,service,state\n");
    for s in samples {
        out.push_str(&format!(
            "{},{},{},{}\n",
            s.t_ms,
            s.worker,
            s.service,
            s.state.as_str()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_read_per_service_from_the_gauge() {
        let text = "# TYPE sagaflow_circuit_state gauge\n\
                    sagaflow_circuit_state{service=\"payment\"} 2\n\
                    sagaflow_circuit_state{service=\"user\"} 0\n\
                    sagaflow_circuit_state{service=\"order\"} 1\n\
                    sagaflow_circuit_transitions_total{service=\"payment\",to=\"open\"} 3\n\
                    sagaflow_circuit_state{service=\"odd\"} 7\n";
        assert_eq!(
            parse_states(text),
            vec![
                ("payment".to_owned(), State::Open),
                ("user".to_owned(), State::Closed),
                ("order".to_owned(), State::HalfOpen),
            ]
        );
    }

    #[test]
    fn the_report_counts_time_per_state_and_openings() {
        let s = |t_ms, state| Sample {
            t_ms,
            worker: "worker 1".into(),
            service: "payment".into(),
            state,
        };
        use State::*;
        let samples = [
            s(0, Closed),
            s(500, Open),
            s(1000, Open),
            s(1500, HalfOpen),
            s(2000, Open),
            s(2500, Closed),
            s(3000, Closed),
        ];
        assert_eq!(
            report(&samples),
            vec![BreakerReport {
                worker: "worker 1".into(),
                service: "payment".into(),
                open_s: 1.5,
                half_open_s: 0.5,
                openings: 2,
            }]
        );
        assert_eq!(
            csv(&samples[..1]),
            "t_ms,worker,service,state\n0,worker 1,payment,closed\n"
        );
    }
}
