//! The engine's own share of a saga's cost: what a profile cost per saga minus what the
//! no-engine baseline of the same run cost per purchase, counter by counter and process by
//! process. The baseline makes the participants' calls without an engine, so what is left
//! is what the engine added (its API, its workers, its journal in MariaDB, and the extra
//! HTTP the load generator does to reach it). Pure: no I/O.

use super::resources::Usage;
use serde::Serialize;

/// Engine run per saga minus baseline per purchase. A figure is `None` when either side could
/// not measure it; a process the baseline does not have (the server, the workers) counts 0
/// there. A share can be negative: a figure the engine run spent less of than the baseline
/// (noise, or fixed costs spread over more sagas).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Share {
    pub rows_written_per_saga: Option<f64>,
    pub index_reads_per_saga: Option<f64>,
    pub statements_per_saga: Option<f64>,
    pub commits_per_saga: Option<f64>,
    /// Every sagaflow process together (load, server, workers).
    pub cpu_ms_per_saga: f64,
    /// This process: the load generator and the participants (and, in process, the engine).
    pub load_cpu_ms_per_saga: f64,
    pub server_cpu_ms_per_saga: Option<f64>,
    pub worker_cpu_ms_per_saga: Option<f64>,
    pub mariadb_cpu_ms_per_saga: Option<f64>,
}

/// `engine - baseline`, figure by figure.
pub fn share(engine: &Usage, baseline: &Usage) -> Share {
    let both = |e: Option<f64>, b: Option<f64>| e.zip(b).map(|(e, b)| e - b);
    // The baseline has no server or worker process: all of theirs is the engine's.
    let engine_only = |e: Option<f64>, b: Option<f64>| e.map(|e| e - b.unwrap_or(0.0));
    Share {
        rows_written_per_saga: both(engine.rows_written_per_saga, baseline.rows_written_per_saga),
        index_reads_per_saga: both(engine.index_reads_per_saga, baseline.index_reads_per_saga),
        statements_per_saga: both(engine.statements_per_saga, baseline.statements_per_saga),
        commits_per_saga: both(engine.commits_per_saga, baseline.commits_per_saga),
        cpu_ms_per_saga: engine.cpu_ms_per_saga - baseline.cpu_ms_per_saga,
        load_cpu_ms_per_saga: engine.load_cpu_ms_per_saga - baseline.load_cpu_ms_per_saga,
        server_cpu_ms_per_saga: engine_only(
            engine.server_cpu_ms_per_saga,
            baseline.server_cpu_ms_per_saga,
        ),
        worker_cpu_ms_per_saga: engine_only(
            engine.worker_cpu_ms_per_saga,
            baseline.worker_cpu_ms_per_saga,
        ),
        mariadb_cpu_ms_per_saga: both(
            engine.mariadb_cpu_ms_per_saga,
            baseline.mariadb_cpu_ms_per_saga,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(load: f64, server: Option<f64>, workers: Option<f64>, db: Option<f64>) -> Usage {
        let counters = db.map(|_| 1.0);
        Usage {
            sagas: 10,
            cpu_ms_per_saga: load + server.unwrap_or(0.0) + workers.unwrap_or(0.0),
            load_cpu_ms_per_saga: load,
            server_cpu_ms_per_saga: server,
            worker_cpu_ms_per_saga: workers,
            mariadb_cpu_ms_per_saga: db,
            commits_per_saga: counters.map(|c| c * 6.0),
            statements_per_saga: counters.map(|c| c * 33.0),
            rows_written_per_saga: counters.map(|c| c * 20.0),
            index_reads_per_saga: counters.map(|c| c * 40.0),
            process_rss_max_mib: 50.0,
            worker_rss_max_mib: workers.map(|_| 20.0),
            other_databases: Vec::new(),
        }
    }

    #[test]
    fn the_share_is_the_engine_run_minus_the_baseline_figure_by_figure() {
        let mut engine = usage(3.0, Some(1.5), Some(2.0), Some(9.0));
        engine.commits_per_saga = Some(7.5);
        engine.statements_per_saga = Some(40.0);
        engine.rows_written_per_saga = Some(52.0);
        engine.index_reads_per_saga = Some(30.0);
        let baseline = usage(2.5, None, None, Some(4.0));
        let s = share(&engine, &baseline);
        assert_eq!(s.commits_per_saga, Some(1.5));
        assert_eq!(s.statements_per_saga, Some(7.0));
        assert_eq!(s.rows_written_per_saga, Some(32.0));
        assert_eq!(
            s.index_reads_per_saga,
            Some(-10.0),
            "a share may be negative"
        );
        assert_eq!(s.load_cpu_ms_per_saga, 0.5);
        assert_eq!(
            s.server_cpu_ms_per_saga,
            Some(1.5),
            "the baseline has no server"
        );
        assert_eq!(s.worker_cpu_ms_per_saga, Some(2.0), "nor workers");
        assert_eq!(s.mariadb_cpu_ms_per_saga, Some(5.0));
        assert_eq!(s.cpu_ms_per_saga, 6.5 - 2.5);
    }

    #[test]
    fn figures_one_side_could_not_measure_stay_unknown() {
        // SQLite: no MariaDB counters on either side; in process: no server or workers.
        let engine = usage(8.0, None, None, None);
        let baseline = usage(3.0, None, None, Some(4.0));
        let s = share(&engine, &baseline);
        assert_eq!(s.statements_per_saga, None);
        assert_eq!(s.mariadb_cpu_ms_per_saga, None);
        assert_eq!(s.server_cpu_ms_per_saga, None);
        assert_eq!(s.worker_cpu_ms_per_saga, None);
        assert_eq!(s.load_cpu_ms_per_saga, 5.0);
    }
}
