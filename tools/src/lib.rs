//! The tools of the `sagaflow` command: `load`, `chaos`, `bench`, `reconcile` and the
//! services' no-engine [`baseline`], with their helpers ([`procs`]). They depend on the roles
//! (`sagaflow-roles`: `dev` for a system in process, the worker's settings), never the other
//! way round, and they only touch scratch databases (recreated `sagaflow_load_*`,
//! `sagaflow_chaos_*`, `sagaflow_bench_*` databases, SQLite files, a private MariaDB).

pub mod baseline;
pub mod bench;
pub mod bench_e2e;
pub mod bench_scaling;
pub mod chaos;
pub mod counters;
pub mod lean;
pub mod load;
pub mod participant;
pub mod procs;
pub mod reconcile;
