//! The one place where a participant's answer becomes an [`Outcome`]: success, business
//! error (never retried) or retryable error.
//!
//! Pure: takes a status code and a body, or a transport failure. The HTTP client that gets
//! them lives in the worker.

use crate::model::{ActivityError, Outcome};
use serde_json::Value;

/// Longest error code kept, in characters (the journal's column holds 64); longer ones are
/// cut.
pub const ERROR_CODE_CHARS_MAX: usize = 64;
/// Longest error message kept, in characters; longer ones are cut.
pub const ERROR_MESSAGE_CHARS_MAX: usize = 2_048;
/// Largest successful answer kept, as compact JSON: it becomes the step's output, which the
/// journal stores and every later request of the workflow may read. A larger answer is a
/// retryable `RESPONSE_TOO_LARGE` (the participant may have acted, so an exhausted budget
/// compensates the step itself).
pub const RESPONSE_BYTES_MAX: usize = 256 * 1024;

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
    let outcome = if (200..300).contains(&status) {
        Outcome::Success(json.unwrap_or(Value::Null))
    } else {
        let error = participant_error(status, json.as_ref(), body);
        match status {
            408 | 425 | 429 => Outcome::Retryable(error),
            400..=499 => Outcome::BusinessError(error),
            _ => Outcome::Retryable(error),
        }
    };
    bounded(&outcome).unwrap_or(outcome)
}

/// The outcome within the journal's bounds, or `None` when it already is: error codes and
/// messages cut to [`ERROR_CODE_CHARS_MAX`] and [`ERROR_MESSAGE_CHARS_MAX`], an answer
/// over [`RESPONSE_BYTES_MAX`] turned into a retryable `RESPONSE_TOO_LARGE`.
pub fn bounded(outcome: &Outcome) -> Option<Outcome> {
    match outcome {
        Outcome::Success(value) => {
            let bytes = json_len_beyond(value, RESPONSE_BYTES_MAX)?;
            Some(Outcome::Retryable(ActivityError::new(
                "RESPONSE_TOO_LARGE",
                format!(
                    "the answer is over {bytes} bytes of JSON; the limit is {RESPONSE_BYTES_MAX}"
                ),
            )))
        }
        Outcome::BusinessError(err) => bounded_error(err).map(Outcome::BusinessError),
        Outcome::Retryable(err) => bounded_error(err).map(Outcome::Retryable),
    }
}

fn bounded_error(err: &ActivityError) -> Option<ActivityError> {
    let cut = |text: &str, max: usize| text.char_indices().nth(max).map(|(at, _)| at);
    let code_at = cut(&err.code, ERROR_CODE_CHARS_MAX);
    let message_at = cut(&err.message, ERROR_MESSAGE_CHARS_MAX);
    if code_at.is_none() && message_at.is_none() {
        return None;
    }
    Some(ActivityError::new(
        &err.code[..code_at.unwrap_or(err.code.len())],
        &err.message[..message_at.unwrap_or(err.message.len())],
    ))
}

/// The compact JSON length of `value` when it exceeds `max` (counting stops just past it),
/// else `None`.
fn json_len_beyond(value: &Value, max: usize) -> Option<usize> {
    struct Counter {
        bytes: usize,
        max: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes += buf.len();
            if self.bytes > self.max {
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { bytes: 0, max };
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => None,
        Err(_) => Some(counter.bytes),
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
    fn participant_values_are_bounded() {
        let long_code = "C".repeat(200);
        let body = format!(
            r#"{{"error":{{"code":"{long_code}","message":"{}"}}}}"#,
            "é".repeat(3000)
        );
        let Outcome::BusinessError(err) = classify_http(409, body.as_bytes()) else {
            panic!("a 409 is a business error")
        };
        assert_eq!(err.code, "C".repeat(ERROR_CODE_CHARS_MAX));
        assert_eq!(err.message, "é".repeat(ERROR_MESSAGE_CHARS_MAX));
        let small = json!({"amount": 100});
        assert_eq!(
            bounded(&Outcome::Success(small)),
            None,
            "within bounds: unchanged"
        );
        let exact = Value::String("x".repeat(RESPONSE_BYTES_MAX - 2));
        assert_eq!(
            bounded(&Outcome::Success(exact)),
            None,
            "exactly the limit is kept"
        );
        let over = Value::String("x".repeat(RESPONSE_BYTES_MAX - 1));
        let Some(Outcome::Retryable(err)) = bounded(&Outcome::Success(over)) else {
            panic!("one byte over the limit is refused")
        };
        assert_eq!(err.code, "RESPONSE_TOO_LARGE");
        let body = format!(r#"{{"blob":"{}"}}"#, "x".repeat(3 * 1024 * 1024));
        assert!(matches!(
            classify_http(200, body.as_bytes()),
            Outcome::Retryable(ActivityError { code, .. }) if code == "RESPONSE_TOO_LARGE"
        ));
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
