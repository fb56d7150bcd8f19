//! The node in use for one database on a cluster, and the move to another.
//!
//! A pool connects to one node at a time (its connect options name it). When that node
//! fails — a connection to it dies, it answers that it is not synced, the periodic check
//! cannot reach it — [`Failover::suspect`] checks it, and if it is unusable, checks the other
//! nodes in their order and points the pool at the first one that is synced. Connections
//! made before that move are not handed out again ([`Failover::made_after_switch`], the
//! pool's `before_acquire`). [`Failover::prefer_first`] moves back to the most preferred
//! synced node when asked.

use crate::nodes::Nodes;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::Connection;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The statement that tells whether a node takes writes; [`sync_state`] reads its rows.
pub const SYNC_STATUS_SQL: &str = "SHOW GLOBAL STATUS WHERE Variable_name IN \
     ('wsrep_ready', 'wsrep_local_state', 'wsrep_local_state_comment')";

/// Whether a node whose `SYNC_STATUS_SQL` gave `rows` (name, value) takes reads and writes:
/// a server without a Galera provider is usable (it has no `wsrep_local_state`; MariaDB
/// still shows `wsrep_ready` OFF there, MySQL shows nothing); a Galera node must be ready
/// and in state 4 (Synced). A joiner, a donor blocked by a state transfer and a node cut
/// off from the primary component are not.
pub fn sync_state(rows: &[(String, String)]) -> Result<(), String> {
    let value = |name: &str| {
        rows.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if value("wsrep_local_state").is_none() {
        return Ok(());
    }
    if value("wsrep_ready") != Some("ON") {
        return Err("wsrep_ready is not ON (not part of the primary component)".into());
    }
    match value("wsrep_local_state") {
        Some("4") => Ok(()),
        state => Err(format!(
            "not synced (wsrep_local_state {}: {})",
            state.unwrap_or("?"),
            value("wsrep_local_state_comment").unwrap_or("?")
        )),
    }
}

type Apply = Box<dyn Fn(&str) -> Result<(), sqlx::Error> + Send + Sync>;

/// The node in use for one database; cheap to clone.
#[derive(Clone)]
pub struct Failover(Arc<Inner>);

struct Inner {
    /// Label of the database in metrics and logs (`saga`, `payment`, …).
    database: String,
    nodes: Nodes,
    current: AtomicUsize,
    /// Moves so far; a check that started before a move does not move again.
    generation: AtomicU64,
    switched: Mutex<Instant>,
    checking: tokio::sync::Mutex<()>,
    /// Points the pool at a node (sets its connect options); attached once the pool exists.
    apply: OnceLock<Apply>,
    probe_timeout: Duration,
}

impl std::fmt::Debug for Failover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Failover")
            .field("database", &self.0.database)
            .field("node", &self.node())
            .finish()
    }
}

impl Failover {
    /// Starts on the first node.
    pub fn new(database: &str, nodes: Nodes) -> Failover {
        let failover = Failover(Arc::new(Inner {
            database: database.to_owned(),
            nodes,
            current: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            switched: Mutex::new(Instant::now()),
            checking: tokio::sync::Mutex::new(()),
            apply: OnceLock::new(),
            probe_timeout: Duration::from_secs(2),
        }));
        failover.export_node();
        // Shown at 0 from the start, so a dashboard tells "never" from "no data".
        metrics::counter!("sagaflow_db_failovers_total", "database" => database.to_owned())
            .absolute(0);
        failover
    }

    /// How the pool is pointed at a node; called once, right after the pool is built.
    pub fn attach(&self, apply: impl Fn(&str) -> Result<(), sqlx::Error> + Send + Sync + 'static) {
        let _ = self.0.apply.set(Box::new(apply));
    }

    /// The single-host URL of the node in use.
    pub fn url(&self) -> String {
        self.0.nodes.url(self.index())
    }

    /// `host:port` of the node in use.
    pub fn node(&self) -> &str {
        self.0.nodes.host(self.index())
    }

    /// Moves so far.
    pub fn failovers(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }

    fn index(&self) -> usize {
        self.0.current.load(Ordering::Acquire)
    }

    /// True when a connection `age` old was made after the last move (so it is to the node
    /// in use); an older one is closed instead of handed out.
    pub fn made_after_switch(&self, age: Duration) -> bool {
        let since = self
            .0
            .switched
            .lock()
            .map_or(Duration::MAX, |t| t.elapsed());
        age <= since
    }

    /// For a pool's `before_acquire`: whether a connection `age` old may be handed out
    /// (always without a failover; with one, when it was made after the last move).
    pub fn admits(failover: Option<&Failover>, age: Duration) -> bool {
        failover.is_none_or(|f| f.made_after_switch(age))
    }

    /// For a pool's `after_connect`: refuses a new connection whose node's
    /// [`SYNC_STATUS_SQL`] gave `rows` that say it is not synced, and starts a check of the
    /// node (the pool then connects again, by then perhaps to another node).
    pub fn refuse_unsynced(&self, rows: &[(String, String)]) -> Result<(), sqlx::Error> {
        sync_state(rows).map_err(|why| {
            let failover = self.clone();
            tokio::spawn(async move { failover.suspect().await });
            sqlx::Error::Configuration(format!("database node {}: {why}", self.node()).into())
        })
    }

