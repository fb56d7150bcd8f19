//! Every metric of docs/metrics.md is exported and moves when its event happens (the
//! breaker's and the bulkhead's through a `worker::Protected` runner). A test binary
//! of its own: the Prometheus recorder is global to the process, so nothing else may run
//! in it.

use engine::api::{ApiConfig, ApiState, Watcher};
use engine::runner::{Runner, RunnerConfig};
use engine::{Registry, Store, WorkflowId};
use serde_json::{json, Value};
use services::Service;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::breaker::{BreakerConfig, DEFAULT_BREAKER};
use worker::{HttpExecutor, Protected, Protection, Services};

/// `name{labels}` -> value, from the exporter's text.
fn samples() -> BTreeMap<String, f64> {
    sagaflow::telemetry::metrics()
        .render()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            l.rsplit_once(' ')
                .and_then(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        })
        .collect()
}

/// The metric names of `docs/metrics.md`'s table (its rows start with `` | `name` ``).
fn documented_names() -> std::collections::BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
    std::fs::read_to_string(path)
        .expect("docs/metrics.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// Sum over the series of `name` whose labels contain every `needle`.
fn total(samples: &BTreeMap<String, f64>, name: &str, needles: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.split('{').next() == Some(name) && needles.iter().all(|n| k.contains(n)))
        .map(|(_, v)| v)
        .sum()
}

struct System {
    store: Store,
    api: String,
    services: Vec<(Service, services::Running)>,
    executor: Arc<HttpExecutor>,
    registry: Arc<Registry>,
    _dir: tempfile::TempDir,
}

impl System {
    async fn start() -> System {
        let dir = tempfile::tempdir().unwrap();
        let url = |name: &str| {
            format!(
                "sqlite://{}",
                dir.path().join(format!("{name}.db")).display()
            )
        };
        let mut running = Vec::new();
        let mut map = Services::default();
        for service in [Service::User, Service::Payment, Service::Order] {
            let mut config = services::Config::new(url(service.name()));
            config.admin_enabled = true;
            let state =
                services::AppState::connect(service, &config, Some(sagaflow::telemetry::metrics()))
                    .await
                    .unwrap();
            let r = services::spawn(state, SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .unwrap();
            map.insert(service.name(), r.url());
            running.push((service, r));
        }
        let store = sagaflow::open_store(&url("saga"), 8).await.unwrap();
        let registry: Arc<Registry> = Arc::new(Registry::shipped());
        let state = ApiState::new(
            store.clone(),
            registry.clone(),
            ApiConfig::default(),
            Watcher::new(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, engine::api::router(state)).await });
        let executor = Arc::new(HttpExecutor::new(map));
        System {
            store,
            api,
            services: running,
            executor,
            registry,
            _dir: dir,
        }
    }

    fn runner(&self, worker: &str, lease_ttl_ms: u64) -> Runner<HttpExecutor> {
        let config = RunnerConfig {
            lease_ttl_ms,
            heartbeat_ms: 60_000,
            ..RunnerConfig::new(worker)
        };
        Runner::new(
            self.store.clone(),
            self.registry.clone(),
            self.executor.clone(),
            config,
        )
    }

    fn service(&self, service: Service) -> String {
        self.services
            .iter()
            .find(|(s, _)| *s == service)
            .unwrap()
            .1
            .url()
    }

    async fn faults(&self, service: Service, faults: Value) {
        let url = format!("{}/admin/faults", self.service(service));
        let status = reqwest::Client::new()
            .put(url)
            .json(&faults)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    }

    async fn submit(&self, user_id: i64, quantity: i64) -> WorkflowId {
        let input = json!({"user_id": user_id, "product_id": 1, "quantity": quantity, "payment_method_id": user_id});
        let body = json!({"type": "purchase", "input": input});
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/v1/workflows", self.api))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["id"].as_str().unwrap().parse().unwrap()
    }

