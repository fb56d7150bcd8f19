//! The traffic of a chaos run: its own buyers and stock (seeded through the services' admin
//! endpoints), and an open-loop mix of purchases that succeed or fail for business reasons,
//! with some submits sent twice under one idempotency key, and some twice under keys that
//! differ only in letter case (two different keys: two workflows).

use anyhow::Context;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Who buys what.
#[derive(Debug, Clone)]
pub struct Cast {
    /// (user id, that user's payment method), rich enough for every purchase.
    rich: Vec<(i64, i64)>,
    /// A user with less money than one purchase costs, and their card.
    poor: (i64, i64),
    /// A product with deep stock, and one with none.
    pub stocked: i64,
    empty: i64,
    /// Users with exactly one purchase's worth of money, and their cards: the late-Try
    /// scenarios' buyers (never in the random mix).
    pub tight: Vec<(i64, i64)>,
}

/// What the traffic did.
#[derive(Debug, Default)]
pub struct Sent {
    pub submitted: u64,
    /// Ids the API answered 201 or 200 for.
    pub acknowledged: HashSet<String>,
    /// Repeated submits answered with the first one's workflow.
    pub duplicates_absorbed: u64,
    /// Pairs of submits under keys differing only in case, answered with two workflows.
    pub case_pairs_distinct: u64,
    /// Such pairs answered with one workflow (keys compared case-insensitively: a bug).
    pub case_pairs_merged: u64,
}

/// How one submit of the mix is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copies {
    Once,
    /// Twice at once under one key: the second must get the first's workflow.
    Duplicate,
    /// Twice at once under keys differing only in letter case: two workflows.
    CaseVariants,
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> anyhow::Result<Value> {
    Ok(client
        .post(&url)
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().map_or_else(Vec::new, |a| {
        a.iter().filter_map(|x| x["id"].as_i64()).collect()
    })
}

/// Money of a tight buyer: one purchase of one unit at the seeded price.
pub const TIGHT_BALANCE: i64 = 100;

/// Creates the cast through the admin endpoints, with `tight` tight buyers.
pub async fn seed(user: &str, payment: &str, order: &str, tight: usize) -> anyhow::Result<Cast> {
    let client = reqwest::Client::new();
    let tag = uuid_tag();
    let mut users: Vec<Value> = (0..10)
        .map(|i| json!({"username": format!("chaos-{tag}-{i}"), "balance": 1_000_000_000_i64}))
        .collect();
    users.push(json!({"username": format!("chaos-{tag}-poor"), "balance": 50}));
    users.extend(
        (0..tight).map(
            |i| json!({"username": format!("chaos-{tag}-tight-{i}"), "balance": TIGHT_BALANCE}),
        ),
    );
    let user_ids = ids(&post(
        &client,
        format!("{user}/admin/users"),
        json!({"users": users}),
    )
    .await?["users"]);
    let methods: Vec<Value> = user_ids.iter().map(|id| json!({"user_id": id})).collect();
    let method_ids = ids(&post(
        &client,
        format!("{payment}/admin/payment-methods"),
        json!({"payment_methods": methods}),
    )
    .await?["payment_methods"]);
    let products = json!({"products": [
        {"name": format!("chaos-{tag}-stocked"), "price": 100, "stock": 1_000_000_000_i64},
        {"name": format!("chaos-{tag}-empty"), "price": 100, "stock": 0},
    ]});
    let product_ids =
        ids(&post(&client, format!("{order}/admin/products"), products).await?["products"]);
    anyhow::ensure!(
        user_ids.len() == 11 + tight && method_ids.len() == 11 + tight && product_ids.len() == 2,
        "seeding failed"
    );
    let mut pairs: Vec<(i64, i64)> = user_ids.into_iter().zip(method_ids).collect();
    let tight = pairs.split_off(11);
    let poor = pairs.pop().context("the poor buyer")?;
    Ok(Cast {
        rich: pairs,
        poor,
        stocked: product_ids[0],
        empty: product_ids[1],
        tight,
    })
}

fn uuid_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:x}", nanos % 0xffff_ffff)
}

/// One purchase of the mix: mostly successes, some insufficient balance, out of stock and
/// someone else's card.
fn pick(cast: &Cast, rng: &mut impl Rng) -> Value {
    let (user, card) = cast.rich[rng.gen_range(0..cast.rich.len())];
    let (buyer, product, method) = match rng.gen_range(0..100) {
        0..=79 => (user, cast.stocked, card),
        80..=86 => (cast.poor.0, cast.stocked, cast.poor.1),
        87..=93 => (user, cast.empty, card),
        _ => (
            user,
            cast.stocked,
            cast.rich[(rng.gen_range(1..cast.rich.len())
                + cast.rich.iter().position(|r| r.0 == user).unwrap_or(0))
                % cast.rich.len()]
            .1,
        ),
    };
    json!({"type": "purchase", "input": {"user_id": buyer, "product_id": product, "quantity": 1, "payment_method_id": method}})
}

/// Submits `rate` purchases a second until `deadline`; every tenth is sent twice at once
/// with one idempotency key.
pub async fn drive(
    api: String,
    cast: Cast,
    rate: u32,
    deadline: Instant,
    seed: u64,
) -> anyhow::Result<Sent> {
    let client = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    let mut pending = JoinSet::new();
    let mut sent = Sent::default();
    while Instant::now() < deadline {
        tick.tick().await;
        let body = pick(&cast, &mut rng);
        sent.submitted += 1;
        let copies = match sent.submitted % 10 {
            0 => Copies::Duplicate,
            5 => Copies::CaseVariants,
            _ => Copies::Once,
        };
        let key = format!("Chaos-{}-{}", seed, sent.submitted);
        let keys = match copies {
            Copies::Once => vec![key],
            Copies::Duplicate => vec![key.clone(), key],
            Copies::CaseVariants => vec![key.to_lowercase(), key],
        };
        let (client, url) = (client.clone(), format!("{api}/v1/workflows"));
        pending.spawn(async move {
            let calls = keys.iter().map(|key| {
                client
                    .post(&url)
                    .header("Idempotency-Key", key)
                    .json(&body)
                    .send()
            });
            let mut answers = Vec::new();
            for response in futures::future::join_all(calls).await.into_iter().flatten() {
                let status = response.status().as_u16();
                if let Ok(v) = response.json::<Value>().await {
                    answers.push((status, v["id"].as_str().unwrap_or_default().to_owned()));
                }
            }
            (copies, answers)
        });
    }
    while let Some(done) = pending.join_next().await {
        let (copies, answers) = done.context("submit task")?;
        let acked: Vec<&(u16, String)> = answers
            .iter()
            .filter(|(s, id)| (*s == 200 || *s == 201) && !id.is_empty())
            .collect();
        if acked.len() == 2 {
            let same = acked[0].1 == acked[1].1;
            match copies {
                Copies::Duplicate if same && acked.iter().any(|(s, _)| *s == 200) => {
                    sent.duplicates_absorbed += 1
                }
                Copies::CaseVariants if same => sent.case_pairs_merged += 1,
                Copies::CaseVariants => sent.case_pairs_distinct += 1,
                _ => {}
            }
        }
        sent.acknowledged
            .extend(acked.into_iter().map(|(_, id)| id.clone()));
    }
    Ok(sent)
}
