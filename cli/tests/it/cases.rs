use crate::support::*;
use sagaflow::demo;
use serde_json::json;
use services::Service;
use worker::Services;

testkit::backend_tests!(
    the_readme_cases_end_as_the_readme_says,
    twenty_identical_submits_over_http_make_one_workflow
);

/// Alice completes, bob and charlie and the wrong card are compensated exactly as the
/// scenario says (docs/scenario.md); the journal and every service's ledger agree.
async fn the_readme_cases_end_as_the_readme_says(db: TestDb) {
    let dbs = Databases::fresh(db).await;
    let dev = start_system(&dbs, engine::Registry::shipped().into()).await;
    let mut services = Services::default();
    for s in [Service::User, Service::Payment, Service::Order] {
        services.insert(s.name(), dev.service_url(s));
    }
    let rows = demo::run_cases(&reqwest::Client::new(), &dev.api_url(), Some(&services))
        .await
        .unwrap();
    let summaries: Vec<String> = rows.iter().map(|r| r.summary()).collect();
    let expected: Vec<String> = demo::CASES.iter().map(|c| c.expected.to_owned()).collect();
    assert_eq!(summaries, expected);
    let comps: Vec<Vec<String>> = rows.iter().map(|r| r.compensations.clone()).collect();
    assert_eq!(
        comps,
        [
            vec![],
            vec![],
            vec!["reserve_payment".to_owned(), "reserve_balance".into()],
            vec!["reserve_balance".to_owned()]
        ]
    );
    let balances: Vec<_> = rows.iter().map(|r| r.balance.unwrap()).collect();
    assert_eq!(
        balances,
        [(1000, 900), (500, 500), (2000, 2000), (900, 900)]
    );
    let stock: Vec<_> = rows.iter().map(|r| r.stock.unwrap()).collect();
    assert_eq!(stock, [(10, 9), (9, 9), (9, 9), (9, 9)]);

    let alice = &rows[0].workflow;
    let acts = alice["activities"].as_array().unwrap();
    assert_eq!(acts.len(), 7);
    assert!(acts
        .iter()
        .all(|a| a["status"] == "succeeded" && a["attempts"].as_array().unwrap().len() == 1));
    let bob = activity(&rows[1].workflow, "reserve_balance", "action");
    assert_eq!(
        bob["attempts"].as_array().unwrap().len(),
        1,
        "a business error is never retried"
    );
    assert_eq!(rows[1].workflow["error"]["code"], "INSUFFICIENT_BALANCE");
    assert_eq!(rows[2].workflow["error"]["code"], "OUT_OF_STOCK");
    assert_eq!(rows[3].workflow["error"]["code"], "INVALID_PAYMENT_METHOD");

    let user = get_json(&format!("{}/admin/ledger", dev.service_url(Service::User))).await;
    assert_eq!(
        (user["reserved"].as_i64(), user["captured"].as_i64()),
        (Some(0), Some(100)),
        "{user}"
    );
    let order = get_json(&format!("{}/admin/ledger", dev.service_url(Service::Order))).await;
    assert_eq!(
        (order["reserved"].as_i64(), order["sold"].as_i64()),
        (Some(0), Some(1)),
        "{order}"
    );
    assert_eq!(order["orders"], json!({"count": 1, "amount": 100}));
    let payment = get_json(&format!(
        "{}/admin/ledger",
        dev.service_url(Service::Payment)
    ))
    .await;
    assert_eq!(
        payment["payments"]["executed"],
        json!({"count": 1, "amount": 100}),
        "{payment}"
    );
    assert_eq!(
        payment["payments"]["cancelled"],
        json!({"count": 1, "amount": 1500}),
        "{payment}"
    );
    assert_eq!(
        payment["payments"]["reserved"]["count"], 0,
        "no payment left hanging: {payment}"
    );
    dev.stop().await.unwrap();
}

/// Twenty concurrent identical submits with one Idempotency-Key over real HTTP: one 201,
/// nineteen 200s with the same id, one workflow run once.
async fn twenty_identical_submits_over_http_make_one_workflow(db: TestDb) {
    let dbs = Databases::fresh(db).await;
    let dev = start_system(&dbs, engine::Registry::shipped().into()).await;
    let url = format!("{}/v1/workflows", dev.api_url());
    let body = json!({"type": "purchase", "input": {"user_id": 1, "product_id": 1, "quantity": 1, "payment_method_id": 1}});
    let client = reqwest::Client::new();
    let sends = (0..20).map(|_| {
        let request = client
            .post(&url)
            .header("Idempotency-Key", "checkout-7")
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }
    });
    let answers = futures::future::join_all(sends).await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    let repeated = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!((created, repeated), (1, 19), "{answers:?}");
    assert!(answers.iter().all(|(_, a)| a["id"] == answers[0].1["id"]));
    let id = answers[0].1["id"].as_str().unwrap();
    let wf = get_json(&format!("{url}/{id}?wait=10s")).await;
    assert_eq!(wf["status"], "completed");
    assert_eq!(dbs.saga.scalar("SELECT COUNT(*) FROM workflows").await, 1);
    let user = get_json(&format!("{}/admin/ledger", dev.service_url(Service::User))).await;
    assert_eq!(user["captured"].as_i64(), Some(100), "charged once: {user}");
    dev.stop().await.unwrap();
}
