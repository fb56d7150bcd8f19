//! The HTTP executor: sends an activity's request to its participant service and hands the
//! answer to `engine::outcome` for classification (the one place that decides success,
//! business error or retryable error).
//!
//! Pooled keep-alive connections (one `reqwest::Client`), a timeout per attempt, and the
//! idempotency key `{workflow_id}:{step}:{kind}` in the `Idempotency-Key` header. Participants
//! may be https:// ([`ClientTls`]: trusted CAs and a client certificate for mTLS); a
//! refused handshake is a connection error, retried like any other.

use engine::definition::Request;
use engine::outcome::{classify_http, classify_transport, Transport, RESPONSE_BYTES_MAX};
use engine::runner::Executor;
use engine::{ActivityError, Outcome};
use std::collections::HashMap;
use std::time::Duration;

/// Where each participant service lives: name -> base URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services(HashMap<String, String>);

/// A `--services` value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad --services entry `{entry}`: {problem} (expected name=http://host:port,...)")]
pub struct ServicesError {
    entry: String,
    problem: &'static str,
}

impl Services {
    /// Parses `user=http://127.0.0.1:8081,payment=http://…`.
    pub fn parse(text: &str) -> Result<Services, ServicesError> {
        let mut map = HashMap::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let err = |problem| ServicesError {
                entry: entry.to_owned(),
                problem,
            };
            let (name, url) = entry.split_once('=').ok_or_else(|| err("no `=`"))?;
            if name.is_empty() {
                return Err(err("empty service name"));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(err("the URL must start with http:// or https://"));
            }
            if map
                .insert(name.to_owned(), url.trim_end_matches('/').to_owned())
                .is_some()
            {
                return Err(err("service named twice"));
            }
        }
        Ok(Services(map))
    }

    /// One service's base URL.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The services' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Adds or replaces one service.
    pub fn insert(&mut self, name: impl Into<String>, base_url: impl Into<String>) {
        self.0.insert(name.into(), base_url.into());
    }
}

/// Runs activities as HTTP calls.
#[derive(Debug, Clone)]
pub struct HttpExecutor {
    client: reqwest::Client,
    services: Services,
}

/// TLS for https:// participants, as PEM: the CAs trusted (the only ones: there is no
/// built-in root store) and the client certificate presented to services that require one.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// CA certificates (one or more PEM blocks).
    pub ca_pem: Option<Vec<u8>>,
    /// The client certificate chain and its private key in one PEM text (mTLS).
    pub identity_pem: Option<Vec<u8>>,
}

impl HttpExecutor {
    /// Plain HTTP participants (an https:// one fails its calls: no CA is trusted).
    pub fn new(services: Services) -> HttpExecutor {
        HttpExecutor::with_tls(services, &ClientTls::default())
            .expect("a client without certificates always builds")
    }

    /// Participants over HTTP or HTTPS: `tls` says whom to trust and what to present. Fails
    /// on PEM that reqwest cannot use.
    pub fn with_tls(services: Services, tls: &ClientTls) -> Result<HttpExecutor, reqwest::Error> {
        // Idle connections are dropped well before a participant's idle limit (its header-read
        // timeout, 10 s by default: httpguard), so a call never goes out on a connection the
        // service is closing at that moment (a transport error that would spend an attempt).
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(Duration::from_secs(4))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(2))
            .tls_built_in_root_certs(false);
        if let Some(pem) = &tls.ca_pem {
            for ca in reqwest::Certificate::from_pem_bundle(pem)? {
                builder = builder.add_root_certificate(ca);
            }
        }
        if let Some(pem) = &tls.identity_pem {
            builder = builder.identity(reqwest::Identity::from_pem(pem)?);
        }
        Ok(HttpExecutor {
            client: builder.build()?,
            services,
        })
    }
}

impl Executor for HttpExecutor {
    async fn execute(&self, request: &Request) -> Outcome {
        let Some(base) = self.services.get(&request.service) else {
            // Another worker (or this one, reconfigured) may know it: not the workflow's fault.
            let message = format!("no URL configured for service `{}`", request.service);
            return Outcome::Retryable(ActivityError::new("UNKNOWN_SERVICE", message));
        };
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .expect("methods are checked at load");
        let mut call = self
            .client
            .request(method, format!("{base}{}", request.path))
            .header("Idempotency-Key", &request.idempotency_key)
            .timeout(Duration::from_millis(request.timeout_ms));
        if request.method != "GET" {
            call = call.json(&request.body);
        }
        let response = match call.send().await {
            Ok(response) => response,
            Err(err) => return transport_failure(&err),
        };
        let status = response.status().as_u16();
        let retry_after_ms = retry_after_ms(status, response.headers());
        let outcome = match read_capped(response, RESPONSE_BYTES_MAX).await {
            Ok((_, true)) if (200..300).contains(&status) => {
                Outcome::Retryable(ActivityError::new(
                    "RESPONSE_TOO_LARGE",
                    format!("the answer is over {RESPONSE_BYTES_MAX} bytes"),
                ))
            }
            // A too long error answer: classified by status, with its start as the message.
            Ok((body, _)) => classify_http(status, &body),
            Err(err) => transport_failure(&err),
        };
        match (outcome, retry_after_ms) {
            (Outcome::Retryable(error), Some(ms)) => {
                Outcome::Retryable(error.with_retry_after_ms(ms))
            }
            (outcome, _) => outcome,
        }
    }
}

/// A 429's or 503's `Retry-After`, when it is a number of seconds (the form every server of
/// this system sends; an HTTP date is ignored), in milliseconds.
fn retry_after_ms(status: u16, headers: &reqwest::header::HeaderMap) -> Option<u64> {
    if status != 429 && status != 503 {
        return None;
    }
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(seconds.saturating_mul(1000))
}

/// The body's first `max` bytes, and whether there was more (never buffered).
async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            body.extend_from_slice(&chunk[..max - body.len()]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

fn transport_failure(err: &reqwest::Error) -> Outcome {
    let kind = if err.is_timeout() {
        Transport::Timeout
    } else if err.is_connect() {
        Transport::Connect
    } else {
        Transport::Interrupted
    };
    classify_transport(kind, &with_causes(err))
}

/// The error and its causes, `: `-separated: reqwest's own message names only the URL, and
/// the cause is what an operator needs (a refused connection, a TLS certificate the service
/// does not accept, ...).
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_from_429_and_503_as_seconds() {
        use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
        let headers = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_static(v));
            h
        };
        assert_eq!(retry_after_ms(503, &headers("2")), Some(2_000));
        assert_eq!(retry_after_ms(429, &headers(" 30 ")), Some(30_000));
        assert_eq!(retry_after_ms(500, &headers("2")), None, "only 429 and 503");
        assert_eq!(
            retry_after_ms(503, &headers("Wed, 21 Oct 2026 07:28:00 GMT")),
            None
        );
        assert_eq!(retry_after_ms(503, &HeaderMap::new()), None);
    }

    #[test]
    fn services_parse_and_reject_nonsense() {
        let s = Services::parse("user=http://127.0.0.1:8081/, payment=http://h:2").unwrap();
        assert_eq!(s.get("user"), Some("http://127.0.0.1:8081"));
        assert_eq!(s.get("payment"), Some("http://h:2"));
        assert_eq!(s.get("order"), None);
        assert!(Services::parse("user")
            .unwrap_err()
            .to_string()
            .contains("no `=`"));
        assert!(Services::parse("user=ftp://x").is_err());
        assert!(Services::parse("=http://x").is_err());
        assert!(Services::parse("a=http://x,a=http://y")
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }
}
