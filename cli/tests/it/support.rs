//! Fixtures: four fresh databases per system, an in-process system, worker processes, and
//! waiting on a condition with a deadline.

use engine::store::NewWorkflow;
use engine::{Registry, Store};
use sagaflow::dev::{Dev, DevConfig, Urls};
use sagaflow::duration::HumanDuration;
use sagaflow::roles::WorkerTuning;
use serde_json::json;
use serde_json::Value;
use services::Service;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use testkit::TestDb;

/// The four databases of one system; the saga one is the test's own.
pub struct Databases {
    pub saga: TestDb,
    pub user: TestDb,
    pub payment: TestDb,
    pub order: TestDb,
}

impl Databases {
    pub async fn fresh(saga: TestDb) -> Databases {
        let sibling = |name: &'static str| {
            let mysql = saga.is_mysql();
            async move {
                if mysql {
                    TestDb::mysql(name)
                        .await
                        .expect("MariaDB answered for the first database")
                } else {
                    TestDb::sqlite(name)
                }
            }
        };
        let (user, payment, order) = (
            sibling("user").await,
            sibling("payment").await,
            sibling("order").await,
        );
        Databases {
            saga,
            user,
            payment,
            order,
        }
    }

    pub fn urls(&self) -> Urls {
        Urls {
            saga: self.saga.url.clone(),
            user: self.user.url.clone(),
            payment: self.payment.url.clone(),
            order: self.order.url.clone(),
        }
    }
}

/// Worker settings for tests: short leases and polls so recovery happens in seconds.
pub fn fast_tuning() -> WorkerTuning {
    WorkerTuning {
        concurrency: 2,
        claim_batch_max: 16,
        lease_ttl: HumanDuration::from_millis(1_500),
        heartbeat: HumanDuration::from_millis(500),
        poll_interval: HumanDuration::from_millis(50),
        ..WorkerTuning::default()
    }
}

/// The shipped purchase definition's text with retry delays of 100, 200, 400 ms.
pub fn fast_purchase_text() -> String {
    testkit::replace_counted(
        include_str!("../../../workflows/purchase.toml"),
        &[
            ("initial_interval_ms = 1000", "initial_interval_ms = 100", 2),
            ("max_interval_ms = 4000", "max_interval_ms = 400", 1),
            ("max_interval_ms = 60000", "max_interval_ms = 400", 1),
        ],
    )
}

/// The shipped purchase workflow with retry delays of 100, 200, 400 ms.
pub fn fast_registry() -> Arc<Registry> {
    let text = fast_purchase_text();
    let mut registry = Registry::default();
    registry
        .insert(engine::Definition::parse(Path::new("purchase.toml"), &text).unwrap())
        .unwrap();
    Arc::new(registry)
}

/// A whole system in this process.
pub async fn start_system(dbs: &Databases, registry: Arc<Registry>) -> Dev {
    let config = DevConfig {
        registry,
        tuning: fast_tuning(),
        ..DevConfig::new(dbs.urls())
    };
    Dev::start(config).await.expect("system starts")
}

/// Polls `check` until it returns `Some`, failing after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn get_json(url: &str) -> Value {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    response.json().await.expect("JSON")
}

pub async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    (
        response.status().as_u16(),
        response.json().await.expect("JSON"),
    )
}

pub async fn put_json(url: &str, body: &Value) -> u16 {
    reqwest::Client::new()
        .put(url)
        .json(body)
        .send()
        .await
        .expect("PUT")
        .status()
        .as_u16()
}

/// The activity named `name` (action) in a workflow document.
pub fn activity<'a>(workflow: &'a Value, name: &str, kind: &str) -> &'a Value {
    workflow["activities"]
        .as_array()
        .and_then(|acts| acts.iter().find(|a| a["name"] == name && a["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} `{name}` in {workflow}"))
}

/// The three services in this process (admin on, `latency_ms` added to every call).
pub struct Participants {
    running: Vec<(Service, services::Running)>,
}

impl Participants {
    pub async fn start(dbs: &Databases, latency_ms: u64) -> Participants {
        let mut running = Vec::new();
        for (service, db) in [
            (Service::User, &dbs.user),
            (Service::Payment, &dbs.payment),
            (Service::Order, &dbs.order),
        ] {
            let mut config = services::Config::new(db.url.clone());
            config.admin_enabled = true;
            config.faults.latency_ms = latency_ms;
            let state = services::AppState::connect(service, &config, None)
                .await
                .unwrap();
            running.push((
                service,
                services::spawn(state, SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .unwrap(),
            ));
        }
        Participants { running }
    }

    pub fn url(&self, service: Service) -> String {
        self.running
            .iter()
            .find(|(s, _)| *s == service)
            .unwrap()
            .1
            .url()
    }

    pub fn flag(&self) -> String {
        [Service::User, Service::Payment, Service::Order]
            .map(|s| format!("{}={}", s.name(), self.url(s)))
            .join(",")
    }

    pub async fn ledger(&self, service: Service) -> Value {
        get_json(&format!("{}/admin/ledger", self.url(service))).await
    }
}

/// Starts `sagaflow worker` as a child process: short leases and polls, unless `extra`
/// (flag, value pairs) sets them otherwise.
pub fn spawn_worker(saga_url: &str, services: &str, id: &str, extra: &[&str]) -> WorkerProcess {
    let defaults = [
        ("--lease-ttl", "1500ms"),
        ("--heartbeat", "500ms"),
        ("--poll-interval", "50ms"),
        ("--concurrency", "2"),
    ];
    let mut command = Command::new(env!("CARGO_BIN_EXE_sagaflow"));
    command.args([
        "worker",
        "--database-url",
        saga_url,
        "--services",
        services,
        "--worker-id",
        id,
    ]);
    for (flag, value) in defaults.iter().filter(|(flag, _)| !extra.contains(flag)) {
        command.args([flag, value]);
    }
    command
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    WorkerProcess(command.spawn().expect("the sagaflow binary runs"))
}

/// A worker child process, killed when dropped (so a failing test leaves none behind).
pub struct WorkerProcess(pub Child);

impl std::ops::Deref for WorkerProcess {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for WorkerProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The saga database of `dbs`, created and migrated.
pub async fn open(dbs: &Databases) -> Store {
    sagaflow::open_store(&dbs.saga.url, 4)
        .await
        .expect("saga database")
}

pub fn purchase(user_id: i64) -> NewWorkflow {
    NewWorkflow {
        workflow_type: "purchase".into(),
        input: json!({"user_id": user_id, "product_id": 1, "quantity": 1, "payment_method_id": user_id}),
        idempotency_key: None,
        submitted_by: None,
    }
}

/// How many workflows are in `status` now.
pub async fn count(store: &Store, status: engine::WorkflowStatus) -> u64 {
    store
        .count_by_status()
        .await
        .unwrap()
        .get(&status)
        .copied()
        .unwrap_or(0)
}
