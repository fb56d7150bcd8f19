//! Table-driven tests of [`plan`] over the shipped purchase workflow (steps 0 quote, 1-3
//! reservations with compensations, 3 = pivot, 4-6 confirms): each row is an activity, the
//! locked workflow and an event, and every value the completion writes.

use super::*;
use crate::definition::Registry;
use std::sync::Arc;

use ActivityKind::{Action as A, Compensation as C};
use ActivityStatus::{Failed as AFailed, Ready as AReady, Succeeded as ASucceeded};
use WorkflowStatus::{Compensated, Compensating, Completed, Failed, Running};

/// The database time of every completion here (1,000 s).
const NOW: Micros = 1_000_000_000;
/// One second after [`NOW`]: a first retry of the README policy.
const IN_1S: Micros = 1_001_000_000;
/// The expiry of the workflow lease the claimed activity holds (30 s left): the next
/// activity goes on under it.
const LEASED: Micros = 1_030_000_000;
const LEASE: Handoff = Handoff::Lease { ttl_ms: 30_000 };

fn purchase() -> Arc<Definition> {
    Registry::shipped()
        .latest("purchase")
        .expect("purchase ships")
        .clone()
}

fn ok() -> Event {
    Event::Finished(Outcome::Success(serde_json::json!({"amount": 100})))
}
fn business() -> Event {
    Event::Finished(Outcome::BusinessError(ActivityError::new(
        "OUT_OF_STOCK",
        "no",
    )))
}
fn transient() -> Event {
    Event::Finished(Outcome::Retryable(ActivityError::new("HTTP_503", "busy")))
}

