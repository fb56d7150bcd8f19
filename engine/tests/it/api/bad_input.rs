//! Refused requests: each answers its JSON error and writes nothing.

use super::*;

testkit::backend_tests!(
    refused_submits_answer_json_errors_and_write_nothing,
    unknown_routes_and_wrong_methods_answer_json_errors,
    tokens_guard_every_route_but_the_health_probes
);

/// One refused submit: what is sent, and the status and code expected.
struct Case {
    what: &'static str,
    uri: &'static str,
    content_type: Option<&'static str>,
    key: Option<String>,
    body: String,
    status: StatusCode,
    code: &'static str,
}

fn case(what: &'static str, body: impl ToString, status: StatusCode, code: &'static str) -> Case {
    Case {
        what,
        uri: "/v1/workflows",
        content_type: Some("application/json"),
        key: None,
        body: body.to_string(),
        status,
        code,
    }
}

fn cases() -> Vec<Case> {
    use StatusCode as S;
    let ok = purchase("purchase", 1, 1);
    let with_input = |input: Value| json!({"type": "purchase", "input": input});
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({"a": deep});
    }
    let many: serde_json::Map<String, Value> = (0..400)
        .map(|i| (format!("field_{i}"), json!("x".repeat(40))))
        .collect();
    vec![
        case(
            "malformed JSON",
            r#"{"type": "purchase", "input": "#,
            S::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        case(
            "unknown field",
            json!({"type": "purchase", "input": ok["input"], "priority": 1}),
            S::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        case(
            "no input",
            json!({"type": "purchase"}),
            S::BAD_REQUEST,
            "BAD_REQUEST",
        ),
        case(
            "unknown type",
            purchase("refund", 1, 1),
            S::UNPROCESSABLE_ENTITY,
            "UNKNOWN_WORKFLOW_TYPE",
        ),
        case(
            "missing input field",
            with_input(json!({"user_id": 1, "product_id": 1, "quantity": 1})),
            S::UNPROCESSABLE_ENTITY,
            "INVALID_INPUT",
        ),
        case(
            "mistyped input field",
            with_input(
                json!({"user_id": "alice", "product_id": 1, "quantity": 1, "payment_method_id": 1}),
            ),
            S::UNPROCESSABLE_ENTITY,
            "INVALID_INPUT",
        ),
        Case {
            content_type: Some("text/plain"),
            ..case(
                "text body",
                &ok,
                S::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
            )
        },
        Case {
            content_type: None,
            ..case(
                "no content type",
                &ok,
                S::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
            )
        },
        case(
            "body over 64 KiB",
            with_input(json!({"pad": vec![1; 40_000]})),
            S::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
        ),
        case(
            "nested 41 deep",
            with_input(deep),
            S::BAD_REQUEST,
            "TOO_DEEP",
        ),
        case(
            "5000-byte string",
            with_input(json!({"note": "x".repeat(5000)})),
            S::BAD_REQUEST,
            "STRING_TOO_LONG",
        ),
        case(
            "input over the store's 16 KiB",
            with_input(Value::Object(many)),
            S::PAYLOAD_TOO_LARGE,
            "INPUT_TOO_LARGE",
        ),
        Case {
            key: Some(String::new()),
            ..case("empty key", &ok, S::BAD_REQUEST, "BAD_REQUEST")
        },
        Case {
            key: Some("k".repeat(256)),
            ..case(
                "256-byte key",
                &ok,
                S::BAD_REQUEST,
                "IDEMPOTENCY_KEY_TOO_LONG",
            )
        },
        Case {
            uri: "/v1/workflows?wait=soon",
            ..case("bad wait", &ok, S::BAD_REQUEST, "BAD_REQUEST")
        },
        Case {
            uri: "/v1/workflows?colour=red",
            ..case("unknown query", &ok, S::BAD_REQUEST, "BAD_REQUEST")
        },
    ]
}

/// Malformed, oversized, too deep, unknown or invalid submits each answer their status and
/// JSON error code, and none of them writes a workflow.
async fn refused_submits_answer_json_errors_and_write_nothing(db: TestDb) {
    let app = App::new(db).await;
    for c in cases() {
        let mut req = request(Method::POST, c.uri, c.content_type, c.body);
        if let Some(key) = &c.key {
            req.headers_mut()
                .insert("idempotency-key", key.parse().unwrap());
        }
        let reply = app.send(req).await;
        assert_eq!(
            (reply.status, reply.code()),
            (c.status, c.code),
            "{}: {}",
            c.what,
            reply.body
        );
        assert_eq!(app.workflow_rows().await, 0, "{} wrote nothing", c.what);
    }
}

/// An unknown route is 404 ROUTE_NOT_FOUND and a wrong method 405 METHOD_NOT_ALLOWED, both
/// as JSON errors.
async fn unknown_routes_and_wrong_methods_answer_json_errors(db: TestDb) {
    let app = App::new(db).await;
    let id = engine::WorkflowId::new();
    for (method, uri, status, code) in [
        (
            Method::GET,
            "/v1/nope".to_owned(),
            StatusCode::NOT_FOUND,
            "ROUTE_NOT_FOUND",
        ),
        (
            Method::GET,
            "/".to_owned(),
            StatusCode::NOT_FOUND,
            "ROUTE_NOT_FOUND",
        ),
        (
            Method::DELETE,
            "/v1/workflows".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        ),
        (
            Method::GET,
            format!("/v1/workflows/{id}/abort"),
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        ),
        (
            Method::POST,
            "/healthz".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        ),
    ] {
        let reply = app.send(request(method.clone(), &uri, None, "")).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{method} {uri}"
        );
    }
    assert_eq!(app.workflow_rows().await, 0);
}

