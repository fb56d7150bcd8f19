//! `sagaflow demo`: the purchase scenario's cases (docs/scenario.md) through the HTTP API, with a table
//! of what happened — outcome, failed step, compensations, balance and stock before and
//! after. Starts its own in-process system (`dev`) unless given `--api`.

use crate::client::ApiClientArgs;
use crate::dev::{Databases, Dev, DevConfig, Urls};
use crate::load_registry;
use crate::settings::WorkerTuning;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use services::Service;
use std::sync::Arc;
use worker::Services;

/// Flags of `sagaflow demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Use this running API instead of starting one.
    #[arg(long, env = "SAGAFLOW_API")]
    pub api: Option<String>,
    /// With --api: where the services are, to show balances and stock (their admin
    /// endpoints must be on). Without it those columns stay empty.
    #[arg(long, env = "SAGAFLOW_SERVICES")]
    pub services: Option<String>,
    /// With --api: its bearer token and the CA of an https:// API (also trusted for https://
    /// --services).
    #[command(flatten)]
    pub client: ApiClientArgs,
    #[command(flatten)]
    pub databases: Databases,
    /// Exit 1 when a case does not end as docs/scenario.md says (for scripts and CI).
    #[arg(long, env = "SAGAFLOW_DEMO_CHECK")]
    pub check: bool,
}

/// One purchase the demo makes.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub user_id: i64,
    pub quantity: i64,
    pub payment_method_id: i64,
    /// What docs/scenario.md says happens.
    pub expected: &'static str,
}

/// The README's three cases, plus paying with someone else's payment method.
pub const CASES: [Case; 4] = [
    Case {
        name: "alice buys 1",
        user_id: 1,
        quantity: 1,
        payment_method_id: 1,
        expected: "completed",
    },
    Case {
        name: "bob buys 10",
        user_id: 2,
        quantity: 10,
        payment_method_id: 2,
        expected: "compensated at reserve_balance",
    },
    Case {
        name: "charlie buys 15",
        user_id: 3,
        quantity: 15,
        payment_method_id: 3,
        expected: "compensated at reserve_stock",
    },
    Case {
        name: "alice pays with bob's card",
        user_id: 1,
        quantity: 1,
        payment_method_id: 2,
        expected: "compensated at reserve_payment",
    },
];

/// What one case did.
#[derive(Debug, Clone)]
pub struct Row {
    pub case: Case,
    pub workflow: Value,
    pub outcome: String,
    pub failed_step: Option<String>,
    pub compensations: Vec<String>,
    pub balance: Option<(i64, i64)>,
    pub stock: Option<(i64, i64)>,
}

impl Row {
    /// `completed` or `compensated at <step>`: comparable with [`Case::expected`].
    pub fn summary(&self) -> String {
        match &self.failed_step {
            Some(step) => format!("{} at {step}", self.outcome),
            None => self.outcome.clone(),
        }
    }
}

/// Runs every case against `api` with `client` (see [`crate::client`]), reading balances and
/// stock from the services when known.
pub async fn run_cases(
    client: &reqwest::Client,
    api: &str,
    services: Option<&Services>,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for case in CASES {
        let before = snapshot(client, services, case.user_id).await;
        let input = json!({"user_id": case.user_id, "product_id": 1, "quantity": case.quantity, "payment_method_id": case.payment_method_id});
        let submitted = send(
            client
                .post(format!("{api}/v1/workflows?wait=10s"))
                .json(&json!({"type": "purchase", "input": input})),
        )
        .await?;
        let id = submitted["id"]
            .as_str()
            .context("submit answered without an id")?
            .to_owned();
        let workflow = send(client.get(format!("{api}/v1/workflows/{id}?wait=10s"))).await?;
        let outcome = workflow["status"].as_str().unwrap_or("unknown").to_owned();
        let activities = workflow["activities"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let failed_step = activities
            .iter()
            .find(|a| a["kind"] == "action" && a["status"] == "failed")
            .and_then(|a| a["name"].as_str().map(str::to_owned));
        let compensations = activities
            .iter()
            .filter(|a| a["kind"] == "compensation" && a["status"] == "succeeded")
            .filter_map(|a| a["name"].as_str().map(str::to_owned))
            .collect();
        let after = snapshot(client, services, case.user_id).await;
        rows.push(Row {
            case,
            workflow,
            outcome,
            failed_step,
            compensations,
            balance: before.0.zip(after.0),
            stock: before.1.zip(after.1),
        });
    }
    Ok(rows)
}

async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request.send().await.context("calling the API")?;
    let status = response.status();
    let body: Value = response.json().await.context("reading the API's answer")?;
    if !status.is_success() {
        bail!("the API answered {status}: {body}");
    }
    Ok(body)
}

