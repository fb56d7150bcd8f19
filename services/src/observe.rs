//! TCC request metrics (docs/metrics.md) through the `metrics` facade only:
//! `tcc_requests_total{service,phase,outcome}` and `tcc_request_duration_seconds{service,phase}`.
//! Labels are bounded: outcome is one of `ok`, `replayed`, `rejected` (4xx), `error` (5xx).
//! Installing a recorder is the binary's job.

use std::{future::Future, time::Instant};

use crate::http;

/// Describes the services' metrics (HELP text); the binary calls it once after installing
/// the recorder.
pub fn describe() {
    metrics::describe_counter!(
        "tcc_requests_total",
        "TCC phase requests by service, phase and outcome (ok, replayed, rejected, error)"
    );
    metrics::describe_histogram!(
        "tcc_request_duration_seconds",
        metrics::Unit::Seconds,
        "TCC phase handling time by service and phase"
    );
    metrics::describe_counter!(
        "tcc_injected_faults_total",
        "Faults injected on purpose by service and kind"
    );
    metrics::describe_counter!(
        "tcc_requests_shed_total",
        "Requests refused 503 OVERLOADED at the service's cap on requests in flight"
    );
}

/// A request shed at the cap on requests in flight.
pub(crate) fn shed(service: &'static str) {
    metrics::counter!("tcc_requests_shed_total", "service" => service).increment(1);
}

/// Tells whether a reply repeats an earlier call's result (an idempotent replay).
pub(crate) trait Replayed {
    fn replayed(&self) -> bool {
        false
    }
}

/// Runs one phase handler's work, times and counts it, and shapes the reply.
pub(crate) async fn phase<T, E>(
    service: &'static str,
    phase: &'static str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<axum::Json<T>, http::Error>
where
    T: Replayed,
    http::Error: From<E>,
{
    let started = Instant::now();
    let result = work.await.map_err(http::Error::from);
    let outcome = match &result {
        Ok(reply) if reply.replayed() => "replayed",
        Ok(_) => "ok",
        Err(err) if err.status().is_client_error() => "rejected",
        Err(_) => "error",
    };
    metrics::counter!(
        "tcc_requests_total", "service" => service, "phase" => phase, "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!("tcc_request_duration_seconds", "service" => service, "phase" => phase)
        .record(started.elapsed().as_secs_f64());
    result.map(axum::Json)
}

#[cfg(test)]
mod tests {
    //! The services' side of `docs/metrics.md` (its `tcc_*` rows): every metric described and
    //! recorded here is listed with the same type and label names, and nothing else is.

    use super::*;
    use crate::faults::{Faults, Injector};
    use crate::tcc::{self, Reply, TransactionId};
    use metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Capture {
        described: Mutex<BTreeMap<String, &'static str>>,
        recorded: Mutex<BTreeMap<String, (&'static str, BTreeSet<String>)>>,
    }

    impl Capture {
        fn record(&self, key: &Key, kind: &'static str) {
            let labels = key.labels().map(|l| l.key().to_owned()).collect();
            let previous = self
                .recorded
                .lock()
                .unwrap()
                .insert(key.name().to_owned(), (kind, labels));
            let now = &self.recorded.lock().unwrap()[key.name()];
            assert!(previous.is_none_or(|p| p == *now), "{} changed", key.name());
        }
    }

    impl Recorder for Capture {
        fn describe_counter(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
            let mut described = self.described.lock().unwrap();
            described.insert(key.as_str().to_owned(), "counter");
        }
        fn describe_gauge(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
            let mut described = self.described.lock().unwrap();
            described.insert(key.as_str().to_owned(), "gauge");
        }
        fn describe_histogram(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
            let mut described = self.described.lock().unwrap();
            described.insert(key.as_str().to_owned(), "histogram");
        }
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            self.record(key, "counter");
            Counter::noop()
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            self.record(key, "gauge");
            Gauge::noop()
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            self.record(key, "histogram");
            Histogram::noop()
        }
    }

    /// `name -> (type, labels)` of the `tcc_*` rows of `docs/metrics.md`'s table.
    fn documented() -> BTreeMap<String, (String, BTreeSet<String>)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
        let text = std::fs::read_to_string(path).expect("docs/metrics.md");
        let code = |c: &str| {
            let c = c.trim();
            c.strip_prefix('`')
                .and_then(|c| c.strip_suffix('`'))
                .map(str::to_owned)
        };
        text.lines()
            .filter(|l| l.starts_with("| `tcc_"))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split('|').collect();
                let labels = cells[2].split(',').filter_map(code).collect();
                let name = code(cells[0]).expect("a name");
                (name, (cells[1].trim().to_owned(), labels))
            })
            .collect()
    }

    #[test]
    fn docs_metrics_lists_every_services_metric_with_its_type_and_labels() {
        let capture = Capture::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        metrics::with_local_recorder(&capture, || {
            describe();
            let id = TransactionId::try_from("t-1".to_owned()).unwrap();
            let work = async { Ok::<_, tcc::Error>(Reply::new(&id, "reserved")) };
            let _reply = runtime.block_on(phase("user", "try", work)).unwrap();
            Injector::new("user", Faults::default(), Some(1))
                .unwrap()
                .count("error");
            shed("user");
        });
        let described = capture.described.into_inner().unwrap();
        let recorded = capture.recorded.into_inner().unwrap();
        let documented = documented();
        let mut problems = Vec::new();
        for (name, kind) in &described {
            match (documented.get(name), recorded.get(name)) {
                (None, _) => problems.push(format!("`{name}` is not in docs/metrics.md")),
                (_, None) => problems.push(format!("`{name}` is described, not recorded here")),
                (Some((doc_kind, doc_labels)), Some((rec_kind, labels))) => {
                    if doc_kind != kind || rec_kind != kind || doc_labels != labels {
                        problems.push(format!(
                            "`{name}`: {kind} {labels:?} here, {doc_kind} {doc_labels:?} in the docs"
                        ));
                    }
                }
            }
        }
        for name in documented.keys().filter(|n| !described.contains_key(*n)) {
            problems.push(format!("docs/metrics.md lists `{name}`, never described"));
        }
        for name in recorded.keys().filter(|n| !described.contains_key(*n)) {
            problems.push(format!("`{name}` is recorded but never described"));
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
