//! `sagaflow bench e2e`: one purchase at a time through the whole topology — API in this
//! process, a `sagaflow worker` process, the three services over HTTP — on MySQL. Reports
//! end-to-end latency at low load and, on an idle system, the time from submit to the first
//! step's start (with Redis wake-ups or without). Times are the database's.

use anyhow::{bail, Context};
use engine::api::{ApiConfig, ApiState, Watcher};
use engine::{Store, WorkflowId};
use roles::duration::{self, HumanDuration};
use roles::open_store;
use serde_json::{json, Value};
use services::Service;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::Wake;

#[derive(clap::Args, Debug, Clone)]
pub struct E2eArgs {
    /// The MySQL server (databases sagaflow_bench_{saga,user,payment,order} are recreated).
    #[arg(
        long,
        env = "SAGAFLOW_MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306"
    )]
    mysql_url: String,
    /// Redis for wake-ups; without it the worker polls (up to --poll-interval).
    #[arg(long)]
    redis_url: Option<String>,
    /// Purchases run back to back for the latency figures.
    #[arg(long, default_value_t = 300)]
    purchases: usize,
    /// Purchases submitted on an idle system for the submit-to-first-step figures.
    #[arg(long, default_value_t = 50)]
    idle_submits: usize,
    /// Idle time before each of those submits (a bare number is milliseconds).
    #[arg(
        long,
        visible_alias = "idle-ms",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::from_millis(300)
    )]
    idle: HumanDuration,
    /// The worker's longest poll interval (a bare number is milliseconds).
    #[arg(
        long,
        visible_alias = "poll-interval-ms",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::from_millis(worker::defaults::POLL_INTERVAL_MAX_MS)
    )]
    poll_interval: HumanDuration,
}

pub async fn e2e(args: E2eArgs) -> anyhow::Result<()> {
    let server = args.mysql_url.trim_end_matches('/');
    let url = |name: &str| format!("{server}/sagaflow_bench_{name}");
    for name in ["saga", "user", "payment", "order"] {
        crate::procs::recreate_mysql_database(server, &format!("sagaflow_bench_{name}")).await?;
    }
    let mut running = Vec::new();
    for (service, name) in [
        (Service::User, "user"),
        (Service::Payment, "payment"),
        (Service::Order, "order"),
    ] {
        let mut config = services::Config::new(url(name));
        config.admin_enabled = true;
        let state = services::AppState::connect(service, &config, None).await?;
        running.push((
            service.name(),
            services::spawn(state, SocketAddr::from(([127, 0, 0, 1], 0))).await?,
        ));
    }
    let base = |name: &str| {
        running
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| r.url())
            .expect("started")
    };
    let buyer = seed(&base("user"), &base("payment"), &base("order")).await?;
    let store = open_store(&url("saga"), 8).await?;
    let flag = ["user", "payment", "order"]
        .map(|n| format!("{n}={}", base(n)))
        .join(",");
    let mut worker = spawn_worker(&url("saga"), &flag, &args)?;
    let wake = match &args.redis_url {
        Some(redis) => Wake::with_redis(redis)?,
        None => Wake::local(),
    };
    let watcher = Watcher::new();
    watcher.spawn_poller(store.clone(), 5);
    if let Some(redis) = &args.redis_url {
        let watcher = watcher.clone();
        worker::wake::forward_finished(redis, move |id, status| {
            watcher.notify_finished(id, status)
        })?;
    }
    let state = ApiState::new(
        store.clone(),
        engine::Registry::shipped().into(),
        ApiConfig::default(),
        watcher,
    )
    .with_on_submit(Arc::new(move || wake.notify()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, engine::api::router(state)).await });
    let result = measure(&api, &store, &buyer, &args).await;
    let _ = worker.kill();
    let _ = worker.wait();
    result
}

