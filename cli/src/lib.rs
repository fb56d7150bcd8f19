//! The `sagaflow` command as a library: the roles (`sagaflow-roles`) and the tools
//! (`sagaflow-tools`) under one name, so the end-to-end tests reach both by the paths they
//! always used (`sagaflow::dev`, `sagaflow::load`, …). The binary is a thin dispatcher.

pub use ::roles;
pub use roles::{demo, dev, duration, load_registry, open_store, telemetry};
pub use tools::{
    baseline, bench, bench_e2e, bench_scaling, chaos, counters, lean, load, participant, procs,
    reconcile,
};