    /// Runs `runner` until `id` is terminal (retries fall due on their own; deadline 20 s).
    async fn finish(&self, runner: &Runner<HttpExecutor>, id: WorkflowId) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self
            .store
            .get(id)
            .await
            .unwrap()
            .unwrap()
            .status
            .is_terminal()
        {
            assert!(Instant::now() < deadline, "workflow {id} did not end");
            if runner.run_once().await.unwrap().claimed == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

const NO_FAULTS: &str = r#"{"error_rate": 0.0, "latency_ms": 0, "drop_after_commit_rate": 0.0}"#;

/// Success, business failure with compensation, a retried transient fault, a lost lease and
/// a fenced write: every §9 metric is there and counted the events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_moves_when_its_event_happens() {
    let system = System::start().await;
    let before = samples();
    let runner = system.runner("w", 30_000);
    for (user, quantity) in [(1, 1), (2, 10), (3, 15)] {
        let id = system.submit(user, quantity).await;
        system.finish(&runner, id).await;
    }
    system
        .faults(
            Service::Payment,
            json!({"error_rate": 1.0, "latency_ms": 0, "drop_after_commit_rate": 0.0}),
        )
        .await;
    let flaky = system.submit(1, 1).await;
    runner.run_once().await.unwrap();
    system
        .faults(Service::Payment, serde_json::from_str(NO_FAULTS).unwrap())
        .await;
    system.finish(&runner, flaky).await;

    // A slow quote outlives a 100 ms lease: B reclaims it, A's late completion is fenced.
    system
        .faults(
            Service::Order,
            json!({"error_rate": 0.0, "latency_ms": 400, "drop_after_commit_rate": 0.0}),
        )
        .await;
    let slow = system.submit(1, 1).await;
    let a = system.runner("a", 100);
    let stale = tokio::spawn(async move { a.run_once().await.unwrap() });
    let deadline = Instant::now() + Duration::from_secs(10);
    while system.store.get(slow).await.unwrap().unwrap().activities[0]
        .lease_owner
        .as_deref()
        != Some("a")
    {
        assert!(Instant::now() < deadline, "A never took the quote");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let b = system.runner("b", 30_000);
    while b.run_once().await.unwrap().claimed == 0 {
        assert!(Instant::now() < deadline, "the lease never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stale.await.unwrap().fenced, 1, "A's completion was fenced");
    system
        .faults(Service::Order, serde_json::from_str(NO_FAULTS).unwrap())
        .await;
    system.finish(&b, slow).await;

    // Payment down behind a breaker that opens at the first failure and a bulkhead of one
    // call: two purchases reach reserve_payment in one batch; the first call fails and opens
    // the breaker, the second finds the bulkhead full; given back, it then meets the open
    // breaker. Both stay running (deferred for a minute).
    let protection = Protection {
        breaker: BreakerConfig {
            failures: 1,
            open: Duration::from_secs(60),
            ..DEFAULT_BREAKER
        },
        bulkhead: 1,
    };
    let protected = Runner::new(
        system.store.clone(),
        system.registry.clone(),
        Arc::new(Protected::new(
            system.executor.as_ref().clone(),
            ["payment"],
            protection,
            &Default::default(),
        )),
        RunnerConfig::new("protected"),
    );
    system
        .faults(
            Service::Payment,
            json!({"error_rate": 1.0, "latency_ms": 0, "drop_after_commit_rate": 0.0}),
        )
        .await;
    system.submit(1, 1).await;
    system.submit(2, 1).await;
    let first = protected.run_once().await.unwrap();
    assert_eq!((first.claimed, first.deferred), (2, 1), "{first:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while protected.run_once().await.unwrap().deferred == 0 {
        assert!(
            Instant::now() < deadline,
            "the rejected one never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    system
        .faults(Service::Payment, serde_json::from_str(NO_FAULTS).unwrap())
        .await;

    let backlog = system.store.backlog().await.unwrap();
    engine::metrics::sampled(backlog.ready, backlog.overdue, backlog.parked);
    engine::metrics::worker_up();

    let after = samples();
    let moved =
        |name: &str, needles: &[&str]| total(&after, name, needles) - total(&before, name, needles);
    let p = r#"type="purchase""#;
    assert_eq!(moved("sagaflow_workflows_submitted_total", &[p]), 7.0);
    let pay = r#"service="payment""#;
    assert_eq!(
        moved("sagaflow_circuit_transitions_total", &[pay, r#"to="open""#]),
        1.0
    );
    assert_eq!(moved("sagaflow_bulkhead_rejected_total", &[pay]), 1.0);
    assert!(moved("sagaflow_breaker_deferred_total", &[pay]) >= 1.0);
    assert_eq!(total(&after, "sagaflow_circuit_state", &[pay]), 2.0, "open");
    assert_eq!(
        moved(
            "sagaflow_workflows_finished_total",
            &[p, r#"outcome="completed""#]
        ),
        3.0
    );
    assert_eq!(
        moved(
            "sagaflow_workflows_finished_total",
            &[p, r#"outcome="compensated""#]
        ),
        2.0
    );
    assert_eq!(moved("sagaflow_workflow_duration_seconds_count", &[p]), 5.0);
    assert!(
        moved(
            "sagaflow_activity_attempts_total",
            &[r#"step="reserve_payment""#, r#"outcome="retryable_error""#]
        ) >= 1.0
    );
    assert_eq!(
        moved(
            "sagaflow_activity_attempts_total",
            &[r#"step="reserve_balance""#, r#"outcome="business_error""#]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "sagaflow_activity_attempts_total",
            &[r#"step="quote""#, r#"outcome="lease_expired""#]
        ),
        1.0
    );
    assert!(
        moved(
            "sagaflow_activity_attempts_total",
            &[r#"outcome="succeeded""#]
        ) >= 28.0
    );
    assert!(
        moved(
            "sagaflow_activity_duration_seconds_count",
            &[r#"step="confirm_order""#]
        ) >= 3.0
    );
    assert!(
        moved(
            "sagaflow_retries_scheduled_total",
            &[r#"step="reserve_payment""#]
        ) >= 1.0
    );
    assert_eq!(
        moved(
            "sagaflow_compensations_total",
            &[r#"step="reserve_payment""#]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "sagaflow_compensations_total",
            &[r#"step="reserve_balance""#]
        ),
        1.0
    );
    assert_eq!(moved("sagaflow_lease_expirations_total", &[]), 1.0);
    assert_eq!(moved("sagaflow_fenced_writes_total", &[]), 1.0);
    assert!(moved("sagaflow_claim_duration_seconds_count", &[]) >= 5.0);
    assert!(total(&after, "sagaflow_worker_last_claim_timestamp_seconds", &[]) > 1.7e9);
    assert_eq!(
        total(&after, "sagaflow_worker_inflight_activities", &[]),
        0.0,
        "nothing runs now"
    );
    assert_eq!(total(&after, "sagaflow_worker_up", &[]), 1.0);
    for gauge in [
        "sagaflow_ready_activities",
        "sagaflow_overdue_activities",
        "sagaflow_parked_workflows",
    ] {
        assert!(after.keys().any(|k| k == gauge), "{gauge} is exported");
    }
    let submit = [r#"method="POST""#, r#"route="/v1/workflows""#];
    assert_eq!(
        moved(
            "http_requests_total",
            &[submit[0], submit[1], r#"status="201""#]
        ),
        7.0
    );
    assert_eq!(moved("http_request_duration_seconds_count", &submit), 7.0);
    assert!(
        moved(
            "tcc_requests_total",
            &[r#"service="payment""#, r#"phase="try""#]
        ) >= 4.0
    );
    assert!(moved("tcc_request_duration_seconds_count", &[r#"service="user""#]) >= 1.0);
    let documented = documented_names();
    for series in after.keys() {
        let name = series.split('{').next().unwrap_or(series);
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| documented.contains(*b)))
            .unwrap_or(name);
        assert!(
            documented.contains(base),
            "`{name}` is exported but not in docs/metrics.md"
        );
    }
    for name in after
        .keys()
        .filter(|k| k.starts_with("sagaflow_") || k.starts_with("http_"))
    {
        assert!(
            !name.contains("workflow_id") && !name.contains("user_id"),
            "unbounded label in {name}"
        );
    }
}