    /// Checks the node in use and moves to the next synced one if it is unusable. Calls
    /// that overlap share one check; one that began before a move returns at once.
    pub async fn suspect(&self) {
        let seen = self.failovers();
        let _check = self.0.checking.lock().await;
        if self.failovers() != seen {
            return;
        }
        let current = self.index();
        let why = match self.probe(current).await {
            Ok(()) => return,
            Err(why) => why,
        };
        let n = self.0.nodes.len();
        for step in 1..n {
            let candidate = (current + step) % n;
            match self.probe(candidate).await {
                Ok(()) => return self.switch(candidate, &why),
                Err(other) => tracing::warn!(
                    database = %self.0.database, node = self.0.nodes.host(candidate),
                    reason = %other, "database node not usable either"
                ),
            }
        }
        tracing::error!(database = %self.0.database, node = self.node(), reason = %why,
            "database node unusable and no other node is synced; staying on it");
    }

    /// Moves to the first synced node in the list's order (back to the preferred node after
    /// it recovered); stays when that is the node in use or none is synced.
    pub async fn prefer_first(&self) {
        let _check = self.0.checking.lock().await;
        for candidate in 0..self.0.nodes.len() {
            if self.probe(candidate).await.is_ok() {
                if candidate != self.index() {
                    self.switch(candidate, "asked to move back to the preferred node");
                }
                return;
            }
        }
    }

    /// Checks the node in use every `period` while the failover lives (a node that fails
    /// while nothing is running is noticed too), and moves back to the most preferred
    /// synced node on SIGHUP (`kill -HUP`: "the preferred node is back, use it").
    pub fn spawn_watch(&self, period: Duration) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let weak = Arc::downgrade(&self.0);
            match signal(SignalKind::hangup()) {
                Ok(mut hangups) => {
                    tokio::spawn(async move {
                        while hangups.recv().await.is_some() {
                            let Some(inner) = weak.upgrade() else { return };
                            tracing::info!(database = %inner.database, "SIGHUP: moving back to the preferred node");
                            Failover(inner).prefer_first().await;
                        }
                    });
                }
                Err(err) => tracing::warn!(error = %err, "cannot listen for SIGHUP"),
            }
        }
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(inner) = weak.upgrade() else { return };
                Failover(inner).suspect().await;
            }
        });
    }

    /// Connects to node `i` afresh and asks whether it is synced.
    async fn probe(&self, i: usize) -> Result<(), String> {
        let options =
            MySqlConnectOptions::from_str(&self.0.nodes.url(i)).map_err(|e| e.to_string())?;
        let check = async {
            let mut conn = MySqlConnection::connect_with(&options).await?;
            let rows: Vec<(String, String)> =
                sqlx::query_as(SYNC_STATUS_SQL).fetch_all(&mut conn).await?;
            let _ = conn.close().await;
            Ok::<_, sqlx::Error>(rows)
        };
        match tokio::time::timeout(self.0.probe_timeout, check).await {
            Ok(Ok(rows)) => sync_state(&rows),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.0.probe_timeout)),
        }
    }

    fn switch(&self, to: usize, why: &str) {
        let from = self.node().to_owned();
        if let Some(apply) = self.0.apply.get() {
            if let Err(err) = apply(&self.0.nodes.url(to)) {
                tracing::error!(database = %self.0.database, error = %err, "cannot point the pool at another node");
                return;
            }
        }
        if let Ok(mut switched) = self.0.switched.lock() {
            *switched = Instant::now();
        }
        self.0.current.store(to, Ordering::Release);
        self.0.generation.fetch_add(1, Ordering::AcqRel);
        metrics::counter!("sagaflow_db_failovers_total", "database" => self.0.database.clone())
            .increment(1);
        self.export_node();
        tracing::warn!(database = %self.0.database, from = %from, to = self.node(), reason = %why,
            "database failed over to another node");
    }

    /// `sagaflow_db_node_in_use{database, node}`: 1 for the node in use, 0 for the others.
    fn export_node(&self) {
        let current = self.index();
        for i in 0..self.0.nodes.len() {
            metrics::gauge!("sagaflow_db_node_in_use",
                "database" => self.0.database.clone(), "node" => self.0.nodes.host(i).to_owned())
            .set(if i == current { 1.0 } else { 0.0 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(ready: &str, state: &str, comment: &str) -> Vec<(String, String)> {
        vec![
            ("wsrep_local_state".into(), state.into()),
            ("wsrep_local_state_comment".into(), comment.into()),
            ("wsrep_ready".into(), ready.into()),
        ]
    }

    #[test]
    fn only_a_synced_ready_node_or_a_plain_server_is_usable() {
        assert_eq!(sync_state(&[]), Ok(()), "MySQL without Galera");
        let plain_mariadb = [("wsrep_ready".to_owned(), "OFF".to_owned())];
        assert_eq!(
            sync_state(&plain_mariadb),
            Ok(()),
            "MariaDB without a provider"
        );
        assert_eq!(sync_state(&rows("ON", "4", "Synced")), Ok(()));
        let donor = sync_state(&rows("ON", "2", "Donor/Desynced")).unwrap_err();
        assert!(donor.contains("Donor/Desynced"), "{donor}");
        let joiner = sync_state(&rows("ON", "1", "Joining")).unwrap_err();
        assert!(joiner.contains("state 1"), "{joiner}");
        let cut_off = sync_state(&rows("OFF", "0", "Initialized")).unwrap_err();
        assert!(cut_off.contains("wsrep_ready"), "{cut_off}");
    }

    #[test]
    fn connections_made_before_a_move_are_not_handed_out() {
        let failover = Failover::new("t", Nodes::parse("mysql://u@a,b/db").unwrap());
        assert!(failover.made_after_switch(Duration::ZERO));
        failover.switch(1, "test");
        assert_eq!(failover.node(), "b");
        assert_eq!(failover.url(), "mysql://u@b/db");
        assert_eq!(failover.failovers(), 1);
        // A connection an hour old predates the move that just happened.
        assert!(!failover.made_after_switch(Duration::from_secs(3600)));
        assert!(failover.made_after_switch(Duration::ZERO));
    }
}
