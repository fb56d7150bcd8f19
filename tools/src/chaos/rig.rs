//! The rig of a chaos run: a private MariaDB (or the given server, or SQLite), the three
//! services and the API in process, worker processes started with a metrics port, the
//! participants' fault settings, and the seeding of buyers and stock.

use super::{load, ChaosArgs};
use crate::procs::{recreate_mysql_database, signal, worker_command, PrivateMariaDb};
use crate::reconcile::Expected;
use anyhow::Context;
use engine::api::{ApiConfig, ApiState, Watcher};
use engine::{Registry, Store};
use roles::dev::Urls;
use roles::duration::HumanDuration;
use serde_json::{json, Value};
use services::Service;
use std::net::SocketAddr;
use std::process::Child;
use std::sync::Arc;

pub(super) struct Worker {
    pub(super) id: String,
    pub(super) child: Child,
    pub(super) metrics: SocketAddr,
}

impl Drop for Worker {
    /// A worker process never outlives the run, whatever path ends it.
    fn drop(&mut self) {
        let _ = signal(self.child.id(), "-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One in-process participant service: its state, kept so that an outage can stop it and
/// start it again on the same address.
pub(super) struct Participant {
    pub(super) service: Service,
    pub(super) url: String,
    pub(super) state: services::AppState,
    /// `None` while the participant is down.
    pub(super) running: tokio::sync::Mutex<Option<services::Running>>,
}

/// The system under test: in-process services and API, worker processes.
pub(super) struct Rig {
    pub(super) urls: Urls,
    pub(super) store: Store,
    pub(super) api: String,
    pub(super) services: Vec<Participant>,
    pub(super) flag: String,
    pub(super) args: ChaosArgs,
    /// The private MariaDB, when the run has one (killed and restarted mid-run).
    pub(super) db: Option<tokio::sync::Mutex<PrivateMariaDb>>,
    pub(super) _dir: Option<tempfile::TempDir>,
}

impl Rig {
    pub(super) async fn start(args: ChaosArgs) -> anyhow::Result<Rig> {
        let db = match args.private_mariadb {
            true => Some(
                PrivateMariaDb::start()
                    .await
                    .context("the private MariaDB")?,
            ),
            false => None,
        };
        let server = db
            .as_ref()
            .map(PrivateMariaDb::url)
            .or(args.mysql_url.clone())
            .or(args.galera.clone());
        let (urls, dir) = match &server {
            Some(server) => {
                let server = server.trim_end_matches('/');
                // On a cluster, on its first node (the statements replicate).
                let first = dbha::Nodes::parse(server)?.url(0);
                for name in ["saga", "user", "payment", "order"] {
                    recreate_mysql_database(&first, &format!("sagaflow_chaos_{name}")).await?;
                }
                let db = |n: &str| format!("{server}/sagaflow_chaos_{n}");
                (
                    Urls {
                        saga: db("saga"),
                        user: db("user"),
                        payment: db("payment"),
                        order: db("order"),
                    },
                    None,
                )
            }
            None => {
                let dir = tempfile::tempdir()?;
                (Urls::sqlite(dir.path()), Some(dir))
            }
        };
        let mut running = Vec::new();
        for (service, url) in [
            (Service::User, &urls.user),
            (Service::Payment, &urls.payment),
            (Service::Order, &urls.order),
        ] {
            let mut config = services::Config::new(url.clone());
            config.admin_enabled = true;
            config.faults.latency_ms = 10;
            config.db_connections_max = 8;
            let state =
                services::AppState::connect(service, &config, Some(roles::telemetry::metrics()))
                    .await?;
            let served =
                services::spawn(state.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            running.push(Participant {
                service,
                url: served.url(),
                state,
                running: tokio::sync::Mutex::new(Some(served)),
            });
        }
        let flag = running
            .iter()
            .map(|p| format!("{}={}", p.service.name(), p.url))
            .collect::<Vec<_>>()
            .join(",");
        let store = roles::open_store(&urls.saga, 8).await?;
        let watcher = Watcher::new();
        watcher.spawn_poller(store.clone(), 20);
        let state = ApiState::new(
            store.clone(),
            Arc::new(Registry::shipped()),
            ApiConfig::default(),
            watcher,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, engine::api::router(state)).await });
        Ok(Rig {
            urls,
            store,
            api,
            services: running,
            flag,
            args,
            db: db.map(tokio::sync::Mutex::new),
            _dir: dir,
        })
    }

    pub(super) fn service(&self, service: Service) -> String {
        self.services
            .iter()
            .find(|p| p.service == service)
            .map(|p| p.url.clone())
            .expect("started")
    }

    /// Seeds buyers and stock; returns the totals that must be conserved.
    pub(super) async fn expected(&self) -> anyhow::Result<(Expected, load::Cast)> {
        let cast = load::seed(
            &self.service(Service::User),
            &self.service(Service::Payment),
            &self.service(Service::Order),
            self.args.late_tries,
        )
        .await?;
        let ledger = |s: Service| async move {
            let v: Value = reqwest::get(format!("{}/admin/ledger", self.service(s)))
                .await?
                .json()
                .await?;
            anyhow::Ok(v)
        };
        let (user, order) = (ledger(Service::User).await?, ledger(Service::Order).await?);
        let sum = |v: &Value, keys: [&str; 3]| {
            keys.iter()
                .map(|k| v[*k].as_i64().unwrap_or(0))
                .sum::<i64>()
        };
        let expected = Expected {
            money: Some(sum(&user, ["balance", "reserved", "captured"])),
            stock: Some(sum(&order, ["available", "reserved", "sold"])),
        };
        Ok((expected, cast))
    }

    pub(super) fn spawn_worker(&self, id: &str) -> anyhow::Result<Worker> {
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let saga = worker_url(&self.urls.saga, id);
        let mut command = worker_command(&saga, &self.flag, id)?;
        let heartbeat = HumanDuration::from_millis(self.args.lease_ttl.as_millis() / 3);
        command.arg(format!("--lease-ttl={}", self.args.lease_ttl));
        command.arg(format!("--heartbeat={heartbeat}"));
        command.args([
            "--poll-interval",
            "50ms",
            "--concurrency",
            "2",
            "--metrics-listen",
            &metrics.to_string(),
        ]);
        Ok(Worker {
            id: id.to_owned(),
            child: command.spawn()?,
            metrics,
        })
    }

    /// Sets every participant's faults (`on`: the run's rates; off: none).
    pub(super) async fn faults(&self, on: bool) -> anyhow::Result<()> {
        let a = &self.args;
        let rate = |r: f64| if on { r } else { 0.0 };
        let body = json!({
            "error_rate": rate(a.error_rate),
            "latency_ms": 10,
            "drop_after_commit_rate": rate(a.drop_rate),
            // The README policy's 4 attempts: 3 fail, the last one goes through.
            "fail_first_calls": if on { 3 } else { 0 },
            "fail_first_share": rate(a.fail_first_share),
        });
        for participant in &self.services {
            let url = format!("{}/admin/faults", participant.url);
            reqwest::Client::new()
                .put(url)
                .json(&body)
                .send()
                .await?
                .error_for_status()?;
        }
        Ok(())
    }

    pub(super) async fn stop(self) {
        for participant in self.services {
            if let Some(running) = participant.running.into_inner() {
                let _ = running.stop().await;
            }
        }
        self.store.close().await;
    }
}

/// The saga database URL of worker `id` (`w3`, `w3-7`): even workers prefer the cluster's
/// first node (the one killed, with the API and the services), odd ones the other nodes in
/// turn (`w1` the second, `w3` the third, …).
fn worker_url(saga: &str, id: &str) -> String {
    let index: usize = id
        .trim_start_matches('w')
        .split('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    match dbha::Nodes::parse(saga) {
        Ok(nodes) if nodes.is_cluster() && index % 2 == 1 => {
            let others = nodes.len() - 1;
            nodes.starting_at(1 + (index / 2) % others).to_url()
        }
        _ => saga.to_owned(),
    }
}

pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_workers_prefer_the_other_nodes_in_turn_and_single_hosts_stay() {
        let saga = "mysql://root@n1:1,n2:2,n3:3/saga";
        assert_eq!(worker_url(saga, "w0"), saga);
        assert_eq!(worker_url(saga, "w2-9"), saga);
        assert_eq!(worker_url(saga, "w1"), "mysql://root@n2:2,n3:3,n1:1/saga");
        assert_eq!(
            worker_url(saga, "w3-12"),
            "mysql://root@n3:3,n1:1,n2:2/saga"
        );
        assert_eq!(worker_url(saga, "w5"), "mysql://root@n2:2,n3:3,n1:1/saga");
        assert_eq!(
            worker_url("mysql://root@h/saga", "w1"),
            "mysql://root@h/saga"
        );
    }
}
