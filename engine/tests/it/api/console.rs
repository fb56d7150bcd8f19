//! What the web console needs from the server: its files at `/ui/` (no token, a strict
//! Content-Security-Policy, nothing outside the console), the overview's figures, the search
//! by `Idempotency-Key`, and retry policies on the workflow types.

use super::*;
use crate::support::{drive, make_due, transient, Script};
use engine::model::AttemptOutcome;
use std::collections::BTreeMap;

testkit::backend_tests!(
    the_overview_counts_what_the_journal_holds,
    a_list_finds_a_workflow_by_its_exact_idempotency_key,
    workflow_types_carry_retry_policies_and_timeouts,
    the_console_is_served_without_a_token_and_the_api_still_asks_for_one
);

/// Submits `body` through the API and returns the new workflow's id.
async fn submitted(app: &App, body: &Value, key: Option<&str>) -> engine::WorkflowId {
    let reply = app.submit(body, key).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().parse().unwrap()
}

/// Three workflows (one retried after a transient fault, one compensated after a business
/// refusal) and a lease that expired: the overview's counts, finishes and per-service figures
/// are exactly what the workflows' own journals (read through the API) add up to.
async fn the_overview_counts_what_the_journal_holds(db: TestDb) {
    let app = App::new(db).await;
    let def = app
        .registry
        .get("purchase", 1)
        .expect("purchase v1")
        .clone();
    let path_of = |name: &str| {
        def.steps
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.action.path.clone())
            .unwrap_or_else(|| panic!("a step {name}"))
    };
    let script = Arc::new(Script::default());
    let runner = support::runner(&app.store, &app.registry, &script, "console-test");

    let plain = submitted(&app, &purchase("purchase", 1, 1), None).await;
    drive(&app.db, &runner, plain, 10).await;
    script.then(&path_of("reserve_payment"), transient());
    let retried = submitted(&app, &purchase("purchase", 2, 1), None).await;
    drive(&app.db, &runner, retried, 10).await;
    script.then(
        &path_of("reserve_balance"),
        support::business("INSUFFICIENT_BALANCE"),
    );
    let refused = submitted(&app, &purchase("purchase", 3, 1), None).await;
    drive(&app.db, &runner, refused, 10).await;
    // A worker claims the fourth and vanishes; its lease expires and this runner takes over.
    let abandoned = submitted(&app, &purchase("purchase", 1, 1), None).await;
    let held = app
        .store
        .claim(&app.registry, "vanished", 1, 30_000)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    make_due(&app.db, abandoned).await;
    drive(&app.db, &runner, abandoned, 10).await;

    let reply = app.get("/v1/overview").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let o = reply.body;
    assert_eq!(
        (o["window_s"].as_u64(), o["bucket_s"].as_u64()),
        (Some(600), Some(10))
    );

    let counts: BTreeMap<(String, String), u64> = o["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["type"].as_str().unwrap().to_owned(),
                    c["status"].as_str().unwrap().to_owned(),
                ),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut statuses = BTreeMap::new();
    for id in [plain, retried, refused, abandoned] {
        let wf = app.get(&format!("/v1/workflows/{id}")).await.body;
        *statuses
            .entry((
                "purchase".to_owned(),
                wf["status"].as_str().unwrap().to_owned(),
            ))
            .or_insert(0u64) += 1;
    }
    assert_eq!(counts, statuses);
    assert_eq!(
        counts.get(&("purchase".into(), "compensated".into())),
        Some(&1)
    );

    let buckets = o["finished"].as_array().unwrap();
    assert_eq!(buckets.len(), 60);
    let sum = |field: &str| {
        buckets
            .iter()
            .map(|b| b[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        (sum("completed"), sum("compensated"), sum("failed")),
        (3, 1, 0)
    );
    let starts: Vec<i64> = buckets
        .iter()
        .map(|b| {
            chrono::DateTime::parse_from_rfc3339(b["at"].as_str().unwrap())
                .unwrap()
                .timestamp()
        })
        .collect();
    assert!(
        starts.windows(2).all(|w| w[1] - w[0] == 10),
        "ten-second buckets, oldest first"
    );

    assert_eq!(o["lease_expiries"], 1);
    assert_eq!(
        o["fenced_writes"],
        Value::Null,
        "no workers in this process"
    );

    // Per service: every attempt of the four journals, by the service of its step.
    let mut expected: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for id in [plain, retried, refused, abandoned] {
        let wf = app.get(&format!("/v1/workflows/{id}")).await.body;
        for a in wf["activities"].as_array().unwrap() {
            let service = def.steps[a["step"].as_u64().unwrap() as usize]
                .service
                .clone();
            let figures = expected.entry(service).or_default();
            for t in a["attempts"].as_array().unwrap() {
                let outcome = AttemptOutcome::parse(t["outcome"].as_str().unwrap()).unwrap();
                match outcome {
                    AttemptOutcome::Succeeded => figures[0] += 1,
                    AttemptOutcome::RetryableError => {
                        figures[0] += 1;
                        figures[1] += 1;
                    }
                    AttemptOutcome::BusinessError => {
                        figures[0] += 1;
                        figures[2] += 1;
                    }
                    AttemptOutcome::LeaseExpired => figures[3] += 1,
                    AttemptOutcome::Aborted => {}
                }
            }
        }
    }
    let services: BTreeMap<String, [u64; 4]> = o["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let n = |f: &str| s[f].as_u64().unwrap();
            (
                s["service"].as_str().unwrap().to_owned(),
                [
                    n("calls"),
                    n("retryable_errors"),
                    n("business_errors"),
                    n("lease_expiries"),
                ],
            )
        })
        .collect();
    assert_eq!(services, expected);
    assert_eq!(services["payment"][1], 1, "the one transient fault");
    assert_eq!(services["user"][2], 1, "the one refusal");
    assert_eq!(
        services.values().map(|f| f[3]).sum::<u64>(),
        1,
        "the one lease that expired"
    );
}

