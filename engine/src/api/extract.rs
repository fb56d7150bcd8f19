//! Reading requests: the checked JSON body, query and path extractors whose rejections are
//! [`Error`]s (so every refusal is the API's JSON), the `?wait=` duration, and the
//! `Idempotency-Key` header.
//!
//! Not the business checks of a submit (type, input, key length: those are the store's). The
//! body limits run here, before anything is parsed into a value the handlers see.

use super::error::Error;
use super::ApiState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use kernel::model::WorkflowId;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// A JSON body, checked in order: content type (415), size (413, from the router's body
/// limit), nesting depth (400 `TOO_DEEP`, counted before parsing), syntax (400), string and
/// key lengths (400), then the shape of `T` (400; `T` refuses unknown fields itself).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<ApiState> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, Error> {
        if !is_json(req.headers()) {
            return Err(Error::UnsupportedMediaType);
        }
        let config = &state.config;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => Error::BodyTooLarge {
                    bytes_max: config.body_bytes_max,
                },
                _ if httpguard::is_body_timeout(&rejection) => Error::BodyTimeout,
                _ => Error::BadRequest(rejection.body_text()),
            }
        })?;
        if nesting_exceeds(&bytes, config.json_depth_max) {
            return Err(Error::TooDeep {
                depth_max: config.json_depth_max,
            });
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::BadRequest(format!("malformed JSON: {e}")))?;
        if longest_string(&value) > config.string_bytes_max {
            return Err(Error::StringTooLong {
                bytes_max: config.string_bytes_max,
            });
        }
        let body = serde_json::from_value(value)
            .map_err(|e| Error::BadRequest(format!("invalid request body: {e}")))?;
        Ok(JsonBody(body))
    }
}

/// `application/json` or `application/<something>+json`, any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// True when arrays and objects nest deeper than `depth_max` anywhere in `bytes`. Counts
/// brackets outside strings without parsing, so no depth ever reaches the parser's recursion.
fn nesting_exceeds(bytes: &[u8], depth_max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > depth_max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Length in bytes of the longest string or object key in `value`. Recursion is bounded by
/// the depth check that runs first.
fn longest_string(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| k.len().max(longest_string(v)))
            .max()
            .unwrap_or(0),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// A query string deserialized into `T`; a bad one is a 400 in the API's JSON.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let Query(query) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| Error::BadRequest(rejection.body_text()))?;
        Ok(ApiQuery(query))
    }
}

/// The `{id}` of a workflow route; not a UUID is a 400.
pub struct WorkflowPath(pub WorkflowId);

impl<S: Send + Sync> FromRequestParts<S> for WorkflowPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| Error::BadRequest(rejection.body_text()))?;
        let id = text.parse().map_err(|_| Error::BadWorkflowId(text))?;
        Ok(WorkflowPath(id))
    }
}

/// The `?wait=` of submit and get: `5s`, `500ms` or a plain number of milliseconds, capped
/// at `wait_ms_max`. Absent means no wait.
pub fn parse_wait(text: Option<&str>, wait_ms_max: u64) -> Result<Duration, Error> {
    let Some(text) = text else {
        return Ok(Duration::ZERO);
    };
    let (digits, scale) = match (text.strip_suffix("ms"), text.strip_suffix('s')) {
        (Some(ms), _) => (ms, 1),
        (None, Some(s)) => (s, 1000),
        (None, None) => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::BadRequest(format!(
            "wait `{text}` is not a duration such as 5s, 500ms or 500"
        )));
    }
    let amount = digits.parse::<u64>().unwrap_or(u64::MAX);
    Ok(Duration::from_millis(
        amount.saturating_mul(scale).min(wait_ms_max),
    ))
}

/// The `Idempotency-Key` header, if any: visible ASCII, not empty. Its length limit is the
/// store's.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        Error::BadRequest("the Idempotency-Key header must be visible ASCII".into())
    })?;
    if key.is_empty() {
        return Err(Error::BadRequest(
            "the Idempotency-Key header must not be empty".into(),
        ));
    }
    Ok(Some(key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn waits_parse_in_seconds_milliseconds_or_plain_milliseconds_and_are_capped() {
        let cases: &[(Option<&str>, Option<u64>)] = &[
            (None, Some(0)),
            (Some("5s"), Some(5_000)),
            (Some("500ms"), Some(500)),
            (Some("250"), Some(250)),
            (Some("0"), Some(0)),
            (Some("1h"), None),
            (Some("99999999999999999999999s"), Some(30_000)),
            (Some("120s"), Some(30_000)),
            (Some(""), None),
            (Some("ms"), None),
            (Some("-1"), None),
            (Some("1.5s"), None),
        ];
        for (text, expected) in cases {
            let got = parse_wait(*text, 30_000).ok().map(|d| d.as_millis() as u64);
            assert_eq!(got, *expected, "wait {text:?}");
        }
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert!(!nesting_exceeds(br#"{"a":[1,{"b":2}]}"#, 3));
        assert!(nesting_exceeds(br#"{"a":[1,{"b":[]}]}"#, 3));
        assert!(!nesting_exceeds(br#"{"a":"[[[[{{{{\"[[["}"#, 1));
        assert!(nesting_exceeds(&b"[".repeat(10_000), 32));
    }

    #[test]
    fn the_longest_string_counts_keys_and_nested_values() {
        let value = serde_json::json!({"ab": ["x", {"key-of-9b": "yyyy"}], "c": 1});
        assert_eq!(longest_string(&value), 9);
    }

    #[test]
    fn json_content_types_are_recognised() {
        for (ct, json) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/jsonx", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            assert_eq!(is_json(&headers), json, "{ct}");
        }
        assert!(!is_json(&HeaderMap::new()), "no content type");
    }
}
