//! Why a credential was refused: one [`Failure`] per case, with the small fixed `reason` label
//! of `sagaflow_http_auth_failures_total` and a message that says what was wrong without ever
//! repeating the token.

/// A refused credential (401), or a valid one without the route's scope (403, [`Failure::Scope`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("a bearer token is required (`Authorization: Bearer <token>`)")]
    Missing,
    /// Not a JWT (and no static token to compare with), or a JWT that cannot be read: bad
    /// base64 or JSON, a required claim missing.
    #[error("{0}")]
    Malformed(String),
    #[error("the token has expired (exp)")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token's issuer (iss) is not the one this server accepts")]
    Issuer,
    #[error("the token's audience (aud) does not name this server")]
    Audience,
    /// `alg: none`, an algorithm this server does not accept, or one its key does not allow.
    #[error("{0}")]
    Algorithm(String),
    #[error("the token's signature does not verify")]
    Signature,
    /// A `kid` no configured key has, or a token that is neither a JWT nor a configured
    /// static token.
    #[error("{0}")]
    UnknownKey(String),
    #[error("the token does not carry the scope `{0}` this route needs")]
    Scope(super::Scope),
}

impl Failure {
    /// The `reason` label: one of a fixed set, so the metric stays small.
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::Missing => "missing",
            Failure::Malformed(_) => "malformed",
            Failure::Expired => "expired",
            Failure::NotYetValid => "not_yet_valid",
            Failure::Issuer => "issuer",
            Failure::Audience => "audience",
            Failure::Algorithm(_) => "algorithm",
            Failure::Signature => "signature",
            Failure::UnknownKey(_) => "unknown_key",
            Failure::Scope(_) => "scope",
        }
    }

    /// Every reason label, for exporting the counter at 0 and for the docs' test (the
    /// metrics module holds the list, so that it need not import this one).
    pub const REASONS: [&'static str; 10] = crate::metrics::AUTH_FAILURE_REASONS;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_a_listed_reason() {
        let all = [
            Failure::Missing,
            Failure::Malformed(String::new()),
            Failure::Expired,
            Failure::NotYetValid,
            Failure::Issuer,
            Failure::Audience,
            Failure::Algorithm(String::new()),
            Failure::Signature,
            Failure::UnknownKey(String::new()),
            Failure::Scope(super::super::Scope::Read),
        ];
        let reasons: Vec<&str> = all.iter().map(Failure::reason).collect();
        assert_eq!(reasons, Failure::REASONS);
    }
}
