//! Unit tests of the JWKS reading and the header sniffing; the API tests sign real tokens.

use super::*;

/// A P-256 public key (the RFC 7515 appendix A.3 example).
const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

fn ec(kid: &str, alg: Option<&str>) -> serde_json::Value {
    let mut key =
        serde_json::json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": kid});
    if let Some(alg) = alg {
        key["alg"] = alg.into();
    }
    key
}

fn jwks(keys: Vec<serde_json::Value>) -> String {
    serde_json::json!({ "keys": keys }).to_string()
}

#[test]
fn a_key_without_alg_is_pinned_to_the_one_its_type_allows() {
    let jwt = Jwt::default()
        .with_jwks(&jwks(vec![ec("a", None)]))
        .unwrap();
    assert_eq!(jwt.keys["a"].algorithm, Algorithm::ES256);
    let jwt = Jwt::default()
        .with_jwks(&jwks(vec![ec("b", Some("ES256"))]))
        .unwrap();
    assert_eq!(jwt.keys["b"].algorithm, Algorithm::ES256);
    assert!(jwt.accepts_any());
}

#[test]
fn unusable_jwks_are_refused_with_what_is_wrong() {
    let cases = [
        ("not json", "not a JSON Web Key Set"),
        (r#"{"keys": []}"#, "no signing key"),
        (
            &jwks(vec![
                serde_json::json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y}),
            ]),
            "no `kid`",
        ),
        (&jwks(vec![ec("a", None), ec("a", None)]), "two keys"),
        (&jwks(vec![ec("a", Some("RS256"))]), "RS256"),
        (&jwks(vec![ec("a", Some("HS256"))]), "not supported"),
        (
            &jwks(vec![
                serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"}),
            ]),
            "--jwt-hs256-secret-file",
        ),
        (
            &jwks(vec![
                serde_json::json!({"kty": "EC", "crv": "P-384", "x": EC_X, "y": EC_Y, "kid": "p"}),
            ]),
            "P-256 only",
        ),
    ];
    for (text, expected) in cases {
        let err = Jwt::default().with_jwks(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
    // A key for encryption is skipped, not refused; alone it leaves no signing key.
    let mut enc = ec("e", None);
    enc["use"] = "enc".into();
    let err = Jwt::default().with_jwks(&jwks(vec![enc])).unwrap_err();
    assert!(matches!(err, Error::NoKeys), "{err}");
}

#[test]
fn a_short_hs256_secret_is_refused() {
    let err = Jwt::default().with_hs256_secret(&[7; 31]).unwrap_err();
    assert!(matches!(err, Error::SecretTooShort { bytes: 31 }), "{err}");
    assert!(Jwt::default().with_hs256_secret(&[7; 32]).is_ok());
    assert!(!Jwt::default().accepts_any());
}

#[test]
fn only_tokens_shaped_like_a_jwt_are_read_as_one() {
    let header = |json: &str| URL_SAFE_NO_PAD.encode(json);
    let none = format!("{}.e30.", header(r#"{"alg":"none"}"#));
    assert_eq!(header_alg(&none).as_deref(), Some("none"));
    let rs = format!("{}.e30.c2ln", header(r#"{"alg":"RS256","kid":"k"}"#));
    assert_eq!(header_alg(&rs).as_deref(), Some("RS256"));
    for not_jwt in [
        "s3cret-token".to_owned(),
        "a.b.c".to_owned(),
        format!("{}.e30", header(r#"{"alg":"HS256"}"#)),
        format!("{}.e30.x.y", header(r#"{"alg":"HS256"}"#)),
        format!("{}.e30.x", header(r#"{"typ":"JWT"}"#)),
    ] {
        assert_eq!(header_alg(&not_jwt), None, "{not_jwt}");
    }
}

#[test]
fn alg_none_and_unknown_algorithms_are_refused_as_algorithm() {
    let jwt = Jwt::default().with_hs256_secret(&[7; 32]).unwrap();
    for alg in ["none", "None", "HS512", "PS256", "EdDSA", "x"] {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
        let token = format!("{header}.e30.");
        match jwt.verify(&token) {
            Outcome::Refused(f @ Failure::Algorithm(_)) => assert_eq!(f.reason(), "algorithm"),
            other => panic!("{alg}: {other:?}"),
        }
    }
}

#[test]
fn the_debug_form_names_keys_but_not_the_secret() {
    let jwt = Jwt::default()
        .with_jwks(&jwks(vec![ec("kid-1", None)]))
        .unwrap()
        .with_hs256_secret(b"0123456789abcdef0123456789abcdef")
        .unwrap();
    let shown = format!("{jwt:?}");
    assert!(shown.contains("kid-1: ES256"), "{shown}");
    assert!(!shown.contains("0123456789"), "{shown}");
}

#[test]
fn without_a_jwks_rs256_and_es256_are_refused_as_algorithm_and_without_a_secret_hs256() {
    let unsigned = |header: &str| format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header));
    let hs_only = Jwt::default().with_hs256_secret(&[7; 32]).unwrap();
    for header in [
        r#"{"alg":"RS256","kid":"k"}"#,
        r#"{"alg":"RS256"}"#,
        r#"{"alg":"ES256"}"#,
    ] {
        match hs_only.verify(&unsigned(header)) {
            Outcome::Refused(Failure::Algorithm(m)) => assert!(m.contains("no JWKS"), "{m}"),
            other => panic!("{header}: {other:?}"),
        }
    }
    let jwks_only = Jwt::default()
        .with_jwks(&jwks(vec![ec("a", None)]))
        .unwrap();
    match jwks_only.verify(&unsigned(r#"{"alg":"HS256"}"#)) {
        Outcome::Refused(Failure::Algorithm(m)) => assert!(m.contains("HS256"), "{m}"),
        other => panic!("{other:?}"),
    }
    // With a JWKS, a kid it lacks is an unknown key, not a wrong algorithm.
    match jwks_only.verify(&unsigned(r#"{"alg":"ES256","kid":"b"}"#)) {
        Outcome::Refused(f @ Failure::UnknownKey(_)) => assert_eq!(f.reason(), "unknown_key"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_verified_token_is_remembered_and_a_refused_one_is_not() {
    let secret = [7u8; 32];
    let jwt = Jwt::default().with_hs256_secret(&secret).unwrap();
    let now = jsonwebtoken::get_current_timestamp();
    let token = |exp: u64, secret: &[u8]| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "alice", "scope": "sagaflow:read", "exp": exp}),
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let good = token(now + 600, &secret);
    for _ in 0..2 {
        match jwt.verify(&good) {
            Outcome::Verified(v) => assert_eq!(v.subject, "alice"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(jwt.remembered(), 1, "verified once, answered twice");
    let forged = token(now + 600, &[8u8; 32]);
    let expired = token(now - 3600, &secret);
    for bad in [&forged, &expired] {
        for _ in 0..2 {
            assert!(matches!(jwt.verify(bad), Outcome::Refused(_)));
        }
    }
    assert_eq!(jwt.remembered(), 1, "refusals are not remembered");
    let clone = jwt.clone();
    assert!(matches!(clone.verify(&good), Outcome::Verified(_)));
    assert_eq!(clone.remembered(), 1, "clones share the memory");
}
