//! TLS end to end, with real processes: the three participant services serving HTTPS and
//! requiring a client certificate of the test CA (`--tls-client-ca`), a server serving HTTPS
//! with a bearer token, a worker trusting the CA (`--participant-ca`) and presenting its client
//! certificate; certificates made at run time (`testkit::certs`). The README cases end as in
//! the plain run, through `roles::client` and through `sagaflow demo --api https://…`; and
//! what must be refused is: plain HTTP to the TLS API, a client (or `sagaflow probe`) trusting
//! another CA, and a worker without a client certificate (its calls never reach a service).

use crate::support::*;
use sagaflow::demo;
use sagaflow::roles::client::{api_client, api_client_builder};
use serde_json::{json, Value};
use services::Service;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use testkit::certs::Pki;
use worker::Services;

testkit::backend_tests!(
    the_readme_cases_end_as_the_readme_says_over_tls_with_client_certificates,
    plain_http_a_wrong_ca_and_a_worker_without_a_client_certificate_are_refused
);

const TOKEN: &str = "tls-test-token";

/// A free TCP port on 127.0.0.1 (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `sagaflow ARGS` as a child process, killed when dropped.
fn sagaflow(args: &[&str]) -> WorkerProcess {
    let child = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the sagaflow binary runs");
    WorkerProcess(child)
}

/// Services and server as processes, all HTTPS; no worker yet.
struct TlsSystem {
    pki: Pki,
    _processes: Vec<WorkerProcess>,
    services: Services,
    api: String,
    /// Trusts the test CA, sends the token and presents the client certificate: reads the
    /// API and the services' admin endpoints.
    client: reqwest::Client,
}

impl TlsSystem {
    async fn start(dbs: &Databases) -> TlsSystem {
        let pki = Pki::new();
        let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
        let (cert, key, ca) = (path(&pki.server.cert), path(&pki.server.key), path(&pki.ca));
        let mut processes = Vec::new();
        let mut services = Services::default();
        for (service, db) in [
            (Service::User, &dbs.user),
            (Service::Payment, &dbs.payment),
            (Service::Order, &dbs.order),
        ] {
            let listen = format!("127.0.0.1:{}", free_port());
            processes.push(sagaflow(&[
                "service",
                service.name(),
                "--database-url",
                &db.url,
                "--listen",
                &listen,
                "--admin",
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--tls-client-ca",
                &ca,
            ]));
            services.insert(service.name(), format!("https://{listen}"));
        }
        open(dbs).await; // the saga database, migrated (`server` does not migrate)
        let listen = format!("127.0.0.1:{}", free_port());
        processes.push(sagaflow(&[
            "server",
            "--database-url",
            &dbs.saga.url,
            "--listen",
            &listen,
            "--api-tokens",
            TOKEN,
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ]));
        let mut identity = std::fs::read(&pki.client.cert).unwrap();
        identity.extend(std::fs::read(&pki.client.key).unwrap());
        let client = api_client_builder(Some(TOKEN), Some(&pki.ca))
            .unwrap()
            .identity(reqwest::Identity::from_pem(&identity).unwrap())
            .build()
            .unwrap();
        let system = TlsSystem {
            pki,
            _processes: processes,
            services,
            api: format!("https://{listen}"),
            client,
        };
        let mut bases: Vec<String> = system.services.names().map(|n| system.url(n)).collect();
        bases.push(system.api.clone());
        for base in bases {
            let client = &system.client;
            eventually(30, &format!("{base}/healthz over TLS"), || async {
                let response = client.get(format!("{base}/healthz")).send().await.ok()?;
                response.status().is_success().then_some(())
            })
            .await;
        }
        system
    }

    fn url(&self, service: &str) -> String {
        self.services.get(service).unwrap().to_owned()
    }

    fn services_flag(&self) -> String {
        [Service::User, Service::Payment, Service::Order]
            .map(|s| format!("{}={}", s.name(), self.url(s.name())))
            .join(",")
    }

