//! `sagaflow load` end to end: a short open-loop run against an in-process system on SQLite,
//! with a mix that includes every failure case, writes a complete results directory whose
//! numbers agree with each other and with the cases; short closed-loop runs with the lean
//! participant and its baseline, on SQLite in process and on MariaDB with server and worker
//! processes, carry the participant, the counters and the engine's share into every
//! summary, and the lean ledger reconciles. No timing assertions.

use sagaflow::load::{execute, output, LoadArgs};
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
    // The in-process worker's breakers were read all along: one strip per service, closed.
    let breakers = &finished.summary.breakers;
    assert_eq!(breakers.len(), 3, "{breakers:?}");
    assert!(breakers.iter().all(|b| b.openings == 0 && b.open_s == 0.0));
    assert_png(&out.join(sagaflow::load::charts::BREAKERS_FILE));
    assert!(html.contains("all 3 stayed closed"), "{html}");
    let csv = std::fs::read_to_string(out.join("breakers.csv")).unwrap();
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",closed")), "{csv}");
}

/// With the payment service failing every call, the worker's breaker for payment opens and
/// stays open while the run lasts; the others stay closed. The report, the CSV and the
/// page say so, and the chart is drawn.
#[tokio::test]
async fn a_participant_failing_every_call_shows_its_breaker_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("results"));
    let args = LoadArgs::from_flags([
        "--profile",
        "light",
        "--rate",
        "10",
        "--duration",
        "3s",
        "--mix",
        "success=100",
        "--faults",
        "1",
        "--buyers",
        "20",
        // The sagas cannot finish while payment fails: read what they did after 3 s.
        "--finish-timeout",
        "3s",
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
    let breakers = &finished.summary.breakers;
    let of = |service: &str| breakers.iter().find(|b| b.service == service).unwrap();
    let payment = of("payment");
    assert!(payment.openings >= 1, "{breakers:?}");
    assert!(payment.open_s > 0.0, "{breakers:?}");
    for service in ["user", "order"] {
        assert_eq!(of(service).openings, 0, "{breakers:?}");
    }
    let csv = std::fs::read_to_string(out.join("breakers.csv")).unwrap();
    assert!(csv.contains(",payment,open"), "{csv}");
    assert!(!csv.contains(",user,open"), "{csv}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("worker 1, payment: opened"), "{html}");
    assert_png(&out.join(sagaflow::load::charts::BREAKERS_FILE));
}

/// Flags of a short closed-loop run with the lean participant and its baseline.
fn lean_flags<'a>(data: &'a str, out: &'a str, mix: &'a str) -> Vec<&'a str> {
    vec![
        "--profile",
        "heavy",
        "--concurrency",
        "8",
        "--duration",
        "3s",
        "--mix",
        mix,
        "--participant",
        "lean",
        "--baseline",
        "--baseline-purchases",
        "200",
        "--buyers",
        "20",
        "--finish-timeout",
        "1m",
        "--data-dir",
        data,
        "--out",
        out,
    ]
}

fn number(v: &Value, k: &str) -> f64 {
    v[k].as_f64()
        .unwrap_or_else(|| panic!("{k} is a number in {v}"))
}

/// What every lean run's results hold: the participant everywhere, every workflow as its
/// case says, a reconciled ledger and baseline, the engine's share, the charts shown.
fn assert_lean_results(out: &Path, summary: &output::RunSummary) -> Value {
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["participant"], "lean");
    let profile = &json["profiles"][0];
    let submitted = profile["submitted"].as_u64().unwrap();
    assert!(submitted > 0);
    assert_eq!(
        profile["as_expected"].as_u64().unwrap(),
        submitted,
        "{profile}"
    );
    let ledger = &json["participant_ledger"];
    assert_eq!(ledger["reconciled"], true, "{ledger}");
    assert_eq!(
        ledger["against_completed"], profile["completed"],
        "{ledger}"
    );
    assert_eq!(json["baseline"]["participant"], "lean");
    assert_eq!(json["baseline"]["reconciled"], true);
    assert_eq!(json["baseline"]["failed"], 0);
    let resources = &profile["resources"];
    assert!(number(resources, "cpu_ms_per_saga") > 0.0);
    assert!(number(resources, "load_cpu_ms_per_saga") > 0.0);
    assert_eq!(resources["sagas"].as_u64(), Some(submitted));
    assert!(number(&json["baseline_resources"], "cpu_ms_per_saga") > 0.0);
    let share = &profile["engine_share"];
    let expected = number(resources, "cpu_ms_per_saga")
        - number(&json["baseline_resources"], "cpu_ms_per_saga");
    assert!(
        (number(share, "cpu_ms_per_saga") - expected).abs() < 1e-9,
        "{share}"
    );
    for png in sagaflow::load::charts::FILES.iter().chain(&[
        sagaflow::load::charts::COST_FILE,
        sagaflow::load::charts::SHARE_FILE,
    ]) {
        assert_png(&out.join(png));
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains("participant lean"),
        "index.html names the participant"
    );
    assert!(html.contains(sagaflow::load::charts::SHARE_FILE));
    assert!(
        html.contains("heavy: engine's share"),
        "index.html shows the share"
    );
    let printed = output::table(summary);
    assert!(printed.contains("participant lean"), "{printed}");
    assert!(printed.contains("heavy: engine's share"), "{printed}");
    assert!(printed.contains("lean ledger: reconciled"), "{printed}");
    json
}