/// With tokens set, a missing, wrong or non-Bearer token is 401 UNAUTHORIZED with
/// `WWW-Authenticate: Bearer` (`error="invalid_token"` for a wrong bearer token) on every
/// route (even unknown ones) and writes nothing; the health probes need no token; the right
/// token submits.
async fn tokens_guard_every_route_but_the_health_probes(db: TestDb) {
    let config = ApiConfig {
        tokens: vec!["first-token".into(), "s3cret-token".into()],
        ..ApiConfig::default()
    };
    let app = App::with_config(db, config).await;
    let body = purchase("purchase", 1, 1);
    let with_auth = |uri: &str, auth: Option<&str>| {
        let mut req = submit_request(uri, &body, None);
        if let Some(auth) = auth {
            req.headers_mut()
                .insert(header::AUTHORIZATION, auth.parse().unwrap());
        }
        req
    };
    let invalid = r#"Bearer error="invalid_token""#;
    for (auth, challenge) in [
        (None, "Bearer"),
        (Some("Bearer wrong-token"), invalid),
        (Some("Bearer s3cret-toke"), invalid),
        (Some("Basic czNjcmV0LXRva2Vu"), "Bearer"),
        (Some("s3cret-token"), "Bearer"),
    ] {
        let reply = app.send(with_auth("/v1/workflows", auth)).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            "{auth:?}"
        );
        assert_eq!(
            reply.headers[header::WWW_AUTHENTICATE],
            challenge,
            "{auth:?}"
        );
    }
    for uri in [
        "/v1/workflow-types",
        "/v1/workflows",
        "/openapi.json",
        "/metrics",
        "/v1/nope",
    ] {
        let reply = app.get(uri).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            "{uri}"
        );
    }
    assert_eq!(app.workflow_rows().await, 0);
    for uri in ["/healthz", "/readyz"] {
        assert_eq!(
            app.get(uri).await.status,
            StatusCode::OK,
            "{uri} needs no token"
        );
    }
    let ok = app
        .send(with_auth("/v1/workflows", Some("Bearer s3cret-token")))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert_eq!(app.workflow_rows().await, 1);
}
