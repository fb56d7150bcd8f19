//! The Sagaflow engine: workflow definitions as data, the step journal with leases in SQL,
//! the pure decision of what runs next, and a way to run activities in process.
//!
//! Not the worker process (crate `worker`) and not the participant services (crate
//! `services`): the engine never knows a service, only the HTTP endpoints a definition names.

pub mod api;
pub mod definition;
#[cfg(test)]
mod docs;
pub mod metrics;
pub mod model;
pub mod outcome;
pub mod retry;
pub mod runner;
pub mod scheduler;
pub mod store;

pub use definition::{Definition, Registry};
pub use model::{ActivityError, ActivityKey, ActivityKind, Outcome, WorkflowId, WorkflowStatus};
pub use store::Store;