/// One row: the activity (kind, step, attempt), the locked workflow (abort flag, its error
/// so far as code and step), the event and the handoff -> what is written.
struct Row {
    activity: (ActivityKind, u32, u32),
    abort: bool,
    prior_error: Option<(&'static str, i64)>,
    event: Event,
    handoff: Handoff,
    want: Writes,
}

/// What a plan writes, as the table states it.
#[derive(Debug, PartialEq)]
struct Writes {
    activity: ActivityStatus,
    run_at: Option<Micros>,
    finished_at: Option<Micros>,
    workflow: WorkflowStatus,
    /// The workflow's error code and failed step.
    error: Option<(String, i64)>,
    /// Words the parked reason must contain (`None`: not parked).
    parked: Option<Vec<&'static str>>,
    /// The workflow's current activity after the write.
    current: (u32, ActivityKind),
    /// The next activity's key (step, kind) and lease expiry.
    next: Option<(u32, ActivityKind, Micros)>,
}

/// A row with an unaborted workflow, no error so far and the next activity leased.
fn row(activity: (ActivityKind, u32, u32), event: Event, want: Writes) -> Row {
    Row {
        activity,
        abort: false,
        prior_error: None,
        event,
        handoff: LEASE,
        want,
    }
}

/// Writes of a finished activity (not retried), no error, not parked.
fn finished(
    activity: ActivityStatus,
    workflow: WorkflowStatus,
    current: (u32, ActivityKind),
) -> Writes {
    Writes {
        activity,
        run_at: None,
        finished_at: Some(NOW),
        workflow,
        error: None,
        parked: None,
        current,
        next: None,
    }
}

fn error(code: &str, step: i64) -> Option<(String, i64)> {
    Some((code.to_owned(), step))
}

fn rows() -> Vec<Row> {
    vec![
        // success moves forward, the next action leased to the same worker
        row(
            (A, 0, 1),
            ok(),
            Writes {
                next: Some((1, A, LEASED)),
                ..finished(ASucceeded, Running, (1, A))
            },
        ),
        // the last step completes: nothing follows
        row((A, 6, 1), ok(), finished(ASucceeded, Completed, (6, A))),
        // a retry: the activity is ready again in 1 s, not finished, no error yet
        row(
            (A, 1, 1),
            transient(),
            Writes {
                run_at: Some(IN_1S),
                finished_at: None,
                ..finished(AReady, Running, (1, A))
            },
        ),
        // a refusal before the pivot: the workflow's error, compensation of the step below
        row(
            (A, 2, 1),
            business(),
            Writes {
                error: error("OUT_OF_STOCK", 2),
                next: Some((1, C, LEASED)),
                ..finished(AFailed, Compensating, (1, C))
            },
        ),
        row(
            (A, 1, 1),
            business(),
            Writes {
                error: error("OUT_OF_STOCK", 1),
                ..finished(AFailed, Compensated, (1, A))
            },
        ),
        // a refusal after the pivot parks, naming the step and the error
        row(
            (A, 4, 1),
            business(),
            Writes {
                error: error("OUT_OF_STOCK", 4),
                parked: Some(vec!["`confirm_balance`", "OUT_OF_STOCK"]),
                ..finished(AFailed, Failed, (4, A))
            },
        ),
        // an exhausted budget after the pivot parks too
        row(
            (A, 5, 40),
            transient(),
            Writes {
                error: error("HTTP_503", 5),
                parked: Some(vec!["`execute_payment`", "40 attempts", "HTTP_503"]),
                ..finished(AFailed, Failed, (5, A))
            },
        ),
        // compensations keep the workflow's first error
        Row {
            prior_error: Some(("OUT_OF_STOCK", 3)),
            ..row(
                (C, 2, 1),
                ok(),
                Writes {
                    error: error("OUT_OF_STOCK", 3),
                    next: Some((1, C, LEASED)),
                    ..finished(ASucceeded, Compensating, (1, C))
                },
            )
        },
        Row {
            prior_error: Some(("OUT_OF_STOCK", 3)),
            ..row(
                (C, 2, 1),
                transient(),
                Writes {
                    run_at: Some(IN_1S),
                    finished_at: None,
                    error: error("OUT_OF_STOCK", 3),
                    ..finished(AReady, Compensating, (2, C))
                },
            )
        },
        Row {
            prior_error: Some(("OUT_OF_STOCK", 3)),
            ..row(
                (C, 1, 1),
                business(),
                Writes {
                    error: error("OUT_OF_STOCK", 3),
                    parked: Some(vec!["compensation of `reserve_balance`", "OUT_OF_STOCK"]),
                    ..finished(AFailed, Failed, (1, C))
                },
            )
        },
        // a compensation with no error recorded does not make one
        row((C, 1, 1), ok(), finished(ASucceeded, Compensated, (1, C))),
        // an abort of a waiting action is its error; the step below is compensated
        Row {
            abort: true,
            ..row(
                (A, 2, 0),
                Event::Aborted,
                Writes {
                    error: error("ABORTED", 2),
                    next: Some((1, C, LEASED)),
                    ..finished(AFailed, Compensating, (1, C))
                },
            )
        },
        // an abort honoured after a success: the step itself is compensated
        Row {
            abort: true,
            ..row(
                (A, 2, 1),
                ok(),
                Writes {
                    error: error("ABORTED", 2),
                    next: Some((2, C, LEASED)),
                    ..finished(ASucceeded, Compensating, (2, C))
                },
            )
        },
        // a later failure of an action keeps the first error
        Row {
            prior_error: Some(("HTTP_503", 2)),
            ..row(
                (A, 1, 1),
                business(),
                Writes {
                    error: error("HTTP_503", 2),
                    ..finished(AFailed, Compensated, (1, A))
                },
            )
        },
        // handed out ready: due now, for any worker
        Row {
            handoff: Handoff::Ready,
            ..row(
                (A, 0, 1),
                ok(),
                Writes {
                    next: Some((1, A, NOW)),
                    ..finished(ASucceeded, Running, (1, A))
                },
            )
        },
    ]
}

fn claimed(def: &Definition, (kind, step, attempt): (ActivityKind, u32, u32)) -> Claimed {
    Claimed {
        key: ActivityKey {
            workflow_id: crate::model::WorkflowId(uuid::Uuid::nil()),
            step,
            kind,
        },
        name: def.step(step).name.clone(),
        workflow_type: def.name.clone(),
        version: def.version,
        attempt,
        max_attempts: def.policy(step, kind).max_attempts,
        epoch: 3,
        claimed_at: NOW - 1_000,
        lease_expires_at: NOW + 1_000,
        exhausted: false,
        reclaimed: false,
        input: Arc::new(serde_json::json!({})),
        outputs: Arc::new(BTreeMap::new()),
    }
}

fn locked(abort: bool, prior_error: Option<(&str, i64)>) -> Locked {
    Locked {
        created_at: 7,
        abort_requested: abort,
        error_code: prior_error.map(|(code, _)| code.to_owned()),
        error_message: prior_error.map(|_| "earlier".to_owned()),
        failed_step: prior_error.map(|(_, step)| step),
        status: if prior_error.is_some() {
            Compensating
        } else {
            Running
        },
        epoch: 3,
        lease_owner: Some("w".into()),
        lease_expires_at: Some(LEASED),
    }
}

/// The table's view of a plan; the parked reason's words are checked apart.
fn writes(p: &Plan, parked: Option<Vec<&'static str>>) -> Writes {
    let w = &p.workflow;
    Writes {
        activity: p.activity_status,
        run_at: p.run_at,
        finished_at: p.finished_at,
        workflow: w.status,
        error: w.error_code.clone().zip(w.failed_step),
        parked,
        current: w.current,
        next: p
            .next
            .as_ref()
            .map(|n| (n.key.step, n.key.kind, n.lease_expires_at)),
    }
}

#[test]
fn every_decision_writes_what_the_table_says() {
    let def = purchase();
    for (i, r) in rows().into_iter().enumerate() {
        let c = claimed(&def, r.activity);
        let wf = locked(r.abort, r.prior_error);
        let p = plan(&def, &wf, &c, &r.event, 0.5, NOW, r.handoff);
        let parked = r.want.parked.clone();
        match (&p.workflow.parked_reason, &parked) {
            (Some(reason), Some(words)) => {
                assert!(
                    words.iter().all(|w| reason.contains(w)),
                    "row {i}: {reason}"
                )
            }
            (None, None) => {}
            (got, _) => panic!("row {i}: parked reason {got:?}, want one with {parked:?}"),
        }
        assert_eq!(
            writes(&p, parked),
            r.want,
            "row {i}: {:?} {:?}",
            r.activity,
            r.event
        );
    }
}

#[test]
fn a_success_records_its_answer_and_passes_it_on() {
    let def = purchase();
    let c = claimed(&def, (A, 0, 1));
    let p = plan(&def, &locked(false, None), &c, &ok(), 0.5, NOW, LEASE);
    assert_eq!(p.response.as_deref(), Some(r#"{"amount":100}"#));
    assert_eq!(p.error, None);
    assert_eq!(
        p.workflow.outputs.as_deref(),
        Some(r#"{"quote":{"amount":100}}"#)
    );
    let next = p.next.expect("step 1 follows");
    assert_eq!(
        next.outputs.get("quote"),
        Some(&serde_json::json!({"amount": 100}))
    );
    assert_eq!((next.attempt, next.epoch, next.claimed_at), (1, 3, NOW));
    assert_eq!(next.name, "reserve_balance");
    assert_eq!(p.created_at, 7);
}

#[test]
fn a_failure_records_its_error_and_a_ready_handoff_starts_at_zero() {
    let def = purchase();
    let c = claimed(&def, (A, 2, 1));
    let p = plan(
        &def,
        &locked(false, None),
        &c,
        &business(),
        0.5,
        NOW,
        Handoff::Ready,
    );
    assert_eq!(p.error.map(|e| e.code), Some("OUT_OF_STOCK".to_owned()));
    assert_eq!(p.response, None);
    // Compensation starts and the lease is given back: the row is written, outputs whole.
    assert!(p.workflow.write && p.workflow.release);
    assert_eq!(p.workflow.outputs.as_deref(), Some("{}"));
    assert_eq!(p.workflow.run_at, Some(NOW));
    let next = p.next.expect("compensation of step 1 follows");
    assert_eq!((next.attempt, next.epoch), (0, 0));
}

/// What each decision writes besides the journal: the workflow row only on a transition,
/// history only for an attempt that did not finish its activity.
#[test]
fn only_transitions_write_the_workflow_row() {
    let def = purchase();
    let run = |activity, event: Event, abort: bool| {
        let c = claimed(&def, activity);
        plan(&def, &locked(abort, None), &c, &event, 0.5, NOW, LEASE)
    };
    // A success that hands on: one journal row, nothing else.
    let p = run((A, 1, 1), ok(), false);
    assert!(p.journal && !p.workflow.write);
    // The last step: journal row and the workflow's end, lease given back.
    let p = run((A, 6, 1), ok(), false);
    assert!(p.journal && p.workflow.write && p.workflow.release);
    assert_eq!((p.workflow.status, p.workflow.run_at), (Completed, None));
    // A retry: no journal row (the activity is not done); the row waits for its due time.
    let p = run((A, 2, 1), transient(), false);
    assert!(!p.journal && p.workflow.write && p.workflow.release);
    assert_eq!(p.workflow.run_at, Some(IN_1S));
    // Compensation starts under the same lease: the row changes status, the lease stays.
    let p = run((A, 2, 1), business(), false);
    assert!(p.journal && p.workflow.write && !p.workflow.release);
    assert_eq!(p.workflow.status, Compensating);
    // An abort seen at the end of a successful step: compensation starts, same lease.
    let p = run((A, 1, 1), ok(), true);
    assert!(p.journal && p.workflow.write && !p.workflow.release);
    // A compensation that hands on to the next one changes nothing on the row.
    let c = claimed(&def, (C, 2, 1));
    let wf = locked(false, Some(("OUT_OF_STOCK", 3)));
    let p = plan(&def, &wf, &c, &ok(), 0.5, NOW, LEASE);
    assert!(p.journal && !p.workflow.write);
    // A park after the pivot: no journal row; the row parks and gives the lease back.
    let p = run((A, 4, 1), business(), false);
    assert!(!p.journal && p.workflow.write && p.workflow.release);
    assert_eq!((p.workflow.status, p.workflow.run_at), (Failed, None));
    assert_eq!(p.journal_row.epoch, 3);
}

/// A lease with less than half its TTL left (or expired, with nobody taking over) is renewed
/// by the handoff, in the same write; one with more left is not touched.
#[test]
fn a_handoff_renews_a_lease_that_is_running_out() {
    let def = purchase();
    let c = claimed(&def, (A, 1, 1));
    for (expires, renewed) in [
        (Some(NOW - 5_000_000), true),
        (Some(NOW + 14_000_000), true),
        (Some(NOW + 15_000_000), false),
        (None, true),
    ] {
        let wf = Locked {
            lease_expires_at: expires,
            ..locked(false, None)
        };
        let p = plan(&def, &wf, &c, &ok(), 0.5, NOW, LEASE);
        let next = p.next.expect("step 2 follows");
        assert_eq!(p.workflow.write, renewed, "{expires:?}");
        assert!(!p.workflow.release);
        if renewed {
            assert_eq!(p.workflow.run_at, Some(NOW + 30_000_000));
            assert_eq!(next.lease_expires_at, NOW + 30_000_000);
        } else {
            assert_eq!(p.workflow.run_at, None);
            assert_eq!(next.lease_expires_at, expires.unwrap());
        }
    }
}

#[test]
fn an_operator_retry_counts_the_policy_from_its_budget() {
    let def = purchase();
    // Step 5 parked after 40 attempts; the retry raised the budget to 80.
    let c = Claimed {
        max_attempts: 80,
        ..claimed(&def, (A, 5, 41))
    };
    let p = plan(
        &def,
        &locked(false, None),
        &c,
        &transient(),
        0.5,
        NOW,
        LEASE,
    );
    assert_eq!(p.decision, Decision::Retry { delay_ms: 1_000 });
    assert_eq!(p.run_at, Some(IN_1S));
}
