//! Fixtures: four fresh databases per system, an in-process system, worker processes, and
//! waiting on a condition with a deadline.

use engine::Registry;
use sagaflow::dev::{Dev, DevConfig, Urls};
use sagaflow::roles::WorkerTuning;
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
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
        lease_ttl_ms: 1_500,
        heartbeat_ms: 500,
        poll_interval_ms: 50,
        drain_timeout_ms: 10_000,
    }
}

/// The shipped purchase workflow with retry delays of 100, 200, 400 ms.
pub fn fast_registry() -> Arc<Registry> {
    let text = include_str!("../../../workflows/purchase.toml")
        .replace("initial_interval_ms = 1000", "initial_interval_ms = 100")
        .replace("max_interval_ms = 4000", "max_interval_ms = 400")
        .replace("max_interval_ms = 60000", "max_interval_ms = 400");
    let mut registry = Registry::default();
    registry
        .insert(engine::Definition::parse(Path::new("purchase.toml"), &text).unwrap())
        .unwrap();
    Arc::new(registry)
}

/// A whole system in this process.
pub async fn start_system(dbs: &Databases, registry: Arc<Registry>) -> Dev {
    let config = DevConfig {
        urls: dbs.urls(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        redis_url: None,
        registry,
        tuning: fast_tuning(),
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
