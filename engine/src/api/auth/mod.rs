//! Optional auth of the API: static bearer tokens (`--api-tokens`, [`token`]) and JWTs
//! ([`jwt`]). With either configured, every request but the health probes and the console's
//! files must carry `Authorization: Bearer <token>`; each route then needs its scope
//! ([`Scope`], from the route table `api::endpoints`).
//!
//! Two layers. [`authenticate`] runs before routing, so an unauthenticated caller learns
//! nothing, not even which routes exist: it answers 401, or puts the [`Caller`] in the
//! request's extensions. [`require_scope`] runs on each matched route and answers 403 when
//! the caller lacks the route's scope. A token that is not shaped like a JWT is compared with
//! the static tokens. Not user management: who may do what is in the tokens.

mod failure;
pub mod jwt;
mod remembered;
mod scope;
pub mod token;

pub use failure::Failure;
pub use jwt::Jwt;
pub use scope::{Scope, Scopes};

use super::error::Error;
use super::ApiState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, request::Parts, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jwt::Outcome;

/// Paths open without a token: orchestrators probe them without credentials.
const PUBLIC_PATHS: &[&str] = &["/healthz", "/readyz"];

/// True for the probes and the console's files (which hold no data: the page asks for a
/// token and sends it with every API call).
pub(super) fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path) || path == super::console::PREFIX || path.starts_with("/ui/")
}

/// Who is calling, as the auth layer established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Recorded on the workflows it submits, aborts, retries; `None` without auth.
    pub subject: Option<String>,
    pub scopes: Scopes,
    /// The subject is a JWT's `sub` (not a static token's name).
    pub by_jwt: bool,
}

impl Caller {
    /// The caller when the API asks for no credentials: anyone, allowed everything.
    fn anonymous() -> Caller {
        Caller {
            subject: None,
            scopes: Scopes::all(),
            by_jwt: false,
        }
    }
}

/// True when the API asks for credentials.
pub(super) fn enabled(config: &super::ApiConfig) -> bool {
    !config.tokens.is_empty() || config.jwt.as_ref().is_some_and(Jwt::accepts_any)
}

/// The first layer: passes the request on with its [`Caller`], or answers 401 with
/// `WWW-Authenticate: Bearer` (and `error="invalid_token"` when a token was presented).
pub(super) async fn authenticate(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    let config = &state.config;
    if !enabled(config) {
        request.extensions_mut().insert(Caller::anonymous());
        return next.run(request).await;
    }
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    match identify(config, request.headers()) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(failure) => refuse(failure),
    }
}

/// The caller a request's bearer token stands for.
fn identify(config: &super::ApiConfig, headers: &HeaderMap) -> Result<Caller, Failure> {
    let presented = bearer(headers).ok_or(Failure::Missing)?;
    let as_text = std::str::from_utf8(presented).ok();
    if let (Some(jwt), Some(text)) = (&config.jwt, as_text) {
        match jwt.verify(text) {
            Outcome::Verified(v) => {
                return Ok(Caller {
                    subject: Some(v.subject),
                    scopes: v.scopes,
                    by_jwt: true,
                })
            }
            Outcome::Refused(failure) => return Err(failure),
            Outcome::NotJwt => {}
        }
    }
    if config.tokens.is_empty() {
        return Err(Failure::Malformed("the bearer token is not a JWT".into()));
    }
    let token = token::matching(&config.tokens, presented).ok_or_else(|| {
        Failure::UnknownKey("the bearer token is not one this server accepts".into())
    })?;
    Ok(Caller {
        subject: Some(token::subject(token)),
        scopes: Scopes::all(),
        by_jwt: false,
    })
}

/// Counts and answers a refusal.
fn refuse(failure: Failure) -> Response {
    crate::metrics::http_auth_failure(failure.reason());
    match failure {
        Failure::Scope(scope) => Error::Forbidden(scope.to_string()).into_response(),
        other => Error::Unauthorized {
            presented: !matches!(other, Failure::Missing),
            message: other.to_string(),
        }
        .into_response(),
    }
}

/// The second layer, on each route that needs `scope`: 403 `FORBIDDEN` unless the caller holds
/// it. A request without a [`Caller`] here is refused 401: only [`authenticate`] lets one
/// through without, for the public paths, which need no scope.
pub(super) async fn require_scope(
    State(scope): State<Scope>,
    request: Request,
    next: Next,
) -> Response {
    match request.extensions().get::<Caller>() {
        Some(caller) if caller.scopes.contains(scope) => next.run(request).await,
        Some(_) => refuse(Failure::Scope(scope)),
        None => refuse(Failure::Missing),
    }
}

/// The subject of the request's caller, for the store to record (`None` without auth).
pub(super) struct Subject(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Subject {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let caller = parts.extensions.get::<Caller>();
        Ok(Subject(caller.and_then(|c| c.subject.clone())))
    }
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
pub(super) fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_required() {
        let header = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
            h
        };
        assert_eq!(bearer(&header("Bearer abc")), Some(&b"abc"[..]));
        assert_eq!(bearer(&header("bearer abc")), Some(&b"abc"[..]));
        assert_eq!(bearer(&header("Basic abcdefg")), None);
        assert_eq!(bearer(&header("Bearer")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
