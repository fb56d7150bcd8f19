//! The load test's own buyers, cards and products, created through the services' admin API
//! at the start of every run (so repeated runs never run out of money or stock), and the
//! purchase input each case makes from them.
//!
//! Not the README's seed data: users 1..3 and product 1 are left alone.

use super::profile::Case;
use super::Error;
use serde_json::{json, Value};
use worker::Services;

/// Balance of every rich buyer, in minor units: enough for any run.
const RICH_BALANCE: i64 = 1_000_000_000_000;
/// Stock of every stocked product.
const DEEP_STOCK: i64 = 1_000_000_000;
/// Price of every product, in minor units.
const PRICE: i64 = 1;

/// What one run seeded.
#[derive(Debug, Clone)]
pub struct Fixtures {
    /// Rich buyers with their own payment method: (user id, payment method id).
    buyers: Vec<(i64, i64)>,
    /// Products with deep stock.
    products: Vec<i64>,
    /// A buyer with balance 0 and their own payment method.
    poor: (i64, i64),
    /// A product with stock 0.
    sold_out: i64,
}

impl Fixtures {
    /// The purchase input of the `n`-th purchase of `case`.
    pub fn input(&self, case: Case, n: usize) -> Value {
        let (user_id, method_id) = self.buyers[n % self.buyers.len()];
        let product_id = self.products[n % self.products.len()];
        let (user_id, method_id, product_id) = match case {
            Case::Success => (user_id, method_id, product_id),
            Case::InsufficientBalance => (self.poor.0, self.poor.1, product_id),
            Case::OutOfStock => (user_id, method_id, self.sold_out),
            Case::InvalidPayment => {
                let other = self.buyers[(n + 1) % self.buyers.len()].1;
                (user_id, other, product_id)
            }
        };
        json!({"user_id": user_id, "product_id": product_id, "quantity": 1, "payment_method_id": method_id})
    }
}

/// Creates `buyers` rich buyers (at least 2, so a card can be someone else's) and their
/// cards, one poor buyer and card, `products` stocked products and one sold-out product.
/// `tag` makes the user names unique across runs.
pub async fn seed(
    client: &reqwest::Client,
    services: &Services,
    buyers: usize,
    products: usize,
    tag: &str,
) -> Result<Fixtures, Error> {
    let base = |name: &str| {
        services
            .get(name)
            .map(str::to_owned)
            .ok_or_else(|| Error::NoService(name.to_owned()))
    };
    let (user, payment, order) = (base("user")?, base("payment")?, base("order")?);
    let buyers = buyers.max(2);
    let mut users: Vec<Value> = (0..buyers)
        .map(|i| json!({"username": format!("load-{tag}-{i}"), "balance": RICH_BALANCE}))
        .collect();
    users.push(json!({"username": format!("load-{tag}-poor"), "balance": 0}));
    let created = post(client, &user, "/admin/users", json!({ "users": users })).await?;
    let user_ids = ids(&created["users"], buyers + 1)?;
    let methods: Vec<Value> = user_ids.iter().map(|id| json!({"user_id": id})).collect();
    let body = json!({ "payment_methods": methods });
    let created = post(client, &payment, "/admin/payment-methods", body).await?;
    let method_ids = ids(&created["payment_methods"], buyers + 1)?;
    let products = products.max(1);
    let mut items: Vec<Value> = (0..products)
        .map(|i| json!({"name": format!("load-{tag}-{i}"), "price": PRICE, "stock": DEEP_STOCK}))
        .collect();
    items.push(json!({"name": format!("load-{tag}-sold-out"), "price": PRICE, "stock": 0}));
    let created = post(
        client,
        &order,
        "/admin/products",
        json!({ "products": items }),
    )
    .await?;
    let mut product_ids = ids(&created["products"], products + 1)?;
    let sold_out = product_ids.pop().expect("checked length");
    let mut pairs: Vec<(i64, i64)> = user_ids.into_iter().zip(method_ids).collect();
    let poor = pairs.pop().expect("checked length");
    Ok(Fixtures {
        buyers: pairs,
        products: product_ids,
        poor,
        sold_out,
    })
}

/// Sets the payment service's injected transient error rate (0 turns faults off).
pub async fn set_payment_faults(
    client: &reqwest::Client,
    services: &Services,
    error_rate: f64,
) -> Result<(), Error> {
    let payment = services
        .get("payment")
        .ok_or_else(|| Error::NoService("payment".into()))?;
    let body = json!({"error_rate": error_rate, "latency_ms": 0, "drop_after_commit_rate": 0.0});
    let url = format!("{payment}/admin/faults");
    let response = client.put(&url).json(&body).send().await?;
    refused(response, &url).await?;
    Ok(())
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: Value,
) -> Result<Value, Error> {
    let url = format!("{base}{path}");
    let response = client.post(&url).json(&body).send().await?;
    Ok(refused(response, &url).await?.json().await?)
}

/// The response when it is a success, else [`Error::Refused`].
async fn refused(response: reqwest::Response, url: &str) -> Result<reqwest::Response, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(Error::Refused {
        url: url.to_owned(),
        status: status.as_u16(),
        body,
    })
}

/// The `id`s of `expected` created objects, in request order.
fn ids(created: &Value, expected: usize) -> Result<Vec<i64>, Error> {
    let ids: Vec<i64> = created
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|item| item["id"].as_i64())
        .collect();
    if ids.len() != expected {
        return Err(Error::Seed);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_makes_its_input() {
        let fixtures = Fixtures {
            buyers: vec![(10, 100), (11, 101)],
            products: vec![7],
            poor: (12, 102),
            sold_out: 8,
        };
        let at = |case, n| {
            let v = fixtures.input(case, n);
            [
                v["user_id"].as_i64().unwrap(),
                v["payment_method_id"].as_i64().unwrap(),
                v["product_id"].as_i64().unwrap(),
            ]
        };
        assert_eq!(at(Case::Success, 0), [10, 100, 7]);
        assert_eq!(at(Case::Success, 1), [11, 101, 7]);
        assert_eq!(at(Case::InsufficientBalance, 5), [12, 102, 7]);
        assert_eq!(at(Case::OutOfStock, 0), [10, 100, 8]);
        assert_eq!(at(Case::InvalidPayment, 0), [10, 101, 7]);
        assert_eq!(at(Case::InvalidPayment, 1), [11, 100, 7]);
    }
}
