use crate::support::*;
use engine::model::{ActivityKind, AttemptOutcome, Outcome};
use engine::store::Completion;
use engine::WorkflowStatus;
use serde_json::json;
use std::sync::Arc;

testkit::backend_tests!(
    a_stale_worker_is_fenced_after_its_lease_was_reclaimed,
    an_abandoned_workflow_is_finished_by_another_worker,
    lost_leases_count_as_attempts_and_exhaust_the_budget,
    renew_extends_only_a_current_lease,
    release_after_defers_without_an_attempt_and_is_fenced,
    a_batch_with_one_stale_completion_applies_the_rest,
    a_completion_written_twice_applies_once_and_gives_back_the_lease_it_handed_over
);

/// A completion's `COMMIT` went through but its answer was lost (the node died), so the
/// store runs it again (on another node of a cluster): the rerun finds the workflow moved on
/// under the same lease, writes nothing twice and does not park the workflow, and gives back
/// the lease of the next activity, which this worker never heard of, so it is claimed now.
async fn a_completion_written_twice_applies_once_and_gives_back_the_lease_it_handed_over(
    db: TestDb,
) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let a = store
        .claim(&registry, "A", 1, 30_000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let done = Completion {
        claimed: a,
        outcome: Outcome::Success(json!({"amount": 100})),
        request: None,
        executed: true,
        jitter: 0.0,
    };
    let first = store
        .complete(&registry, "A", Some(30_000), std::slice::from_ref(&done))
        .await
        .unwrap();
    assert_eq!(first.next.len(), 1, "the next step is handed to A");
    let again = store
        .complete(&registry, "A", Some(30_000), &[done])
        .await
        .expect("a rerun is not an error");
    assert_eq!(again.fenced.len(), 1);
    assert!(again.next.is_empty() && again.finished.is_empty());
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Running, "not parked");
    assert_eq!(wf.current_step, 1);
    assert_eq!(
        wf.activities.len(),
        2,
        "step 0 recorded once, step 1 started"
    );
    let next = store
        .claim(&registry, "B", 1, 30_000)
        .await
        .unwrap()
        .pop()
        .expect("the handed-over lease was given back: claimable at once");
    assert_eq!(next.key.step, 1);
}

