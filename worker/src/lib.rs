//! The stateless worker: a pool of claim loops ([`pool`]) that runs activities through the
//! HTTP executor ([`http`]) against the participant services.
//!
//! Holds no state of its own: everything it knows is in the saga database, so any number of
//! workers can run side by side and a killed one is replaced by starting another.

pub mod breaker;
pub mod http;
pub mod pool;
pub mod protect;
pub mod wake;

pub use http::{ClientTls, HttpExecutor, Services};
pub use pool::{run, PoolConfig, Totals};
pub use protect::{Protected, Protection};
pub use wake::Wake;

/// Every default of a worker in one place: the runner's (owned by the engine) and the pool's.
/// `sagaflow worker`'s flags and every caller that builds a worker's settings read these.
pub mod defaults {
    pub use crate::breaker::DEFAULT_BREAKER as BREAKER;
    pub use crate::pool::{
        DEFAULT_CONCURRENCY as CONCURRENCY, DEFAULT_DRAIN_TIMEOUT_MS as DRAIN_TIMEOUT_MS,
        DEFAULT_POLL_INTERVAL_MAX_MS as POLL_INTERVAL_MAX_MS,
        DEFAULT_POLL_INTERVAL_MIN_MS as POLL_INTERVAL_MIN_MS,
    };
    pub use crate::protect::DEFAULT_BULKHEAD as BULKHEAD;
    pub use engine::runner::{
        DEFAULT_CLAIM_BATCH as CLAIM_BATCH, DEFAULT_HEARTBEAT_MS as HEARTBEAT_MS,
        DEFAULT_LEASE_TTL_MS as LEASE_TTL_MS,
    };
}
