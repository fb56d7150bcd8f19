//! HTTP plumbing shared by the three services: the JSON error body every failure uses, the JSON
//! extractor whose rejections are JSON errors too, the JSON 404, and the middleware that runs
//! each request to its end even when the client hangs up. Not the handlers: those live with
//! each service.

use axum::{
    extract::{FromRequest, Request},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;

/// A domain error that knows its HTTP status and stable code. Each module maps its errors in
/// one `status_code` function; [`Error`] turns any of them into the response.
pub trait Coded: std::fmt::Display {
    fn status_code(&self) -> (StatusCode, &'static str);
}

/// The error response: `{"error": {"code": "...", "message": "..."}}` with its status.
/// 4xx with a code is a business refusal (do not retry); 5xx is retryable.
#[derive(Debug)]
pub struct Error {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Error {
        Error {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl<E: Coded> From<E> for Error {
    /// Server errors are logged here and shown only as their code: no SQL ever leaks.
    fn from(err: E) -> Error {
        let (status, code) = err.status_code();
        if status.is_server_error() {
            tracing::error!(error = %err, code, "request failed");
            return Error::new(status, code, "internal error, see the service log");
        }
        Error::new(status, code, err.to_string())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, axum::Json(body)).into_response()
    }
}

/// Like `axum::Json`, but a body that is not the expected JSON (syntax, missing or unknown
/// fields, wrong types, wrong content type) is a JSON `400 BAD_REQUEST`, never axum's plain
/// text rejection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Json<T>, Error> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    rejection.body_text(),
                ))
            }
            Err(rejection) => Err(Error::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                rejection.body_text(),
            )),
        }
    }
}

/// The answer of a request shed at the cap on requests in flight: 503 `OVERLOADED` with
/// `Retry-After: 1` (a worker retries it like any 5xx, without spending its business budget
/// on a refusal).
pub fn overloaded() -> Response {
    let mut response = Error::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "OVERLOADED",
        "the service is handling as many requests as it may; retry after 1 s",
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    response
}

/// The fallback for unknown paths (and for admin paths while admin is off).
pub async fn not_found() -> Error {
    Error::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint")
}

/// Middleware around the whole router: runs the rest of the request in a task of its own and
/// awaits it, so that a client hanging up (hyper then drops the request future) no longer
/// cancels the handler halfway through its database work. Every request that arrived runs to
/// its end, its transactions commit or roll back, and only the answer is lost. A handler that
/// panics is answered 500 instead of taking the connection down.
pub(crate) async fn detach(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(join) => {
            tracing::error!(error = %join, "request handler panicked");
            Error::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error, see the service log",
            )
            .into_response()
        }
    }
}
