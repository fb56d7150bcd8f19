use crate::support::*;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use services::Service;

testkit::backend_tests!(transient_faults_are_retried_on_the_policy_until_the_workflow_completes);

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// The payment service fails with 503 until told to stop: reserve_payment is retried after
/// 100 ms then 200 ms (the test policy, DB time), and the workflow then completes.
async fn transient_faults_are_retried_on_the_policy_until_the_workflow_completes(db: TestDb) {
    let dbs = Databases::fresh(db).await;
    let dev = start_system(&dbs, fast_registry()).await;
    let payment = dev.service_url(Service::Payment);
    assert_eq!(
        put_json(
            &format!("{payment}/admin/faults"),
            &json!({"error_rate": 1.0, "latency_ms": 0, "drop_after_commit_rate": 0.0})
        )
        .await,
        200
    );
    let input = json!({"user_id": 1, "product_id": 1, "quantity": 1, "payment_method_id": 1});
    let (status, submitted) = post_json(
        &format!("{}/v1/workflows", dev.api_url()),
        &json!({"type": "purchase", "input": input}),
    )
    .await;
    assert_eq!(status, 201, "{submitted}");
    let url = format!(
        "{}/v1/workflows/{}",
        dev.api_url(),
        submitted["id"].as_str().unwrap()
    );
    eventually(10, "two failed attempts", || async {
        let wf = get_json(&url).await;
        let acts = wf["activities"].as_array().cloned().unwrap_or_default();
        let payment = acts.iter().find(|a| a["name"] == "reserve_payment")?;
        (payment["attempts"].as_array().map_or(0, Vec::len) >= 2).then_some(())
    })
    .await;
    assert_eq!(
        put_json(
            &format!("{payment}/admin/faults"),
            &json!({"error_rate": 0.0, "latency_ms": 0, "drop_after_commit_rate": 0.0})
        )
        .await,
        200
    );
    let wf = get_json(&format!("{url}?wait=10s")).await;
    assert_eq!(wf["status"], "completed", "{wf}");
    let attempts = activity(&wf, "reserve_payment", "action")["attempts"]
        .as_array()
        .unwrap()
        .clone();
    let (last, failures) = attempts.split_last().unwrap();
    assert_eq!(last["outcome"], "succeeded");
    assert!(failures.len() >= 2 && failures.len() <= 3, "{attempts:?}");
    for (i, pair) in attempts.windows(2).enumerate() {
        assert_eq!(pair[0]["outcome"], "retryable_error");
        assert_eq!(pair[0]["error"]["code"], "INJECTED_FAULT");
        let gap = time(&pair[1]["started_at"]) - time(&pair[0]["finished_at"]);
        let policy_ms = (100 << i).min(400);
        assert!(
            gap.num_milliseconds() >= policy_ms,
            "retry {} came after {gap}, the policy says {policy_ms} ms",
            i + 1
        );
    }
    dev.stop().await.unwrap();
}
