//! Wake-ups for idle claim loops: submits and due retries wake them at once instead of at
//! the next poll. In one process an in-memory signal does it; across processes Redis pub/sub
//! carries it when configured.
//!
//! Never the source of truth and never required: a lost or late wake-up only costs one poll
//! interval, and Redis being down only means polling (it is retried in the background).

use engine::{WorkflowId, WorkflowStatus};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};

/// The pub/sub channel of wake-ups.
pub const CHANNEL: &str = "sagaflow:wake";
/// The pub/sub channel of finished workflows (`"{id} {status}"`).
pub const FINISHED_CHANNEL: &str = "sagaflow:finished";

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
        let local = Arc::downgrade(&wake.local);
        tokio::spawn(subscribe(client, CHANNEL, move |_| match local.upgrade() {
            Some(signal) => {
                signal.send_modify(|n| *n += 1);
                true
            }
            None => false,
        }));
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
            tokio::spawn(async move { publisher.publish(CHANNEL, "1".into()).await });
        }
    }

    /// Reports a finished workflow through Redis (see [`forward_finished`]); nothing without
    /// Redis (in one process the worker tells the API directly).
    pub fn publish_finished(&self, id: WorkflowId, status: WorkflowStatus) {
        if let Some(publisher) = &self.redis {
            let publisher = publisher.clone();
            tokio::spawn(async move {
                publisher
                    .publish(FINISHED_CHANNEL, format!("{id} {status}"))
                    .await
            });
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
    async fn publish(&self, channel: &str, payload: String) {
        let mut conn = self.conn.lock().await;
        if conn.is_none() {
            let connect = self.client.get_multiplexed_async_connection();
            match tokio::time::timeout(Duration::from_secs(1), connect).await {
                Ok(Ok(c)) => *conn = Some(c),
                _ => {
                    tracing::debug!("redis unreachable; message not published");
                    return;
                }
            }
        }
        let c = conn.as_mut().expect("connected above");
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(c)
            .await;
        if let Err(err) = sent {
            tracing::debug!(error = %err, "redis publish failed; reconnecting next time");
            *conn = None;
        }
    }
}

/// Tells `notify` of every workflow any worker reports finished through Redis (an API
/// process wakes its `?wait=` requests with it). Fails only on a malformed URL.
pub fn forward_finished(
    url: &str,
    notify: impl Fn(WorkflowId, WorkflowStatus) + Send + 'static,
) -> Result<(), redis::RedisError> {
    let client = redis::Client::open(url)?;
    tokio::spawn(subscribe(client, FINISHED_CHANNEL, move |payload| {
        let mut parts = payload.split(' ');
        let id = parts.next().and_then(|id| id.parse().ok());
        let status = parts.next().and_then(WorkflowStatus::parse);
        if let (Some(id), Some(status)) = (id, status) {
            notify(id, status);
        }
        true
    }));
    Ok(())
}

/// Hands every message on `channel` to `on_message` until it returns false; reconnects with
/// backoff while Redis is away.
async fn subscribe(
    client: redis::Client,
    channel: &'static str,
    mut on_message: impl FnMut(String) -> bool,
) {
    let mut backoff_ms = 100;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(channel).await {
                Ok(()) => {
                    backoff_ms = 100;
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        if !on_message(message.get_payload().unwrap_or_default()) {
                            return;
                        }
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
