//! JWT verification (`jsonwebtoken`, ring): RS256 and ES256 with public keys from a JWKS, picked
//! by the token's `kid`, and HS256 with one shared secret. `exp` is required, `nbf` checked when
//! present, `iss` and `aud` when configured, all with a leeway for clock skew.
//!
//! Each key's algorithm is pinned when the JWKS is read (its `alg`, else the only one its type
//! allows): a token is verified with the algorithm its key allows, never the one its header
//! asks for, so an HS256 token "signed" with an RSA public key as the secret is refused.
//! Keys embedded in a token's header (`jwk`, `jku`) are never used. Not a JWKS client: the
//! keys are read once at start.

use super::failure::Failure;
use super::remembered::Remembered;
use super::scope::{Names, Scopes};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Shortest HS256 secret accepted: the hash's own size (RFC 7518, section 3.2).
pub const HS256_SECRET_BYTES_MIN: usize = 32;
/// Longest `sub` recorded on a workflow (the columns' size).
pub const SUBJECT_BYTES_MAX: usize = 255;

/// Why a JWKS or secret cannot be used; refused at start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the JWKS is not a JSON Web Key Set: {0}")]
    Jwks(serde_json::Error),
    #[error("key {index} of the JWKS has no `kid` (tokens pick their key by it)")]
    NoKeyId { index: usize },
    #[error("the JWKS has two keys with kid `{0}`")]
    DuplicateKeyId(String),
    #[error("key `{kid}` of the JWKS: {what}")]
    Unsupported { kid: String, what: String },
    #[error("key `{kid}` of the JWKS cannot be read: {detail}")]
    BadKey { kid: String, detail: String },
    #[error("the JWKS holds no signing key")]
    NoKeys,
    #[error("the HS256 secret is {bytes} bytes; it must be at least {HS256_SECRET_BYTES_MIN}")]
    SecretTooShort { bytes: usize },
}

/// One public key of the JWKS and the one algorithm it verifies.
#[derive(Clone)]
struct Key {
    algorithm: Algorithm,
    key: DecodingKey,
}

/// What verifies JWTs: the keys, the HS256 secret, and the claims every token must carry.
#[derive(Clone)]
pub struct Jwt {
    keys: HashMap<String, Key>,
    hs256: Option<DecodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    /// Tokens verified before, until they expire (shared by the clones).
    remembered: Arc<Remembered<Verified>>,
}

/// A verified token's caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Verified {
    pub subject: String,
    pub scopes: Scopes,
}

/// The answer to a presented bearer token.
#[derive(Debug)]
pub(super) enum Outcome {
    Verified(Verified),
    /// Not shaped like a JWT at all: perhaps a static token.
    NotJwt,
    Refused(Failure),
}

/// The claims read besides those `jsonwebtoken` validates.
#[derive(Deserialize)]
struct Claims {
    /// Required by the validation, which says so when it is missing (so not required here).
    exp: Option<u64>,
    sub: Option<String>,
    scope: Option<Names>,
    scp: Option<Names>,
}

impl Default for Jwt {
    fn default() -> Jwt {
        Jwt {
            keys: HashMap::new(),
            hs256: None,
            issuer: None,
            audience: None,
            leeway: Jwt::LEEWAY_DEFAULT,
            remembered: Arc::default(),
        }
    }
}

impl Jwt {
    /// Clock skew allowed on `exp` and `nbf` unless configured.
    pub const LEEWAY_DEFAULT: Duration = Duration::from_secs(30);

