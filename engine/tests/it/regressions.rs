//! Regression tests for the defects of the correctness review (numbered as in
//! RELIABILITY.md): each failed on the code before its fix.

use crate::support::*;
use engine::definition::{Definition, Registry};
use engine::model::{ActivityError, ActivityKind, ActivityStatus, AttemptOutcome, Outcome};
use engine::store::{Claimed, Completion, NewWorkflow};
use engine::{Store, WorkflowId, WorkflowStatus};
use serde_json::json;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

testkit::backend_tests!(
    an_exhausted_reclaim_whose_worker_died_does_not_stop_claims,
    releasing_an_exhausted_claim_does_not_stop_claims,
    a_corrupt_row_is_parked_and_the_rest_of_the_batch_is_claimed,
    idempotency_keys_are_byte_exact_and_never_hang_submits,
    one_bad_completion_costs_only_itself,
    a_completion_without_its_definition_is_parked_alone,
    an_operator_retry_gives_the_full_budget_with_the_policy_delays,
    a_worker_claims_only_the_types_and_versions_it_has,
);

/// A deadline for one store call: a hang fails the test instead of stalling it.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within 30 s"))
}

/// Claims `id`'s activity by lease expiries until the claim comes back exhausted (no
/// attempt left), each time as a worker that dies.
async fn exhaust(db: &TestDb, store: &Store, registry: &Registry, id: WorkflowId) -> Claimed {
    for round in 0..10 {
        let c = store
            .claim(registry, &format!("dying{round}"), 8, 30_000)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.key.workflow_id == id)
            .expect("the backdated activity is due");
        if c.exhausted {
            return c;
        }
        make_due(db, id).await;
    }
    panic!("no exhausted claim after 10 lease expiries");
}

/// Defect 1: the reclaimer of an activity with no attempt left dies too; the next claims
/// (of it and of every other workflow) still work, and its history keys stay unique.
async fn an_exhausted_reclaim_whose_worker_died_does_not_stop_claims(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let stuck = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    store.claim(&registry, "first", 1, 30_000).await.unwrap();
    make_due(&db, stuck).await;
    let exhausted = exhaust(&db, &store, &registry, stuck).await;
    drop(exhausted); // its worker dies before completing it
    make_due(&db, stuck).await;
    let other = store
        .submit(&registry, &purchase("purchase", 2, 1))
        .await
        .unwrap()
        .id;
    let batch = store.claim(&registry, "next", 8, 30_000).await.unwrap();
    let ids: HashSet<WorkflowId> = batch.iter().map(|c| c.key.workflow_id).collect();
    assert_eq!(ids, HashSet::from([stuck, other]), "both are claimed");
    let again = batch.iter().find(|c| c.key.workflow_id == stuck).unwrap();
    assert!(again.exhausted, "still no attempt left");
    let wf = store.get(stuck).await.unwrap().unwrap();
    let history = &wf.activities[0].attempts;
    let epochs: Vec<i64> = history.iter().map(|a| a.epoch).collect();
    assert!(
        epochs.windows(2).all(|w| w[0] < w[1]),
        "history keys unique and increasing: {epochs:?}"
    );
    assert!(history
        .iter()
        .all(|a| a.outcome == AttemptOutcome::LeaseExpired));
    assert_eq!(
        history.iter().filter(|a| a.attempt == 4).count(),
        2,
        "the last attempt's lease and the exhausted reclaim's lease both expired"
    );
}

