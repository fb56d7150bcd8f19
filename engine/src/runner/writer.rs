//! The journal writer: one per runner (shared by its clones, i.e. every claim loop of a
//! worker pool), which group-commits the completions of all the loops.
//!
//! Like a database's log writer it has no timer: a batch of completions that arrives while
//! nothing is being written is written at once (a lone completion at light load waits for
//! nothing); batches that arrive while a write is in flight wait for it and are then written
//! together, in one transaction. Under load that makes one commit out of many, and the wait
//! is at most one write.

use crate::definition::Registry;
use crate::store::{self, Completed, Completion, Store};
use futures::FutureExt;
use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most completions one write carries (each loop's batch is at most a claim batch).
const WRITE_COMPLETIONS_MAX: usize = 512;

/// A write's answer, or the panic it raised: handed to the caller, whose task panics as if
/// it had written itself (the claim loop is restarted as after any panic); the writer lives
/// on.
type Panic = Box<dyn std::any::Any + Send>;
type Answer = Result<store::Result<Completed>, Panic>;

struct Request {
    completions: Vec<Completion>,
    reply: oneshot::Sender<Answer>,
}

/// A handle on the writer task; the task ends when every handle is dropped.
#[derive(Clone)]
pub struct JournalWriter {
    queue: mpsc::UnboundedSender<Request>,
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalWriter")
    }
}

impl JournalWriter {
    /// Starts the writer task for completions by `worker`; `lease_next_ms` as in
    /// [`Store::complete`].
    pub fn spawn(
        store: Store,
        registry: Arc<Registry>,
        worker: String,
        lease_next_ms: Option<u64>,
    ) -> JournalWriter {
        let (queue, mut waiting) = mpsc::unbounded_channel::<Request>();
        tokio::spawn(async move {
            while let Some(first) = waiting.recv().await {
                let mut group = vec![first];
                let mut size = group[0].completions.len();
                while size < WRITE_COMPLETIONS_MAX {
                    match waiting.try_recv() {
                        Ok(next) => {
                            size += next.completions.len();
                            group.push(next);
                        }
                        Err(_) => break,
                    }
                }
                write_group(&store, &registry, &worker, lease_next_ms, group).await;
            }
        });
        JournalWriter { queue }
    }

    /// Writes `completions` (with whatever else is waiting) and returns what they did.
    pub async fn complete(&self, completions: Vec<Completion>) -> store::Result<Completed> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Err(store::Error::Unavailable("the journal writer has stopped"));
        if self.queue.send(Request { completions, reply }).is_err() {
            // The task is gone (its runtime is shutting down): nothing can be written.
            return stopped();
        }
        match answer.await {
            Ok(Ok(done)) => done,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => stopped(),
        }
    }
}

/// One `Store::complete`, a panic caught as an answer.
async fn write(
    store: &Store,
    registry: &Registry,
    worker: &str,
    lease_next_ms: Option<u64>,
    completions: &[Completion],
) -> Answer {
    AssertUnwindSafe(store.complete(registry, worker, lease_next_ms, completions))
        .catch_unwind()
        .await
}

/// One transaction for the whole group; if it fails, each request is written on its own so
/// that each gets its own answer (errors are not shared between loops).
async fn write_group(
    store: &Store,
    registry: &Registry,
    worker: &str,
    lease_next_ms: Option<u64>,
    group: Vec<Request>,
) {
    if group.len() == 1 {
        let request = group.into_iter().next().expect("one");
        let done = write(store, registry, worker, lease_next_ms, &request.completions).await;
        let _ = request.reply.send(done);
        return;
    }
    // The completions move into one batch; each request keeps its range of it.
    let mut all = Vec::new();
    let mut parts = Vec::with_capacity(group.len());
    for request in group {
        let start = all.len();
        all.extend(request.completions);
        parts.push((start..all.len(), request.reply));
    }
    match write(store, registry, worker, lease_next_ms, &all).await {
        Ok(Ok(done)) => {
            for (range, reply) in parts {
                let _ = reply.send(Ok(Ok(share(&done, &all[range]))));
            }
        }
        Ok(Err(err)) => {
            tracing::debug!(error = %err, requests = parts.len(), "group write failed; writing each alone");
            for (range, reply) in parts {
                let done = write(store, registry, worker, lease_next_ms, &all[range]).await;
                let _ = reply.send(done);
            }
        }
        Err(panic) => {
            // Nothing was committed: every loop of the group crashes, as each would have.
            let mut panic = Some(panic);
            for (_, reply) in parts {
                let p = panic
                    .take()
                    .unwrap_or_else(|| Box::new("a journal write of this group panicked"));
                let _ = reply.send(Err(p));
            }
        }
    }
}

/// The part of a group's result that belongs to `completions` (by workflow: each workflow is
/// held by one loop).
fn share(done: &Completed, completions: &[Completion]) -> Completed {
    let mine: HashSet<_> = completions
        .iter()
        .map(|c| c.claimed.key.workflow_id)
        .collect();
    Completed {
        next: done
            .next
            .iter()
            .filter(|c| mine.contains(&c.key.workflow_id))
            .cloned()
            .collect(),
        fenced: done
            .fenced
            .iter()
            .filter(|k| mine.contains(&k.workflow_id))
            .copied()
            .collect(),
        finished: done
            .finished
            .iter()
            .filter(|f| mine.contains(&f.id))
            .cloned()
            .collect(),
        decisions: done
            .decisions
            .iter()
            .filter(|(k, _)| mine.contains(&k.workflow_id))
            .cloned()
            .collect(),
    }
}
