//! The web console's files at `/ui/`: embedded in the binary (the build script lists every
//! file under `engine/ui/`), or read from `SAGAFLOW_CONSOLE_DIR` on each request while someone
//! works on them.
//!
//! Not an API route: the files hold no data and need no token (the page asks for one and
//! sends it with its API calls), and they are not in the OpenAPI document. Every answer
//! carries a strict Content-Security-Policy: the page may load and call its own origin only.

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::borrow::Cow;

include!(concat!(env!("OUT_DIR"), "/console_files.rs"));

/// Where the console is served.
pub const PREFIX: &str = "/ui";

/// The environment variable naming a directory to serve the console from instead.
pub const DIR_VARIABLE: &str = "SAGAFLOW_CONSOLE_DIR";

/// Nothing but this origin: no inline script or style, no other host, no framing.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's routes, for merging into the API's router.
pub(super) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(PREFIX, get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { file("index.html") }))
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>| async move { file(&path) }),
        )
}

/// One file's answer, or a JSON 404 like the API's.
fn file(path: &str) -> Response {
    match read(path) {
        Some(bytes) => {
            let headers = [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(path)),
                ),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(POLICY),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
                (
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ),
                // Small files, changed with the binary: ask every time (an ETag would save
                // little and could show an old page after an upgrade).
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (
                    HeaderName::from_static("x-frame-options"),
                    HeaderValue::from_static("DENY"),
                ),
            ];
            (headers, bytes).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": {
                "code": "ROUTE_NOT_FOUND",
                "message": format!("the console has no file `{path}`"),
            }})),
        )
            .into_response(),
    }
}

/// The file's bytes: from the directory in [`DIR_VARIABLE`] when set, else embedded.
/// Paths with `..`, a leading `/` or a backslash are refused before any lookup.
fn read(path: &str) -> Option<Cow<'static, [u8]>> {
    if !safe(path) {
        return None;
    }
    match std::env::var_os(DIR_VARIABLE) {
        Some(dir) => std::fs::read(std::path::Path::new(&dir).join(path))
            .ok()
            .map(Cow::Owned),
        None => FILES
            .iter()
            .find(|(name, _)| *name == path)
            .map(|(_, bytes)| Cow::Borrowed(*bytes)),
    }
}

fn safe(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_embedded() {
        assert!(FILES.iter().any(|(name, _)| *name == "index.html"));
    }

    #[test]
    fn paths_that_climb_out_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../Cargo.toml",
            "a/../../b",
            "a//b",
            "a\\b",
            "./x",
        ] {
            assert!(!safe(bad), "{bad}");
        }
        for good in ["index.html", "views/workflow.js", "a.b/c.css"] {
            assert!(safe(good), "{good}");
        }
    }

    #[test]
    fn types_follow_the_extension() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