/// In one batch, the completion whose lease was reclaimed is dropped; the others apply.
async fn a_batch_with_one_stale_completion_applies_the_rest(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let first = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let second = store
        .submit(&registry, &purchase("purchase", 2, 1))
        .await
        .unwrap()
        .id;
    let held = store.claim(&registry, "A", 2, 30_000).await.unwrap();
    assert_eq!(held.len(), 2);
    make_due(&db, second).await;
    let stolen = store.claim(&registry, "B", 2, 30_000).await.unwrap();
    assert_eq!(stolen.len(), 1);
    let ok = |c: &engine::store::Claimed| Completion {
        claimed: c.clone(),
        outcome: Outcome::Success(json!({"amount": 100})),
        request: None,
        executed: true,
        jitter: 0.0,
    };
    let done = store
        .complete(
            &registry,
            "A",
            Some(30_000),
            &held.iter().map(ok).collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    assert_eq!(done.fenced, vec![stolen[0].key]);
    assert_eq!(done.next.len(), 1);
    assert_eq!(done.next[0].key.workflow_id, first);
    let second_wf = store.get(second).await.unwrap().unwrap();
    assert_eq!(
        (
            second_wf.activities.len(),
            second_wf.activities[0].lease_owner.as_deref()
        ),
        (1, Some("B"))
    );
    assert_eq!(store.get(first).await.unwrap().unwrap().current_step, 1);
}

/// Worker A's lease expires and B reclaims it: A's late completion writes nothing.
async fn a_stale_worker_is_fenced_after_its_lease_was_reclaimed(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let a = store
        .claim(&registry, "A", 1, 30_000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(make_due(&db, id).await, 1, "backdate A's lease");
    let b = store
        .claim(&registry, "B", 1, 30_000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!((b.key, b.epoch, b.attempt), (a.key, a.epoch + 1, 2));
    let late = Completion {
        claimed: a,
        outcome: Outcome::Success(json!({"amount": 100})),
        request: None,
        executed: true,
        jitter: 0.0,
    };
    let done = store
        .complete(&registry, "A", Some(30_000), &[late])
        .await
        .unwrap();
    assert_eq!(done.fenced, vec![b.key]);
    assert!(done.next.is_empty() && done.decisions.is_empty());
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(
        wf.activities.len(),
        1,
        "A's write inserted no next activity"
    );
    assert_eq!(wf.activities[0].lease_owner.as_deref(), Some("B"));
    assert!(wf.outputs.is_empty());
    let history = &wf.activities[0].attempts;
    assert_eq!(
        history.len(),
        1,
        "only the expiry of A's attempt is recorded"
    );
    assert_eq!(
        (history[0].outcome, history[0].worker.as_deref()),
        (AttemptOutcome::LeaseExpired, Some("A"))
    );
    let on_time = Completion {
        claimed: b,
        outcome: Outcome::Success(json!({"amount": 100})),
        request: None,
        executed: true,
        jitter: 0.0,
    };
    let done = store
        .complete(&registry, "B", Some(30_000), &[on_time])
        .await
        .unwrap();
    assert!(done.fenced.is_empty());
    assert_eq!(done.next.len(), 1, "B continues with the next step");
}

/// A worker dies holding step 3 mid-way; another finishes from the journal, each step once.
async fn an_abandoned_workflow_is_finished_by_another_worker(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let script = Arc::new(Script::default());
    let a = runner(&store, &registry, &script, "A");
    let mut report = Default::default();
    let mut batch = store.claim(&registry, "A", 1, 30_000).await.unwrap();
    for _ in 0..3 {
        batch = a.run_batch(batch, &mut report).await.unwrap();
    }
    assert_eq!(
        batch[0].name, "reserve_stock",
        "A now holds step 3 and dies before running it"
    );
    drop(batch);
    let b = runner(&store, &registry, &script, "B");
    assert_eq!(
        b.run_once().await.unwrap().claimed,
        0,
        "A's lease still holds"
    );
    make_due(&db, id).await;
    let r = b.run_once().await.unwrap();
    assert_eq!((r.claimed, r.executed, r.finished), (1, 4, 1));
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Completed);
    let paths = script.paths();
    assert_eq!(paths.len(), 7, "each step ran once: {paths:?}");
    let keys: std::collections::HashSet<_> = script.calls().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 7);
    let stock = wf
        .activities
        .iter()
        .find(|a| a.name == "reserve_stock")
        .unwrap();
    let outcomes: Vec<_> = stock
        .attempts
        .iter()
        .map(|t| (t.attempt, t.outcome, t.worker.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (1, AttemptOutcome::LeaseExpired, Some("A".into())),
            (2, AttemptOutcome::Succeeded, Some("B".into()))
        ]
    );
    assert!(wf.activities.iter().all(|a| a.kind == ActivityKind::Action));
}

/// A step whose worker keeps dying is not retried forever: four lost leases use the README
/// budget, then the workflow is compensated without running the step again.
async fn lost_leases_count_as_attempts_and_exhaust_the_budget(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let script = Arc::new(Script::default());
    let mut report = Default::default();
    let first = store.claim(&registry, "A", 1, 30_000).await.unwrap();
    let mut batch = runner(&store, &registry, &script, "A")
        .run_batch(first, &mut report)
        .await
        .unwrap();
    assert_eq!(
        batch.pop().unwrap().name,
        "reserve_balance",
        "held by a worker that dies"
    );
    for lost in 1..=3 {
        make_due(&db, id).await;
        let c = store
            .claim(&registry, &format!("dying{lost}"), 1, 30_000)
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!((c.attempt, c.exhausted), (lost + 1, false));
    }
    make_due(&db, id).await;
    let r = runner(&store, &registry, &script, "B")
        .run_once()
        .await
        .unwrap();
    assert_eq!(
        (r.claimed, r.executed, r.finished),
        (1, 1, 1),
        "only the compensation ran"
    );
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Compensated);
    assert_eq!(wf.error.as_ref().unwrap().code, "LEASE_EXPIRED");
    let balance = wf
        .activities
        .iter()
        .find(|a| a.name == "reserve_balance" && a.kind == ActivityKind::Action)
        .unwrap();
    assert_eq!(balance.attempts.len(), 4);
    assert!(balance
        .attempts
        .iter()
        .all(|t| t.outcome == AttemptOutcome::LeaseExpired));
    assert_eq!(
        script.paths(),
        ["/quotes", "/balance/cancel"],
        "reserve_balance never ran"
    );
}

