//! The baseline's HTTP: seeding through the admin API, one purchase's calls in the purchase
//! saga's order, and the reconciliation of the ledgers with the purchases that succeeded.

use super::{BaselineConfig, Error, PRICE};
use crate::lean::ledger::Ledger;
use crate::participant::Participant;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// HTTP calls of one purchase.
pub(super) fn per_purchase(participant: Participant) -> usize {
    match participant {
        Participant::Services => 6,
        Participant::Lean => 7,
    }
}

/// Who buys what: one payment method per user, products stocked for every purchase.
pub(super) struct Buyers {
    users: Vec<(i64, i64)>,
    products: Vec<i64>,
}

/// The ids one purchase uses.
#[derive(Clone, Copy)]
pub(super) struct Buyer {
    user_id: i64,
    payment_method_id: i64,
    product_id: i64,
}

impl Buyers {
    pub(super) fn buyer(&self, purchase: usize) -> Buyer {
        let (user_id, payment_method_id) = self.users[purchase % self.users.len()];
        let product_id = self.products[purchase % self.products.len()];
        Buyer {
            user_id,
            payment_method_id,
            product_id,
        }
    }
}

/// The client and where the user, payment and order services are.
#[derive(Clone)]
pub(super) struct Calls {
    pub(super) client: reqwest::Client,
    pub(super) urls: [String; 3],
    pub(super) participant: Participant,
}

impl Calls {
    /// Creates the buyers (with enough balance), their payment methods and the products.
    pub(super) async fn seed(&self, config: &BaselineConfig) -> Result<Buyers, Error> {
        let [user, payment, order] = &self.urls;
        let (user_count, product_count) = (config.users.max(1), config.products.max(1));
        let balance = config.purchases.div_ceil(user_count) as i64 * PRICE;
        let users: Vec<Value> = (0..user_count)
            .map(|i| json!({ "username": format!("bench-{i}"), "balance": balance }))
            .collect();
        let created: Value = self
            .post(user, "/admin/users", &json!({ "users": users }))
            .await?;
        let user_ids = ids(&created["users"]);
        let methods: Vec<Value> = user_ids.iter().map(|id| json!({ "user_id": id })).collect();
        let methods = json!({ "payment_methods": methods });
        let created: Value = self
            .post(payment, "/admin/payment-methods", &methods)
            .await?;
        let method_ids = ids(&created["payment_methods"]);
        let stock = config.purchases.div_ceil(product_count);
        let products: Vec<Value> = (0..product_count)
            .map(|i| json!({ "name": format!("bench-{i}"), "price": PRICE, "stock": stock }))
            .collect();
        let products = json!({ "products": products });
        let created: Value = self.post(order, "/admin/products", &products).await?;
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

    /// One purchase in the purchase saga's order: (the lean participant: the quote, whose
    /// amount the tries use, as the saga does), the three tries, the three confirms.
    pub(super) async fn purchase(&self, buyer: Buyer) -> Result<(), Error> {
        let [user, payment, order] = &self.urls;
        let Buyer {
            user_id,
            payment_method_id,
            product_id,
        } = buyer;
        let amount = match self.participant {
            Participant::Services => json!(PRICE),
            Participant::Lean => {
                let quote = json!({ "product_id": product_id, "quantity": 1 });
                let answer: Value = self.post(order, "/quotes", &quote).await?;
                answer["amount"].clone()
            }
        };
        let tx = uuid::Uuid::new_v4().to_string();
        let balance = json!({ "transaction_id": tx, "user_id": user_id, "amount": amount });
        let payment_try = json!({
            "transaction_id": tx, "user_id": user_id, "payment_method_id": payment_method_id,
            "amount": amount,
        });
        let stock = json!({
            "transaction_id": tx, "user_id": user_id, "product_id": product_id, "quantity": 1,
        });
        let settle = json!({ "transaction_id": tx });
        self.post::<Value>(user, "/balance/try", &balance).await?;
        self.post::<Value>(payment, "/payments/try", &payment_try)
            .await?;
        self.post::<Value>(order, "/stock/try", &stock).await?;
        self.post::<Value>(user, "/balance/confirm", &settle)
            .await?;
        self.post::<Value>(payment, "/payments/confirm", &settle)
            .await?;
        self.post::<Value>(order, "/stock/confirm", &settle).await?;
        Ok(())
    }

    /// True when every ledger shows exactly `purchases` settled purchases and nothing open.
    pub(super) async fn reconcile(&self, purchases: i64) -> Result<bool, Error> {
        let [user, payment, order] = &self.urls;
        let money = purchases * PRICE;
        if self.participant == Participant::Lean {
            let ledger: Ledger = self.get(user, "/admin/ledger").await?;
            let amounts = [("balance", money), ("payment", money), ("stock", purchases)];
            let settled = amounts.iter().all(|(step, amount)| {
                (ledger.steps.get(*step)).is_some_and(|s| s.confirmed.amount == *amount)
            });
            return Ok(settled && ledger.problems(Some(purchases)).is_empty());
        }
        let users: Value = self.get(user, "/admin/ledger").await?;
        let payments: Value = self.get(payment, "/admin/ledger").await?;
        let orders: Value = self.get(order, "/admin/ledger").await?;
        Ok(users["captured"] == money
            && users["reserved"] == 0
            && payments["payments"]["executed"] == json!({ "count": purchases, "amount": money })
            && payments["payments"]["reserved"]["count"] == 0
            && orders["sold"] == purchases
            && orders["reserved"] == 0
            && orders["orders"] == json!({ "count": purchases, "amount": money }))
    }

    async fn post<T: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        body: &Value,
    ) -> Result<T, Error> {
        let response = self
            .client
            .post(format!("{base}{path}"))
            .json(body)
            .send()
            .await?;
        expect_success(response, path).await
    }

    async fn get<T: DeserializeOwned>(&self, base: &str, path: &str) -> Result<T, Error> {
        let response = self.client.get(format!("{base}{path}")).send().await?;
        expect_success(response, path).await
    }
}

/// The `id` fields of an array of created objects.
fn ids(created: &Value) -> Vec<i64> {
    let items = created.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter_map(|item| item["id"].as_i64())
        .collect()
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