/// `?idempotency_key=` finds the one workflow submitted with exactly that key (not one whose
/// key differs in case), alone or with other filters.
async fn a_list_finds_a_workflow_by_its_exact_idempotency_key(db: TestDb) {
    let app = App::new(db).await;
    let keyed = submitted(&app, &purchase("purchase", 1, 1), Some("order-1001")).await;
    let other = submitted(&app, &purchase("purchase", 2, 1), Some("Order-1001")).await;
    submitted(&app, &purchase("purchase", 3, 1), None).await;
    let ids = |reply: &Reply| -> Vec<String> {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&app.get("/v1/workflows?idempotency_key=order-1001").await),
        [keyed.to_string()]
    );
    assert_eq!(
        ids(&app
            .get("/v1/workflows?idempotency_key=Order-1001&type=purchase")
            .await),
        [other.to_string()]
    );
    assert!(ids(&app
        .get("/v1/workflows?idempotency_key=order-1001&status=completed")
        .await)
    .is_empty());
    assert!(ids(&app.get("/v1/workflows?idempotency_key=nobody").await).is_empty());
}

/// Each step names its action's retry policy, its compensation's (or null) and its timeout,
/// as the definition holds them.
async fn workflow_types_carry_retry_policies_and_timeouts(db: TestDb) {
    let app = App::new(db).await;
    let reply = app.get("/v1/workflow-types").await;
    let purchase = &reply.body["workflow_types"][0];
    let def = app.registry.get("purchase", 1).unwrap();
    for (shown, step) in purchase["steps"].as_array().unwrap().iter().zip(&def.steps) {
        assert_eq!(shown["name"], step.name.as_str());
        assert_eq!(
            shown["action_retry"],
            serde_json::to_value(step.action_retry).unwrap()
        );
        let compensation = match step.compensation {
            Some(_) => serde_json::to_value(step.compensation_retry).unwrap(),
            None => Value::Null,
        };
        assert_eq!(shown["compensation_retry"], compensation, "{}", step.name);
        assert_eq!(shown["timeout_ms"], step.timeout_ms);
    }
    assert_eq!(purchase["steps"][1]["action_retry"]["max_attempts"], 4);
}

/// With tokens set, `/ui/` and its files answer without one (with a Content-Security-Policy
/// that keeps the page on its own origin), while every API route still asks for one; paths
/// that climb out of the console or name no file are 404, never a file from elsewhere.
async fn the_console_is_served_without_a_token_and_the_api_still_asks_for_one(db: TestDb) {
    let config = ApiConfig {
        tokens: vec!["console-token".into()],
        ..ApiConfig::default()
    };
    let app = App::with_config(db, config).await;
    let page = app.get("/ui/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let policy = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(
        page.body.as_str().unwrap().contains("<html"),
        "the index page"
    );

    let redirect = app.get("/ui").await;
    assert_eq!(redirect.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.headers[header::LOCATION], "/ui/");

    for missing in [
        "/ui/nope.js",
        "/ui/../Cargo.toml",
        "/ui/%2e%2e/build.rs",
        "/ui/a//b",
    ] {
        let reply = app.get(missing).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(reply.code(), "ROUTE_NOT_FOUND", "{missing}");
    }
    for api in ["/v1/overview", "/v1/workflows", "/v1/workflow-types"] {
        let reply = app.get(api).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{api}");
    }
    let mut authorised = request(Method::GET, "/v1/overview", None, "");
    authorised.headers_mut().insert(
        header::AUTHORIZATION,
        "Bearer console-token".parse().unwrap(),
    );
    assert_eq!(app.send(authorised).await.status, StatusCode::OK);
}
