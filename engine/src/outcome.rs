//! The one place where a participant's answer becomes an [`Outcome`]: success, business
//! error (never retried) or retryable error.
//!
//! Pure: takes a status code and a body, or a transport failure. The HTTP client that gets
//! them lives in the worker.

use crate::model::{ActivityError, Outcome};
use serde_json::Value;

/// What went wrong below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No answer within the per-attempt timeout.
    Timeout,
    /// No connection (refused, reset, DNS).
    Connect,
    /// The connection broke while the answer was on its way.
    Interrupted,
}

/// Classifies an HTTP answer.
///
/// 2xx: success, the JSON body (or `null`) is the step's output. 408, 425, 429 and 5xx:
/// retryable. Any other 4xx: a business error, with the participant's `error.code` when it
/// sent one (`{"error": {"code", "message"}}`), else `HTTP_<status>`. Anything else: retryable.
pub fn classify_http(status: u16, body: &[u8]) -> Outcome {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        return Outcome::Success(json.unwrap_or(Value::Null));
    }
    let error = participant_error(status, json.as_ref(), body);
    match status {
        408 | 425 | 429 => Outcome::Retryable(error),
        400..=499 => Outcome::BusinessError(error),
        _ => Outcome::Retryable(error),
    }
}

/// Classifies a failure to get an answer at all: always retryable.
pub fn classify_transport(kind: Transport, detail: &str) -> Outcome {
    let code = match kind {
        Transport::Timeout => "TIMEOUT",
        Transport::Connect => "CONNECT",
        Transport::Interrupted => "INTERRUPTED",
    };
    Outcome::Retryable(ActivityError::new(code, detail))
}

fn participant_error(status: u16, json: Option<&Value>, body: &[u8]) -> ActivityError {
    let error = json.and_then(|j| j.get("error"));
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_str);
    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str);
    let fallback = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    ActivityError::new(
        code.map_or_else(|| format!("HTTP_{status}"), str::to_owned),
        message.map_or(fallback, str::to_owned),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_class_of_answer() {
        let business =
            br#"{"error":{"code":"INSUFFICIENT_BALANCE","message":"balance 500 < 1000"}}"#;
        let cases: Vec<(u16, &[u8], &str, &str)> = vec![
            (200, br#"{"amount":100}"#, "success", ""),
            (204, b"", "success", ""),
            (409, business, "business", "INSUFFICIENT_BALANCE"),
            (
                422,
                br#"{"error":{"code":"OUT_OF_STOCK","message":"x"}}"#,
                "business",
                "OUT_OF_STOCK",
            ),
            (404, b"not found", "business", "HTTP_404"),
            (400, b"{}", "business", "HTTP_400"),
            (408, b"", "retryable", "HTTP_408"),
            (429, b"slow down", "retryable", "HTTP_429"),
            (500, b"boom", "retryable", "HTTP_500"),
            (
                503,
                br#"{"error":{"code":"INJECTED_FAULT","message":"x"}}"#,
                "retryable",
                "INJECTED_FAULT",
            ),
            (302, b"", "retryable", "HTTP_302"),
        ];
        for (status, body, class, code) in cases {
            let outcome = classify_http(status, body);
            let got = match &outcome {
                Outcome::Success(_) => ("success", String::new()),
                Outcome::BusinessError(e) => ("business", e.code.clone()),
                Outcome::Retryable(e) => ("retryable", e.code.clone()),
            };
            assert_eq!(got, (class, code.to_owned()), "status {status}");
        }
        assert_eq!(
            classify_http(200, br#"{"amount":100}"#),
            Outcome::Success(json!({"amount": 100}))
        );
        assert_eq!(
            classify_http(409, business).error().unwrap().message,
            "balance 500 < 1000"
        );
    }

    #[test]
    fn transport_failures_are_retryable() {
        for kind in [
            Transport::Timeout,
            Transport::Connect,
            Transport::Interrupted,
        ] {
            assert!(matches!(
                classify_transport(kind, "x"),
                Outcome::Retryable(_)
            ));
        }
        assert_eq!(
            classify_transport(Transport::Timeout, "5 s")
                .error()
                .unwrap()
                .code,
            "TIMEOUT"
        );
    }
}