/// Defect 1 (drain): giving back an exhausted claim does not lower its attempt count, so
/// its later lease expiries never repeat a history key and claims go on.
async fn releasing_an_exhausted_claim_does_not_stop_claims(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    store.claim(&registry, "first", 1, 30_000).await.unwrap();
    make_due(&db, id).await;
    let exhausted = exhaust(&db, &store, &registry, id).await;
    assert_eq!(
        store
            .release(std::slice::from_ref(&exhausted))
            .await
            .unwrap(),
        1
    );
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(
        (wf.activities[0].attempt, wf.activities[0].max_attempts),
        (4, 4),
        "an exhausted claim took no attempt, so none is given back"
    );
    let c = store
        .claim(&registry, "after-drain", 1, 30_000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(c.exhausted);
    make_due(&db, id).await;
    let c = store
        .claim(&registry, "after-drain-2", 1, 30_000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(c.exhausted);
}

/// Defect 1 (isolation): a due row whose values cannot be read is parked with its workflow
/// and a reason; the other due activities are claimed in the same call.
async fn a_corrupt_row_is_parked_and_the_rest_of_the_batch_is_claimed(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let bad = store
        .submit(&registry, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let good = store
        .submit(&registry, &purchase("purchase", 2, 1))
        .await
        .unwrap()
        .id;
    db.execute(&format!(
        "UPDATE workflows SET input = 'not json' WHERE id = '{bad}'"
    ))
    .await;
    make_due(&db, bad).await; // first in claim order
    let batch = within("claim", store.claim(&registry, "w", 8, 30_000))
        .await
        .unwrap();
    assert_eq!(
        batch.iter().map(|c| c.key.workflow_id).collect::<Vec<_>>(),
        vec![good]
    );
    let parked = store.get(bad).await;
    // The workflow's own input is what is corrupt, so read the columns that still parse.
    assert!(parked.is_err(), "the corrupt input still cannot be read");
    let status = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM workflows WHERE id = '{bad}' AND status = 'failed' \
             AND parked_reason LIKE '%could not be claimed%workflow input%'"
        ))
        .await;
    assert_eq!(status, 1, "parked, with the reason");
    let activity = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM workflows WHERE id = '{bad}' AND run_at IS NULL \
             AND lease_owner IS NULL AND error_code = 'UNPROCESSABLE'"
        ))
        .await;
    assert_eq!(activity, 1, "no longer due");
    assert!(store
        .claim(&registry, "w2", 8, 30_000)
        .await
        .unwrap()
        .is_empty());
}

/// Defect 2: keys that differ only in letter case or trailing spaces are different keys;
/// many concurrent submits of such keys all answer, and a normal submit answers after them.
async fn idempotency_keys_are_byte_exact_and_never_hang_submits(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let variants = [
        "Order-X1",
        "order-x1",
        "ORDER-X1",
        "Order-X1 ",
        "Order-X1  ",
    ];
    let keyed = |key: &str, user: i64| NewWorkflow {
        idempotency_key: Some(key.to_owned()),
        submitted_by: None,
        ..purchase("purchase", user, 1)
    };
    let mut first = Vec::new();
    for key in variants {
        let s = within("submit", store.submit(&registry, &keyed(key, 1)))
            .await
            .unwrap();
        assert!(s.created, "`{key}` is a new key");
        first.push(s.id);
    }
    assert_eq!(first.iter().collect::<HashSet<_>>().len(), variants.len());
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (store, registry) = (store.clone(), registry.clone());
            let key = format!("{}-{}", variants[i % variants.len()], i % 7);
            let key = match i % 3 {
                0 => key.to_uppercase(),
                1 => key.to_lowercase(),
                _ => format!("{key} "),
            };
            tokio::spawn(async move { store.submit(&registry, &keyed(&key, 1)).await })
        })
        .collect();
    let mut ids_by_key = std::collections::HashMap::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let s = within("concurrent submit", t).await.unwrap().unwrap();
        ids_by_key.entry(s.id).or_insert(i);
    }
    let fresh = within(
        "a normal submit after them",
        store.submit(&registry, &keyed("fresh-key", 2)),
    )
    .await
    .unwrap();
    assert!(fresh.created);
    for (key, id) in variants.iter().zip(&first) {
        let again = store.submit(&registry, &keyed(key, 1)).await.unwrap();
        assert_eq!((again.id, again.created), (*id, false), "`{key}` again");
        let wf = store.get(*id).await.unwrap().unwrap();
        assert_eq!(
            wf.idempotency_key.as_deref(),
            Some(*key),
            "stored byte-exact"
        );
    }
    let distinct = db
        .scalar("SELECT COUNT(DISTINCT idempotency_key) FROM workflows")
        .await;
    assert_eq!(
        distinct as usize,
        variants.len() + 1 + ids_by_key.len(),
        "one workflow per byte-exact key"
    );
}

