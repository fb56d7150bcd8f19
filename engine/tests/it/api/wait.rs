//! `?wait=`: woken by the in-process notify or the poller, or ended by the wait itself.

use super::*;

testkit::backend_tests!(
    get_wait_returns_the_terminal_status_when_the_worker_notifies_in_process,
    submit_wait_returns_the_terminal_status_found_by_the_poller,
    a_wait_that_ends_first_answers_the_current_status
);

/// The answer must come well before the 30 s wait ends: only a wake-up can deliver it.
const WOKEN_WITHIN: Duration = Duration::from_secs(10);

/// `GET ?wait=30s` held while the workflow runs is woken by the runner's in-process
/// `on_finished` hook wired to the watcher as `sagaflow dev` wires it (no poller runs, so
/// nothing else can wake it) and answers the completed workflow.
async fn get_wait_returns_the_terminal_status_when_the_worker_notifies_in_process(db: TestDb) {
    let app = App::new(db).await;
    let id = app.submit(&purchase("purchase", 1, 1), None).await.body["id"].clone();
    let id = id.as_str().unwrap().to_owned();
    let held = tokio::spawn(send(
        app.router(),
        request(
            Method::GET,
            &format!("/v1/workflows/{id}?wait=30s"),
            None,
            "",
        ),
    ));
    wait_until("the request waits", || app.watcher.waiting() == 1).await;

    app.notifying_runner().run_once().await.expect("run");
    let reply = tokio::time::timeout(WOKEN_WITHIN, held)
        .await
        .expect("woken by the runner's on_finished hook")
        .expect("request task");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "completed");
    assert_eq!(
        reply.body["activities"].as_array().unwrap().len(),
        7,
        "the whole record"
    );
    assert_eq!(app.watcher.waiting(), 0, "the waiter left");
}

/// `POST ?wait=30s` held while the workflow runs is woken by the process's one poller (no
/// in-process notify) and answers 201 with the completed status.
async fn submit_wait_returns_the_terminal_status_found_by_the_poller(db: TestDb) {
    let app = App::new(db).await;
    let poller = app.watcher.spawn_poller(app.store.clone(), 20);
    let held = tokio::spawn(send(
        app.router(),
        submit_request("/v1/workflows?wait=30s", &purchase("purchase", 1, 1), None),
    ));
    wait_until("the request waits", || app.watcher.waiting() == 1).await;

    app.runner().run_once().await.expect("run");
    let reply = tokio::time::timeout(WOKEN_WITHIN, held)
        .await
        .expect("woken by the poller")
        .expect("request task");
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["status"], "completed");
    poller.abort();
}

/// When nothing finishes, a wait (also one longer than the cap) ends and answers the current
/// status, on get and on submit.
async fn a_wait_that_ends_first_answers_the_current_status(db: TestDb) {
    let config = ApiConfig {
        wait_ms_max: 300,
        ..ApiConfig::default()
    };
    let app = App::with_config(db, config).await;
    let id = app.submit(&purchase("purchase", 1, 1), None).await.body["id"].clone();
    let id = id.as_str().unwrap();
    for wait in ["200ms", "150", "1s", "3600s"] {
        let reply = ends(app.get(&format!("/v1/workflows/{id}?wait={wait}"))).await;
        assert_eq!(
            (reply.status, reply.body["status"].as_str()),
            (StatusCode::OK, Some("pending")),
            "{wait}"
        );
    }
    let reply = ends(app.send(submit_request(
        "/v1/workflows?wait=200ms",
        &purchase("purchase", 2, 1),
        None,
    )))
    .await;
    assert_eq!(
        (reply.status, reply.body["status"].as_str()),
        (StatusCode::CREATED, Some("pending"))
    );
    assert_eq!(app.watcher.waiting(), 0, "every waiter left");
}

/// Awaits a held request, failing the test if the wait does not end within [`WOKEN_WITHIN`].
async fn ends<T>(reply: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WOKEN_WITHIN, reply)
        .await
        .expect("the wait ends")
}
