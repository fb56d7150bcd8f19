//! JWT authentication through the router: each scope opens its routes and only those, every
//! refused token is 401 `UNAUTHORIZED` saying what was wrong, a missing scope is 403
//! `FORBIDDEN`, static tokens still work beside JWTs, and the submit rate keys on `sub`.

use super::keys::{jwt_app, now, Claims, EC_KID, HS256_SECRET, KEYS, RSA_KID};
use super::*;
use jsonwebtoken::Algorithm;
use std::num::NonZeroU32;

testkit::backend_tests!(
    each_scope_opens_its_routes_and_only_those,
    refused_tokens_answer_401_saying_what_was_wrong,
    static_tokens_still_work_beside_jwts,
    the_submit_rate_keys_on_the_jwt_subject,
);

/// Answers `reply` as (status, code), checking the 403's challenge on the way.
fn verdict(reply: &Reply) -> (StatusCode, String) {
    if reply.status == StatusCode::FORBIDDEN {
        let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.starts_with(r#"Bearer error="insufficient_scope""#),
            "{challenge}"
        );
    }
    let code = match reply.status.is_success() {
        true => String::new(),
        false => reply.code().to_owned(),
    };
    (reply.status, code)
}

/// A read token reads every GET route but cannot submit, abort or retry; a submit token only
/// submits; an operate token only aborts and retries. Scopes arrive as `scope` (RS256), as
/// `scp` (ES256) and over HS256 alike. A 403 writes nothing.
async fn each_scope_opens_its_routes_and_only_those(db: TestDb) {
    let app = jwt_app(db, &[]).await;
    let read = Claims::new("reader", "openid sagaflow:read").rs256();
    let submit = Claims::new("submitter", "sagaflow:submit")
        .with("scope", Value::Null)
        .with("scp", json!(["sagaflow:submit"]))
        .sign(Algorithm::ES256, Some(EC_KID));
    let operate = Claims::new("operator", "sagaflow:operate").sign(Algorithm::HS256, None);
    let body = purchase("purchase", 1, 1);

    let created = app.submit_as(&body, None, &submit).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let forbidden = (StatusCode::FORBIDDEN, "FORBIDDEN".to_owned());
    for token in [&read, &operate] {
        assert_eq!(verdict(&app.submit_as(&body, None, token).await), forbidden);
    }
    assert_eq!(app.workflow_rows().await, 1, "a 403 submit writes nothing");

    let ok = (StatusCode::OK, String::new());
    let gets = [
        "/v1/workflows".to_owned(),
        format!("/v1/workflows/{id}"),
        "/v1/workflow-types".to_owned(),
        "/v1/overview".to_owned(),
        "/openapi.json".to_owned(),
    ];
    for uri in &gets {
        assert_eq!(verdict(&app.get_as(uri, &read).await), ok, "{uri}");
        for token in [&submit, &operate] {
            assert_eq!(verdict(&app.get_as(uri, token).await), forbidden, "{uri}");
        }
    }
    // /metrics needs read too (this app renders none: past the scope check it is a 404).
    let metrics = app.get_as("/metrics", &read).await;
    assert_eq!(
        verdict(&metrics),
        (StatusCode::NOT_FOUND, "NOT_FOUND".into())
    );
    assert_eq!(verdict(&app.get_as("/metrics", &submit).await), forbidden);

    for token in [&read, &submit] {
        let reply = app
            .post_as(&format!("/v1/workflows/{id}/abort"), token)
            .await;
        assert_eq!(verdict(&reply), forbidden);
        assert!(reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sagaflow:operate"));
    }
    let aborted = app
        .post_as(&format!("/v1/workflows/{id}/abort"), &operate)
        .await;
    assert_eq!(verdict(&aborted), ok, "{}", aborted.body);
    // Retry needs operate: with it, the workflow's status decides (409: not parked).
    let retry = app
        .post_as(&format!("/v1/workflows/{id}/retry"), &read)
        .await;
    assert_eq!(verdict(&retry), forbidden);
    let retry = app
        .post_as(&format!("/v1/workflows/{id}/retry"), &operate)
        .await;
    assert_eq!(verdict(&retry), (StatusCode::CONFLICT, "CONFLICT".into()));

    // A valid token on an unknown route or with a wrong method meets the router's answers.
    let nope = app.get_as("/v1/nope", &read).await;
    assert_eq!(
        verdict(&nope),
        (StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND".into())
    );
    let wrong = app.post_as("/v1/overview", &read).await;
    assert_eq!(
        verdict(&wrong),
        (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED".into())
    );
    // The probes need nothing.
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

/// Every way a token can be wrong: 401 UNAUTHORIZED, `WWW-Authenticate: Bearer
/// error="invalid_token"`, a message naming the failed check and never the token, nothing
/// written. Within the leeway an expired token still passes.
async fn refused_tokens_answer_401_saying_what_was_wrong(db: TestDb) {
    let app = jwt_app(db, &[]).await;
    let claims = || Claims::new("mallory", "sagaflow:submit sagaflow:read");
    let good = claims().rs256();
    let tampered_signature = {
        let (rest, signature) = good.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        format!("{rest}.{flipped}{}", &signature[1..])
    };
    let tampered_claims = {
        let parts: Vec<&str> = good.split('.').collect();
        let other = claims().with("sub", json!("admin")).rs256();
        let payload = other.split('.').nth(1).unwrap();
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let pem = KEYS.rsa_public_pem();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            claims().with("exp", json!(now() - 120)).rs256(),
            "expired",
        ),
        (
            "not yet valid",
            claims().with("nbf", json!(now() + 120)).rs256(),
            "not valid yet",
        ),
        (
            "wrong issuer",
            claims().with("iss", json!("https://evil.test")).rs256(),
            "issuer",
        ),
        (
            "no issuer",
            claims().with("iss", Value::Null).rs256(),
            "issuer",
        ),
        (
            "wrong audience",
            claims().with("aud", json!("other-api")).rs256(),
            "audience",
        ),
        (
            "no expiry",
            claims().with("exp", Value::Null).rs256(),
            "no expiry",
        ),
        (
            "no subject",
            claims().with("sub", Value::Null).rs256(),
            "`sub`",
        ),
        (
            "HS256 signed with the RSA public key, naming the RSA key",
            claims().hs256_with(pem.as_bytes(), Some(RSA_KID)),
            "verifies RS256 only",
        ),
        (
            "HS256 signed with the RSA public key, no kid",
            claims().hs256_with(pem.as_bytes(), None),
            "signature",
        ),
        (
            "ES256 naming the RSA key",
            claims().sign(Algorithm::ES256, Some(RSA_KID)),
            "verifies RS256 only",
        ),
        (
            "alg none",
            claims().unsigned(json!({"alg": "none", "typ": "JWT"})),
            "algorithm `none`",
        ),
        (
            "alg none naming the RSA key",
            claims().unsigned(json!({"alg": "none", "kid": RSA_KID})),
            "algorithm `none`",
        ),
        (
            "an algorithm not configured",
            claims().unsigned(json!({"alg": "RS512", "kid": RSA_KID})),
            "algorithm `RS512`",
        ),
        ("tampered signature", tampered_signature, "signature"),
        ("tampered claims", tampered_claims, "signature"),
        (
            "unknown kid",
            claims().sign(Algorithm::RS256, Some("rsa-2")),
            "names no configured key",
        ),
        (
            "no kid",
            claims().sign(Algorithm::RS256, None),
            "names no key",
        ),
        ("not a JWT", "s3cret-token".into(), "not a JWT"),
    ];
    for (what, token, expected) in &cases {
        let reply = app
            .submit_as(&purchase("purchase", 1, 1), None, token)
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            "{what}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{what}: {message}");
        assert!(
            !message.contains(token.as_str()),
            "{what}: the message shows the token"
        );
        assert_eq!(
            reply.headers[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#,
            "{what}"
        );
    }
    assert_eq!(
        app.workflow_rows().await,
        0,
        "no refused token wrote anything"
    );

    let missing = app.submit(&purchase("purchase", 1, 1), None).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    assert_eq!(missing.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(app.get("/v1/nope").await.status, StatusCode::UNAUTHORIZED);

    // Ten seconds past `exp` is within the 30 s leeway; so is `nbf` ten seconds ahead.
    let late = claims().with("exp", json!(now() - 10)).rs256();
    assert_eq!(
        app.get_as("/v1/workflows", &late).await.status,
        StatusCode::OK
    );
    let early = claims().with("nbf", json!(now() + 10)).rs256();
    assert_eq!(
        app.get_as("/v1/workflows", &early).await.status,
        StatusCode::OK
    );
    let good_reply = app
        .submit_as(&purchase("purchase", 1, 1), None, &good)
        .await;
    assert_eq!(
        good_reply.status,
        StatusCode::CREATED,
        "{}",
        good_reply.body
    );
    let hs = claims().sign(Algorithm::HS256, Some("any-kid"));
    assert_eq!(
        app.get_as("/v1/workflows", &hs).await.status,
        StatusCode::OK
    );
    let forged = claims().hs256_with(&HS256_SECRET[1..], None);
    assert_eq!(
        app.get_as("/v1/workflows", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// With both configured, a static token carries every scope and a JWT its own; a wrong static
/// token is still refused, as `unknown_key`'s message says.
async fn static_tokens_still_work_beside_jwts(db: TestDb) {
    let app = jwt_app(db, &["s3cret-token"]).await;
    let created = app
        .submit_as(&purchase("purchase", 1, 1), None, "s3cret-token")
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let abort = app
        .post_as(&format!("/v1/workflows/{id}/abort"), "s3cret-token")
        .await;
    assert_eq!(abort.status, StatusCode::OK, "{}", abort.body);
    let read = Claims::new("reader", "sagaflow:read").rs256();
    assert_eq!(
        app.get_as(&format!("/v1/workflows/{id}"), &read)
            .await
            .status,
        StatusCode::OK
    );
    let wrong = app.get_as("/v1/workflows", "s3cret-tokeN").await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    let message = wrong.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("not one this server accepts"), "{message}");
}

/// The per-caller submit rate counts per JWT subject: alice over her budget is 429 while bob
/// still submits, from the same address.
async fn the_submit_rate_keys_on_the_jwt_subject(db: TestDb) {
    let one = NonZeroU32::new(1).unwrap();
    let config = ApiConfig {
        jwt: Some(super::keys::verifier()),
        submit_rate: Some(api::SubmitRate::new(one, Duration::from_secs(3600))),
        ..ApiConfig::default()
    };
    let app = App::with_config(db, config).await;
    let alice = Claims::new("alice", "sagaflow:submit").rs256();
    let alice_again = Claims::new("alice", "sagaflow:submit").sign(Algorithm::ES256, Some(EC_KID));
    let bob = Claims::new("bob", "sagaflow:submit").rs256();
    let body = purchase("purchase", 1, 1);
    assert_eq!(
        app.submit_as(&body, None, &alice).await.status,
        StatusCode::CREATED
    );
    let limited = app.submit_as(&body, None, &alice_again).await;
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
        "another token of the same subject shares its budget"
    );
    assert_eq!(
        app.submit_as(&body, None, &bob).await.status,
        StatusCode::CREATED
    );
}
