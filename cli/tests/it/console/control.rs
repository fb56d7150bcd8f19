//! The operator's buttons: Retry on a parked workflow, Abort before the pivot, and the API's
//! refusal of an Abort after it, each shown on the workflow's page.

use super::*;
use crate::support::eventually;

/// The workflow's activity `name` of `kind` in the API's document.
fn activity<'a>(workflow: &'a Value, name: &str, kind: &str) -> Option<&'a Value> {
    workflow["activities"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name && a["kind"] == kind)
}

/// Number of attempts of `name` (action) that failed retryably so far.
fn retryable_failures(workflow: &Value, name: &str) -> usize {
    activity(workflow, name, "action")
        .and_then(|a| a["attempts"].as_array())
        .map_or(0, |attempts| {
            attempts
                .iter()
                .filter(|t| t["outcome"] == "retryable_error")
                .count()
        })
}

/// Is the button `css` there and visible?
async fn shown(browser: &Browser, css: &str) -> bool {
    browser
        .js(
            "const b = document.querySelector(arguments[0]); \
             return b !== null && !b.hidden && b.offsetParent !== null",
            json!([css]),
        )
        .await
        == json!(true)
}

/// Clicks `button`, then yes in the confirmation dialog.
async fn click_and_confirm(browser: &Browser, button: &str) {
    browser.click(button).await;
    browser.wait_for("dialog#confirm[open]").await;
    browser.click("dialog#confirm button#confirm-yes").await;
}

