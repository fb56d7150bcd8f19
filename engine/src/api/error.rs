//! The API's one error type: every refusal the HTTP API answers, mapped to its status code and
//! stable `code` in [`Error::status_and_code`], and written as `{"error": {"code", "message"}}`
//! in the one [`IntoResponse`] impl.
//!
//! Not where anything is decided: store errors arrive decided and are only mapped. Database
//! and journal details are logged, never sent.

use crate::store;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Why the API refused a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed JSON, a body or query of the wrong shape, a bad header.
    #[error("{0}")]
    BadRequest(String),
    #[error("the JSON body nests deeper than {depth_max} levels")]
    TooDeep { depth_max: usize },
    #[error("a JSON string or key is longer than {bytes_max} bytes")]
    StringTooLong { bytes_max: usize },
    #[error("the request body is larger than {bytes_max} bytes")]
    BodyTooLarge { bytes_max: usize },
    /// The client went silent while sending its body for longer than `--body-read-timeout`.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("the request body must be JSON (`Content-Type: application/json`)")]
    UnsupportedMediaType,
    #[error("`{0}` is not a workflow id (a UUID)")]
    BadWorkflowId(String),
    /// No credentials (`presented` false), or ones that are refused: the message says which
    /// check failed (the auth module writes it; this module knows nothing of tokens).
    #[error("{message}")]
    Unauthorized { message: String, presented: bool },
    /// Valid credentials without the scope (its name) the route needs.
    #[error("the token does not carry the scope `{0}` this route needs")]
    Forbidden(String),
    #[error("no route for `{0}`")]
    NoRoute(String),
    #[error("method {method} is not allowed on `{path}`")]
    MethodNotAllowed { method: String, path: String },
    #[error("this process exports no metrics")]
    NoMetrics,
    #[error("the database does not answer")]
    NotReady,
    /// The cap on requests in flight is reached: shed at once, retry after a second.
    #[error("the server is handling as many requests as it may; retry after {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    /// This caller submitted faster than `--submit-rate`/`--submit-burst` allow.
    #[error("too many submits from this caller; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The handler panicked; the message is the panic's (logged, never sent).
    #[error("the request handler panicked: {0}")]
    Panicked(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl Error {
    /// The one mapping of an error to its HTTP status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use store::Error as S;
        match self {
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            Error::TooDeep { .. } => (StatusCode::BAD_REQUEST, "TOO_DEEP"),
            Error::StringTooLong { .. } => (StatusCode::BAD_REQUEST, "STRING_TOO_LONG"),
            Error::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE"),
            Error::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "BODY_TIMEOUT"),
            Error::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
            }
            Error::BadWorkflowId(_) => (StatusCode::BAD_REQUEST, "INVALID_WORKFLOW_ID"),
            Error::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            Error::NoRoute(_) => (StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND"),
            Error::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED")
            }
            Error::NoMetrics => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Error::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            Error::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, "OVERLOADED"),
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            Error::Panicked(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
            Error::Store(e) => match e {
                S::UnknownType(_) => (StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_WORKFLOW_TYPE"),
                S::Input(_) => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_INPUT"),
                S::InputTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "INPUT_TOO_LARGE"),
                S::KeyTooLong { .. } => (StatusCode::BAD_REQUEST, "IDEMPOTENCY_KEY_TOO_LONG"),
                S::IdempotencyConflict { .. } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED")
                }
                S::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
                S::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT"),
                S::Database(_) | S::Unavailable(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE")
                }
                S::Migrate(_) | S::Corrupt(_) | S::MissingDefinition { .. } => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL")
                }
            },
        }
    }

    /// The message a client may see: the error's own text, except where that would show
    /// database details or another request's workflow.
    fn public_message(&self) -> String {
        match self {
            Error::Store(store::Error::IdempotencyConflict { .. }) => {
                "this Idempotency-Key was already used with a different request".into()
            }
            Error::Store(store::Error::Database(_)) => {
                "the database is unavailable; try again later".into()
            }
            Error::Panicked(_)
            | Error::Store(
                store::Error::Migrate(_)
                | store::Error::Corrupt(_)
                | store::Error::MissingDefinition { .. },
            ) => "internal error; the details are in the server log".into(),
            other => other.to_string(),
        }
    }
}

impl Error {
    /// The `WWW-Authenticate` of a 401 or 403 (RFC 6750, section 3): `Bearer` when no token
    /// came, with `error="invalid_token"` when one was refused, `insufficient_scope` and the
    /// scope when it lacks one.
    fn challenge(&self) -> Option<HeaderValue> {
        match self {
            Error::Unauthorized {
                presented: false, ..
            } => Some(HeaderValue::from_static("Bearer")),
            Error::Unauthorized { .. } => {
                Some(HeaderValue::from_static(r#"Bearer error="invalid_token""#))
            }
            Error::Forbidden(scope) => HeaderValue::from_str(&format!(
                r#"Bearer error="insufficient_scope", scope="{scope}""#
            ))
            .ok(),
            _ => None,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let retry_after = match &self {
            Error::Overloaded { retry_after_secs } | Error::RateLimited { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            _ => None,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, code, "request failed");
        } else if status.is_server_error() && !matches!(self, Error::Overloaded { .. }) {
            // (Shedding is not logged per request: under overload that would flood the log;
            // `http_requests_shed_total` counts it.)
            tracing::warn!(error = %self, code, "request failed");
        }
        let body = json!({"error": {"code": code, "message": self.public_message()}});
        let mut response = (status, Json(body)).into_response();
        if let Some(challenge) = self.challenge() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use kernel::model::WorkflowId;

    async fn body_of(err: Error) -> (StatusCode, String) {
        let response = err.into_response();
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn store_failures_map_to_503_or_500_and_never_show_their_detail() {
        let cases = [
            (store::Error::Database(sqlx::Error::PoolClosed), 503, "pool"),
            (
                store::Error::Corrupt("SELECT * FROM workflows".into()),
                500,
                "SELECT",
            ),
            (
                store::Error::MissingDefinition {
                    id: WorkflowId::new(),
                    workflow_type: "secret_type".into(),
                    version: 9,
                },
                500,
                "secret_type",
            ),
        ];
        for (err, status, hidden) in cases {
            let (got, body) = body_of(Error::Store(err)).await;
            assert_eq!(got.as_u16(), status, "{body}");
            assert!(!body.contains(hidden), "{body} shows `{hidden}`");
        }
    }

    #[tokio::test]
    async fn a_reused_key_does_not_name_the_other_workflow() {
        let id = WorkflowId::new();
        let err = Error::Store(store::Error::IdempotencyConflict { id });
        let (status, body) = body_of(err).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("IDEMPOTENCY_KEY_REUSED") && !body.contains(&id.to_string()));
    }
}
