//! A workflow's page follows it live: opened while a step is being retried, it shows each
//! attempt and then the end, with no reload.

use super::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_workflow_updates_live_to_completed_without_a_reload() {
    let Some((system, browser)) = console(shipped()).await else {
        return;
    };
    // The first two calls of each payment step fail (503): with the shipped policy each is
    // retried after 1 s, then 2 s, so the purchase runs for about 6 s before it completes.
    system
        .faults(
            Service::Payment,
            json!({"fail_first_calls": 2, "fail_first_share": 1.0}),
        )
        .await;
    let id = system.submit(alice_buys_1(), None).await;

    browser.open(&format!("#/workflows/{id}")).await;
    browser.wait_view("workflow").await;
    browser
        .wait_text("#view [data-field=\"status\"]", "running")
        .await;
    // Marks this document: a reload would lose both.
    let mark = browser
        .js(
            "window.__consoleTestMark = 'mark-' + Math.random(); \
             return [window.__consoleTestMark, performance.timeOrigin]",
            json!([]),
        )
        .await;
    let payment = "svg#timeline g[data-activity=\"action:2\"]";
    browser
        .wait_js(
            "a failed payment attempt drawn while running",
            Duration::from_secs(10),
            "return document.querySelector(arguments[0] + ' rect[data-attempt][data-outcome=\"retryable_error\"]') !== null",
            json!([payment]),
        )
        .await;
    assert_eq!(
        browser
            .text("#view [data-field=\"status\"]")
            .await
            .as_deref(),
        Some("running"),
        "still running after the first failure"
    );
    browser
        .wait_text_within(
            "#view [data-field=\"status\"]",
            "completed",
            Duration::from_secs(30),
        )
        .await;
    let after = browser
        .js(
            "return [window.__consoleTestMark, performance.timeOrigin]",
            json!([]),
        )
        .await;
    assert_eq!(after, mark, "the page was not reloaded");

    let workflow = system.workflow(&id, "1s").await;
    assert_eq!(workflow["status"], "completed", "{workflow}");
    let outcomes = browser
        .wait_js(
            "the payment's three attempts",
            harness::WAIT,
            "const r = [...document.querySelectorAll(arguments[0] + ' rect[data-attempt]')]\
               .sort((a, b) => Number(a.dataset.attempt) - Number(b.dataset.attempt))\
               .map(r => r.dataset.outcome); \
             return r.length === 3 ? r : null",
            json!([payment]),
        )
        .await;
    assert_eq!(
        outcomes,
        json!(["retryable_error", "retryable_error", "succeeded"])
    );
    let gaps = browser
        .js(
            "return document.querySelectorAll(arguments[0] + ' .gap').length",
            json!([payment]),
        )
        .await;
    assert!(
        gaps.as_u64().unwrap_or(0) >= 2,
        "the two backoff gaps are drawn: {gaps}"
    );
    assert!(
        browser
            .text("#view [data-field=\"failed-step\"]")
            .await
            .as_deref()
            == Some("—"),
        "a completed workflow has no failed step"
    );

    browser.finish().await;
    system.stop().await;
}
