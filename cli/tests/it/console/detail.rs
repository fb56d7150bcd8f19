//! A workflow's page: what failed, with which code, and what was undone in which order.

use super::harness::{DESKTOP, PHONE};
use super::*;

/// One `g[data-activity]` of the timeline as the page draws it.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct Drawn {
    activity: String,
    lane: String,
    name: String,
    order: i64,
    /// `data-outcome` of each `rect[data-attempt]`, by attempt.
    outcomes: Vec<String>,
}

async fn timeline(browser: &Browser) -> Vec<Drawn> {
    let drawn = browser
        .js(
            "return [...document.querySelectorAll('svg#timeline g[data-activity]')].map(g => ({\
               activity: g.dataset.activity, lane: g.dataset.lane, name: g.dataset.name, \
               order: Number(g.dataset.order), \
               outcomes: [...g.querySelectorAll('rect[data-attempt]')]\
                 .sort((a, b) => Number(a.dataset.attempt) - Number(b.dataset.attempt))\
                 .map(r => r.dataset.outcome)}))",
            json!([]),
        )
        .await;
    serde_json::from_value(drawn).expect("timeline groups")
}

/// The timeline the API's journal calls for: one group per activity, in journal order.
fn expected_timeline(workflow: &Value) -> Vec<Drawn> {
    workflow["activities"]
        .as_array()
        .expect("activities")
        .iter()
        .enumerate()
        .map(|(i, a)| Drawn {
            activity: format!(
                "{}:{}",
                a["kind"].as_str().unwrap(),
                a["step"].as_i64().unwrap()
            ),
            lane: a["kind"].as_str().unwrap().to_owned(),
            name: a["name"].as_str().unwrap().to_owned(),
            order: i as i64,
            outcomes: a["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["outcome"].as_str().unwrap().to_owned())
                .collect(),
        })
        .collect()
}

/// Names of one lane's groups, by `data-order`.
fn lane(drawn: &[Drawn], lane: &str) -> Vec<String> {
    let mut groups: Vec<&Drawn> = drawn.iter().filter(|d| d.lane == lane).collect();
    groups.sort_by_key(|d| d.order);
    groups.iter().map(|d| d.name.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compensated_purchase_shows_its_failed_step_error_and_compensations_in_reverse_order() {
    let Some((system, browser)) = console(shipped()).await else {
        return;
    };
    let charlie = system.submit(charlie_buys_15(), None).await;
    let bob = system.submit(bob_buys_10(), None).await;
    let charlie_doc = system.workflow(&charlie, "10s").await;
    assert_eq!(charlie_doc["status"], "compensated", "{charlie_doc}");
    assert_eq!(system.workflow(&bob, "10s").await["status"], "compensated");

    browser.open(&format!("#/workflows/{charlie}")).await;
    browser.wait_view("workflow").await;
    browser
        .wait_text("#view [data-field=\"status\"]", "compensated")
        .await;
    browser
        .wait_text("#view [data-field=\"failed-step\"]", "reserve_stock")
        .await;
    browser
        .wait_text("#view [data-field=\"error-code\"]", "OUT_OF_STOCK")
        .await;
    browser
        .wait_text("#view [data-field=\"type\"]", "purchase")
        .await;
    browser
        .wait_text("#view [data-field=\"version\"]", "1")
        .await;

    let drawn = timeline(&browser).await;
    assert_eq!(
        lane(&drawn, "compensation"),
        ["reserve_payment", "reserve_balance"],
        "compensations run in reverse order: {drawn:#?}"
    );
    assert_eq!(
        lane(&drawn, "action"),
        [
            "quote",
            "reserve_balance",
            "reserve_payment",
            "reserve_stock"
        ],
        "{drawn:#?}"
    );
    assert_eq!(
        drawn,
        expected_timeline(&charlie_doc),
        "one group per activity of the journal, in its order, one rect per attempt"
    );
    let failed = drawn
        .iter()
        .find(|d| d.activity.starts_with("action:") && d.name == "reserve_stock")
        .unwrap();
    assert_eq!(failed.outcomes, ["business_error"]);
    browser.wait_for("svg#timeline line#pivot").await;
    let stock = format!("details[data-activity=\"{}\"]", failed.activity);
    browser
        .wait_text(
            &format!("{stock} [data-field=\"activity-error-code\"]"),
            "OUT_OF_STOCK",
        )
        .await;
    let input = browser.text("pre#input").await.unwrap_or_default();
    let input: Value = serde_json::from_str(&input)
        .unwrap_or_else(|e| panic!("pre#input is the input as JSON ({e}): {input}"));
    assert_eq!(input, charlie_buys_15());
    browser.wait_for("#view #outputs").await;
    let buttons = browser
        .js(
            "return ['#abort', '#retry'].map(s => { const b = document.querySelector(s); \
             return b !== null && b.offsetParent !== null && !b.hidden; })",
            json!([]),
        )
        .await;
    assert_eq!(
        buttons,
        json!([false, false]),
        "no abort or retry on a compensated workflow"
    );

    browser.screenshot("detail-compensated").await;
    browser.resize(PHONE).await;
    browser.screenshot("detail-compensated-phone").await;
    browser.click("button#theme").await;
    browser
        .wait_js(
            "the dark theme",
            harness::WAIT,
            "return document.documentElement.dataset.theme === 'dark'",
            json!([]),
        )
        .await;
    browser.screenshot("detail-compensated-phone-dark").await;
    browser.resize(DESKTOP).await;
    browser.screenshot("detail-compensated-dark").await;
    browser.click("button#theme").await;
    browser
        .wait_js(
            "the light theme again",
            harness::WAIT,
            "return document.documentElement.dataset.theme === 'light'",
            json!([]),
        )
        .await;

    // Bob's purchase failed at its first reservation: nothing to compensate.
    browser.route(&format!("#/workflows/{bob}")).await;
    browser.wait_view("workflow").await;
    browser
        .wait_text("#view [data-field=\"failed-step\"]", "reserve_balance")
        .await;
    browser
        .wait_text("#view [data-field=\"error-code\"]", "INSUFFICIENT_BALANCE")
        .await;
    let drawn = timeline(&browser).await;
    assert_eq!(
        lane(&drawn, "compensation"),
        Vec::<String>::new(),
        "{drawn:#?}"
    );
    assert_eq!(lane(&drawn, "action"), ["quote", "reserve_balance"]);

    browser.finish().await;
    system.stop().await;
}
