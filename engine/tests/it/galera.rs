//! The saga store on a MariaDB Galera cluster (`scripts/galera.sh start`; the nodes come from
//! `SAGAFLOW_TEST_GALERA_URL`, by default `mysql://root@127.0.0.1:3311,127.0.0.1:3312,
//! 127.0.0.1:3313`). Skipped with a note when the cluster is absent, failed under `CI=true`.
//!
//! - A certification conflict is a real 1213 at `COMMIT`, classified as a conflict to retry.
//! - A store on the multi-host URL leaves a node that stops being synced (`wsrep_desync`),
//!   keeps working on the next node, reports the desynced node as not ready, and goes back
//!   to the preferred node when asked.

use engine::Store;
use sqlx::{Connection, MySqlConnection};
use std::time::{Duration, Instant};

fn cluster_url() -> String {
    std::env::var("SAGAFLOW_TEST_GALERA_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3311,127.0.0.1:3312,127.0.0.1:3313".into())
}

/// The cluster's nodes, or `None` (after the skip rule) when its first node does not answer.
async fn nodes() -> Option<dbha::Nodes> {
    let nodes = dbha::Nodes::parse(&cluster_url()).expect("SAGAFLOW_TEST_GALERA_URL");
    assert!(
        nodes.is_cluster(),
        "SAGAFLOW_TEST_GALERA_URL lists one node"
    );
    match MySqlConnection::connect(&nodes.url(0)).await {
        Ok(conn) => {
            let _ = conn.close().await;
            Some(nodes)
        }
        Err(err) => {
            testkit::server_absent("the MariaDB Galera cluster", &nodes.url(0), &err);
            None
        }
    }
}

async fn connect(nodes: &dbha::Nodes, i: usize) -> MySqlConnection {
    MySqlConnection::connect(&nodes.url(i))
        .await
        .expect("connect to a node")
}

async fn run(conn: &mut MySqlConnection, sql: &str) {
    sqlx::query(sql).execute(&mut *conn).await.expect(sql);
}

/// A database of its own on the cluster, dropped at the end.
struct ClusterDb {
    nodes: dbha::Nodes,
    name: String,
}

impl ClusterDb {
    async fn create(nodes: &dbha::Nodes, prefix: &str) -> ClusterDb {
        let name = format!("t_{prefix}_{}", uuid::Uuid::new_v4().simple());
        run(
            &mut connect(nodes, 0).await,
            &format!("CREATE DATABASE `{name}`"),
        )
        .await;
        // The other nodes apply it asynchronously; a causal read on each waits for it.
        for i in 1..nodes.len() {
            let mut conn = connect(nodes, i).await;
            run(&mut conn, "SET SESSION wsrep_sync_wait = 1").await;
            let found: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            )
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .expect("read the schemata");
            assert_eq!(found, 1, "node {} has the database", i + 1);
        }
        ClusterDb {
            nodes: nodes.clone(),
            name,
        }
    }

    /// The multi-host URL of the database.
    fn url(&self) -> String {
        format!("{}/{}", self.nodes.to_url(), self.name)
    }

    /// Node `i`'s single-host URL of the database.
    fn node_url(&self, i: usize) -> String {
        format!("{}/{}", self.nodes.url(i), self.name)
    }
}

impl Drop for ClusterDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.name);
        if let Err(err) = testkit::execute_blocking(&self.nodes.url(0), &sql) {
            eprintln!("could not drop {}: {err}", self.name);
        }
    }
}

/// Sets `wsrep_desync` back to OFF on the node of this URL however the test ends.
struct Resync(String);

impl Drop for Resync {
    fn drop(&mut self) {
        if let Err(err) = testkit::execute_blocking(&self.0, "SET GLOBAL wsrep_desync = OFF") {
            eprintln!("could not resync {}: {err}", self.0);
        }
    }
}

/// Waits (bounded) until `check` holds; `what` names it in the failure.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_certification_conflict_fails_the_commit_with_1213_and_is_retried_as_a_conflict() {
    let Some(nodes) = nodes().await else { return };
    let db = ClusterDb::create(&nodes, "cert").await;
    let mut one = MySqlConnection::connect(&db.node_url(0)).await.unwrap();
    let mut two = MySqlConnection::connect(&db.node_url(1)).await.unwrap();
    run(&mut one, "CREATE TABLE t (id INT PRIMARY KEY, v INT)").await;
    run(&mut one, "INSERT INTO t VALUES (1, 0)").await;
    // Node 2 applies node 1's write sets asynchronously; a causal read waits for them.
    run(&mut two, "SET SESSION wsrep_sync_wait = 1").await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(&mut two)
        .await
        .unwrap();
    assert_eq!(rows, 1, "the row reached node 2");
    run(&mut one, "BEGIN").await;
    run(&mut one, "UPDATE t SET v = 1 WHERE id = 1").await;
    // Node 2 commits a write to the same row first: node 1's transaction loses.
    run(&mut two, "UPDATE t SET v = 2 WHERE id = 1").await;
    let err = match sqlx::query("COMMIT").execute(&mut one).await {
        Ok(_) => {
            // The brute-force abort may surface at the next statement instead.
            sqlx::query("SELECT v FROM t")
                .execute(&mut one)
                .await
                .expect_err("the losing transaction must fail")
        }
        Err(err) => err,
    };
    assert_eq!(
        dbha::retry::reason(&err),
        Some(dbha::retry::Reason::Conflict),
        "{err}"
    );
    // The winner's write set is applied on node 1 asynchronously: read causally.
    run(&mut one, "SET SESSION wsrep_sync_wait = 1").await;
    let v: i32 = sqlx::query_scalar("SELECT v FROM t WHERE id = 1")
        .fetch_one(&mut one)
        .await
        .unwrap();
    assert_eq!(v, 2, "the loser's write was not half-applied");
}

#[tokio::test]
async fn a_store_leaves_a_node_that_stops_being_synced_and_comes_back_when_asked() {
    let Some(nodes) = nodes().await else { return };
    let db = ClusterDb::create(&nodes, "failover").await;
    let store = Store::connect(&db.url(), 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    let pinned = Store::connect(&db.node_url(0), 2).await.expect("connect");
    assert_eq!(store.node_in_use().as_deref(), Some(nodes.host(0)));
    assert_eq!(pinned.node_in_use(), None, "a single host has no failover");
    store.ready().await.expect("ready on a synced node");

    let _resync = Resync(nodes.url(0));
    run(
        &mut connect(&nodes, 0).await,
        "SET GLOBAL wsrep_desync = ON",
    )
    .await;
    let why = pinned
        .ready()
        .await
        .expect_err("a desynced node is not ready");
    assert!(why.contains("not synced"), "{why}");
    until("the store moved to node 2", || async {
        store.node_in_use().as_deref() == Some(nodes.host(1))
    })
    .await;
    store.ready().await.expect("ready on node 2");
    store.now().await.expect("the store works on node 2");

    run(
        &mut connect(&nodes, 0).await,
        "SET GLOBAL wsrep_desync = OFF",
    )
    .await;
    until("node 1 synced again", || async {
        pinned.ready().await.is_ok()
    })
    .await;
    store.prefer_first_node().await;
    assert_eq!(store.node_in_use().as_deref(), Some(nodes.host(0)));
    store.now().await.expect("the store works on node 1 again");
}
