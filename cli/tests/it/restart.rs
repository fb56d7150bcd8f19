//! The saga database's server crashes and comes back under load.

use crate::support::*;
use engine::WorkflowStatus;
use sagaflow::procs::{PrivateMariaDb, MARIADBD};

/// SIGKILL the MariaDB server holding the journal mid-run and start it again: the worker
/// reconnects, every workflow completes, and each participant effect is applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_crash_and_restart_loses_nothing() {
    if !std::path::Path::new(MARIADBD).exists() {
        testkit::server_absent(
            "a private MariaDB",
            MARIADBD,
            &"the binary is not installed",
        );
        return;
    }
    let mut server = PrivateMariaDb::start().await.unwrap();
    let mut dbs = Databases::fresh(TestDb::sqlite("restart")).await;
    dbs.saga.url = format!("{}/saga", server.url());
    let participants = Participants::start(&dbs, 100).await;
    let store = open(&dbs).await;
    let registry = engine::Registry::shipped();
    let mut ids = Vec::new();
    for i in 0..9 {
        ids.push(
            store
                .submit(&registry, &purchase(1 + i % 3))
                .await
                .unwrap()
                .id,
        );
    }
    let _worker = spawn_worker(&dbs.saga.url, &participants.flag(), "survivor", &[]);
    eventually(30, "workflows half-way", || async {
        let wf = store.get(ids[0]).await.ok()??;
        (wf.current_step >= 2 && !wf.status.is_terminal()).then_some(())
    })
    .await;
    server.kill();
    // The fault itself: the database stays down for a second (not a synchronisation).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    server.restart().await.unwrap();
    let completed = || async {
        store
            .count_by_status()
            .await
            .ok()?
            .get(&WorkflowStatus::Completed)
            .copied()
    };
    eventually(60, "all nine to complete after the restart", || async {
        completed().await.filter(|n| *n == 9)
    })
    .await;
    let user = participants.ledger(services::Service::User).await;
    assert_eq!(
        (user["captured"].as_i64(), user["reserved"].as_i64()),
        (Some(900), Some(0)),
        "{user}"
    );
    let order = participants.ledger(services::Service::Order).await;
    assert_eq!(order["sold"].as_i64(), Some(9), "{order}");
    let payment = participants.ledger(services::Service::Payment).await;
    assert_eq!(payment["payments"]["executed"]["count"], 9, "{payment}");
}
