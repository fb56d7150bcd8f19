//! The overview and the types view on the README's cases, and the screenshots of every view
//! (`SAGAFLOW_SCREENSHOTS=<dir>`), at desktop and phone width, light and dark.

use super::harness::{DESKTOP, PHONE};
use super::*;

/// Switches the theme with `button#theme` and waits until the page has `theme`.
async fn theme(browser: &Browser, theme: &str) {
    let now = browser
        .js("return document.documentElement.dataset.theme", json!([]))
        .await;
    if now != json!(theme) {
        browser.click("button#theme").await;
    }
    browser
        .wait_js(
            &format!("the {theme} theme"),
            harness::WAIT,
            "return document.documentElement.dataset.theme === arguments[0]",
            json!([theme]),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_counts_the_readme_cases_and_the_types_view_draws_the_purchase_saga() {
    let Some((system, browser)) = console(shipped()).await else {
        return;
    };
    let ids = [
        system.submit(alice_buys_1(), None).await,
        system.submit(bob_buys_10(), None).await,
        system.submit(charlie_buys_15(), None).await,
    ];
    for id in &ids {
        let wf = system.workflow(id, "10s").await;
        assert!(
            wf["status"] == "completed" || wf["status"] == "compensated",
            "{wf}"
        );
    }

    browser.open("#/").await;
    browser.wait_view("overview").await;
    for (status, count) in [
        ("completed", "1"),
        ("compensated", "2"),
        ("failed", "0"),
        ("running", "0"),
    ] {
        browser
            .wait_text(&format!("[data-count-status=\"{status}\"]"), count)
            .await;
    }
    browser.wait_for("svg#finished-chart").await;
    browser.wait_text("#lease-expiries", "0").await;
    browser.wait_text("#fenced-writes", "0").await;
    for service in ["user", "payment", "order"] {
        browser
            .wait_for(&format!("table#services tr[data-service=\"{service}\"]"))
            .await;
    }
    let parked = browser
        .js(
            "return document.querySelectorAll('#parked-list a[data-workflow-id]').length",
            json!([]),
        )
        .await;
    assert_eq!(parked, json!(0), "nothing parked");
    browser.screenshot("overview").await;
    theme(&browser, "dark").await;
    browser.screenshot("overview-dark").await;
    browser.resize(PHONE).await;
    browser.screenshot("overview-phone-dark").await;
    theme(&browser, "light").await;
    browser.screenshot("overview-phone").await;
    browser.resize(DESKTOP).await;

    browser.route("#/types").await;
    browser.wait_view("types").await;
    let section = "section[data-type=\"purchase\"][data-version=\"1\"]";
    browser.wait_for(&format!("{section} svg")).await;
    let steps = browser
        .js(
            "return [...document.querySelectorAll(arguments[0] + ' svg g[data-step]')].map(g => g.dataset.step)",
            json!([section]),
        )
        .await;
    assert_eq!(
        steps,
        json!([
            "quote",
            "reserve_balance",
            "reserve_payment",
            "reserve_stock",
            "confirm_balance",
            "execute_payment",
            "confirm_order"
        ]),
        "the steps in order"
    );
    browser
        .wait_for(&format!("{section} svg [data-pivot=\"reserve_stock\"]"))
        .await;
    let text = browser.text(section).await.unwrap_or_default();
    assert!(
        text.contains("reserve_stock") && text.contains("pivot"),
        "the pivot is named: {text}"
    );
    let confirm = browser
        .text(&format!("{section} svg g[data-step=\"execute_payment\"]"))
        .await
        .unwrap_or_default();
    assert!(
        confirm.contains("40"),
        "a step after the pivot shows its retry budget of 40: {confirm}"
    );
    browser.screenshot("types").await;
    theme(&browser, "dark").await;
    browser.screenshot("types-dark").await;
    browser.resize(PHONE).await;
    theme(&browser, "light").await;
    browser.screenshot("types-phone").await;
    browser.resize(DESKTOP).await;

    browser.route("#/workflows").await;
    browser
        .wait_rows(
            "the three cases",
            &[
                (&ids[0], "completed"),
                (&ids[1], "compensated"),
                (&ids[2], "compensated"),
            ],
        )
        .await;
    browser.resize(PHONE).await;
    browser.screenshot("list-phone").await;
    theme(&browser, "dark").await;
    browser.resize(DESKTOP).await;
    browser.screenshot("list-dark").await;

    browser.finish().await;
    system.stop().await;
}
