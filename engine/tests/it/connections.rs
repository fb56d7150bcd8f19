use crate::support::*;
use engine::WorkflowStatus;

/// The pool does not ping a connection before using it, so connections that died while
/// idle (a server restart, `wait_timeout`, a proxy) must be passed over, not reported as
/// errors: every kind of store call works at once after all of them were killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_while_idle_are_passed_over() {
    let Some(db) = TestDb::mysql("dead_connections").await else {
        return;
    };
    let (store, registry) = (store(&db).await, registry());
    // Open several connections.
    let submits = (0..8).map(|i| {
        let (store, registry) = (store.clone(), registry.clone());
        tokio::spawn(async move { store.submit(&registry, &purchase("purchase", i, 1)).await })
    });
    let mut ids = Vec::new();
    for submit in submits {
        ids.push(submit.await.unwrap().unwrap().id);
    }
    // Submits waiting together share one group-commit transaction (one connection), so
    // also read concurrently: the pool opens a connection per read that finds all busy.
    let reads = (0..32).map(|_| {
        let (store, id) = (store.clone(), ids[0]);
        tokio::spawn(async move { store.get(id).await })
    });
    for read in reads {
        read.await.unwrap().unwrap();
    }
    let killed = db.kill_connections().await;
    assert!(
        killed >= 2,
        "the pool held several connections, killed {killed}"
    );

    // A write (transaction), a transactional read and autocommit reads, in turn.
    let s = store
        .submit(&registry, &purchase("purchase", 99, 1))
        .await
        .expect("a submit after the kill");
    assert_eq!(s.status, WorkflowStatus::Pending);
    let wf = store.get(ids[0]).await.expect("a read after the kill");
    assert_eq!(wf.map(|w| w.status), Some(WorkflowStatus::Pending));
    db.kill_connections().await;
    assert_eq!(
        store
            .status(s.id)
            .await
            .expect("a status read after the kill"),
        Some(WorkflowStatus::Pending)
    );
    db.kill_connections().await;
    let finished = store
        .finished_among(&ids)
        .await
        .expect("a poll after the kill");
    assert!(finished.is_empty(), "nothing has run: {finished:?}");
}
