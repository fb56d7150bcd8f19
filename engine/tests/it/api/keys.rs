//! Test keys and tokens for the JWT tests, made at test time: an RSA key (`rsa`), a P-256 key
//! (`rcgen`), their JWKS written to a temp file and read back as the server reads it, an
//! HS256 secret, and a [`Claims`] builder that signs tokens with any of them.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use engine::api::Jwt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use std::sync::LazyLock;

pub const ISSUER: &str = "https://idp.test";
pub const AUDIENCE: &str = "sagaflow";
pub const RSA_KID: &str = "rsa-1";
pub const EC_KID: &str = "ec-1";
pub const HS256_SECRET: &[u8] = b"an-hs256-secret-of-32-bytes-or-m";

/// The test keys: made once per test binary (an RSA key takes a moment).
pub struct Keys {
    rsa: rsa::RsaPrivateKey,
    ec: rcgen::KeyPair,
}

pub static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
    rsa: rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA key"),
    ec: rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a P-256 key"),
});

impl Keys {
    /// The JWKS of both public keys: the RSA one without `alg` (pinned to RS256 by its type),
    /// the P-256 one with `alg: ES256`.
    pub fn jwks(&self) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let point = self.ec.public_key_raw(); // 0x04, x, y
        assert_eq!(point.len(), 65, "an uncompressed P-256 point");
        json!({"keys": [
            {"kty": "RSA", "kid": RSA_KID, "use": "sig",
             "n": b64(&self.rsa.n().to_bytes_be()), "e": b64(&self.rsa.e().to_bytes_be())},
            {"kty": "EC", "kid": EC_KID, "alg": "ES256", "crv": "P-256",
             "x": b64(&point[1..33]), "y": b64(&point[33..])},
        ]})
    }

    /// The RSA public key as PEM: what an attacker would use as an HS256 secret.
    pub fn rsa_public_pem(&self) -> String {
        self.rsa
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("PEM")
    }

    fn encoding_key(&self, algorithm: Algorithm) -> EncodingKey {
        match algorithm {
            Algorithm::RS256 => {
                EncodingKey::from_rsa_der(self.rsa.to_pkcs1_der().expect("DER").as_bytes())
            }
            Algorithm::ES256 => EncodingKey::from_ec_der(&self.ec.serialize_der()),
            Algorithm::HS256 => EncodingKey::from_secret(HS256_SECRET),
            other => panic!("no test key for {other:?}"),
        }
    }
}

/// The verifier of the test server: the JWKS written to a temp file and read back, the
/// HS256 secret, the issuer and the audience; the default leeway (30 s).
pub fn verifier() -> Jwt {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, KEYS.jwks().to_string()).expect("write the JWKS");
    let jwks = std::fs::read_to_string(&path).expect("read the JWKS");
    Jwt::default()
        .with_jwks(&jwks)
        .expect("a usable JWKS")
        .with_hs256_secret(HS256_SECRET)
        .expect("a long enough secret")
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
}

/// An app whose API asks for JWTs (and, with `tokens`, static tokens too).
pub async fn jwt_app(db: TestDb, tokens: &[&str]) -> App {
    let config = ApiConfig {
        jwt: Some(verifier()),
        tokens: tokens.iter().map(|t| (*t).to_owned()).collect(),
        ..ApiConfig::default()
    };
    App::with_config(db, config).await
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// The claims of a test token: valid for five minutes for `sub`, with `scope`.
pub struct Claims(pub Value);

impl Claims {
    pub fn new(sub: &str, scope: &str) -> Claims {
        Claims(json!({
            "sub": sub, "scope": scope, "iss": ISSUER, "aud": AUDIENCE,
            "iat": now(), "exp": now() + 300,
        }))
    }

    /// Sets (or, with `Value::Null`, removes) one claim.
    pub fn with(mut self, claim: &str, value: Value) -> Claims {
        match value {
            Value::Null => {
                self.0.as_object_mut().expect("an object").remove(claim);
            }
            value => self.0[claim] = value,
        }
        self
    }

    /// Signed with the test key of `algorithm`, naming `kid`.
    pub fn sign(&self, algorithm: Algorithm, kid: Option<&str>) -> String {
        let mut header = Header::new(algorithm);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &self.0, &KEYS.encoding_key(algorithm)).expect("signed")
    }

    /// RS256 with the RSA key (the usual case).
    pub fn rs256(&self) -> String {
        self.sign(Algorithm::RS256, Some(RSA_KID))
    }

    /// HS256 with `secret`, naming `kid`: how a forger signs.
    pub fn hs256_with(&self, secret: &[u8], kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &self.0, &EncodingKey::from_secret(secret)).expect("signed")
    }

    /// A token with the header `header` as written and no signature (`alg: none`).
    pub fn unsigned(&self, header: Value) -> String {
        let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", part(&header), part(&self.0))
    }
}

/// `request` with `Authorization: Bearer <token>`.
pub fn bearer(mut request: Request<Body>, token: &str) -> Request<Body> {
    let value = format!("Bearer {token}").parse().expect("a header value");
    request.headers_mut().insert(header::AUTHORIZATION, value);
    request
}

impl App {
    /// GET `uri` as `token`.
    pub async fn get_as(&self, uri: &str, token: &str) -> Reply {
        self.send(bearer(request(Method::GET, uri, None, ""), token))
            .await
    }

    /// POST `uri` without a body (abort, retry) as `token`.
    pub async fn post_as(&self, uri: &str, token: &str) -> Reply {
        self.send(bearer(request(Method::POST, uri, None, ""), token))
            .await
    }

    /// A submit as `token`.
    pub async fn submit_as(&self, body: &Value, key: Option<&str>, token: &str) -> Reply {
        self.send(bearer(submit_request("/v1/workflows", body, key), token))
            .await
    }
}