    /// Accepts RS256/ES256 tokens signed by the keys of `jwks` (a JWKS document). Keys marked
    /// `"use": "enc"` are skipped; every other key must be RSA (RS256) or P-256 (ES256) with a
    /// `kid`.
    pub fn with_jwks(mut self, jwks: &str) -> Result<Jwt, Error> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(Error::Jwks)?;
        let mut keys = HashMap::new();
        for (index, jwk) in set.keys.iter().enumerate() {
            if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
                continue;
            }
            let kid = jwk.common.key_id.clone().ok_or(Error::NoKeyId { index })?;
            let algorithm = pinned_algorithm(jwk).map_err(|what| Error::Unsupported {
                kid: kid.clone(),
                what,
            })?;
            let key = DecodingKey::from_jwk(jwk).map_err(|e| Error::BadKey {
                kid: kid.clone(),
                detail: e.to_string(),
            })?;
            if keys.insert(kid.clone(), Key { algorithm, key }).is_some() {
                return Err(Error::DuplicateKeyId(kid));
            }
        }
        if keys.is_empty() {
            return Err(Error::NoKeys);
        }
        self.keys = keys;
        Ok(self)
    }

    /// Accepts HS256 tokens signed with `secret` (at least 32 bytes).
    pub fn with_hs256_secret(mut self, secret: &[u8]) -> Result<Jwt, Error> {
        if secret.len() < HS256_SECRET_BYTES_MIN {
            return Err(Error::SecretTooShort {
                bytes: secret.len(),
            });
        }
        self.hs256 = Some(DecodingKey::from_secret(secret));
        Ok(self)
    }

    /// Requires `iss` to be `issuer`.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Jwt {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires `aud` to name `audience`.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Jwt {
        self.audience = Some(audience.into());
        self
    }

    /// Clock skew allowed on `exp` and `nbf` (whole seconds).
    pub fn with_leeway(mut self, leeway: Duration) -> Jwt {
        self.leeway = leeway;
        self
    }

    /// True when some key or secret is configured.
    pub fn accepts_any(&self) -> bool {
        !self.keys.is_empty() || self.hs256.is_some()
    }

    /// Verifies `token`: its algorithm against its key's, its signature, then its claims; a
    /// token verified before and not yet expired is answered from memory ([`Remembered`]).
    pub(super) fn verify(&self, token: &str) -> Outcome {
        let Some(alg) = header_alg(token) else {
            return Outcome::NotJwt;
        };
        let (now, leeway) = (jsonwebtoken::get_current_timestamp(), self.leeway.as_secs());
        if let Some(verified) = self.remembered.get(token, now, leeway) {
            return Outcome::Verified(verified);
        }
        match self.verified(token, &alg) {
            Ok((verified, exp)) => {
                if let Some(exp) = exp {
                    self.remembered
                        .put(token, verified.clone(), exp, now, leeway);
                }
                Outcome::Verified(verified)
            }
            Err(failure) => Outcome::Refused(failure),
        }
    }

    /// Tokens remembered as verified (for tests).
    #[cfg(test)]
    pub(super) fn remembered(&self) -> usize {
        self.remembered.len()
    }

    /// The caller of a valid `token`, and its `exp`.
    fn verified(&self, token: &str, alg: &str) -> Result<(Verified, Option<u64>), Failure> {
        let algorithm = match Algorithm::from_str(alg) {
            Ok(a @ (Algorithm::HS256 | Algorithm::RS256 | Algorithm::ES256)) => a,
            _ => {
                return Err(Failure::Algorithm(format!(
                    "the token's algorithm `{}` is not accepted (RS256, ES256 or HS256)",
                    printable(alg)
                )))
            }
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Failure::Malformed("the token's header cannot be read".into()))?;
        let key = self.key_for(algorithm, header.kid.as_deref())?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation(algorithm))
            .map_err(|e| failure_of(e.kind()))?;
        let subject = data.claims.sub.unwrap_or_default();
        if subject.is_empty() || subject.len() > SUBJECT_BYTES_MAX {
            return Err(Failure::Malformed(format!(
                "the token's subject (sub) must be 1 to {SUBJECT_BYTES_MAX} bytes"
            )));
        }
        let scopes = Scopes::from_claims(data.claims.scope.as_ref(), data.claims.scp.as_ref());
        Ok((Verified { subject, scopes }, data.claims.exp))
    }

    /// The key that verifies a token of `algorithm` naming `kid`. A key of the JWKS only ever
    /// verifies its own algorithm; the HS256 secret only HS256.
    fn key_for(&self, algorithm: Algorithm, kid: Option<&str>) -> Result<&DecodingKey, Failure> {
        if let Some((kid, key)) = kid.and_then(|k| self.keys.get_key_value(k)) {
            return match key.algorithm == algorithm {
                true => Ok(&key.key),
                false => Err(Failure::Algorithm(format!(
                    "key `{}` verifies {:?} only; the token says {algorithm:?}",
                    printable(kid),
                    key.algorithm
                ))),
            };
        }
        match (algorithm, &self.hs256, kid) {
            (Algorithm::HS256, Some(secret), _) => Ok(secret),
            (Algorithm::HS256, None, _) => Err(Failure::Algorithm(
                "HS256 tokens are not accepted by this server".into(),
            )),
            _ if self.keys.is_empty() => Err(Failure::Algorithm(format!(
                "{algorithm:?} tokens are not accepted by this server (no JWKS)"
            ))),
            (_, _, Some(kid)) => Err(Failure::UnknownKey(format!(
                "the token's key id (kid) `{}` names no configured key",
                printable(kid)
            ))),
            (_, _, None) => Err(Failure::UnknownKey(
                "the token names no key (kid) to verify it with".into(),
            )),
        }
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut v = Validation::new(algorithm);
        v.leeway = self.leeway.as_secs();
        v.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &self.issuer {
            v.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.audience {
            Some(audience) => {
                v.set_audience(&[audience]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&required);
        v
    }
}

/// The `alg` of `token`'s header when it is shaped like a JWT (three dot-separated parts, the
/// first base64url JSON naming an `alg`), else `None`. Read by hand so that an algorithm
/// `jsonwebtoken` does not know (`none`) is refused as such rather than as "not a JWT".
fn header_alg(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("alg")?.as_str().map(str::to_owned)
}

/// The one algorithm a JWKS key verifies: its `alg`, which must fit its type, else the one
/// its type allows (RS256 for RSA, ES256 for P-256).
fn pinned_algorithm(jwk: &Jwk) -> Result<Algorithm, String> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::EllipticCurve(p) => {
            return Err(format!(
                "curve {:?} is not supported (P-256 only, for ES256)",
                p.curve
            ))
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err(
                "a symmetric (oct) key does not belong in the JWKS; use --jwt-hs256-secret-file"
                    .into(),
            )
        }
        AlgorithmParameters::OctetKeyPair(_) => {
            return Err("OKP (EdDSA) keys are not supported (RS256, ES256)".into())
        }
    };
    match (jwk.common.key_algorithm, by_type) {
        (None, alg)
        | (Some(KeyAlgorithm::RS256), alg @ Algorithm::RS256)
        | (Some(KeyAlgorithm::ES256), alg @ Algorithm::ES256) => Ok(alg),
        (Some(other), _) => Err(format!(
            "algorithm {other:?} is not supported for this key (RS256 for RSA keys, ES256 for P-256)"
        )),
    }
}

