//! Wake-ups for idle claim loops: submits and due retries wake them at once instead of at
//! the next poll. In one process an in-memory signal does it; across processes Redis pub/sub
//! carries it when configured.
//!
//! Never the source of truth and never required: a lost or late wake-up only costs one poll
//! interval, and Redis being down only means polling (it is retried in the background).

use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};

/// The pub/sub channel every process uses.
pub const CHANNEL: &str = "sagaflow:wake";

/// A wake-up signal shared by the claim loops of a process (and, with Redis, across
/// processes). Cheap to clone.
#[derive(Clone)]
pub struct Wake {
    local: Arc<watch::Sender<u64>>,
    redis: Option<Arc<Publisher>>,
}

impl Default for Wake {
    fn default() -> Self {
        Wake::local()
    }
}

struct Publisher {
    client: redis::Client,
    conn: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl Wake {
    /// Wake-ups within this process only.
    pub fn local() -> Wake {
        Wake {
            local: Arc::new(watch::channel(0).0),
            redis: None,
        }
    }

    /// Wake-ups within this process and through Redis at `url`. Fails only on a malformed
    /// URL; an unreachable server is retried in the background.
    pub fn with_redis(url: &str) -> Result<Wake, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let wake = Wake {
            local: Arc::new(watch::channel(0).0),
            redis: Some(Arc::new(Publisher {
                client: client.clone(),
                conn: Mutex::new(None),
            })),
        };
        tokio::spawn(subscribe(client, Arc::downgrade(&wake.local)));
        Ok(wake)
    }

    /// A receiver for claim loops: `changed()` resolves after the next wake-up.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.local.subscribe()
    }

    /// Wakes the idle loops of this process, and of every process through Redis.
    pub fn notify(&self) {
        self.local.send_modify(|n| *n += 1);
        if let Some(publisher) = &self.redis {
            let publisher = publisher.clone();
            tokio::spawn(async move { publisher.publish().await });
        }
    }

    /// Wakes everyone after `delay` (a retry falls due then).
    pub fn notify_after(&self, delay: Duration) {
        let wake = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            wake.notify();
        });
    }
}

impl Publisher {
    async fn publish(&self) {
        let mut conn = self.conn.lock().await;
        if conn.is_none() {
            match tokio::time::timeout(
                Duration::from_secs(1),
                self.client.get_multiplexed_async_connection(),
            )
            .await
            {
                Ok(Ok(c)) => *conn = Some(c),
                _ => {
                    tracing::debug!("redis unreachable; wake-up not published");
                    return;
                }
            }
        }
        let c = conn.as_mut().expect("connected above");
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(1)
            .query_async(c)
            .await;
        if let Err(err) = sent {
            tracing::debug!(error = %err, "redis publish failed; reconnecting next time");
            *conn = None;
        }
    }
}

/// Turns Redis messages into local wake-ups until the local signal is dropped; reconnects
/// with backoff while Redis is away.
async fn subscribe(client: redis::Client, local: std::sync::Weak<watch::Sender<u64>>) {
    let mut backoff_ms = 100;
    while local.strong_count() > 0 {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(CHANNEL).await {
                Ok(()) => {
                    backoff_ms = 100;
                    let mut messages = pubsub.on_message();
                    while messages.next().await.is_some() {
                        let Some(signal) = local.upgrade() else {
                            return;
                        };
                        signal.send_modify(|n| *n += 1);
                    }
                    tracing::warn!("redis subscription ended; polling until it is back");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "redis subscribe failed; polling meanwhile")
                }
            },
            Err(err) => tracing::warn!(error = %err, "redis unreachable; polling meanwhile"),
        }
        tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
        backoff_ms = (backoff_ms * 2).min(5_000);
    }
}