fn completion(c: &Claimed, outcome: Outcome) -> Completion {
    Completion {
        claimed: c.clone(),
        outcome,
        request: None,
        executed: true,
        jitter: 0.0,
    }
}

/// Defect 5: in one batch, a 200-character error code and a multi-megabyte answer next to
/// healthy completions: the healthy ones move on at their first attempt, the code is cut to
/// the column, the oversized answer becomes a retryable RESPONSE_TOO_LARGE.
async fn one_bad_completion_costs_only_itself(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let mut ids = Vec::new();
    for user in 1..=4 {
        ids.push(
            store
                .submit(&registry, &purchase("purchase", user, 1))
                .await
                .unwrap()
                .id,
        );
    }
    let mut batch = store.claim(&registry, "w", 8, 30_000).await.unwrap();
    batch.sort_by_key(|c| ids.iter().position(|id| *id == c.key.workflow_id));
    let long_code = "E".repeat(200);
    let huge = json!({"blob": "x".repeat(3 * 1024 * 1024)});
    let completions = vec![
        completion(&batch[0], Outcome::Success(json!({"amount": 100}))),
        completion(
            &batch[1],
            Outcome::BusinessError(ActivityError::new(&long_code, "refused")),
        ),
        completion(&batch[2], Outcome::Success(huge)),
        completion(&batch[3], Outcome::Success(json!({"amount": 100}))),
    ];
    let done = within(
        "complete",
        store.complete(&registry, "w", Some(30_000), &completions),
    )
    .await
    .unwrap();
    let next: HashSet<WorkflowId> = done.next.iter().map(|c| c.key.workflow_id).collect();
    assert_eq!(next, HashSet::from([ids[0], ids[3]]), "healthy ones go on");
    for id in [ids[0], ids[3]] {
        let wf = store.get(id).await.unwrap().unwrap();
        assert_eq!(wf.activities[0].attempts.len(), 1, "first attempt");
        assert_eq!(wf.activities[0].status, ActivityStatus::Succeeded);
    }
    let refused = store.get(ids[1]).await.unwrap().unwrap();
    assert_eq!(refused.status, WorkflowStatus::Compensated);
    assert_eq!(refused.error.unwrap().code, "E".repeat(64));
    let big = store.get(ids[2]).await.unwrap().unwrap();
    let act = &big.activities[0];
    assert_eq!(
        (
            act.status,
            act.error.as_ref().map(|e| e.code.as_str()),
            big.outputs.len()
        ),
        (ActivityStatus::Ready, Some("RESPONSE_TOO_LARGE"), 0),
        "the oversized answer is retried, not stored"
    );
}

/// Defect 5 (isolation): a completion whose definition the completing worker lacks is
/// parked with its workflow and a reason; the rest of the batch applies.
async fn a_completion_without_its_definition_is_parked_alone(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let lonely = store
        .submit(&registry, &purchase("purchase_fast", 1, 1))
        .await
        .unwrap()
        .id;
    let fine = store
        .submit(&registry, &purchase("purchase", 2, 1))
        .await
        .unwrap()
        .id;
    let batch = store.claim(&registry, "w", 8, 30_000).await.unwrap();
    assert_eq!(batch.len(), 2);
    let ok = Outcome::Success(json!({"amount": 100}));
    let completions: Vec<_> = batch.iter().map(|c| completion(c, ok.clone())).collect();
    let shipped = Registry::shipped(); // knows `purchase` only
    let done = store
        .complete(&shipped, "w", Some(30_000), &completions)
        .await
        .unwrap();
    assert_eq!(
        done.next
            .iter()
            .map(|c| c.key.workflow_id)
            .collect::<Vec<_>>(),
        vec![fine]
    );
    let parked = store.get(lonely).await.unwrap().unwrap();
    assert_eq!(parked.status, WorkflowStatus::Failed);
    let reason = parked.parked_reason.unwrap();
    assert!(
        reason.contains("could not be recorded") && reason.contains("purchase_fast"),
        "{reason}"
    );
    assert_eq!(
        store.retry(&registry, lonely, None).await.unwrap(),
        WorkflowStatus::Running,
        "an operator can retry it with a worker that has the definition"
    );
}