async fn measure(api: &str, store: &Store, buyer: &Value, args: &E2eArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..5 {
        submit(&client, api, buyer, true).await?; // warm-up: connections, caches
    }
    let started = Instant::now();
    let mut client_ms = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..args.purchases {
        let t = Instant::now();
        ids.push(submit(&client, api, buyer, true).await?);
        client_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let elapsed = started.elapsed();
    let mut db_ms = Vec::new();
    for id in &ids {
        let wf = store.get(*id).await?.context("workflow vanished")?;
        if wf.status != engine::WorkflowStatus::Completed {
            bail!("workflow {id} ended {}", wf.status);
        }
        db_ms.push((wf.finished_at.unwrap_or(wf.updated_at) - wf.created_at) as f64 / 1e3);
    }
    let mut first_step_ms = Vec::new();
    for _ in 0..args.idle_submits {
        tokio::time::sleep(args.idle.get()).await;
        let id = submit(&client, api, buyer, false).await?;
        first_step_ms.push(first_step(store, id).await?);
    }
    let wakeups = if args.redis_url.is_some() {
        "Redis wake-ups"
    } else {
        "polling, no Redis"
    };
    println!("end-to-end benchmark (MySQL, API + worker process + 3 services, {wakeups})");
    println!(
        "  purchases back to back      {} in {:.1} s",
        args.purchases,
        elapsed.as_secs_f64()
    );
    println!("  latency, DB time (ms)       {}", percentiles(&mut db_ms));
    println!(
        "  latency, client (ms)        {}",
        percentiles(&mut client_ms)
    );
    println!(
        "  submit -> first step (ms)   {}   ({} idle submits)",
        percentiles(&mut first_step_ms),
        args.idle_submits
    );
    Ok(())
}

/// Submits one purchase (with `?wait=` when `wait`), returns its id.
async fn submit(
    client: &reqwest::Client,
    api: &str,
    buyer: &Value,
    wait: bool,
) -> anyhow::Result<WorkflowId> {
    let query = if wait { "?wait=10s" } else { "" };
    let body = json!({"type": "purchase", "input": buyer});
    let answer: Value = client
        .post(format!("{api}/v1/workflows{query}"))
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    answer["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("submit answered {answer}"))
}

/// Milliseconds (DB time) from a workflow's creation to the start of its first attempt.
async fn first_step(store: &Store, id: WorkflowId) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let wf = store.get(id).await?.context("workflow vanished")?;
        let first = wf
            .activities
            .first()
            .and_then(|a| a.attempts.first().map(|t| t.started_at));
        if let Some(started) = first {
            return Ok((started - wf.created_at) as f64 / 1e3);
        }
        if Instant::now() > deadline {
            bail!("workflow {id} never started");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentiles(values: &mut [f64]) -> String {
    values.sort_by(f64::total_cmp);
    let at =
        |p: f64| values[((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1];
    format!(
        "p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

/// One buyer rich enough for every purchase, with a card, and a product with deep stock.
async fn seed(user: &str, payment: &str, order: &str) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let post = |url: String, body: Value| {
        let client = client.clone();
        async move {
            anyhow::Ok(
                client
                    .post(url)
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<Value>()
                    .await?,
            )
        }
    };
    let users = post(
        format!("{user}/admin/users"),
        json!({"users": [{"username": "bench", "balance": 1_000_000_000_i64}]}),
    )
    .await?;
    let user_id = users["users"][0]["id"].as_i64().context("no user id")?;
    let methods = post(
        format!("{payment}/admin/payment-methods"),
        json!({"payment_methods": [{"user_id": user_id}]}),
    )
    .await?;
    let method_id = methods["payment_methods"][0]["id"]
        .as_i64()
        .context("no payment method id")?;
    let products = post(
        format!("{order}/admin/products"),
        json!({"products": [{"name": "bench", "price": 1, "stock": 1_000_000_000_i64}]}),
    )
    .await?;
    let product_id = products["products"][0]["id"]
        .as_i64()
        .context("no product id")?;
    Ok(
        json!({"user_id": user_id, "product_id": product_id, "quantity": 1, "payment_method_id": method_id}),
    )
}

fn spawn_worker(saga: &str, services: &str, args: &E2eArgs) -> anyhow::Result<std::process::Child> {
    let mut command = crate::procs::worker_command(saga, services, "bench")?;
    command.arg(format!("--poll-interval={}", args.poll_interval));
    if let Some(redis) = &args.redis_url {
        command.args(["--redis-url", redis]);
    }
    Ok(command.spawn()?)
}
