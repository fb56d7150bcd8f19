//! The decision "given this workflow and this activity outcome, what happens next", as a
//! pure function.
//!
//! No I/O and no clock: the store reads the state, calls [`decide`], and writes the result in
//! the same transaction. Everything the saga rules say lives here: forward on success,
//! compensate in reverse order before the pivot, retry with backoff, keep pushing forward
//! after the pivot, park as `failed` when a must-succeed activity runs out of budget.

use crate::definition::Definition;
use crate::model::{ActivityKind, ActivityStatus, Outcome, WorkflowStatus};

/// What happened to the activity being decided on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An attempt finished (or its lease expired: a retryable outcome).
    Finished(Outcome),
    /// A user aborted the workflow while this action waited to run.
    Aborted,
}

/// The activity being decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub step: u32,
    pub kind: ActivityKind,
    /// Attempts made so far, this one included (an expired lease counts).
    pub attempt: u32,
    /// Attempts spent before the current budget began: 0, until an operator retries a
    /// parked workflow, which gives the activity the policy's full budget again on top of
    /// the attempts already made.
    pub budget_start: u32,
}

impl Activity {
    /// This attempt's number within the current budget (what the retry policy counts).
    fn in_budget(&self) -> u32 {
        self.attempt.saturating_sub(self.budget_start)
    }
}

/// What the engine does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run the action of this step.
    Next { step: u32 },
    /// Run the compensation of this step.
    Compensate { step: u32 },
    /// Try the same activity again after this delay.
    Retry { delay_ms: u64 },
    /// Every step succeeded.
    Complete,
    /// Every completed step has been compensated (possibly none needed it).
    Compensated,
    /// A must-succeed activity cannot go on: park the workflow as `failed` for an operator.
    Park { reason: String },
}

impl Decision {
    /// The workflow's status once this decision is applied.
    pub fn workflow_status(&self, current: ActivityKind) -> WorkflowStatus {
        match self {
            Decision::Next { .. } => WorkflowStatus::Running,
            Decision::Compensate { .. } => WorkflowStatus::Compensating,
            Decision::Retry { .. } if current == ActivityKind::Action => WorkflowStatus::Running,
            Decision::Retry { .. } => WorkflowStatus::Compensating,
            Decision::Complete => WorkflowStatus::Completed,
            Decision::Compensated => WorkflowStatus::Compensated,
            Decision::Park { .. } => WorkflowStatus::Failed,
        }
    }

    /// The decided-on activity's status once this decision is applied.
    pub fn activity_status(&self, event: &Event) -> ActivityStatus {
        match (self, event) {
            (Decision::Retry { .. }, _) => ActivityStatus::Ready,
            (_, Event::Finished(Outcome::Success(_))) => ActivityStatus::Succeeded,
            _ => ActivityStatus::Failed,
        }
    }
}

/// Decides what follows `event` on `activity` of a workflow of type `def`.
///
/// `abort_requested`: a user asked to stop the workflow; honoured while the workflow is still
/// before its pivot. `jitter` in `[0, 1)` spreads retry delays per the step's policy.
pub fn decide(
    def: &Definition,
    abort_requested: bool,
    activity: Activity,
    event: &Event,
    jitter: f64,
) -> Decision {
    match activity.kind {
        ActivityKind::Action => decide_action(def, abort_requested, activity, event, jitter),
        ActivityKind::Compensation => decide_compensation(def, activity, event, jitter),
    }
}

fn decide_action(
    def: &Definition,
    abort_requested: bool,
    act: Activity,
    event: &Event,
    jitter: f64,
) -> Decision {
    let step = def.step(act.step);
    let abort = abort_requested && !step.after_pivot;
    let outcome = match event {
        Event::Aborted => {
            assert!(
                !step.after_pivot,
                "an abort is never applied after the pivot"
            );
            // An earlier attempt may have taken effect: compensate this step too.
            return compensate_below(def, act.step + u32::from(act.attempt > 0));
        }
        Event::Finished(outcome) => outcome,
    };
    match outcome {
        Outcome::Success(_) if abort => compensate_below(def, act.step + 1),
        Outcome::Success(_) if act.step + 1 == def.step_count() => Decision::Complete,
        Outcome::Success(_) => Decision::Next { step: act.step + 1 },
        // The participant refused this attempt. When it was the first, nothing of this step
        // is left to undo. After an earlier attempt whose outcome is unknown (a timeout, an
        // expired lease), that attempt may still reach the participant and take effect: the
        // step's own compensation runs too (a TCC cancel also blocks a late try).
        Outcome::BusinessError(_) if !step.after_pivot => {
            compensate_below(def, act.step + u32::from(act.attempt > 1))
        }
        Outcome::BusinessError(err) => Decision::Park {
            reason: format!(
                "step `{}` was refused after the pivot: {}: {}",
                step.name, err.code, err.message
            ),
        },
        // The outcome is unknown: this step's own effect may stand, so undo it too.
        Outcome::Retryable(_) if abort => compensate_below(def, act.step + 1),
        Outcome::Retryable(err) if step.action_retry.allows_another(act.in_budget()) => {
            Decision::Retry {
                delay_ms: step.action_retry.delay_with_hint_ms(
                    act.in_budget(),
                    jitter,
                    err.retry_after_ms,
                ),
            }
        }
        Outcome::Retryable(_) if !step.after_pivot => compensate_below(def, act.step + 1),
        Outcome::Retryable(err) => Decision::Park {
            reason: format!(
                "step `{}` failed after the pivot, {} attempts: {}: {}",
                step.name,
                act.in_budget(),
                err.code,
                err.message
            ),
        },
    }
}

fn decide_compensation(def: &Definition, act: Activity, event: &Event, jitter: f64) -> Decision {
    let step = def.step(act.step);
    let Event::Finished(outcome) = event else {
        panic!("a compensation is never aborted: the workflow is already being undone");
    };
    match outcome {
        Outcome::Success(_) => compensate_below(def, act.step),
        Outcome::BusinessError(err) => Decision::Park {
            reason: format!(
                "compensation of `{}` was refused: {}: {}",
                step.name, err.code, err.message
            ),
        },
        Outcome::Retryable(err) if step.compensation_retry.allows_another(act.in_budget()) => {
            Decision::Retry {
                delay_ms: step.compensation_retry.delay_with_hint_ms(
                    act.in_budget(),
                    jitter,
                    err.retry_after_ms,
                ),
            }
        }
        Outcome::Retryable(err) => Decision::Park {
            reason: format!(
                "compensation of `{}` failed, {} attempts: {}: {}",
                step.name,
                act.in_budget(),
                err.code,
                err.message
            ),
        },
    }
}

/// Compensates the nearest step below `end` (exclusive) that has a compensation, or ends
/// the workflow as compensated when none is left.
fn compensate_below(def: &Definition, end: u32) -> Decision {
    (0..end)
        .rev()
        .find(|&i| def.step(i).compensation.is_some())
        .map_or(Decision::Compensated, |step| Decision::Compensate { step })
}

#[cfg(test)]
mod tests;
