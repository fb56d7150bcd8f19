//! The lean participant keeps the services' TCC rules over real HTTP, on SQLite and MariaDB:
//! repeats answer again and change nothing, cancel before try blocks the late try, confirm
//! and cancel exclude each other, refusals leave nothing; its ledger adds up. Its no-engine
//! baseline completes and reconciles.

use serde_json::{json, Value};
use std::net::SocketAddr;
use testkit::TestDb;
use tools::baseline::{self, BaselineConfig};
use tools::lean::ledger::Ledger;
use tools::participant::Participant;

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON answer"))
    }

    /// The answer's status and `status` field, or its error code.
    async fn call(&self, path: &str, body: Value) -> (u16, String) {
        let (status, answer) = self.post(path, body).await;
        let word = answer["status"]
            .as_str()
            .or_else(|| answer["error"]["code"].as_str())
            .unwrap_or_default()
            .to_owned();
        (status, word)
    }

    async fn ledger(&self) -> Ledger {
        let response = self
            .http
            .get(format!("{}/admin/ledger", self.base))
            .send()
            .await
            .expect("GET /admin/ledger");
        response.json().await.expect("a ledger")
    }
}

fn ok(word: &str) -> (u16, String) {
    (200, word.to_owned())
}

fn refused(status: u16, code: &str) -> (u16, String) {
    (status, code.to_owned())
}

