//! Wake-ups through Redis: a submit wakes a worker that would otherwise sleep for a minute,
//! and Redis being away never stops work (polling takes over). The tests that need a Redis
//! server skip without one locally and fail without one under `CI=true` (`testkit::redis`).

use crate::support::*;
use engine::api::{ApiConfig, ApiState, Watcher};
use engine::WorkflowStatus;
use serde_json::json;
use std::sync::Arc;
use worker::Wake;

/// Serves the API in this process; each created workflow publishes a wake-up via `wake`.
async fn api(dbs: &Databases, wake: Wake) -> String {
    let state = ApiState::new(
        open(dbs).await,
        engine::Registry::shipped().into(),
        ApiConfig::default(),
        Watcher::new(),
    )
    .with_on_submit(Arc::new(move || wake.notify()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, engine::api::router(state)).await });
    url
}

async fn submit(api: &str) -> String {
    let input = json!({"user_id": 1, "product_id": 1, "quantity": 1, "payment_method_id": 1});
    let (status, body) = post_json(
        &format!("{api}/v1/workflows"),
        &json!({"type": "purchase", "input": input}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn subscribers(redis: &str) -> i64 {
    let client = redis::Client::open(redis).unwrap();
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return 0;
    };
    let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(worker::wake::CHANNEL)
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    counts.first().map_or(0, |(_, n)| *n)
}

async fn wait_terminal(api: &str, id: &str) -> serde_json::Value {
    eventually(20, "the workflow to end", || async {
        let wf = get_json(&format!("{api}/v1/workflows/{id}")).await;
        (wf["status"] != "pending" && wf["status"] != "running").then_some(wf)
    })
    .await
}

/// A worker polling once a minute runs a new workflow at once: the submit woke it via Redis.
/// (The first workflow is there before the worker starts, so the worker has claimed once and
/// gone to sleep when the second arrives.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_wakes_a_sleeping_worker_through_redis() {
    let Some(redis) = testkit::redis().await else {
        return;
    };
    let dbs = Databases::fresh(TestDb::sqlite("redis_wake")).await;
    let participants = Participants::start(&dbs, 0).await;
    let api = api(&dbs, Wake::with_redis(&redis).unwrap()).await;
    let first = submit(&api).await;
    let before = subscribers(&redis).await;
    let sleepy = [
        "--redis-url",
        redis.as_str(),
        "--poll-interval",
        "1m",
        "--poll-interval-min",
        "1m",
    ];
    let mut worker = spawn_worker(&dbs.saga.url, &participants.flag(), "sleepy", &sleepy);
    eventually(10, "the worker to subscribe", || async {
        (subscribers(&redis).await > before).then_some(())
    })
    .await;
    assert_eq!(wait_terminal(&api, &first).await["status"], "completed");
    let second = submit(&api).await;
    let done = wait_terminal(&api, &second).await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(done["status"], "completed", "{done}");
}

/// With Redis unreachable, submits still succeed and workers still run everything by polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_never_stops_work() {
    let dbs = Databases::fresh(TestDb::sqlite("redis_down")).await;
    let participants = Participants::start(&dbs, 0).await;
    let nowhere = "redis://127.0.0.1:1";
    let mut worker = spawn_worker(
        &dbs.saga.url,
        &participants.flag(),
        "w",
        &["--redis-url", nowhere],
    );
    let api = api(&dbs, Wake::with_redis(nowhere).unwrap()).await;
    let ids = [submit(&api).await, submit(&api).await];
    let store = open(&dbs).await;
    eventually(30, "both workflows to complete", || async {
        let done = count(&store, WorkflowStatus::Completed).await;
        (done == ids.len() as u64).then_some(())
    })
    .await;
    worker.kill().unwrap();
    worker.wait().unwrap();
}

/// A `?wait=` request on an API with no poller returns when a worker in another process
/// reports the end through Redis (the wait is 30 s; the test allows 10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_in_another_process_ends_a_wait_through_redis() {
    let Some(redis) = testkit::redis().await else {
        return;
    };
    let dbs = Databases::fresh(TestDb::sqlite("redis_finished")).await;
    let participants = Participants::start(&dbs, 0).await;
    let watcher = Watcher::new();
    let forward = watcher.clone();
    worker::wake::forward_finished(&redis, move |id, status| {
        forward.notify_finished(id, status)
    })
    .unwrap();
    let state = ApiState::new(
        open(&dbs).await,
        engine::Registry::shipped().into(),
        ApiConfig::default(),
        watcher,
    )
    .with_on_submit(Arc::new(|| {}));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, engine::api::router(state)).await });
    let before = subscribers(&redis).await;
    let _worker = spawn_worker(
        &dbs.saga.url,
        &participants.flag(),
        "reporter",
        &["--redis-url", redis.as_str()],
    );
    eventually(10, "the worker to subscribe", || async {
        (subscribers(&redis).await > before).then_some(())
    })
    .await;
    let input = json!({"user_id": 1, "product_id": 1, "quantity": 1, "payment_method_id": 1});
    let (url, body) = (
        format!("{api}/v1/workflows?wait=30s"),
        json!({"type": "purchase", "input": input}),
    );
    let request = post_json(&url, &body);
    let (status, answer) = tokio::time::timeout(std::time::Duration::from_secs(10), request)
        .await
        .expect("the wait ended by the Redis report, long before its 30 s");
    assert_eq!(
        (status, answer["status"].as_str()),
        (201, Some("completed")),
        "{answer}"
    );
}

/// One wake-up wakes one idle claim loop, not every loop: the others would only run empty
/// claims (a transaction each). Four loops that never poll (a minute between polls) run one
/// workflow with exactly its own transactions: the submit, one claim, seven completions and
/// the one claim that finds nothing more when the workflow ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_wake_up_wakes_one_idle_loop() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("saga.db").display());
    let store = engine::Store::connect(&url, 8).await.unwrap();
    store.migrate().await.unwrap();
    let registry: Arc<engine::Registry> = engine::Registry::shipped().into();
    let finished = Arc::new(tokio::sync::Notify::new());
    let runner = engine::runner::Runner::new(
        store.clone(),
        registry.clone(),
        Arc::new(engine::runner::Fixed(json!({"amount": 100}))),
        engine::runner::RunnerConfig::new("one-wake"),
    )
    .with_on_finished({
        let finished = finished.clone();
        Arc::new(move |_, _| finished.notify_one())
    });
    let wake = Wake::local();
    let config = worker::PoolConfig {
        concurrency: 4,
        poll_interval_min_ms: 60_000,
        poll_interval_max_ms: 60_000,
        ..worker::PoolConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let pool = tokio::spawn(worker::run(runner, config, wake.clone(), async {
        let _ = stopped.await;
    }));
    // Each loop's first claim finds nothing; then all four are idle.
    eventually(20, "four empty claims", || async {
        (store.usage().commits >= 4).then_some(())
    })
    .await;
    let before = store.usage().commits;
    let new = engine::store::NewWorkflow {
        workflow_type: "purchase".into(),
        input: json!({"user_id": 1, "product_id": 1, "quantity": 1, "payment_method_id": 1}),
        idempotency_key: None,
        submitted_by: None,
    };
    store.submit(&registry, &new).await.unwrap();
    wake.notify();
    finished.notified().await;
    // The loop that ran it claims once more and finds nothing.
    eventually(20, "the claim after the end", || async {
        (store.usage().commits >= before + 10).then_some(())
    })
    .await;
    let _ = stop.send(());
    pool.await.unwrap();
    assert_eq!(
        store.usage().commits - before,
        10,
        "submit, claim, 7 completions, 1 empty claim"
    );
}
