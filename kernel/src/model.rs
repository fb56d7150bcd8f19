//! The engine's vocabulary as types: workflow and activity statuses, activity kinds and
//! outcomes, and the keys that name journal rows.
//!
//! Pure data: no I/O, no clock. Times are microseconds since the Unix epoch read from the
//! database clock ([`Micros`]); the engine never compares them with the application's clock.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Microseconds since the Unix epoch, always read from the database's clock.
pub type Micros = i64;

/// A workflow's id (a UUID v7, so ids sort by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkflowId(pub uuid::Uuid);

impl WorkflowId {
    /// A new, time-ordered id.
    pub fn new() -> WorkflowId {
        WorkflowId(uuid::Uuid::now_v7())
    }
}

impl Default for WorkflowId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for WorkflowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl std::str::FromStr for WorkflowId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(WorkflowId)
    }
}

/// Generates `as_str` / `parse` for a fieldless enum stored as text in the database.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The name stored in the database and shown in the API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses a stored name; `None` for anything else.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// Where a workflow stands. `completed`, `compensated` and `failed` are terminal for the
    /// engine; an operator may retry a `failed` (parked) workflow.
    WorkflowStatus {
        /// Submitted, first activity not yet finished.
        Pending = "pending",
        /// Moving forward step by step.
        Running = "running",
        /// Undoing completed steps in reverse order.
        Compensating = "compensating",
        /// Every step succeeded.
        Completed = "completed",
        /// Every completed step was compensated.
        Compensated = "compensated",
        /// Parked: a compensation or post-pivot step exhausted its budget; needs an operator.
        Failed = "failed",
    }
}

impl WorkflowStatus {
    /// True when the engine will do nothing more on its own.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            WorkflowStatus::Completed | WorkflowStatus::Compensated | WorkflowStatus::Failed
        )
    }
}

text_enum! {
    /// Which half of a step an activity runs.
    ActivityKind {
        /// The step's forward action (for TCC: try or confirm).
        Action = "action",
        /// The step's undo (for TCC: cancel).
        Compensation = "compensation",
    }
}

text_enum! {
    /// Where an activity stands: `ready -> leased -> succeeded | ready (retry) | failed`.
    ActivityStatus {
        /// Due at `run_at`; any worker may claim it.
        Ready = "ready",
        /// Owned by one worker until `run_at` (the lease expiry).
        Leased = "leased",
        /// Finished with success.
        Succeeded = "succeeded",
        /// Finished without success and will not be retried.
        Failed = "failed",
    }
}

text_enum! {
    /// How one attempt ended, as recorded in the attempt history.
    AttemptOutcome {
        /// The participant answered with success.
        Succeeded = "succeeded",
        /// The participant refused for a business reason (not retried).
        BusinessError = "business_error",
        /// Timeout, connection error, 5xx: retried per the policy.
        RetryableError = "retryable_error",
        /// The worker holding the lease vanished; another worker reclaimed the activity.
        LeaseExpired = "lease_expired",
        /// A user aborted the workflow before this activity ran.
        Aborted = "aborted",
    }
}

/// The journal row's key: unique on (workflow, step index, kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActivityKey {
    pub workflow_id: WorkflowId,
    pub step: u32,
    pub kind: ActivityKind,
}

impl fmt::Display for ActivityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.workflow_id, self.step, self.kind)
    }
}

/// An error reported by a participant or by the transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityError {
    /// Stable, machine-readable code (`INSUFFICIENT_BALANCE`, `TIMEOUT`, `HTTP_503`, ...).
    pub code: String,
    /// Human-readable detail; never shown as the only source of truth.
    pub message: String,
    /// How long the participant asked to be left alone (`Retry-After` on a 429 or 503): the
    /// next attempt waits at least this long, within the policy's longest delay. Taken from
    /// the answer that just came in, never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ActivityError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> ActivityError {
        ActivityError {
            code: code.into(),
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The same error with the participant's `Retry-After` hint.
    pub fn with_retry_after_ms(mut self, ms: u64) -> ActivityError {
        self.retry_after_ms = Some(ms);
        self
    }
}

/// What one attempt of an activity produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The participant did it; its JSON answer becomes the step's output.
    Success(serde_json::Value),
    /// The participant refused for a business reason: never retried.
    BusinessError(ActivityError),
    /// It may work next time: timeouts, connection errors, 5xx, lost leases.
    Retryable(ActivityError),
}

impl Outcome {
    /// The attempt-history label of this outcome.
    pub fn attempt_outcome(&self) -> AttemptOutcome {
        match self {
            Outcome::Success(_) => AttemptOutcome::Succeeded,
            Outcome::BusinessError(_) => AttemptOutcome::BusinessError,
            Outcome::Retryable(_) => AttemptOutcome::RetryableError,
        }
    }

    /// The error carried by a failed outcome.
    pub fn error(&self) -> Option<&ActivityError> {
        match self {
            Outcome::Success(_) => None,
            Outcome::BusinessError(err) | Outcome::Retryable(err) => Some(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_enums_round_trip() {
        for status in [
            WorkflowStatus::Pending,
            WorkflowStatus::Running,
            WorkflowStatus::Compensating,
            WorkflowStatus::Completed,
            WorkflowStatus::Compensated,
            WorkflowStatus::Failed,
        ] {
            assert_eq!(WorkflowStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(
            ActivityKind::parse("compensation"),
            Some(ActivityKind::Compensation)
        );
        assert_eq!(
            ActivityStatus::parse("leased"),
            Some(ActivityStatus::Leased)
        );
        assert_eq!(ActivityStatus::parse("LEASED"), None);
    }

    #[test]
    fn only_the_three_end_states_are_terminal() {
        assert!(WorkflowStatus::Failed.is_terminal());
        assert!(!WorkflowStatus::Compensating.is_terminal());
        assert!(!WorkflowStatus::Pending.is_terminal());
    }
}