async fn tcc_rules_hold(db: TestDb) {
    let lean = tools::lean::spawn(&db.url, 4, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the lean participant starts");
    let c = Client {
        http: reqwest::Client::new(),
        base: lean.url(),
    };
    let users =
        json!({"users": [{"username": "a", "balance": 300}, {"username": "b", "balance": 0}]});
    let (_, created) = c.post("/admin/users", users).await;
    let (a, b) = (
        created["users"][0]["id"].as_i64().unwrap(),
        created["users"][1]["id"].as_i64().unwrap(),
    );
    let (_, created) = c
        .post(
            "/admin/payment-methods",
            json!({"payment_methods": [{"user_id": a}, {"user_id": b}]}),
        )
        .await;
    let (card_a, card_b) = (
        created["payment_methods"][0]["id"].as_i64().unwrap(),
        created["payment_methods"][1]["id"].as_i64().unwrap(),
    );
    let (_, created) = c
        .post(
            "/admin/products",
            json!({"products": [{"name": "p", "price": 100, "stock": 2}]}),
        )
        .await;
    let product = created["products"][0]["id"].as_i64().unwrap();

    let (status, quote) = c
        .post("/quotes", json!({"product_id": product, "quantity": 2}))
        .await;
    assert_eq!(
        (status, quote["unit_price"].clone(), quote["amount"].clone()),
        (200, json!(100), json!(200))
    );
    assert_eq!(
        c.call("/quotes", json!({"product_id": 999_999, "quantity": 1}))
            .await,
        refused(422, "UNKNOWN_PRODUCT")
    );

    let balance =
        |tx: &str, amount: i64| json!({"transaction_id": tx, "user_id": a, "amount": amount});
    let tx = |id: &str| json!({"transaction_id": id});
    // Try, its repeat, confirm, its repeat; a cancel after the confirm is refused.
    assert_eq!(
        c.call("/balance/try", balance("t1", 100)).await,
        ok("reserved")
    );
    assert_eq!(
        c.call("/balance/try", balance("t1", 100)).await,
        ok("reserved")
    );
    assert_eq!(c.call("/balance/confirm", tx("t1")).await, ok("confirmed"));
    assert_eq!(c.call("/balance/confirm", tx("t1")).await, ok("confirmed"));
    assert_eq!(
        c.call("/balance/cancel", tx("t1")).await,
        refused(409, "ALREADY_CONFIRMED")
    );
    // Cancel before try: the late try is refused, a confirm too; the cancel repeats.
    assert_eq!(c.call("/balance/cancel", tx("t2")).await, ok("cancelled"));
    assert_eq!(
        c.call("/balance/try", balance("t2", 100)).await,
        refused(409, "CANCELLED")
    );
    assert_eq!(c.call("/balance/cancel", tx("t2")).await, ok("cancelled"));
    assert_eq!(
        c.call("/balance/confirm", tx("t2")).await,
        refused(409, "CANCELLED")
    );
    // Try then cancel gives the amount back; a confirm after it is refused.
    assert_eq!(
        c.call("/balance/try", balance("t3", 100)).await,
        ok("reserved")
    );
    assert_eq!(c.call("/balance/cancel", tx("t3")).await, ok("cancelled"));
    assert_eq!(c.call("/balance/cancel", tx("t3")).await, ok("cancelled"));
    assert_eq!(
        c.call("/balance/confirm", tx("t3")).await,
        refused(409, "CANCELLED")
    );
    assert_eq!(
        c.call("/balance/confirm", tx("t4")).await,
        refused(409, "NOT_RESERVED")
    );
    // Refusals leave nothing: a cancel afterwards is a cancel before try.
    assert_eq!(
        c.call("/balance/try", balance("t5", 1_000)).await,
        refused(409, "INSUFFICIENT_BALANCE")
    );
    assert_eq!(c.call("/balance/cancel", tx("t5")).await, ok("cancelled"));
    let stranger = json!({"transaction_id": "t6", "user_id": 999_999, "amount": 1});
    assert_eq!(
        c.call("/balance/try", stranger).await,
        refused(422, "UNKNOWN_USER")
    );
    assert_eq!(
        c.call("/balance/try", balance("t7", 0)).await,
        refused(422, "INVALID_AMOUNT")
    );
    // Payment: only the owner's card; a confirmed payment is `executed`.
    let pay = |tx: &str, card: i64| json!({"transaction_id": tx, "user_id": a, "payment_method_id": card, "amount": 100});
    assert_eq!(
        c.call("/payments/try", pay("t1", card_b)).await,
        refused(422, "INVALID_PAYMENT_METHOD")
    );
    assert_eq!(
        c.call("/payments/try", pay("t1", card_a)).await,
        ok("reserved")
    );
    assert_eq!(c.call("/payments/confirm", tx("t1")).await, ok("executed"));
    // Stock: two in stock; a third is out of stock until a cancel gives one back.
    let stock = |tx: &str| json!({"transaction_id": tx, "user_id": a, "product_id": product, "quantity": 1});
    assert_eq!(c.call("/stock/try", stock("t1")).await, ok("reserved"));
    assert_eq!(c.call("/stock/try", stock("t8")).await, ok("reserved"));
    assert_eq!(
        c.call("/stock/try", stock("t9")).await,
        refused(409, "OUT_OF_STOCK")
    );
    assert_eq!(c.call("/stock/cancel", tx("t8")).await, ok("cancelled"));
    assert_eq!(c.call("/stock/try", stock("t9")).await, ok("reserved"));
    assert_eq!(c.call("/stock/confirm", tx("t1")).await, ok("confirmed"));
    // Strict bodies, as the services'.
    let (status, _) = c
        .post(
            "/balance/confirm",
            json!({"transaction_id": "t1", "extra": 1}),
        )
        .await;
    assert_eq!(status, 400);

    // Twins of one try race: one applies, the others replay.
    let twins = (0..8).map(|_| c.call("/balance/try", balance("t10", 50)));
    for answer in futures::future::join_all(twins).await {
        assert_eq!(answer, ok("reserved"));
    }

    let ledger = c.ledger().await;
    assert!(
        ledger.problems(None).is_empty(),
        "{:?}",
        ledger.problems(None)
    );
    let balance = &ledger.steps["balance"];
    assert_eq!(
        (balance.confirmed.count, balance.confirmed.amount),
        (1, 100)
    );
    assert_eq!(
        (balance.reserved.count, balance.reserved.amount),
        (1, 50),
        "t10 once"
    );
    assert_eq!(balance.cancelled.count, 1, "t3");
    assert_eq!(balance.blocked, 2, "t2 and t5");
    assert_eq!(
        balance.available + balance.taken,
        300,
        "money is neither made nor lost"
    );
    let stock = &ledger.steps["stock"];
    assert_eq!((stock.available, stock.taken), (0, 2));
    assert_eq!(
        (
            stock.reserved.count,
            stock.confirmed.count,
            stock.cancelled.count
        ),
        (1, 1, 1)
    );
    assert_eq!(ledger.steps["payment"].confirmed.amount, 100);
    lean.stop().await.expect("stops");
}

testkit::backend_tests!(tcc_rules_hold);

async fn small_lean_baseline(mysql: Option<String>) {
    let mut config = BaselineConfig::new(String::new());
    config.participant = Participant::Lean;
    config.mysql_server_url = mysql;
    config.purchases = 200;
    config.clients = 8;
    config.users = 10;
    let report = baseline::baseline(&config).await.expect("baseline runs");
    assert_eq!(report.failed, 0, "{report}");
    assert!(report.reconciled, "{report}");
    assert_eq!(report.calls_per_purchase, 7, "the quote too");
    assert!(report.latency_p50_ms > 0.0 && report.latency_p50_ms <= report.latency_max_ms);
}

/// A small lean baseline on SQLite completes every purchase and reconciles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_lean_baseline_reconciles_on_sqlite() {
    small_lean_baseline(None).await;
}

/// The same on MariaDB (skipped when unreachable outside CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_lean_baseline_reconciles_on_mariadb() {
    let Some(_probe) = TestDb::mysql("lean_probe").await else {
        return;
    };
    small_lean_baseline(Some(testkit::mysql_server_url())).await;
}
