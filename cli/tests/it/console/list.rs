//! The workflows list: the README's cases with their status, found by the status and type
//! filters and by a search on the workflow id or the Idempotency-Key.

use super::*;

/// The purchase type once more under another name, so the type filter has two to tell apart.
fn with_gift_type() -> Arc<engine::Registry> {
    let gift = testkit::replace_counted(
        PURCHASE_TOML,
        &[("name = \"purchase\"", "name = \"gift\"", 1)],
    );
    registry(&[("purchase.toml", PURCHASE_TOML), ("gift.toml", &gift)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_cases_are_listed_with_their_status_and_found_by_filter_and_search() {
    let Some((system, browser)) = console(with_gift_type()).await else {
        return;
    };
    let alice = system.submit(alice_buys_1(), Some("console-alice-1")).await;
    let bob = system.submit(bob_buys_10(), Some("console-bob-10")).await;
    let charlie = system
        .submit(charlie_buys_15(), Some("console-charlie-15"))
        .await;
    let gift = system.submit_as("gift", alice_buys_1(), None).await;
    for (id, status) in [
        (&alice, "completed"),
        (&bob, "compensated"),
        (&charlie, "compensated"),
        (&gift, "completed"),
    ] {
        assert_eq!(system.workflow(id, "10s").await["status"], status, "{id}");
    }
    let (alice, bob, charlie, gift) = (&*alice, &*bob, &*charlie, &*gift);

    browser.open("#/workflows").await;
    browser.wait_view("workflows").await;
    browser
        .wait_rows(
            "every workflow",
            &[
                (alice, "completed"),
                (bob, "compensated"),
                (charlie, "compensated"),
                (gift, "completed"),
            ],
        )
        .await;
    let order: Vec<String> = browser.rows().await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(order, [gift, charlie, bob, alice], "newest first");
    browser.screenshot("list").await;

    browser.select("select#filter-status", "compensated").await;
    browser
        .wait_rows(
            "the compensated ones",
            &[(bob, "compensated"), (charlie, "compensated")],
        )
        .await;
    browser.select("select#filter-status", "completed").await;
    browser
        .wait_rows(
            "the completed ones",
            &[(alice, "completed"), (gift, "completed")],
        )
        .await;
    browser.select("select#filter-type", "gift").await;
    browser
        .wait_rows("the completed gift", &[(gift, "completed")])
        .await;
    browser.select("select#filter-status", "").await;
    browser.select("select#filter-type", "purchase").await;
    browser
        .wait_rows(
            "every purchase",
            &[
                (alice, "completed"),
                (bob, "compensated"),
                (charlie, "compensated"),
            ],
        )
        .await;
    browser.select("select#filter-status", "failed").await;
    browser.wait_rows("no failed purchase", &[]).await;
    browser.select("select#filter-status", "").await;
    browser.select("select#filter-type", "").await;
    browser
        .wait_rows(
            "every workflow again",
            &[
                (alice, "completed"),
                (bob, "compensated"),
                (charlie, "compensated"),
                (gift, "completed"),
            ],
        )
        .await;

    // Search: by id with Enter, by Idempotency-Key with the button.
    let enter: char = fantoccini::key::Key::Enter.into();
    browser
        .type_into("input#search", &format!("{bob}{enter}"))
        .await;
    browser
        .wait_rows("bob by id", &[(bob, "compensated")])
        .await;
    browser
        .type_into("input#search", "console-charlie-15")
        .await;
    browser.click("button#search-go").await;
    browser
        .wait_rows("charlie by Idempotency-Key", &[(charlie, "compensated")])
        .await;
    browser.type_into("input#search", "console-alice-1").await;
    browser.click("button#search-go").await;
    browser
        .wait_rows("alice by Idempotency-Key", &[(alice, "completed")])
        .await;
    browser.type_into("input#search", "no-such-key").await;
    browser.click("button#search-go").await;
    browser.wait_rows("nothing for an unknown key", &[]).await;

    // A row links to its workflow.
    browser
        .type_into("input#search", "console-charlie-15")
        .await;
    browser.click("button#search-go").await;
    browser
        .wait_rows("charlie again", &[(charlie, "compensated")])
        .await;
    browser
        .click(&format!(
            "#workflow-list tr[data-workflow-id=\"{charlie}\"] a[href=\"#/workflows/{charlie}\"]"
        ))
        .await;
    browser.wait_view("workflow").await;
    browser
        .wait_text("#view [data-field=\"status\"]", "compensated")
        .await;

    browser.finish().await;
    system.stop().await;
}
