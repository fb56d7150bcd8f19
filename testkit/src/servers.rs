//! The one rule for tests that need an outside server (MariaDB, Redis): when the server is
//! absent a local run skips the test with a note, and a CI run (`CI=true`) fails it, so CI
//! never passes by skipping.

use std::fmt::Display;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a Redis server gets to answer the presence check.
const REDIS_ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// True when this run is CI's (`CI=true`), where no test may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Applies the rule to a server that did not answer: returns (the caller then skips its test)
/// after a note on stderr, or panics under `CI=true`.
pub fn server_absent(server: &str, url: &str, err: &dyn Display) {
    if in_ci() {
        panic!("CI=true and {server} at {url} is unreachable: {err}");
    }
    eprintln!("skipping {server} test: {url} unreachable: {err}");
}

/// Where the Redis server for tests lives: `SAGAFLOW_TEST_REDIS_URL`, by default
/// `redis://127.0.0.1:6379`.
pub fn redis_server_url() -> String {
    std::env::var("SAGAFLOW_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The Redis server's URL when it answers `PING`; `None` (skip) when it does not and `CI` is
/// not `true` (with `CI=true` an absent server fails the test).
pub async fn redis() -> Option<String> {
    let url = redis_server_url();
    match tokio::time::timeout(REDIS_ANSWER_WITHIN, ping(&url)).await {
        Ok(Ok(())) => Some(url),
        Ok(Err(err)) => {
            server_absent("Redis", &url, &err);
            None
        }
        Err(_) => {
            server_absent("Redis", &url, &"no answer to PING in time");
            None
        }
    }
}

/// Sends `PING` over a plain TCP connection and expects `+PONG`.
async fn ping(url: &str) -> std::io::Result<()> {
    let rest = url.strip_prefix("redis://").unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let address = authority.rsplit('@').next().unwrap_or(authority);
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.write_all(b"PING\r\n").await?;
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).await?;
    if &answer == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "PING answered {:?}",
            String::from_utf8_lossy(&answer)
        )))
    }
}
