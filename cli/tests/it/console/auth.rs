//! With API tokens configured the console shows no data until it is given one: the token
//! form, a refusal for a wrong token, the data once the right one is entered (sent as a
//! bearer token on every call, kept in sessionStorage across a reload).

use super::*;

const TOKEN: &str = "console-test-token";

/// Is the element `css` there and visible?
async fn visible(browser: &Browser, css: &str) -> bool {
    browser
        .js(
            "const e = document.querySelector(arguments[0]); \
             return e !== null && e.offsetParent !== null && e.getClientRects().length > 0",
            json!([css]),
        )
        .await
        == json!(true)
}

/// Waits until the token form is shown, and checks the page holds no workflow data.
async fn wait_token_form(browser: &Browser, id: &str) {
    browser
        .wait_js(
            "the token form",
            harness::WAIT,
            "const v = e => e !== null && e.offsetParent !== null; \
             return v(document.querySelector('form#token-form')) \
               && v(document.querySelector('#auth-required')) \
               && v(document.querySelector('input#token[type=\"password\"]'))",
            json!([]),
        )
        .await;
    let data = browser
        .js(
            "return [document.querySelectorAll('tr[data-workflow-id], [data-workflow-id]').length, \
                     document.body.innerText.includes(arguments[0]), \
                     document.querySelector('#view[data-loaded=\"true\"]') !== null]",
            json!([id]),
        )
        .await;
    assert_eq!(
        data,
        json!([0, false, false]),
        "no workflow rows, no workflow id, no loaded view without a token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_api_tokens_the_console_asks_for_one_refuses_a_wrong_one_and_shows_data_with_the_right_one(
) {
    let system = System::start_with_tokens(shipped(), &[TOKEN, "another-token"]).await;
    let Some(mut browser) = Browser::start(&system.api).await else {
        system.stop().await;
        return;
    };
    let alice = system.submit(alice_buys_1(), None).await;
    assert_eq!(system.workflow(&alice, "10s").await["status"], "completed");
    let unauthorized = reqwest::get(format!("{}/v1/workflows", system.api))
        .await
        .unwrap()
        .status();
    assert_eq!(unauthorized.as_u16(), 401, "the API asks for a token");

    browser.open("#/workflows").await;
    wait_token_form(&browser, &alice).await;
    assert!(
        !visible(&browser, "#auth-refused").await,
        "nothing was refused yet: no token was sent"
    );
    browser.screenshot("token-form").await;

    browser.type_into("input#token", "wrong-token").await;
    browser.click("button#token-submit").await;
    browser
        .wait_js(
            "the wrong token's refusal",
            harness::WAIT,
            "const e = document.querySelector('#auth-refused'); return e !== null && e.offsetParent !== null",
            json!([]),
        )
        .await;
    wait_token_form(&browser, &alice).await;

    browser.type_into("input#token", TOKEN).await;
    browser.click("button#token-submit").await;
    browser
        .wait_rows("alice's purchase", &[(&alice, "completed")])
        .await;
    assert!(
        !visible(&browser, "form#token-form").await,
        "the form is gone"
    );
    let stored = browser
        .js(
            "return Object.keys(sessionStorage).map(k => sessionStorage.getItem(k))",
            json!([]),
        )
        .await;
    assert!(
        stored.as_array().unwrap().contains(&json!(TOKEN)),
        "the token is kept in sessionStorage: {stored}"
    );

    // Kept across a reload; every API call since carries it.
    browser.client().refresh().await.expect("reload");
    browser
        .wait_rows("alice's purchase after a reload", &[(&alice, "completed")])
        .await;
    browser.route("#/").await;
    browser.wait_view("overview").await;
    browser
        .wait_text("[data-count-status=\"completed\"]", "1")
        .await;
    let requests = browser.requests().await;
    let api_calls: Vec<&(String, Value)> = requests
        .iter()
        .filter(|(url, _)| url.contains("/v1/"))
        .collect();
    let bearer = format!("Bearer {TOKEN}");
    let with_token = api_calls
        .iter()
        .filter(|(_, headers)| headers["Authorization"] == json!(bearer))
        .count();
    let wrong = api_calls
        .iter()
        .filter(|(_, headers)| headers["Authorization"] == json!("Bearer wrong-token"))
        .count();
    let without = api_calls
        .iter()
        .filter(|(_, headers)| headers.get("Authorization").is_none())
        .count();
    assert!(
        with_token >= 3 && wrong >= 1 && without >= 1,
        "API calls: {with_token} with the token, {wrong} with the wrong one, {without} without: {api_calls:#?}"
    );
    assert!(
        requests
            .iter()
            .filter(|(url, _)| url.contains("/ui/"))
            .all(|(_, headers)| headers.get("Authorization").is_none()),
        "the console's files are fetched without a token"
    );

    // A token that stops working mid-session (revoked on the server): the list's next
    // refresh is refused, and the page drops every row for the token form.
    browser.route("#/workflows").await;
    browser
        .wait_rows("alice's purchase once more", &[(&alice, "completed")])
        .await;
    let replaced = browser
        .js(
            "const keys = Object.keys(sessionStorage).filter(k => sessionStorage.getItem(k) === arguments[0]); \
             keys.forEach(k => sessionStorage.setItem(k, 'revoked-token')); return keys.length",
            json!([TOKEN]),
        )
        .await;
    assert_eq!(replaced, json!(1), "one stored token");
    wait_token_form(&browser, &alice).await;
    assert!(
        visible(&browser, "#auth-refused").await,
        "the stored token was refused"
    );

    // The refused calls answer 401, which the browser logs as failed resource loads.
    browser.finish_allowing(&["401 (Unauthorized)"]).await;
    system.stop().await;
}
