//! `sagaflow load` end to end: a short open-loop run against an in-process system on SQLite,
//! with a mix that includes every failure case, writes a complete results directory whose
//! numbers agree with each other and with the cases. No timing assertions.

use sagaflow::load::{execute, LoadArgs};
use serde_json::Value;
use std::path::Path;

const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// A light run (3 s at 10/s) ends every workflow as its case says, and summary.json,
/// workflows.csv, the charts and index.html agree.
#[tokio::test]
async fn a_light_run_writes_consistent_results() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("results");
    let args = LoadArgs::from_flags([
        "--profile",
        "light",
        "--rate",
        "10",
        "--duration",
        "3s",
        "--mix",
        "success=40,insufficient=20,out_of_stock=20,invalid_payment=20",
        "--buyers",
        "20",
        "--finish-timeout",
        "1m",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let args = LoadArgs {
        api: None,
        services: None,
        mysql_url: None,
        ..args
    };
    let finished = execute(args).await.expect("the load run succeeds");
    assert_eq!(finished.dir, out);

    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let profile = &summary["profiles"][0];
    assert_eq!(profile["name"], "light");
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    let submitted = n(profile, "submitted");
    assert!(submitted >= 10, "3 s at 10/s submits about 30: {submitted}");
    assert_eq!(n(profile, "submit_errors"), 0);
    assert_eq!(n(profile, "unfinished"), 0);
    assert_eq!(
        n(profile, "completed") + n(profile, "compensated") + n(profile, "failed"),
        submitted
    );
    assert_eq!(n(profile, "as_expected"), submitted, "{profile}");
    let by_case = &profile["by_case"];
    let case_total: u64 = by_case
        .as_object()
        .unwrap()
        .values()
        .map(|c| n(c, "submitted"))
        .sum();
    assert_eq!(case_total, submitted);
    assert_eq!(
        n(&by_case["success"], "completed"),
        n(&by_case["success"], "submitted")
    );
    for case in ["insufficient", "out_of_stock", "invalid_payment"] {
        if let Some(counts) = by_case.get(case) {
            assert_eq!(n(counts, "compensated"), n(counts, "submitted"), "{case}");
        }
    }
    let ratio = profile["success_ratio"].as_f64().unwrap();
    assert_eq!(ratio, n(profile, "completed") as f64 / submitted as f64);

    let csv = std::fs::read_to_string(out.join("workflows.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len() as u64, submitted);
    let outcomes: Vec<&str> = rows.iter().map(|r| r.split(',').nth(7).unwrap()).collect();
    let completed = outcomes.iter().filter(|o| **o == "completed").count() as u64;
    assert_eq!(completed, n(profile, "completed"));
    let mut ids: Vec<&str> = rows.iter().map(|r| r.split(',').nth(1).unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, submitted, "one row per workflow");

    for png in sagaflow::load::charts::FILES {
        assert_png(&out.join(png));
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    for png in sagaflow::load::charts::FILES {
        assert!(html.contains(png), "index.html shows {png}");
    }
    assert!(html.contains("<td>light</td>"));
    // CPU is read from /proc, so the run measured its cost: the cost chart is drawn and shown.
    assert!(profile["resources"]["cpu_ms_per_saga"].as_f64().unwrap() > 0.0);
    assert_png(&out.join(sagaflow::load::charts::COST_FILE));
    assert!(html.contains(sagaflow::load::charts::COST_FILE));
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 1000, "{} is too small", path.display());
    assert_eq!(bytes[..8], PNG_MAGIC, "{} is a PNG", path.display());
}
