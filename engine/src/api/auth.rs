//! Optional bearer-token auth: with tokens configured, every request but the health probes
//! and the console's files must carry `Authorization: Bearer <token>` naming one of them.
//!
//! Not user management: tokens are opaque shared secrets from the configuration, compared in
//! constant time. Runs before routing, so an unauthenticated caller learns nothing, not even
//! which routes exist.

use super::error::Error;
use super::ApiState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Paths open without a token: orchestrators probe them without credentials.
const PUBLIC_PATHS: &[&str] = &["/healthz", "/readyz"];

/// True for the probes and the console's files (which hold no data: the page asks for a
/// token and sends it with every API call).
fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path) || path == super::console::PREFIX || path.starts_with("/ui/")
}

/// The middleware: passes the request on, or answers 401 with `WWW-Authenticate: Bearer`.
pub(super) async fn require_token(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let tokens = &state.config.tokens;
    if tokens.is_empty() || is_public(request.uri().path()) {
        return next.run(request).await;
    }
    match bearer(request.headers()) {
        Some(presented) if accepts(tokens, presented) => next.run(request).await,
        _ => Error::Unauthorized.into_response(),
    }
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
pub(super) fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
}

/// True when `presented` equals one of `tokens`. Every token is compared, each over the whole
/// presented length, so the time taken says nothing about where a guess went wrong.
fn accepts(tokens: &[String], presented: &[u8]) -> bool {
    tokens.iter().fold(false, |ok, token| {
        ok | constant_time_eq(token.as_bytes(), presented)
    })
}

/// Byte-wise equality whose running time depends only on the presented length.
fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    if expected.is_empty() {
        return false; // an empty configured token never matches
    }
    let mut diff = expected.len() ^ presented.len();
    for (i, byte) in presented.iter().enumerate() {
        diff |= usize::from(expected[i % expected.len()] ^ byte);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_an_exact_configured_token_is_accepted() {
        let tokens = vec!["s3cret".to_owned(), "other-token".to_owned()];
        assert!(accepts(&tokens, b"s3cret"));
        assert!(accepts(&tokens, b"other-token"));
        for wrong in [
            &b""[..],
            b"s3cre",
            b"s3crett",
            b"S3cret",
            b"s3cret\0",
            b"other",
        ] {
            assert!(!accepts(&tokens, wrong), "{wrong:?}");
        }
        assert!(
            !accepts(&[String::new()], b""),
            "an empty token never matches"
        );
    }

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