    /// A worker process trusting the test CA, with the client certificate when `with_cert`.
    fn worker(&self, dbs: &Databases, id: &str, with_cert: bool) -> WorkerProcess {
        let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
        let mut extra = vec!["--participant-ca".to_owned(), path(&self.pki.ca)];
        if with_cert {
            extra.extend([
                "--participant-cert".to_owned(),
                path(&self.pki.client.cert),
                "--participant-key".to_owned(),
                path(&self.pki.client.key),
            ]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        spawn_worker(&dbs.saga.url, &self.services_flag(), id, &extra)
    }

    async fn admin(&self, service: Service, path: &str) -> Value {
        let url = format!("{}{path}", self.url(service.name()));
        let response = self.client.get(&url).send().await;
        let response = response.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        response.json().await.expect("JSON")
    }

    /// Participant requests the three services have received (`/admin/faults/counts`).
    async fn requests_received(&self) -> u64 {
        let mut total = 0;
        for service in Service::ALL {
            let counts = self.admin(service, "/admin/faults/counts").await;
            total += counts["requests"].as_u64().expect("a request count");
        }
        total
    }
}

/// The cases test (`cases.rs`) over TLS: the same outcomes, compensations, balances, stock
/// and ledgers; then `sagaflow demo --api https://… --api-ca … --check` runs the cases again
/// through its own client (the second round ends the same way: see the assertions).
async fn the_readme_cases_end_as_the_readme_says_over_tls_with_client_certificates(db: TestDb) {
    let dbs = Databases::fresh(db).await;
    let system = TlsSystem::start(&dbs).await;
    let _worker = system.worker(&dbs, "tls-worker", true);
    let rows = demo::run_cases(&system.client, &system.api, Some(&system.services))
        .await
        .unwrap();
    let summaries: Vec<String> = rows.iter().map(|r| r.summary()).collect();
    let expected: Vec<String> = demo::CASES.iter().map(|c| c.expected.to_owned()).collect();
    assert_eq!(summaries, expected);
    let comps: Vec<Vec<String>> = rows.iter().map(|r| r.compensations.clone()).collect();
    assert_eq!(
        comps,
        [
            vec![],
            vec![],
            vec!["reserve_payment".to_owned(), "reserve_balance".into()],
            vec!["reserve_balance".to_owned()]
        ]
    );
    let balances: Vec<_> = rows.iter().map(|r| r.balance.unwrap()).collect();
    assert_eq!(
        balances,
        [(1000, 900), (500, 500), (2000, 2000), (900, 900)]
    );
    let stock: Vec<_> = rows.iter().map(|r| r.stock.unwrap()).collect();
    assert_eq!(stock, [(10, 9), (9, 9), (9, 9), (9, 9)]);
    let user = system.admin(Service::User, "/admin/ledger").await;
    assert_eq!(
        (user["reserved"].as_i64(), user["captured"].as_i64()),
        (Some(0), Some(100)),
        "{user}"
    );
    let order = system.admin(Service::Order, "/admin/ledger").await;
    assert_eq!(
        order["orders"],
        json!({"count": 1, "amount": 100}),
        "{order}"
    );
    let payment = system.admin(Service::Payment, "/admin/ledger").await;
    assert_eq!(
        payment["payments"]["executed"],
        json!({"count": 1, "amount": 100}),
        "{payment}"
    );

    // The demo command itself: --api https://, --api-ca, --api-token; exit 0 with --check
    // only when every case ends as the README says (alice has 900 left, stock 9: the same).
    let ca = system.pki.ca.to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(["demo", "--api", &system.api, "--api-ca", ca, "--check"])
        .env("SAGAFLOW_API_TOKEN", TOKEN)
        .env("RUST_LOG", "off")
        .output()
        .expect("the sagaflow binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("compensated").count(), 3, "{stdout}");
    let user = system.admin(Service::User, "/admin/ledger").await;
    assert_eq!(
        user["captured"].as_i64(),
        Some(200),
        "charged twice: {user}"
    );
}

/// What TLS must refuse: plain HTTP to the HTTPS API, a client that trusts another CA, and a
/// worker with no client certificate, whose calls the mTLS services refuse in the handshake
/// (no request reaches them; the attempt fails as a transport error and is retried) until a
/// worker with the certificate finishes the workflow.
async fn plain_http_a_wrong_ca_and_a_worker_without_a_client_certificate_are_refused(db: TestDb) {
    let dbs = Databases::fresh(db).await;
    let system = TlsSystem::start(&dbs).await;
    let healthz = format!("{}/healthz", system.api);

    let plain = healthz.replacen("https://", "http://", 1);
    let answer = reqwest::Client::new().get(&plain).send().await;
    assert!(answer.is_err(), "plain HTTP to the TLS port: {answer:?}");
    let wrong = api_client(Some(TOKEN), Some(&system.pki.other_ca)).unwrap();
    let answer = wrong.get(&healthz).send().await;
    assert!(answer.is_err(), "a client trusting another CA: {answer:?}");
    let right = api_client(Some(TOKEN), Some(&system.pki.ca)).unwrap();
    assert!(right
        .get(&healthz)
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    // The containers' health check: trusts --ca only.
    let probe = |ca: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_sagaflow"))
            .args(["probe", &healthz, "--ca", ca.to_str().unwrap()])
            .env("RUST_LOG", "off")
            .output()
            .expect("the sagaflow binary runs")
    };
    let trusting = probe(&system.pki.ca);
    assert!(trusting.status.success(), "probe with the CA: {trusting:?}");
    let other = probe(&system.pki.other_ca);
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert_eq!(
        other.status.code(),
        Some(1),
        "probe with another CA: {stderr}"
    );
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");

    let mut bad = system.worker(&dbs, "no-cert", false);
    let (status, submitted) = {
        let response = right
            .post(format!("{}/v1/workflows", system.api))
            .json(&json!({"type": "purchase", "input": {"user_id": 1, "product_id": 1, "quantity": 1, "payment_method_id": 1}}))
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 201, "{submitted}");
    let url = format!(
        "{}/v1/workflows/{}",
        system.api,
        submitted["id"].as_str().unwrap()
    );
    let failed = eventually(
        20,
        "a failed attempt of the worker without a certificate",
        || async {
            let wf: Value = right.get(&url).send().await.ok()?.json().await.ok()?;
            let attempts: Vec<Value> = wf["activities"]
                .as_array()?
                .iter()
                .flat_map(|a| a["attempts"].as_array().cloned().unwrap_or_default())
                .collect();
            attempts
                .into_iter()
                .find(|t| !t["error"].is_null())
                .map(|t| (wf, t))
        },
    )
    .await;
    bad.kill().unwrap();
    bad.wait().unwrap();
    let (wf, attempt) = failed;
    assert_ne!(wf["status"], "completed", "{wf}");
    assert_eq!(attempt["worker"], "no-cert", "{attempt}");
    // TLS 1.3: the client's handshake ends before the server checks its (missing)
    // certificate, so the refusal arrives on the request: a retryable interruption. Its
    // message says why when the client reads the server's alert before the close; when the
    // close wins (a loaded machine), hyper reports the connection gone before the request
    // was written ("connection was not ready") and the alert is never read.
    assert_eq!(attempt["error"]["code"], "INTERRUPTED", "{attempt}");
    let message = attempt["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("CertificateRequired") || message.contains("connection was not ready"),
        "{attempt}"
    );
    assert_eq!(system.requests_received().await, 0, "no call got through");

    let _good = system.worker(&dbs, "with-cert", true);
    let wf = eventually(30, "the workflow to complete", || async {
        let wf: Value = right
            .get(format!("{url}?wait=5s"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (wf["status"] == "completed").then_some(wf)
    })
    .await;
    assert!(system.requests_received().await >= 7, "{wf}");
}

/// `dev`'s API with TLS (`DevConfig::tls`, what `sagaflow dev --tls-cert … --tls-key …`
/// loads): its URL says https://, the README cases end as in the plain run through a client
/// of `roles::client` trusting the CA, and plain HTTP gets no answer. (Its in-process services
/// stay plain HTTP on 127.0.0.1.) And `load --api https://… --api-ca …` runs against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_s_api_serves_https_and_its_url_says_so() {
    let dbs = Databases::fresh(TestDb::sqlite("tls_dev")).await;
    let pki = Pki::new();
    let tls = sagaflow::roles::settings::ServerTls {
        tls_cert: Some(pki.server.cert.clone()),
        tls_key: Some(pki.server.key.clone()),
        tls_client_ca: None,
    };
    let config = sagaflow::dev::DevConfig {
        tuning: fast_tuning(),
        tls: tls.load().expect("the test certificate loads"),
        ..sagaflow::dev::DevConfig::new(dbs.urls())
    };
    let dev = sagaflow::dev::Dev::start(config)
        .await
        .expect("system starts");
    let api = dev.api_url();
    assert!(api.starts_with("https://127.0.0.1:"), "{api}");
    let client = api_client(None, Some(&pki.ca)).unwrap();
    let rows = demo::run_cases(&client, &api, None).await.unwrap();
    let summaries: Vec<String> = rows.iter().map(|r| r.summary()).collect();
    let expected: Vec<String> = demo::CASES.iter().map(|c| c.expected.to_owned()).collect();
    assert_eq!(summaries, expected);
    let plain = api.replacen("https://", "http://", 1);
    let answer = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .send()
        .await;
    assert!(answer.is_err(), "plain HTTP to dev's TLS API: {answer:?}");

    // `sagaflow load --api https://… --api-ca …`: a short run through its client.
    let tmp = tempfile::tempdir().unwrap();
    let services = [Service::User, Service::Payment, Service::Order]
        .map(|s| format!("{}={}", s.name(), dev.service_url(s)))
        .join(",");
    let (ca, out) = (pki.ca.to_str().unwrap(), tmp.path().join("results"));
    let flags = [
        "--api",
        &api,
        "--api-ca",
        ca,
        "--services",
        &services,
        "--rate",
        "10",
        "--duration",
        "1s",
        "--buyers",
        "5",
        "--finish-timeout",
        "30s",
        "--out",
        out.to_str().unwrap(),
    ];
    let finished = sagaflow::load::execute(sagaflow::load::LoadArgs::from_flags(flags).unwrap())
        .await
        .expect("the load run over TLS succeeds");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(finished.dir.join("summary.json")).unwrap()).unwrap();
    let profile = &summary["profiles"][0];
    assert!(profile["submitted"].as_u64().unwrap() >= 3, "{profile}");
    assert_eq!(profile["submit_errors"], 0, "{profile}");
    assert_eq!(profile["unfinished"], 0, "{profile}");
    dev.stop().await.unwrap();
}
