//! The store test suite: every scenario runs on SQLite and on MariaDB (a fresh database per
//! test; MariaDB is required when `CI=true`).

mod support;

mod api;
mod bad_input;
mod cancelled;
mod claims;
mod compensation;
mod connections;
mod galera;
mod leases;
mod locks;
mod migration;
mod model;
mod parking;
mod regressions;
mod retries;
mod running;
mod submit;