/// Defect 6: after an operator retry, a step that keeps failing transiently gets the whole
/// policy again (3 attempts, 100 ms then 200 ms apart) before it parks once more.
async fn an_operator_retry_gives_the_full_budget_with_the_policy_delays(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let id = store
        .submit(&registry, &purchase("purchase_fast", 1, 1))
        .await
        .unwrap()
        .id;
    let script = Arc::new(Script::default());
    for _ in 0..6 {
        script.then("/payments/confirm", transient());
    }
    let w = runner(&store, &registry, &script, "w");
    drive(&db, &w, id, 10).await;
    assert_eq!(
        store.get(id).await.unwrap().unwrap().status,
        WorkflowStatus::Failed
    );
    store.retry(&registry, id, None).await.unwrap();
    let mut delays_ms = Vec::new();
    for _ in 0..3 {
        w.run_once().await.unwrap();
        let wf = store.get(id).await.unwrap().unwrap();
        let pay = wf
            .activities
            .iter()
            .find(|a| a.name == "execute_payment")
            .unwrap();
        if let (Some(run_at), Some(last)) = (pay.run_at, pay.attempts.last()) {
            delays_ms.push((run_at - last.finished_at) / 1_000);
        }
        make_due(&db, id).await;
    }
    assert_eq!(
        delays_ms,
        vec![100, 200],
        "the policy's delays, from the start"
    );
    let wf = store.get(id).await.unwrap().unwrap();
    assert_eq!(wf.status, WorkflowStatus::Failed, "parked again");
    let pay = wf
        .activities
        .iter()
        .find(|a| a.name == "execute_payment")
        .unwrap();
    assert_eq!(
        (pay.attempt, pay.attempts.len()),
        (6, 6),
        "three before and three after"
    );
    assert!(
        wf.parked_reason.unwrap().contains(", 3 attempts"),
        "the reason counts the new budget"
    );
}

/// Defect 7: a worker claims only activities of the workflow types and versions it has
/// loaded; one that has them claims the rest, with no attempt spent by the others.
async fn a_worker_claims_only_the_types_and_versions_it_has(db: TestDb) {
    let store = store(&db).await;
    let mut newer = Registry::shipped();
    let v2 = include_str!("../../../workflows/purchase.toml").replace("version = 1", "version = 2");
    newer
        .insert(Definition::parse(Path::new("purchase_v2.toml"), &v2).unwrap())
        .unwrap();
    let full = registry();
    let v2_id = store
        .submit(&newer, &purchase("purchase", 1, 1))
        .await
        .unwrap()
        .id;
    let fast_id = store
        .submit(&full, &purchase("purchase_fast", 1, 1))
        .await
        .unwrap()
        .id;
    let old = Registry::shipped(); // purchase v1 only
    for _ in 0..3 {
        assert!(store
            .claim(&old, "old", 8, 30_000)
            .await
            .unwrap()
            .is_empty());
    }
    let by_newer = store.claim(&newer, "new", 8, 30_000).await.unwrap();
    assert_eq!(
        by_newer
            .iter()
            .map(|c| (c.key.workflow_id, c.version, c.attempt))
            .collect::<Vec<_>>(),
        vec![(v2_id, 2, 1)]
    );
    let by_full = store.claim(&full, "full", 8, 30_000).await.unwrap();
    assert_eq!(
        by_full
            .iter()
            .map(|c| (c.key.workflow_id, c.attempt, c.key.kind))
            .collect::<Vec<_>>(),
        vec![(fast_id, 1, ActivityKind::Action)]
    );
}