/// Renewal extends the current lease and reports a lost one.
async fn renew_extends_only_a_current_lease(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let a = store
        .claim(&registry, "A", 1, 1_000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        store.renew(&[(a.key, a.epoch)], 60_000).await.unwrap(),
        [true]
    );
    let run_at = store.get(id).await.unwrap().unwrap().activities[0]
        .run_at
        .unwrap();
    assert!(
        run_at >= a.claimed_at + 59_000_000,
        "renewed for a minute in DB time"
    );
    assert_eq!(
        store.renew(&[(a.key, a.epoch + 1)], 60_000).await.unwrap(),
        [false]
    );
    assert_eq!(store.release(std::slice::from_ref(&a)).await.unwrap(), 1);
    let again = store
        .claim(&registry, "B", 1, 1_000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        again.attempt, 1,
        "a released lease does not count as an attempt"
    );
}

/// A release with a delay (a worker's open circuit breaker) is fenced on the epoch, makes the
/// workflow due only after the delay (database time) and spends no attempt.
async fn release_after_defers_without_an_attempt_and_is_fenced(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let a = store
        .claim(&registry, "A", 1, 120_000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let leased_until = store.get(id).await.unwrap().unwrap().activities[0]
        .run_at
        .unwrap();
    let mut stale = a.clone();
    stale.epoch -= 1;
    assert_eq!(store.release_after(&[(&stale, 0)]).await.unwrap(), 0);
    assert_eq!(
        store.get(id).await.unwrap().unwrap().activities[0].run_at,
        Some(leased_until),
        "a stale epoch changes nothing"
    );
    assert!(store
        .claim(&registry, "B", 1, 30_000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.release_after(&[(&a, 60_000)]).await.unwrap(), 1);
    let view = store.get(id).await.unwrap().unwrap();
    let run_at = view.activities[0].run_at.unwrap();
    assert!(
        run_at >= a.claimed_at + 59_000_000 && run_at < leased_until,
        "due in a minute in DB time, not at the lease's end: {run_at} vs {}",
        a.claimed_at
    );
    assert!(
        view.activities[0].attempts.is_empty(),
        "no attempt recorded"
    );
    assert!(
        store
            .claim(&registry, "B", 1, 30_000)
            .await
            .unwrap()
            .is_empty(),
        "not due before the delay"
    );
    assert_eq!(
        store.release_after(&[(&a, 0)]).await.unwrap(),
        0,
        "released once: the lease is no longer held"
    );
    let other = store
        .submit(&registry, &purchase("purchase", 2, 1))
        .await
        .unwrap()
        .id;
    let b = store
        .claim(&registry, "A", 1, 30_000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(b.key.workflow_id, other);
    assert_eq!(store.release_after(&[(&b, 0)]).await.unwrap(), 1);
    let again = store
        .claim(&registry, "B", 1, 30_000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(again.key.workflow_id, other);
    assert_eq!(again.attempt, 1, "a deferred activity spent no attempt");
    assert!(!again.reclaimed, "given back, not an expired lease");
}
