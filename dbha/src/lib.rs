//! One database reached through several nodes of a MariaDB Galera cluster (or one server),
//! shared by the engine and the services:
//! - [`Nodes`]: the multi-host URL `mysql://user:pw@host1:3311,host2:3312,host3:3313/db`;
//! - [`Failover`]: the node in use, checked (`wsrep_ready`, `wsrep_local_state`) and moved
//!   to the next synced node when it fails, and back to the preferred one when asked;
//! - [`retry`]: whole-transaction retries after conflicts and node failures, with
//!   exponential backoff and jitter.
//!
//! Metrics: `sagaflow_db_node_in_use{database,node}`, `sagaflow_db_failovers_total{database}`,
//! `sagaflow_db_retries_total{database,reason}`.

mod failover;
mod nodes;
pub mod retry;

pub use failover::{sync_state, Failover, SYNC_STATUS_SQL};
pub use nodes::{Nodes, UrlError};
