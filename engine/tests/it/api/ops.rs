//! Health, readiness, metrics and the OpenAPI document.

use super::*;
use std::collections::BTreeSet;

testkit::backend_tests!(
    readyz_answers_200_while_the_database_answers_and_503_after,
    metrics_serve_the_render_closure_or_404,
    openapi_describes_exactly_the_routes_the_router_serves
);

/// healthz is always 200; readyz is 200 while the database answers and 503 UNAVAILABLE,
/// with no database detail, once it does not.
async fn readyz_answers_200_while_the_database_answers_and_503_after(db: TestDb) {
    let app = App::new(db).await;
    assert_eq!(app.get("/healthz").await.body, json!({"status": "ok"}));
    let ready = app.get("/readyz").await;
    assert_eq!(
        (ready.status, &ready.body),
        (StatusCode::OK, &json!({"status": "ready"}))
    );
    app.store.close().await;
    let down = app.get("/readyz").await;
    assert_eq!(
        (down.status, down.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE")
    );
    let message = down.body["error"]["message"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(
        !message.contains("pool") && !message.contains("sql"),
        "{message}"
    );
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

/// `/metrics` serves the process's render closure as Prometheus text, and is a JSON 404
/// NOT_FOUND when the process exports none.
async fn metrics_serve_the_render_closure_or_404(db: TestDb) {
    let render: api::MetricsRender = Arc::new(|| "sagaflow_up 1\n".to_owned());
    let app = App::build(db, ApiConfig::default(), |s| s.with_metrics(render)).await;
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(reply.body, "sagaflow_up 1\n");

    let config = ApiConfig::default();
    let bare = ApiState::new(
        app.store.clone(),
        app.registry.clone(),
        config,
        Watcher::new(),
    );
    let get = request(Method::GET, "/metrics", None, "");
    let reply = send(api::router(bare), get).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
}

/// `/openapi.json` (served by the router) has an operation for every route the router
/// serves and none it does not; each listed route is really routed (never the 404/405
/// fallback).
async fn openapi_describes_exactly_the_routes_the_router_serves(db: TestDb) {
    let app = App::new(db).await;
    let doc = app.get("/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(
        doc.body,
        api::openapi_document(&ApiConfig::default(), &app.registry)
    );
    assert!(doc.body.get("security").is_none(), "no tokens, no auth");
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.0"));
    let served: BTreeSet<(String, String)> = api::routes()
        .into_iter()
        .map(|(method, path)| (method.as_str().to_lowercase(), path.to_owned()))
        .collect();
    let documented: BTreeSet<(String, String)> = doc.body["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    assert_eq!(documented, served);
    assert_eq!(served.len(), 11);

    let id = engine::WorkflowId::new().to_string();
    for (method, path) in api::routes() {
        let reply = app
            .send(request(
                method.clone(),
                &path.replace("{id}", &id),
                None,
                "",
            ))
            .await;
        let code = reply.body["error"]["code"].as_str();
        assert!(
            !matches!(code, Some("ROUTE_NOT_FOUND" | "METHOD_NOT_ALLOWED")),
            "{method} {path} is routed: {}",
            reply.body
        );
    }
}
