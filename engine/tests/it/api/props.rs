//! Property tests of the API's input handling: whatever a client sends to submit or to the
//! query routes — random JSON, mangled purchases, random bytes, random query strings and
//! ids — the answer is never a 5xx or a panic, every refusal is a JSON error, and a refused
//! submit writes nothing.

use super::{purchase, request, App};
use axum::http::Method;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use testkit::TestDb;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid purchase with one field removed, retyped or added.
fn mangled_purchase() -> impl Strategy<Value = Value> {
    let fields = [
        "type",
        "input",
        "user_id",
        "product_id",
        "quantity",
        "payment_method_id",
        "extra",
    ];
    (
        prop::sample::select(fields.to_vec()),
        any_json(),
        any::<bool>(),
    )
        .prop_map(|(field, value, remove)| {
            let mut body = purchase("purchase", 1, 1);
            let target = if field == "type" || field == "input" || field == "extra" {
                &mut body
            } else {
                &mut body["input"]
            };
            match (remove, target.as_object_mut()) {
                (true, Some(obj)) => {
                    obj.remove(field);
                }
                (_, Some(obj)) => {
                    obj.insert(field.to_owned(), value);
                }
                _ => {}
            }
            body
        })
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any_json().prop_map(|v| v.to_string().into_bytes()),
        mangled_purchase().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

/// Submits never answer 5xx; refusals are JSON errors and leave no row behind.
#[test]
fn random_submits_never_fail_the_server_and_refusals_write_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(App::new(TestDb::sqlite("props_submit")));
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let keys = prop::option::of("[ -~]{0,300}");
    runner
        .run(&(bodies(), keys), |(body, key)| {
            let before = rt.block_on(app.workflow_rows());
            let mut req = request(
                Method::POST,
                "/v1/workflows",
                Some("application/json"),
                body,
            );
            if let Some(k) = key.as_deref().and_then(|k| k.parse().ok()) {
                req.headers_mut().insert("idempotency-key", k);
            }
            let reply = rt.block_on(app.send(req));
            prop_assert!(
                reply.status.as_u16() < 500,
                "{} {}",
                reply.status,
                reply.body
            );
            if !reply.status.is_success() {
                prop_assert!(reply.body["error"]["code"].is_string(), "{}", reply.body);
                prop_assert_eq!(rt.block_on(app.workflow_rows()), before);
            }
            Ok(())
        })
        .unwrap();
}

/// Random query strings and ids on the read and control routes: no 5xx, JSON errors only.
#[test]
fn random_queries_and_ids_never_fail_the_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(App::new(TestDb::sqlite("props_query")));
    rt.block_on(app.submit(&json!({"type": "purchase", "input": {"user_id": 1, "product_id": 1, "quantity": 1, "payment_method_id": 1}}), None));
    let segment = "[-A-Za-z0-9_.~%]{0,40}";
    let query = prop::collection::vec(("(status|type|limit|cursor|wait|x)", segment), 0..4);
    let routes = prop::sample::select(vec![
        "/v1/workflows",
        "/v1/workflows/{}",
        "/v1/workflows/{}/abort",
        "/v1/workflows/{}/retry",
        "/v1/workflow-types",
    ]);
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(routes, segment, query, any::<bool>()),
            |(route, id, query, post)| {
                let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let uri = format!("{}?{}", route.replace("{}", &id), pairs.join("&"));
                let Ok(uri) = uri.parse::<axum::http::Uri>() else {
                    return Ok(());
                };
                let method = if post { Method::POST } else { Method::GET };
                let reply = rt.block_on(app.send(request(method, &uri.to_string(), None, "")));
                prop_assert!(
                    reply.status.as_u16() < 500,
                    "{uri}: {} {}",
                    reply.status,
                    reply.body
                );
                if !reply.status.is_success() {
                    prop_assert!(
                        reply.body["error"]["code"].is_string(),
                        "{uri}: {}",
                        reply.body
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}
