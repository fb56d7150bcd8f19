//! Table-driven tests of the decision function over the shipped purchase workflow:
//! steps 0 quote (no compensation), 1-3 reservations (compensable, 3 = pivot), 4-6 confirms.

use super::*;
use crate::definition::Registry;
use crate::model::ActivityError;
use std::sync::Arc;

use ActivityKind::{Action as A, Compensation as C};

fn purchase() -> Arc<Definition> {
    Registry::shipped().latest("purchase").unwrap().clone()
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
/// A 503 whose `Retry-After` asked for `ms`.
fn shed(ms: u64) -> Event {
    Event::Finished(Outcome::Retryable(
        ActivityError::new("OVERLOADED", "busy").with_retry_after_ms(ms),
    ))
}
/// An expected park: the reason must contain every one of `needles` (one per line here).
fn park(needles: &[&str]) -> Decision {
    Decision::Park {
        reason: needles.join("\n"),
    }
}

/// True when `got` is `expected`, a park's reason containing each line of the expected one.
fn matches(got: &Decision, expected: &Decision) -> bool {
    match (got, expected) {
        (Decision::Park { reason }, Decision::Park { reason: needles }) => {
            needles.lines().all(|needle| reason.contains(needle))
        }
        _ => got == expected,
    }
}

/// One row: activity (kind, step, attempt), abort flag, event -> decision, workflow status,
/// activity status.
type Row = (
    ActivityKind,
    u32,
    u32,
    bool,
    Event,
    Decision,
    WorkflowStatus,
    ActivityStatus,
);

fn rows() -> Vec<Row> {
    use ActivityStatus::{Failed as AFailed, Ready as AReady, Succeeded as ASucceeded};
    use Decision::{Compensate, Complete, Next, Retry};
    use WorkflowStatus::{Compensating, Completed, Failed, Running};
    const DONE: Decision = Decision::Compensated;
    const UNDONE: WorkflowStatus = WorkflowStatus::Compensated;
    vec![
        // success moves forward; the last step completes
        (A, 0, 1, false, ok(), Next { step: 1 }, Running, ASucceeded),
        (A, 3, 1, false, ok(), Next { step: 4 }, Running, ASucceeded),
        (A, 5, 1, false, ok(), Next { step: 6 }, Running, ASucceeded),
        (A, 6, 1, false, ok(), Complete, Completed, ASucceeded),
        // business error before the pivot: undo earlier compensable steps, not this one
        (A, 0, 1, false, business(), DONE, UNDONE, AFailed),
        (A, 1, 1, false, business(), DONE, UNDONE, AFailed),
        (
            A,
            2,
            1,
            false,
            business(),
            Compensate { step: 1 },
            Compensating,
            AFailed,
        ),
        (
            A,
            3,
            1,
            false,
            business(),
            Compensate { step: 2 },
            Compensating,
            AFailed,
        ),
        // business error after an earlier attempt of unknown outcome (a timeout, a lost
        // lease): that attempt may still take effect, so this step is compensated too
        (
            A,
            2,
            2,
            false,
            business(),
            Compensate { step: 2 },
            Compensating,
            AFailed,
        ),
        (
            A,
            1,
            3,
            false,
            business(),
            Compensate { step: 1 },
            Compensating,
            AFailed,
        ),
        (A, 0, 2, false, business(), DONE, UNDONE, AFailed),
        // business error after the pivot: inconsistency, park
        (
            A,
            4,
            1,
            false,
            business(),
            park(&["step `confirm_balance`", "refused", "OUT_OF_STOCK"]),
            Failed,
            AFailed,
        ),
        (
            A,
            6,
            1,
            false,
            business(),
            park(&["step `confirm_order`", "refused", "OUT_OF_STOCK"]),
            Failed,
            AFailed,
        ),
        // a participant's Retry-After stretches the backoff, within the policy's longest
        // delay (4 s before the pivot, 60 s after), and never shortens it
        (
            A,
            1,
            1,
            false,
            shed(3_000),
            Retry { delay_ms: 3_000 },
            Running,
            AReady,
        ),
        (
            A,
            1,
            1,
            false,
            shed(500),
            Retry { delay_ms: 1_000 },
            Running,
            AReady,
        ),
        (
            A,
            1,
            1,
            false,
            shed(120_000),
            Retry { delay_ms: 4_000 },
            Running,
            AReady,
        ),
        (
            A,
            4,
            1,
            false,
            shed(30_000),
            Retry { delay_ms: 30_000 },
            Running,
            AReady,
        ),
        (
            C,
            2,
            1,
            false,
            shed(120_000),
            Retry { delay_ms: 60_000 },
            Compensating,
            AReady,
        ),
        // retryable with budget left: back off 1 s, 2 s, 4 s (README policy)
        (
            A,
            1,
            1,
            false,
            transient(),
            Retry { delay_ms: 1_000 },
            Running,
            AReady,
        ),
        (
            A,
            1,
            2,
            false,
            transient(),
            Retry { delay_ms: 2_000 },
            Running,
            AReady,
        ),
        (
            A,
            3,
            3,
            false,
            transient(),
            Retry { delay_ms: 4_000 },
            Running,
            AReady,
        ),
        // retryable, budget spent before the pivot: compensate, this step included
        (A, 0, 4, false, transient(), DONE, UNDONE, AFailed),
        (
            A,
            1,
            4,
            false,
            transient(),
            Compensate { step: 1 },
            Compensating,
            AFailed,
        ),
        (
            A,
            3,
            4,
            false,
            transient(),
            Compensate { step: 3 },
            Compensating,
            AFailed,
        ),
        // after the pivot: persistent policy, capped, then park
        (
            A,
            4,
            1,
            false,
            transient(),
            Retry { delay_ms: 1_000 },
            Running,
            AReady,
        ),
        (
            A,
            4,
            10,
            false,
            transient(),
            Retry { delay_ms: 60_000 },
            Running,
            AReady,
        ),
        (
            A,
            5,
            39,
            false,
            transient(),
            Retry { delay_ms: 60_000 },
            Running,
            AReady,
        ),
        (
            A,
            5,
            40,
            false,
            transient(),
            park(&["step `execute_payment`", ", 40 attempts", "HTTP_503"]),
            Failed,
            AFailed,
        ),
        // abort before the pivot: compensate what may have taken effect
        (
            A,
            2,
            1,
            true,
            ok(),
            Compensate { step: 2 },
            Compensating,
            ASucceeded,
        ),
        (A, 0, 1, true, ok(), DONE, UNDONE, ASucceeded),
        (
            A,
            2,
            1,
            true,
            transient(),
            Compensate { step: 2 },
            Compensating,
            AFailed,
        ),
        (
            A,
            2,
            1,
            true,
            business(),
            Compensate { step: 1 },
            Compensating,
            AFailed,
        ),
        (
            A,
            2,
            0,
            true,
            Event::Aborted,
            Compensate { step: 1 },
            Compensating,
            AFailed,
        ),
        (
            A,
            2,
            2,
            true,
            Event::Aborted,
            Compensate { step: 2 },
            Compensating,
            AFailed,
        ),
        (A, 1, 0, true, Event::Aborted, DONE, UNDONE, AFailed),
        // abort after the pivot is not honoured: the workflow only moves forward
        (A, 4, 1, true, ok(), Next { step: 5 }, Running, ASucceeded),
        (A, 6, 1, true, ok(), Complete, Completed, ASucceeded),
        (
            A,
            4,
            1,
            true,
            transient(),
            Retry { delay_ms: 1_000 },
            Running,
            AReady,
        ),
        // compensation: success walks down in reverse order, skipping steps without one
        (
            C,
            3,
            1,
            false,
            ok(),
            Compensate { step: 2 },
            Compensating,
            ASucceeded,
        ),
        (
            C,
            2,
            1,
            true,
            ok(),
            Compensate { step: 1 },
            Compensating,
            ASucceeded,
        ),
        (C, 1, 1, false, ok(), DONE, UNDONE, ASucceeded),
        // compensation: retried persistently, then parked; a refusal parks at once
        (
            C,
            2,
            1,
            false,
            transient(),
            Retry { delay_ms: 1_000 },
            Compensating,
            AReady,
        ),
        (
            C,
            2,
            39,
            false,
            transient(),
            Retry { delay_ms: 60_000 },
            Compensating,
            AReady,
        ),
        (
            C,
            2,
            40,
            false,
            transient(),
            park(&[
                "compensation of `reserve_payment`",
                ", 40 attempts",
                "HTTP_503",
            ]),
            Failed,
            AFailed,
        ),
        (
            C,
            1,
            1,
            false,
            business(),
            park(&[
                "compensation of `reserve_balance`",
                "refused",
                "OUT_OF_STOCK",
            ]),
            Failed,
            AFailed,
        ),
    ]
}

#[test]
fn every_status_outcome_and_phase() {
    let def = purchase();
    for (i, row) in rows().into_iter().enumerate() {
        let (kind, step, attempt, abort, event, expected, status, activity_status) = row;
        let act = Activity {
            step,
            kind,
            attempt,
            budget_start: 0,
        };
        let got = decide(&def, abort, act, &event, 0.5);
        assert!(
            matches(&got, &expected),
            "row {i}: {kind} step {step} attempt {attempt} abort {abort} {event:?}: got {got:?}, want {expected:?}"
        );
        assert_eq!(
            got.workflow_status(kind),
            status,
            "row {i}: workflow status"
        );
        assert_eq!(
            got.activity_status(&event),
            activity_status,
            "row {i}: activity status"
        );
    }
}

#[test]
fn an_operator_retry_restarts_the_policy_after_the_spent_attempts() {
    let def = purchase();
    // Parked after 40 attempts of a post-pivot step; the operator's retry gives 40 more.
    let decisions: Vec<Decision> = [41, 42, 43, 79, 80]
        .into_iter()
        .map(|attempt| {
            let act = Activity {
                step: 5,
                kind: A,
                attempt,
                budget_start: 40,
            };
            decide(&def, false, act, &transient(), 0.0)
        })
        .collect();
    assert_eq!(
        decisions[..4],
        [
            Decision::Retry { delay_ms: 1_000 },
            Decision::Retry { delay_ms: 2_000 },
            Decision::Retry { delay_ms: 4_000 },
            Decision::Retry { delay_ms: 60_000 },
        ]
    );
    let Decision::Park { reason } = &decisions[4] else {
        panic!(
            "the new budget ends at 40 more attempts: {:?}",
            decisions[4]
        )
    };
    assert!(reason.contains(", 40 attempts"), "{reason}");
    let act = Activity {
        step: 2,
        kind: C,
        attempt: 45,
        budget_start: 40,
    };
    assert_eq!(
        decide(&def, false, act, &transient(), 0.0),
        Decision::Retry { delay_ms: 16_000 },
        "compensations too: the 5th attempt of the new budget"
    );
}

#[test]
fn park_reasons_name_the_step_and_the_error() {
    let def = purchase();
    let act = Activity {
        step: 5,
        kind: A,
        attempt: 40,
        budget_start: 0,
    };
    let Decision::Park { reason } = decide(&def, false, act, &transient(), 0.0) else {
        panic!("must park")
    };
    assert!(
        reason.contains("execute_payment") && reason.contains("HTTP_503") && reason.contains("40"),
        "{reason}"
    );
    let act = Activity {
        step: 1,
        kind: C,
        attempt: 1,
        budget_start: 0,
    };
    let Decision::Park { reason } = decide(&def, false, act, &business(), 0.0) else {
        panic!("must park")
    };
    assert!(
        reason.contains("compensation of `reserve_balance`") && reason.contains("OUT_OF_STOCK"),
        "{reason}"
    );
}

#[test]
fn a_post_pivot_step_is_never_compensated() {
    let def = purchase();
    for step in 0..def.step_count() {
        for event in [ok(), business(), transient()] {
            for kind in [A, C] {
                if kind == C && def.step(step).compensation.is_none() {
                    continue;
                }
                for abort in [false, true] {
                    let d = decide(
                        &def,
                        abort,
                        Activity {
                            step,
                            kind,
                            attempt: 40,
                            budget_start: 0,
                        },
                        &event,
                        0.0,
                    );
                    if let Decision::Compensate { step: target } = d {
                        assert!(
                            !def.step(target).after_pivot,
                            "compensating post-pivot step {target}"
                        );
                        assert!(target <= step, "compensation goes backwards only");
                    }
                }
            }
        }
    }
}

#[test]
#[should_panic(expected = "never aborted")]
fn aborting_a_compensation_is_a_bug() {
    decide(
        &purchase(),
        true,
        Activity {
            step: 1,
            kind: C,
            attempt: 0,
            budget_start: 0,
        },
        &Event::Aborted,
        0.0,
    );
}
