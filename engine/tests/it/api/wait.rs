//! `?wait=`: woken by the in-process notify or the poller, or ended by the wait itself.

use super::*;

testkit::backend_tests!(
    get_wait_returns_the_terminal_status_when_the_worker_notifies_in_process,
    submit_wait_returns_the_terminal_status_found_by_the_poller,
    a_wait_that_ends_first_answers_the_current_status,
    long_polls_give_their_in_flight_slot_back_while_they_wait
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

/// With room for one request in flight, a `GET ?wait=30s` and then a `POST ?wait=30s` that
/// wait do not hold it: other requests are served while they are still waiting (without the
/// slot given back, each would have every other request shed with 503 `OVERLOADED` for 30 s).
async fn long_polls_give_their_in_flight_slot_back_while_they_wait(db: TestDb) {
    let config = ApiConfig {
        requests_in_flight_max: 1,
        ..ApiConfig::default()
    };
    let app = App::with_config(db, config).await;
    let id = app.submit(&purchase("purchase", 1, 1), None).await.body["id"].clone();
    let id = id.as_str().unwrap().to_owned();
    let get = request(
        Method::GET,
        &format!("/v1/workflows/{id}?wait=30s"),
        None,
        "",
    );
    let held_get = tokio::spawn(send(app.router(), get));
    wait_until("the get waits", || app.watcher.waiting() == 1).await;
    served_while_waiting(&app).await;

    let submit = submit_request("/v1/workflows?wait=30s", &purchase("purchase", 2, 1), None);
    let held_submit = tokio::spawn(send(app.router(), submit));
    wait_until("the submit waits too", || app.watcher.waiting() == 2).await;
    served_while_waiting(&app).await;
    assert!(
        !held_get.is_finished() && !held_submit.is_finished(),
        "both still wait"
    );
    held_get.abort();
    held_submit.abort();
}

/// A list is answered within 10 s (a waiting request gives its slot back just after it
/// registered with the watcher, so one sent in between may be shed first).
async fn served_while_waiting(app: &App) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = app.get("/v1/workflows").await;
        if reply.status == StatusCode::OK {
            return;
        }
        assert_eq!(reply.code(), "OVERLOADED", "{}", reply.body);
        assert_eq!(reply.headers[header::RETRY_AFTER], "1");
        assert!(
            Instant::now() < deadline,
            "a waiting request holds the slot"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
