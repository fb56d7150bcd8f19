//! The workflow page with auth on: it shows who submitted the workflow (and hides the
//! subjects nobody recorded), and an action the token has no scope for is refused with a
//! message saying so, the token kept.

use super::*;
use crate::support::eventually;

const STATIC_TOKEN: &str = "console-static-token";
const SECRET: &[u8] = b"a-console-test-secret-of-32-byte";

/// An HS256 JWT for `sub` with `scope`, valid for five minutes.
fn jwt(sub: &str, scope: &str) -> String {
    let exp = chrono::Utc::now().timestamp() + 300;
    let claims = json!({"sub": sub, "scope": scope, "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .expect("signed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_page_shows_its_submitter_and_a_403_says_the_token_lacks_the_scope() {
    // Quick retries before the pivot; after it a failed step waits 30 s: the purchase stays
    // running (Abort offered) for the whole test.
    let toml = purchase_toml((4, 100, 400), (40, 30_000, 60_000));
    let verifier = engine::api::Jwt::default()
        .with_hs256_secret(SECRET)
        .expect("a long enough secret");
    let system = System::start_with_auth(
        registry(&[("purchase.toml", &toml)]),
        &[STATIC_TOKEN],
        Some(verifier),
    )
    .await;
    let Some(browser) = Browser::start(&system.api).await else {
        system.stop().await;
        return;
    };
    system
        .faults(
            Service::Order,
            json!({"fail_first_calls": 1, "fail_first_share": 1.0}),
        )
        .await;
    let id = system.submit(alice_buys_1(), None).await;
    eventually(10, "the purchase is past its pivot and waits", || async {
        let wf = system.workflow(&id, "0").await;
        wf["activities"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["name"] == "confirm_order"))
            .then_some(())
    })
    .await;

    browser.open(&format!("#/workflows/{id}")).await;
    browser.wait_for("form#token-form").await;
    browser
        .type_into("input#token", &jwt("reader", "sagaflow:read"))
        .await;
    browser.click("button#token-submit").await;
    browser.wait_view("workflow").await;
    let name = engine::api::token::subject(STATIC_TOKEN);
    browser
        .wait_text("#view [data-field=\"submitted-by\"]", &name)
        .await;
    let hidden = browser
        .js(
            "return ['submitted-by', 'aborted-by', 'retried-by'].map(f => \
               document.querySelector(`[data-field=\"${f}\"]`).offsetParent === null)",
            json!([]),
        )
        .await;
    assert_eq!(
        hidden,
        json!([false, true, true]),
        "the submitter shown; nobody aborted or retried it"
    );

    // The read token may not abort: the API's 403, in plain words, and the page stays.
    browser.click("button#abort").await;
    browser.wait_for("dialog#confirm[open]").await;
    browser.click("dialog#confirm button#confirm-yes").await;
    browser
        .wait_for("#answer[data-error-code=\"FORBIDDEN\"]")
        .await;
    let refusal = browser.text("#answer").await.unwrap_or_default();
    assert!(
        refusal.contains("Your token is not allowed to do this")
            && refusal.contains("sagaflow:operate"),
        "{refusal}"
    );
    let form_shown = browser
        .js(
            "const e = document.querySelector('form#token-form'); \
             return e !== null && e.offsetParent !== null",
            json!([]),
        )
        .await;
    assert_eq!(
        form_shown,
        json!(false),
        "a 403 keeps the token: no token form"
    );
    let wf = system.workflow(&id, "0").await;
    assert_eq!(wf["abort_requested"], json!(false), "{wf}");

    // The first calls went without a token (401) and the abort was refused (403).
    browser
        .finish_allowing(&["401 (Unauthorized)", "403 (Forbidden)"])
        .await;
    system.stop().await;
}
