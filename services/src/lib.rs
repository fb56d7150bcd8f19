//! The three TCC participants of the purchase saga (docs/services.md), one module each, each on
//! its own database: [`user`] (balances), [`payment`] (payments) and [`order`] (stock, quotes,
//! orders). Shared by them: the barrier and protocol ([`tcc`]), database plumbing ([`db`]),
//! HTTP plumbing ([`http`]), fault injection ([`faults`]) and metrics. Not the engine: this
//! crate depends on no workspace crate but the leaves `sqlerr` (sqlx only) and `httpguard`
//! (serving with timeouts and caps, shared with the API); the no-engine
//! baseline is `tools::baseline`.

mod app;
mod barrier;
pub mod db;
pub mod faults;
pub mod http;
pub mod migrations;
mod observe;
pub use observe::describe as describe_metrics;
pub mod order;
pub mod payment;
pub mod reconcile;
pub mod tcc;
pub mod user;

pub use app::{
    connect_and_migrate, router, run, spawn, AppState, Config, Error, Running, Service,
    DB_CONNECTIONS_MAX_DEFAULT,
};
