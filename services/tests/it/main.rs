//! Integration tests of the participant services through their HTTP routers (`oneshot`), each
//! scenario on SQLite and on MariaDB.

mod admin;
mod concurrency;
mod connections;
mod faults;
mod hangups;
mod order;
mod payment;
mod protocol;
mod reworded;
mod startup;
mod support;
mod user;
