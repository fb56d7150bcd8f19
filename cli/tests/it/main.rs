//! End-to-end tests: the whole system — services, saga database, workers, HTTP API — on
//! 127.0.0.1 with real HTTP, on SQLite and on MariaDB; worker processes where a test kills
//! or stops one; over TLS with client certificates (`tls`).

mod support;

mod breaker;
mod cases;
mod compose;
mod console;
mod faults;
mod guard;
mod jwt;
mod load;
mod logs;
mod panics;
mod processes;
mod reconcile;
mod restart;
mod scaling;
mod timeouts;
mod tls;
mod wakeups;
mod zombie;