/// With the lean participant on SQLite, in process, every case ends as it must, the ledger
/// reconciles, and the summaries carry the participant, CPU and the engine's share (no
/// MariaDB counters on SQLite).
#[tokio::test]
async fn a_lean_run_on_sqlite_reports_the_participant_and_the_engine_s_share() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("results"));
    let (data_s, out_s) = (data.to_str().unwrap(), out.to_str().unwrap());
    let mix = "success=70,insufficient=10,out_of_stock=10,invalid_payment=10";
    let args = LoadArgs::from_flags(lean_flags(data_s, out_s, mix)).unwrap();
    let args = LoadArgs {
        api: None,
        services: None,
        mysql_url: None,
        ..args
    };
    let finished = execute(args).await.expect("the load run succeeds");
    let json = assert_lean_results(&out, &finished.summary);
    let profile = &json["profiles"][0];
    assert!(
        profile["resources"]["statements_per_saga"].is_null(),
        "SQLite: no server counters"
    );
    assert!(profile["engine_share"]["statements_per_saga"].is_null());
    assert!(
        profile["resources"]["server_cpu_ms_per_saga"].is_null(),
        "in process: no server"
    );
}

/// With the lean participant on MariaDB, a server process and a worker process, the
/// summaries carry every counter per saga and per purchase, and the engine's share of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lean_run_on_mariadb_with_processes_counts_rows_reads_statements_and_commits() {
    let Some(probe) = testkit::TestDb::mysql("load_lean").await else {
        return;
    };
    let server = testkit::mysql_server_url();
    // Short: the baseline's databases append `_baseline_lean_<12 hex>` (64 characters at most).
    let name = probe.url.rsplit('/').next().unwrap();
    let prefix = format!("t_ll_{}", &name[name.len() - 12..]);
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("results"));
    let (data_s, out_s) = (data.to_str().unwrap(), out.to_str().unwrap());
    let mut flags = lean_flags(data_s, out_s, "success=100");
    flags.extend([
        "--mysql-url",
        &server,
        "--topology",
        "processes",
        "--workers",
        "1",
        "--worker-bin",
        env!("CARGO_BIN_EXE_sagaflow"),
        "--database-prefix",
        &prefix,
    ]);
    let args = LoadArgs::from_flags(flags).unwrap();
    let args = LoadArgs {
        api: None,
        services: None,
        redis_url: None,
        ..args
    };
    let finished = execute(args).await;
    for name in ["saga", "lean"] {
        let database = format!("{prefix}_{name}");
        let dropped = sagaflow::procs::drop_mysql_database(&server, &database).await;
        dropped.expect("drop the run's database");
    }
    let finished = finished.expect("the load run succeeds");
    let json = assert_lean_results(&out, &finished.summary);
    let profile = &json["profiles"][0];
    assert_eq!(profile["completed"], profile["submitted"]);
    // The worker process's breakers were read over HTTP from its metrics endpoint.
    let breakers = &finished.summary.breakers;
    assert_eq!(breakers.len(), 3, "{breakers:?}");
    assert!(breakers
        .iter()
        .all(|b| b.worker == "worker 1" && b.openings == 0));
    for figures in [&profile["resources"], &json["baseline_resources"]] {
        for counter in [
            "statements_per_saga",
            "commits_per_saga",
            "rows_written_per_saga",
            "index_reads_per_saga",
        ] {
            assert!(number(figures, counter) > 0.0, "{counter} in {figures}");
        }
    }
    let resources = &profile["resources"];
    assert!(number(resources, "server_cpu_ms_per_saga") >= 0.0);
    assert!(number(resources, "worker_cpu_ms_per_saga") > 0.0);
    let share = &profile["engine_share"];
    for counter in [
        "statements_per_saga",
        "rows_written_per_saga",
        "worker_cpu_ms_per_saga",
    ] {
        assert!(share[counter].is_number(), "{counter} in {share}");
    }
    assert_eq!(
        number(share, "worker_cpu_ms_per_saga"),
        number(resources, "worker_cpu_ms_per_saga"),
        "the baseline has no workers"
    );
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 1000, "{} is too small", path.display());
    assert_eq!(bytes[..8], PNG_MAGIC, "{} is a PNG", path.display());
}
