//! The pure core of Sagaflow: the engine's vocabulary ([`model`]), retry policies
//! ([`retry`]), workflow definitions and their templates ([`definition`]), the decision of
//! what runs next ([`scheduler`]), the classification of a participant's answer
//! ([`outcome`]) and what a completion writes ([`plan`]).
//!
//! No I/O, and the compiler keeps it so: this crate depends on no runtime, database, HTTP
//! or logging crate (only serde, serde_json, toml, thiserror and uuid), so nothing here can
//! open a file, a socket or a transaction. The engine (crate `engine`, the shell) reads the
//! state, calls these functions and writes their results; it re-exports every module under
//! its old path (`engine::model`, `engine::store::plan`, ...).

pub mod definition;
pub mod model;
pub mod outcome;
pub mod plan;
pub mod retry;
pub mod scheduler;

pub use definition::{Definition, Registry};
pub use model::{ActivityError, ActivityKey, ActivityKind, Outcome, WorkflowId, WorkflowStatus};
