//! Reading through the API: one workflow with its journal, lists, workflow types.

use super::*;
use chrono::DateTime;
use std::collections::HashSet;

testkit::backend_tests!(
    get_shows_every_activity_with_request_response_and_timed_attempts,
    unknown_and_malformed_ids_answer_404_and_400,
    list_filters_by_status_and_type_and_pages_with_a_cursor,
    workflow_types_describe_steps_services_pivot_and_input
);

fn rfc3339_micros(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("a time string: {value}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("`{text}` is not RFC 3339: {e}"))
        .timestamp_micros()
}

/// After an in-process run, get shows the completed workflow's seven activities in order,
/// each with its request, response and one timed, succeeded attempt, times in RFC 3339.
async fn get_shows_every_activity_with_request_response_and_timed_attempts(db: TestDb) {
    let app = App::new(db).await;
    let id = app.submit(&purchase("purchase", 1, 1), None).await.body["id"].clone();
    let id = id.as_str().unwrap();
    app.runner().run_once().await.expect("run");

    let wf = app.get(&format!("/v1/workflows/{id}")).await;
    assert_eq!(wf.status, StatusCode::OK, "{}", wf.body);
    let wf = wf.body;
    assert_eq!(
        (wf["status"].as_str(), wf["type"].as_str()),
        (Some("completed"), Some("purchase"))
    );
    assert_eq!(wf["input"]["quantity"], 1);
    assert_eq!(wf["outputs"]["quote"]["amount"], 100);
    assert!(rfc3339_micros(&wf["finished_at"]) >= rfc3339_micros(&wf["created_at"]));
    let activities = wf["activities"].as_array().expect("activities");
    let names: Vec<&str> = activities
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "quote",
            "reserve_balance",
            "reserve_payment",
            "reserve_stock",
            "confirm_balance",
            "execute_payment",
            "confirm_order"
        ]
    );
    for (step, a) in activities.iter().enumerate() {
        assert_eq!(
            (a["step"].as_u64(), a["kind"].as_str()),
            (Some(step as u64), Some("action"))
        );
        assert_eq!(a["status"], "succeeded");
        assert!(
            a["request"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with('/')),
            "{a}"
        );
        assert!(a["request"]["body"].is_object(), "{a}");
        assert_eq!(a["response"], json!({"amount": 100}));
        let attempts = a["attempts"].as_array().expect("attempts");
        assert_eq!(attempts.len(), 1, "{a}");
        let t = &attempts[0];
        assert_eq!(
            (t["attempt"].as_u64(), t["outcome"].as_str()),
            (Some(1), Some("succeeded"))
        );
        assert_eq!(t["worker"], "api-test");
        let (start, end) = (
            rfc3339_micros(&t["started_at"]),
            rfc3339_micros(&t["finished_at"]),
        );
        assert!(end >= start);
        assert_eq!(t["duration_us"].as_i64(), Some(end - start));
    }
}

/// A well-formed id that names nothing is 404 NOT_FOUND; a malformed id is 400, on every
/// workflow route.
async fn unknown_and_malformed_ids_answer_404_and_400(db: TestDb) {
    let app = App::new(db).await;
    let missing = app
        .get(&format!("/v1/workflows/{}", engine::WorkflowId::new()))
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    for reply in [
        app.get("/v1/workflows/not-a-uuid").await,
        app.post("/v1/workflows/42/abort").await,
        app.post("/v1/workflows/x/retry").await,
    ] {
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "INVALID_WORKFLOW_ID")
        );
    }
}

/// Lists filter by status and type, and limit + cursor page through every workflow newest
/// first without repeats; bad query values are 400.
async fn list_filters_by_status_and_type_and_pages_with_a_cursor(db: TestDb) {
    let app = App::new(db).await;
    for user in 1..=3 {
        app.submit(&purchase("purchase", user, 1), None).await;
    }
    app.runner().run_once().await.expect("run");
    for (ty, user) in [
        ("purchase", 1),
        ("purchase", 2),
        ("purchase_fast", 1),
        ("purchase_fast", 2),
    ] {
        assert_eq!(
            app.submit(&purchase(ty, user, 1), None).await.status,
            StatusCode::CREATED
        );
    }
    let ids = |reply: &Reply| -> Vec<String> {
        reply.body["workflows"]
            .as_array()
            .expect("a page")
            .iter()
            .map(|w| w["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let done = app.get("/v1/workflows?status=completed").await;
    assert_eq!(ids(&done).len(), 3);
    assert!(done.body["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["status"] == "completed"));
    assert_eq!(
        ids(&app
            .get("/v1/workflows?status=pending&type=purchase_fast")
            .await)
        .len(),
        2
    );
    assert_eq!(ids(&app.get("/v1/workflows?type=purchase").await).len(), 5);

    let all = app.get("/v1/workflows").await;
    assert_eq!(all.body["next_cursor"], Value::Null);
    let all = ids(&all);
    let mut newest_first = all.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!((all.len(), &all), (7, &newest_first));
    let (mut paged, mut uri) = (Vec::new(), "/v1/workflows?limit=3".to_owned());
    loop {
        let page = app.get(&uri).await;
        assert!(ids(&page).len() <= 3);
        paged.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/workflows?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, all, "three pages, every workflow once, in order");
    assert_eq!(paged.iter().collect::<HashSet<_>>().len(), 7);

    for bad in [
        "limit=0",
        "status=sleeping",
        "cursor=nope",
        "limit=many",
        "colour=red",
    ] {
        let reply = app.get(&format!("/v1/workflows?{bad}")).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            "{bad}"
        );
    }
}

/// Workflow types name each loaded type and version with its steps, services, pivot and
/// compensations, and its input fields with their JSON types.
async fn workflow_types_describe_steps_services_pivot_and_input(db: TestDb) {
    let app = App::new(db).await;
    let reply = app.get("/v1/workflow-types").await;
    assert_eq!(reply.status, StatusCode::OK);
    let types = reply.body["workflow_types"].as_array().expect("types");
    let names: Vec<&str> = types.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["purchase", "purchase_fast"]);
    let purchase = &types[0];
    assert_eq!(
        (
            purchase["version"].as_u64(),
            purchase["pivot_after"].as_str()
        ),
        (Some(1), Some("reserve_stock"))
    );
    assert!(!purchase["description"].as_str().unwrap().is_empty());
    assert_eq!(
        purchase["input"],
        json!({"payment_method_id": "integer", "product_id": "integer",
        "quantity": "integer", "user_id": "integer"})
    );
    let steps = purchase["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7);
    let shape = |s: &Value| {
        json!({"name": s["name"], "service": s["service"],
        "compensable": s["compensable"], "after_pivot": s["after_pivot"]})
    };
    assert_eq!(
        shape(&steps[1]),
        json!({"name": "reserve_balance", "service": "user",
        "compensable": true, "after_pivot": false})
    );
    assert_eq!(
        shape(&steps[6]),
        json!({"name": "confirm_order", "service": "order",
        "compensable": false, "after_pivot": true})
    );
    let after: Vec<bool> = steps
        .iter()
        .map(|s| s["after_pivot"].as_bool().unwrap())
        .collect();
    assert_eq!(after, [false, false, false, false, true, true, true]);
}
