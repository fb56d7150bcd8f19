//! The web console (`/ui/`) in a real browser against a real system: headless Chromium through
//! chromedriver, driving the console that the in-process `sagaflow dev` serves (services,
//! SQLite saga database, workers, API). Each test starts its own system and browser (a
//! test that injects faults into a service must not share it), so no test depends on another
//! or on their order. Without /usr/bin/chromedriver a test prints a note and passes; with
//! `CI=true` it fails. `SAGAFLOW_SCREENSHOTS=<dir>` saves screenshots of the views
//! (`scripts/console-screenshots.sh`); `SAGAFLOW_CHROMEDRIVER` names another driver binary;
//! `SAGAFLOW_CONSOLE_DIR=<dir>` (read by the console itself) runs the tests against the files
//! in that directory instead of the embedded ones, without a rebuild: a quick way to see a
//! test fail on a deliberately broken copy of `engine/ui`.

pub mod harness;

use harness::Browser;

mod auth;
mod control;
mod detail;
mod list;
mod live;
mod selfcheck;
mod subjects;
mod views;

use crate::support::{get_json, Databases};
use sagaflow::dev::{Dev, DevConfig};
use serde_json::{json, Value};
use services::Service;
use std::sync::Arc;

/// One system for one test: its four SQLite databases and the running `Dev`.
pub struct System {
    pub dev: Dev,
    pub api: String,
    /// The bearer token the test's own API calls send, when the API asks for one.
    token: Option<String>,
    _dbs: Databases,
}

impl System {
    /// A system on fresh SQLite files with the given workflow types.
    pub async fn start(registry: Arc<engine::Registry>) -> System {
        System::start_with_tokens(registry, &[]).await
    }

    /// The same, with an API that asks for one of `tokens` (none: no auth).
    pub async fn start_with_tokens(registry: Arc<engine::Registry>, tokens: &[&str]) -> System {
        System::start_with_auth(registry, tokens, None).await
    }

    /// The same, with an API that also accepts the JWTs `jwt` verifies.
    pub async fn start_with_auth(
        registry: Arc<engine::Registry>,
        tokens: &[&str],
        jwt: Option<engine::api::Jwt>,
    ) -> System {
        let dbs = Databases::fresh(testkit::TestDb::sqlite("console")).await;
        let config = DevConfig {
            registry,
            tuning: crate::support::fast_tuning(),
            api_tokens: tokens.iter().map(|t| (*t).to_owned()).collect(),
            jwt,
            ..DevConfig::new(dbs.urls())
        };
        let dev = Dev::start(config).await.expect("system starts");
        let api = dev.api_url();
        System {
            dev,
            api,
            token: tokens.first().map(|t| (*t).to_owned()),
            _dbs: dbs,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = reqwest::Client::new().request(method, format!("{}{path}", self.api));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Submits a purchase through the API (with an `Idempotency-Key` when given); its id.
    pub async fn submit(&self, input: Value, key: Option<&str>) -> String {
        self.submit_as("purchase", input, key).await
    }

    /// Submits a workflow of type `kind`; its id.
    pub async fn submit_as(&self, kind: &str, input: Value, key: Option<&str>) -> String {
        let mut request = self
            .request(reqwest::Method::POST, "/v1/workflows")
            .json(&json!({"type": kind, "input": input}));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let answer = request.send().await.expect("submit");
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.expect("JSON");
        assert_eq!(status, 201, "submit: {body}");
        body["id"].as_str().expect("an id").to_owned()
    }

    /// The workflow, held until it is terminal or `wait` passes (`"10s"`).
    pub async fn workflow(&self, id: &str, wait: &str) -> Value {
        let path = format!("/v1/workflows/{id}?wait={wait}");
        let answer = self
            .request(reqwest::Method::GET, &path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        answer.json().await.expect("JSON")
    }

    /// Sets a service's fault injection (`PUT /admin/faults`, missing fields are 0).
    pub async fn faults(&self, service: Service, faults: Value) {
        let url = format!("{}/admin/faults", self.dev.service_url(service));
        let status = crate::support::put_json(&url, &faults).await;
        assert_eq!(status, 200, "PUT {url} {faults}");
    }

    pub async fn stop(self) {
        self.dev.stop().await.expect("the system stops");
    }
}

/// The shipped purchase type.
pub const PURCHASE_TOML: &str = include_str!("../../../../workflows/purchase.toml");

/// A retry policy as the TOML writes it: attempts, first interval, cap (ms).
pub type Policy = (u32, u64, u64);

/// The purchase type with its two retry policies replaced: `retry` for the steps before the
/// pivot, `persistent` for those after it and the compensations (shipped: 4 attempts from
/// 1 s capped at 4 s; 40 from 1 s capped at 60 s).
pub fn purchase_toml(retry: Policy, persistent: Policy) -> String {
    let block = |name: &str, (attempts, initial, max): Policy| {
        format!(
            "[{name}]\nmax_attempts = {attempts}\ninitial_interval_ms = {initial}\nmultiplier = 2.0\nmax_interval_ms = {max}\n"
        )
    };
    let shipped_retry = block("retry", (4, 1000, 4000));
    let shipped_persistent = block("persistent_retry", (40, 1000, 60_000));
    testkit::replace_counted(
        PURCHASE_TOML,
        &[
            (&shipped_retry, &block("retry", retry), 1),
            (
                &shipped_persistent,
                &block("persistent_retry", persistent),
                1,
            ),
        ],
    )
}

/// A registry of workflow types given as (file name, TOML text).
pub fn registry(types: &[(&str, &str)]) -> Arc<engine::Registry> {
    let mut registry = engine::Registry::default();
    for (file, text) in types {
        let definition = engine::Definition::parse(std::path::Path::new(file), text)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        registry.insert(definition).expect("a new type");
    }
    Arc::new(registry)
}

/// The shipped purchase type alone.
pub fn shipped() -> Arc<engine::Registry> {
    registry(&[("purchase.toml", PURCHASE_TOML)])
}

/// Starts a system and a browser on its console; `None` (after stopping the system) when the
/// browser is missing outside CI.
pub async fn console(registry: Arc<engine::Registry>) -> Option<(System, Browser)> {
    let system = System::start(registry).await;
    match Browser::start(&system.api).await {
        Some(browser) => Some((system, browser)),
        None => {
            system.stop().await;
            None
        }
    }
}

/// The README's purchases (docs/scenario.md): who buys how many with which card.
pub fn purchase(user_id: i64, quantity: i64, payment_method_id: i64) -> Value {
    json!({"user_id": user_id, "product_id": 1, "quantity": quantity, "payment_method_id": payment_method_id})
}

pub fn alice_buys_1() -> Value {
    purchase(1, 1, 1)
}

pub fn bob_buys_10() -> Value {
    purchase(2, 10, 2)
}

pub fn charlie_buys_15() -> Value {
    purchase(3, 15, 3)
}