/// The failure a `jsonwebtoken` error stands for.
fn failure_of(kind: &ErrorKind) -> Failure {
    match kind {
        ErrorKind::ExpiredSignature => Failure::Expired,
        ErrorKind::ImmatureSignature => Failure::NotYetValid,
        ErrorKind::InvalidIssuer => Failure::Issuer,
        ErrorKind::InvalidAudience => Failure::Audience,
        ErrorKind::InvalidSignature => Failure::Signature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            Failure::Algorithm("the token's algorithm is not the one its key allows".into())
        }
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "iss" => Failure::Issuer,
            "aud" => Failure::Audience,
            "exp" => Failure::Malformed("the token has no expiry (exp)".into()),
            _ => Failure::Malformed(format!("the token has no `{claim}` claim")),
        },
        _ => Failure::Malformed("the token cannot be read as a JWT".into()),
    }
}

/// A name from a token, safe to put in a message: at most 64 visible ASCII characters.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

/// Names the keys and settings, never the secret.
impl fmt::Debug for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<String> = self
            .keys
            .iter()
            .map(|(kid, k)| format!("{kid}: {:?}", k.algorithm))
            .collect();
        keys.sort();
        f.debug_struct("Jwt")
            .field("keys", &keys)
            .field("hs256", &self.hs256.as_ref().map(|_| "[redacted]"))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
