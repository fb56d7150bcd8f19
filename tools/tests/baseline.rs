//! The no-engine baseline runs end to end: three services over real HTTP on MariaDB.

use testkit::TestDb;
use tools::baseline::{self, BaselineConfig};

/// A small baseline completes every purchase, and the three ledgers reconcile with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_baseline_completes_and_reconciles() {
    // Probes the server the way every MariaDB test does (skipped when unreachable outside CI).
    let Some(_probe) = TestDb::mysql("bench_probe").await else {
        return;
    };
    let mut config = BaselineConfig::new(testkit::mysql_server_url());
    config.purchases = 200;
    config.clients = 8;
    config.users = 10;
    let report = baseline::baseline(&config).await.expect("baseline runs");
    assert_eq!(report.failed, 0, "{report}");
    assert!(report.reconciled, "{report}");
    assert!(report.latency_p50_ms > 0.0 && report.latency_p50_ms <= report.latency_max_ms);
}
