//! The stateless worker: a pool of claim loops ([`pool`]) that runs activities through the
//! HTTP executor ([`http`]) against the participant services.
//!
//! Holds no state of its own: everything it knows is in the saga database, so any number of
//! workers can run side by side and a killed one is replaced by starting another.

pub mod http;
pub mod pool;
pub mod wake;

pub use http::{HttpExecutor, Services};
pub use pool::{run, PoolConfig, Totals};
pub use wake::Wake;
