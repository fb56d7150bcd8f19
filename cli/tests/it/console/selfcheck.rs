//! The harness's own checks can fail: a page that calls `console.error` and reaches for
//! another host is caught by both, a clean page passes, and a host that would resolve to this
//! machine (`localhost`) is unreachable, so only 127.0.0.1 can be loaded at all.

use super::harness::Browser;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use serde_json::json;

const CLEAN: &str = r#"<!doctype html><html><head><title>clean</title><link rel="icon" href="data:,"></head>
<body><main id="view" data-view="selfcheck" data-loaded="true">clean</main></body></html>"#;

const BAD: &str = r#"<!doctype html><html><head><title>bad</title><link rel="icon" href="data:,"></head>
<body><main id="view" data-view="selfcheck" data-loaded="true">bad</main>
<script>console.error("selfcheck: an error on purpose");
fetch("http://outside.invalid/selfcheck").catch(() => {});</script></body></html>"#;

const DOT: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>"#;

/// A page server on a free loopback port; answers `/ui/`, `/ui/bad.html`, `/ui/dot.svg`.
async fn pages() -> (String, tokio::task::JoinHandle<()>) {
    let html = |body: &'static str| move || async move { ([(CONTENT_TYPE, "text/html")], body) };
    let app = axum::Router::new()
        .route("/ui/", get(html(CLEAN)))
        .route("/ui/bad.html", get(html(BAD)))
        .route(
            "/ui/dot.svg",
            get(|| async { ([(CONTENT_TYPE, "image/svg+xml")], DOT) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_checks_catch_a_console_error_and_a_request_off_the_machine() {
    let (base, server) = pages().await;
    let Some(mut browser) = Browser::start(&base).await else {
        return;
    };

    browser.open("").await;
    browser.wait_view("selfcheck").await;
    let port = base.rsplit(':').next().unwrap();
    let loads = browser
        .js(
            "const load = src => new Promise(r => { const i = new Image(); \
               i.onload = () => r('loaded'); i.onerror = () => r('failed'); i.src = src; }); \
             return Promise.all([load(arguments[0]), load(arguments[1])])",
            json!([
                format!("{base}/ui/dot.svg"),
                format!("http://localhost:{port}/ui/dot.svg")
            ]),
        )
        .await;
    assert_eq!(
        loads,
        json!(["loaded", "failed"]),
        "127.0.0.1 loads, localhost (same server) must not"
    );
    let probe = format!("http://localhost:{port}/ui/dot.svg");
    let problems = browser.problems().await;
    assert!(
        problems.contains(&format!("a request left 127.0.0.1: {probe}")),
        "{problems:#?}"
    );
    assert!(
        problems.iter().all(|p| p.contains(&probe)),
        "the clean page's only problems are the localhost probe's: {problems:#?}"
    );

    browser.open("bad.html").await;
    browser.wait_view("selfcheck").await;
    let mut problems = Vec::new();
    // The fetch fails asynchronously; its log entries come when it has.
    for _ in 0..100 {
        problems = browser.problems().await;
        if problems.iter().any(|p| p.contains("outside.invalid"))
            && problems.iter().any(|p| p.contains("an error on purpose"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        problems
            .iter()
            .any(|p| p == "a request left 127.0.0.1: http://outside.invalid/selfcheck"),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("browser log SEVERE (console-api)")
                && p.contains("selfcheck: an error on purpose")),
        "{problems:#?}"
    );
    let requests = browser.requests().await;
    assert!(
        requests
            .iter()
            .any(|(u, _)| u == &format!("{base}/ui/bad.html")),
        "the performance log has the page itself: {requests:?}"
    );
    let _ = browser.client().clone().close().await;
    server.abort();
}