/// The user's balance and the product's available stock, where the services are known.
async fn snapshot(
    client: &reqwest::Client,
    services: Option<&Services>,
    user_id: i64,
) -> (Option<i64>, Option<i64>) {
    let balance = read(
        client,
        services,
        Service::User,
        &format!("/admin/users/{user_id}"),
        "balance",
    )
    .await;
    let stock = read(
        client,
        services,
        Service::Order,
        "/admin/products/1",
        "available",
    )
    .await;
    (balance, stock)
}

/// One number from a service's admin endpoint; `None` when unknown or unreachable.
async fn read(
    client: &reqwest::Client,
    services: Option<&Services>,
    service: Service,
    path: &str,
    field: &str,
) -> Option<i64> {
    let base = services?.get(service.name())?;
    let body: Value = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    body[field].as_i64()
}

/// The table the demo prints.
pub fn table(rows: &[Row]) -> String {
    let change =
        |v: Option<(i64, i64)>| v.map_or_else(|| "-".to_owned(), |(a, b)| format!("{a} -> {b}"));
    let mut out = format!(
        "{:<28} {:<12} {:<16} {:<34} {:<14} {:<10}\n",
        "case", "outcome", "failed step", "compensations run", "balance", "stock"
    );
    for r in rows {
        let comps = if r.compensations.is_empty() {
            "-".to_owned()
        } else {
            r.compensations.join(", ")
        };
        out.push_str(&format!(
            "{:<28} {:<12} {:<16} {:<34} {:<14} {:<10}\n",
            r.case.name,
            r.outcome,
            r.failed_step.as_deref().unwrap_or("-"),
            comps,
            change(r.balance),
            change(r.stock),
        ));
    }
    out
}

/// `sagaflow demo`.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let (dev, api, services, client) = match &args.api {
        Some(api) => {
            let services = args.services.as_deref().map(Services::parse).transpose()?;
            let client = args.client.client(api)?;
            (None, api.trim_end_matches('/').to_owned(), services, client)
        }
        None => {
            let urls = match &args.databases.mysql_url {
                Some(server) => Urls::mysql(server),
                None => {
                    // A fresh demo directory, so the story starts from the README's balances.
                    let dir = args.databases.data_dir.join("demo");
                    if dir.exists() {
                        std::fs::remove_dir_all(&dir)
                            .with_context(|| format!("clearing {}", dir.display()))?;
                    }
                    Urls::sqlite(&dir)
                }
            };
            let registry = Arc::new(load_registry(None)?);
            let tuning = WorkerTuning {
                concurrency: 2,
                ..WorkerTuning::default()
            };
            let config = DevConfig {
                registry,
                tuning,
                ..DevConfig::new(urls)
            };
            let dev = Dev::start(config).await?;
            let mut services = Services::default();
            for s in [Service::User, Service::Payment, Service::Order] {
                services.insert(s.name(), dev.service_url(s));
            }
            let api = dev.api_url();
            (Some(dev), api, Some(services), reqwest::Client::new())
        }
    };
    let rows = run_cases(&client, &api, services.as_ref()).await?;
    print!("{}", table(&rows));
    if let Some(dev) = dev {
        dev.stop().await?;
    }
    let unexpected: Vec<_> = rows
        .iter()
        .filter(|r| r.summary() != r.case.expected)
        .collect();
    for r in &unexpected {
        eprintln!(
            "note: `{}` ended {}, the README expects {}",
            r.case.name,
            r.summary(),
            r.case.expected
        );
    }
    if args.check && !unexpected.is_empty() {
        anyhow::bail!(
            "{} of {} cases did not end as the README says",
            unexpected.len(),
            rows.len()
        );
    }
    Ok(())
}
