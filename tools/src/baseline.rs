//! The no-engine baseline: the six TCC calls of a purchase (balance, payment and stock try,
//! then their confirms) made directly against the three services over real HTTP, from
//! concurrent clients, on fresh MariaDB databases, followed by a ledger reconciliation. It is
//! what the engine's load test is compared with. Not a load-test tool: fixed work, one report.

use std::{
    fmt,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};
use sqlx::{migrate::MigrateDatabase, Any};
use tokio::task::JoinSet;

use services::{AppState, Config, Running, Service};

/// Price of the benchmark product, in minor units; every purchase buys one unit.
const PRICE: i64 = 100;

/// Why the baseline could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start a service: {0}")]
    Service(#[from] services::Error),
    #[error("cannot drop a benchmark database: {0}")]
    Cleanup(#[source] sqlx::Error),
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("seeding through the admin API returned unexpected ids")]
    Seed,
    #[error("{path} answered {status}: {body}")]
    Refused {
        path: String,
        status: u16,
        body: String,
    },
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BaselineConfig {
    /// MariaDB/MySQL server without a database name, e.g. `mysql://root@127.0.0.1:3306`.
    pub mysql_server_url: String,
    pub clients: usize,
    pub purchases: usize,
    /// Buyers, created through the admin API; purchase `i` is made by user `i % users`.
    pub users: usize,
    /// Products; purchase `i` buys product `i % products`. One product (the default) makes its
    /// stock row the hot spot every purchase locks twice, as in the shipped purchase saga.
    pub products: usize,
    pub db_connections_max: u32,
}

impl BaselineConfig {
    pub fn new(mysql_server_url: impl Into<String>) -> BaselineConfig {
        BaselineConfig {
            mysql_server_url: mysql_server_url.into(),
            clients: 32,
            purchases: 10_000,
            users: 1_000,
            products: 1,
            db_connections_max: 32,
        }
    }
}

/// What happened.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub clients: usize,
    pub products: usize,
    pub purchases: usize,
    /// Purchases with a non-2xx reply or a transport error (not retried).
    pub failed: usize,
    pub elapsed_s: f64,
    pub purchases_per_s: f64,
    /// Latency of one whole purchase (six calls).
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    /// The three ledgers agree with the purchases that succeeded.
    pub reconciled: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} purchases ({} failed) of {} product(s) from {} clients in {:.2} s: \
             {:.0} purchases/s; \
             purchase latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; reconciled: {}",
            self.purchases,
            self.failed,
            self.products,
            self.clients,
            self.elapsed_s,
            self.purchases_per_s,
            self.latency_p50_ms,
            self.latency_p99_ms,
            self.latency_max_ms,
            self.reconciled
        )
    }
}

/// The three services on fresh databases, and where they listen.
#[derive(Default)]
struct Services {
    running: Vec<Running>,
    database_urls: Vec<String>,
    urls: [String; 3],
}

impl Services {
    /// Creates the databases and starts the services one by one; on failure, whatever was
    /// started is still listed, so that [`Services::shut_down`] cleans it up.
    async fn start(&mut self, config: &BaselineConfig) -> Result<(), Error> {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let server = config.mysql_server_url.trim_end_matches('/');
        for (slot, service) in Service::ALL.into_iter().enumerate() {
            let url = format!("{server}/bench_{}_{}", service.name(), &run[..12]);
            self.database_urls.push(url.clone());
            let mut service_config = Config::new(url);
            service_config.admin_enabled = true;
            service_config.db_connections_max = config.db_connections_max;
            let state = AppState::connect(service, &service_config, None).await?;
            let running = services::spawn(state, service_config.listen).await?;
            self.urls[slot] = running.url();
            self.running.push(running);
        }
        Ok(())
    }