/// Waits for `#answer` to show the API's answer naming one of `statuses` (the new status),
/// and no refusal.
async fn wait_answer(browser: &Browser, statuses: &[&str]) {
    browser
        .wait_js(
            &format!("#answer to name the new status, one of {statuses:?}"),
            harness::WAIT,
            "const a = document.querySelector('#answer'); \
             return a !== null && !a.hasAttribute('data-error-code') \
               && arguments[0].some(s => a.textContent.includes(s))",
            json!([statuses]),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_a_parked_workflow_resumes_it_to_completed() {
    // Quick retries everywhere; after the pivot 3 attempts, then the workflow is parked.
    let toml = purchase_toml((4, 100, 400), (3, 100, 400));
    let Some((system, browser)) = console(registry(&[("purchase.toml", &toml)])).await else {
        return;
    };
    // Every order call fails its first three times: quote and reserve_stock succeed on their
    // fourth and last attempt, confirm_order (after the pivot) spends its three and parks.
    system
        .faults(
            Service::Order,
            json!({"fail_first_calls": 3, "fail_first_share": 1.0}),
        )
        .await;
    let id = system.submit(alice_buys_1(), None).await;
    let url = format!("{}/v1/workflows/{id}", system.api);
    let parked = eventually(20, "the purchase parked as failed", || async {
        let wf = get_json(&url).await;
        (wf["status"] == "failed").then_some(wf)
    })
    .await;
    assert_eq!(retryable_failures(&parked, "confirm_order"), 3, "{parked}");
    system.faults(Service::Order, json!({})).await;

    // The overview lists it as parked and links to it.
    browser.open("#/").await;
    browser.wait_view("overview").await;
    browser
        .wait_text("[data-count-status=\"failed\"]", "1")
        .await;
    browser
        .click(&format!("#parked-list a[data-workflow-id=\"{id}\"]"))
        .await;
    browser.wait_view("workflow").await;
    browser
        .wait_text("#view [data-field=\"status\"]", "failed")
        .await;
    let reason = browser
        .text("#view [data-field=\"parked-reason\"]")
        .await
        .unwrap_or_default();
    assert!(
        reason.contains("confirm_order"),
        "parked reason: {reason:?}"
    );
    assert!(
        shown(&browser, "button#retry").await,
        "Retry on a parked workflow"
    );
    assert!(
        !shown(&browser, "button#abort").await,
        "no Abort on a parked workflow"
    );
    browser.screenshot("detail-parked").await;

    // No: nothing happens.
    browser.click("button#retry").await;
    browser.wait_for("dialog#confirm[open]").await;
    browser.click("dialog#confirm button#confirm-no").await;
    browser
        .wait_js(
            "the dialog closed",
            harness::WAIT,
            "return document.querySelector('dialog#confirm[open]') === null",
            json!([]),
        )
        .await;
    assert_eq!(get_json(&url).await["status"], "failed", "no retry on No");

    click_and_confirm(&browser, "button#retry").await;
    wait_answer(&browser, &["running"]).await;
    browser
        .wait_text("#view [data-field=\"status\"]", "completed")
        .await;
    assert!(
        !shown(&browser, "button#retry").await,
        "no Retry once completed"
    );
    let done = system.workflow(&id, "1s").await;
    assert_eq!(done["status"], "completed", "{done}");

    browser.finish().await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_before_the_pivot_compensates_a_running_workflow() {
    // A failed step before the pivot waits 30 s before its next attempt.
    let toml = purchase_toml((4, 30_000, 60_000), (40, 100, 400));
    let Some((system, browser)) = console(registry(&[("purchase.toml", &toml)])).await else {
        return;
    };
    system
        .faults(Service::Payment, json!({"error_rate": 1.0}))
        .await;
    let id = system.submit(alice_buys_1(), None).await;
    let url = format!("{}/v1/workflows/{id}", system.api);
    eventually(10, "reserve_payment failed once and waits", || async {
        let wf = get_json(&url).await;
        (retryable_failures(&wf, "reserve_payment") == 1).then_some(())
    })
    .await;
    // The cancels must get through; the Try's next attempt is 30 s away regardless.
    system.faults(Service::Payment, json!({})).await;

    browser.open(&format!("#/workflows/{id}")).await;
    browser.wait_view("workflow").await;
    browser
        .wait_text("#view [data-field=\"status\"]", "running")
        .await;
    assert!(
        shown(&browser, "button#abort").await,
        "Abort on a running workflow"
    );
    assert!(
        !shown(&browser, "button#retry").await,
        "no Retry unless parked"
    );
    click_and_confirm(&browser, "button#abort").await;
    wait_answer(&browser, &["compensating", "compensated"]).await;
    browser
        .wait_text("#view [data-field=\"status\"]", "compensated")
        .await;
    assert!(
        !shown(&browser, "button#abort").await,
        "no Abort once compensated"
    );
    let wf = system.workflow(&id, "1s").await;
    assert_eq!(wf["status"], "compensated", "{wf}");
    assert_eq!(wf["abort_requested"], true, "{wf}");
    assert!(
        activity(&wf, "reserve_balance", "compensation").is_some(),
        "the reserved balance was given back: {wf}"
    );

    browser.finish().await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_the_pivot_shows_the_apis_refusal() {
    // Quick retries before the pivot; after it a failed step waits 30 s.
    let toml = purchase_toml((4, 100, 400), (40, 30_000, 60_000));
    let Some((system, browser)) = console(registry(&[("purchase.toml", &toml)])).await else {
        return;
    };
    // Each order call fails once: quote and reserve_stock retry after 100 ms, confirm_order
    // (past the pivot) after 30 s, so the purchase stays running past its pivot.
    system
        .faults(
            Service::Order,
            json!({"fail_first_calls": 1, "fail_first_share": 1.0}),
        )
        .await;
    let id = system.submit(alice_buys_1(), None).await;
    let url = format!("{}/v1/workflows/{id}", system.api);
    eventually(10, "confirm_order failed once and waits", || async {
        let wf = get_json(&url).await;
        (retryable_failures(&wf, "confirm_order") == 1).then_some(())
    })
    .await;

    browser.open(&format!("#/workflows/{id}")).await;
    browser.wait_view("workflow").await;
    browser
        .wait_text("#view [data-field=\"status\"]", "running")
        .await;
    assert!(
        shown(&browser, "button#abort").await,
        "Abort is offered while running; the API decides"
    );
    click_and_confirm(&browser, "button#abort").await;
    browser
        .wait_for("#answer[data-error-code=\"CONFLICT\"]")
        .await;
    let refusal = browser.text("#answer").await.unwrap_or_default();
    assert!(!refusal.is_empty(), "the refusal's message is shown");
    browser.screenshot("detail-abort-refused").await;
    assert_eq!(
        browser
            .text("#view [data-field=\"status\"]")
            .await
            .as_deref(),
        Some("running"),
        "a refused abort changes nothing"
    );
    let wf = get_json(&url).await;
    assert_eq!(
        (&wf["status"], &wf["abort_requested"]),
        (&json!("running"), &json!(false)),
        "{wf}"
    );

    // A refused call answers 409, which the browser logs as a failed resource load.
    browser.finish_allowing(&["409 (Conflict)"]).await;
    system.stop().await;
}
