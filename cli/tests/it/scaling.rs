//! `sagaflow bench scaling` end to end on SQLite, with tiny sweeps: two points of sagas in
//! flight in process, one point of the worker sweep with a server and a worker process. Its
//! results (scaling.json, scaling.png) hold every point. No timing assertions.

use sagaflow::bench_scaling::{execute, ScalingArgs};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_sweep_writes_every_point_and_the_chart() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("results"));
    let args = ScalingArgs::from_flags([
        "--clients",
        "2,4",
        "--workers",
        "1",
        "--workers-clients",
        "3",
        "--point-duration",
        "1s",
        "--topology",
        "in-process",
        "--participant",
        "lean",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--worker-bin",
        env!("CARGO_BIN_EXE_sagaflow"),
    ])
    .unwrap();
    let args = ScalingArgs {
        mysql_url: None,
        redis_url: None,
        ..args
    };
    let (dir, summary) = execute(args).await.expect("the sweep runs");
    assert_eq!(dir, out);
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("scaling.json")).unwrap()).unwrap();
    let clients: Vec<u64> = json["clients_sweep"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["clients"].as_u64().unwrap())
        .collect();
    assert_eq!(clients, [2, 4]);
    assert!(json["clients_sweep"][0]["workers"].is_null(), "in process");
    assert_eq!(json["workers_sweep"][0]["workers"], 1);
    assert_eq!(json["workers_sweep"][0]["clients"], 3);
    assert_eq!(json["participant"], "lean");
    for point in summary.clients_sweep.iter().chain(&summary.workers_sweep) {
        assert!(point.submitted > 0, "{point:?}");
        assert_eq!(point.completed, point.submitted, "{point:?}");
        assert!(point.throughput_per_s > 0.0 && point.latency_p99_ms >= point.latency_p50_ms);
    }
    let png = std::fs::read(out.join("scaling.png")).unwrap();
    assert!(png.len() > 1000 && png.starts_with(b"\x89PNG\r\n\x1a\n"));
}