    /// Stops the services and drops their databases, reporting the first failure.
    async fn shut_down(self) -> Result<(), Error> {
        let mut first_error = None;
        for running in self.running {
            first_error = first_error.or(running.stop().await.err().map(Error::from));
        }
        for url in &self.database_urls {
            let dropped = Any::drop_database(url).await.map_err(Error::Cleanup);
            first_error = first_error.or(dropped.err());
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Runs the baseline: fresh databases, three services on `127.0.0.1:0`, seeding through the
/// admin API, the purchases, reconciliation, and cleanup (services stopped, databases
/// dropped, also after a failure).
pub async fn baseline(config: &BaselineConfig) -> Result<Report, Error> {
    let mut services = Services::default();
    let outcome = match services.start(config).await {
        Ok(()) => measure(config, &services.urls).await,
        Err(err) => Err(err),
    };
    let cleanup = services.shut_down().await;
    let report = outcome?;
    cleanup?;
    Ok(report)
}

async fn measure(config: &BaselineConfig, urls: &[String; 3]) -> Result<Report, Error> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(config.clients)
        .build()?;
    let buyers = Arc::new(seed(&client, config, urls).await?);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = JoinSet::new();
    for _ in 0..config.clients {
        let shopper = Shopper {
            client: client.clone(),
            urls: urls.clone(),
            buyers: buyers.clone(),
            next: next.clone(),
            purchases: config.purchases,
        };
        clients.spawn(shopper.run());
    }
    let mut latencies = Vec::with_capacity(config.purchases);
    let mut failed = 0;
    for (client_latencies, client_failed) in clients.join_all().await {
        latencies.extend(client_latencies);
        failed += client_failed;
    }
    let elapsed = started.elapsed();
    let reconciled = reconcile(&client, urls, latencies.len() as i64).await?;
    Ok(report(config, failed, elapsed, latencies, reconciled))
}

/// One client: takes the next purchase number until all are taken.
struct Shopper {
    client: reqwest::Client,
    urls: [String; 3],
    buyers: Arc<Buyers>,
    next: Arc<AtomicUsize>,
    purchases: usize,
}

impl Shopper {
    /// Latencies of the purchases that succeeded, and the number that failed.
    async fn run(self) -> (Vec<Duration>, usize) {
        let (mut latencies, mut failed) = (Vec::new(), 0);
        loop {
            let number = self.next.fetch_add(1, Ordering::Relaxed);
            if number >= self.purchases {
                return (latencies, failed);
            }
            let began = Instant::now();
            match purchase(&self.client, &self.urls, self.buyers.buyer(number)).await {
                Ok(()) => latencies.push(began.elapsed()),
                Err(err) => {
                    tracing::warn!(error = %err, "purchase failed");
                    failed += 1;
                }
            }
        }
    }
}

fn report(
    config: &BaselineConfig,
    failed: usize,
    elapsed: Duration,
    mut latencies: Vec<Duration>,
    reconciled: bool,
) -> Report {
    latencies.sort_unstable();
    let quantile_ms = |q: f64| {
        let index = ((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
        latencies.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Report {
        clients: config.clients,
        products: config.products.max(1),
        purchases: config.purchases,
        failed,
        elapsed_s: elapsed.as_secs_f64(),
        purchases_per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
        latency_p50_ms: quantile_ms(0.5),
        latency_p99_ms: quantile_ms(0.99),
        latency_max_ms: quantile_ms(1.0),
        reconciled,
    }
}

/// Who buys what: one payment method per user, products stocked for every purchase.
struct Buyers {
    users: Vec<(i64, i64)>,
    products: Vec<i64>,
}

/// The ids one purchase uses.
#[derive(Clone, Copy)]
struct Buyer {
    user_id: i64,
    payment_method_id: i64,
    product_id: i64,
}

impl Buyers {
    fn buyer(&self, purchase: usize) -> Buyer {
        let (user_id, payment_method_id) = self.users[purchase % self.users.len()];
        let product_id = self.products[purchase % self.products.len()];
        Buyer {
            user_id,
            payment_method_id,
            product_id,
        }
    }
}

/// Creates the buyers (with enough balance), their payment methods and the products.
async fn seed(
    client: &reqwest::Client,
    config: &BaselineConfig,
    [user, payment, order]: &[String; 3],
) -> Result<Buyers, Error> {
    let (user_count, product_count) = (config.users.max(1), config.products.max(1));
    let balance = config.purchases.div_ceil(user_count) as i64 * PRICE;
    let users: Vec<Value> = (0..user_count)
        .map(|i| json!({ "username": format!("bench-{i}"), "balance": balance }))
        .collect();
    let created: Value = post(client, user, "/admin/users", &json!({ "users": users })).await?;
    let user_ids = ids(&created["users"]);
    let methods: Vec<Value> = user_ids.iter().map(|id| json!({ "user_id": id })).collect();
    let methods = json!({ "payment_methods": methods });
    let created: Value = post(client, payment, "/admin/payment-methods", &methods).await?;
    let method_ids = ids(&created["payment_methods"]);
    let stock = config.purchases.div_ceil(product_count);
    let products: Vec<Value> = (0..product_count)
        .map(|i| json!({ "name": format!("bench-{i}"), "price": PRICE, "stock": stock }))
        .collect();
    let products = json!({ "products": products });
    let created: Value = post(client, order, "/admin/products", &products).await?;
    let product_ids = ids(&created["products"]);
    let seeded = [user_ids.len(), method_ids.len(), product_ids.len()];
    if seeded != [user_count, user_count, product_count] {
        return Err(Error::Seed);
    }
    let users = user_ids.into_iter().zip(method_ids).collect();
    Ok(Buyers {
        users,
        products: product_ids,
    })
}

/// The `id` fields of an array of created objects.
fn ids(created: &Value) -> Vec<i64> {
    let items = created.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter_map(|item| item["id"].as_i64())
        .collect()
}

/// The six TCC calls of one purchase, in the purchase saga's order.
async fn purchase(client: &reqwest::Client, urls: &[String; 3], buyer: Buyer) -> Result<(), Error> {
    let [user, payment, order] = urls;
    let Buyer {
        user_id,
        payment_method_id,
        product_id,
    } = buyer;
    let tx = uuid::Uuid::new_v4().to_string();
    let balance = json!({ "transaction_id": tx, "user_id": user_id, "amount": PRICE });
    let payment_try = json!({
        "transaction_id": tx, "user_id": user_id, "payment_method_id": payment_method_id,
        "amount": PRICE,
    });
    let stock = json!({
        "transaction_id": tx, "user_id": user_id, "product_id": product_id, "quantity": 1,
    });
    let settle = json!({ "transaction_id": tx });
    post::<Value>(client, user, "/balance/try", &balance).await?;
    post::<Value>(client, payment, "/payments/try", &payment_try).await?;
    post::<Value>(client, order, "/stock/try", &stock).await?;
    post::<Value>(client, user, "/balance/confirm", &settle).await?;
    post::<Value>(client, payment, "/payments/confirm", &settle).await?;
    post::<Value>(client, order, "/stock/confirm", &settle).await?;
    Ok(())
}

/// True when every ledger shows exactly `purchases` settled purchases and nothing open.
async fn reconcile(
    client: &reqwest::Client,
    [user, payment, order]: &[String; 3],
    purchases: i64,
) -> Result<bool, Error> {
    let users: Value = get(client, user, "/admin/ledger").await?;
    let payments: Value = get(client, payment, "/admin/ledger").await?;
    let orders: Value = get(client, order, "/admin/ledger").await?;
    let money = purchases * PRICE;
    Ok(users["captured"] == money
        && users["reserved"] == 0
        && payments["payments"]["executed"] == json!({ "count": purchases, "amount": money })
        && payments["payments"]["reserved"]["count"] == 0
        && orders["sold"] == purchases
        && orders["reserved"] == 0
        && orders["orders"] == json!({ "count": purchases, "amount": money }))
}

async fn post<T: DeserializeOwned>(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
) -> Result<T, Error> {
    expect_success(
        client
            .post(format!("{base}{path}"))
            .json(body)
            .send()
            .await?,
        path,
    )
    .await
}

async fn get<T: DeserializeOwned>(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> Result<T, Error> {
    expect_success(client.get(format!("{base}{path}")).send().await?, path).await
}

async fn expect_success<T: DeserializeOwned>(
    response: reqwest::Response,
    path: &str,
) -> Result<T, Error> {
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(Error::Refused {
            path: path.to_owned(),
            status: status.as_u16(),
            body,
        });
    }
    Ok(response.json().await?)
}
