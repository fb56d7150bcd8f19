//! The Sagaflow engine: workflow definitions as data, the step journal with leases in SQL,
//! the pure decision of what runs next, and a way to run activities in process.
//!
//! Not the worker process (crate `worker`) and not the participant services (crate
//! `services`): the engine never knows a service, only the HTTP endpoints a definition names.
//!
//! The pure parts (model, retry, definitions, scheduler, outcome, the completion plan) live
//! in crate `kernel`, which can do no I/O; this crate is the shell that reads and writes.

pub mod api;
pub mod definition;
#[cfg(test)]
mod docs;
pub mod metrics;
pub mod runner;
pub mod store;

/// The pure core (crate `kernel`), under the paths it had before it moved there.
pub use kernel::{model, outcome, retry, scheduler};

pub use definition::{Definition, Registry};
pub use model::{ActivityError, ActivityKey, ActivityKind, Outcome, WorkflowId, WorkflowStatus};
pub use store::Store;
