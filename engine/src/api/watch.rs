//! Waiting for a workflow to finish without polling per request: a registry of waiters, one
//! `watch` channel per waited-on workflow, fed in process by [`Watcher::notify_finished`] (the
//! in-process worker calls it after each commit that finishes a workflow) or by one poller per
//! process ([`Watcher::spawn_poller`]) that asks the store about all waited-on ids at once.
//!
//! Not a cache of statuses: it only knows which workflows are waited on, and forgets a
//! workflow when its last waiter leaves. A waiter reads the workflow once after registering,
//! so a finish between that read and the registration is never missed.

use crate::runner::OnFinished;
use crate::store::Store;
use kernel::model::{WorkflowId, WorkflowStatus};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Most waited-on ids the poller asks the store about in one query.
const POLL_IDS_MAX: usize = 256;

type Slots = HashMap<WorkflowId, watch::Sender<Option<WorkflowStatus>>>;

/// The registry of waiters. Cheap to clone; clones share one registry.
#[derive(Debug, Clone, Default)]
pub struct Watcher {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    slots: Mutex<Slots>,
    /// Set once a poller runs, so a process never polls twice.
    polling: AtomicBool,
}

impl Inner {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding this lock cannot leave the map half-changed.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One request's interest in one workflow; leaving (drop) unregisters it.
#[derive(Debug)]
pub struct Waiter {
    id: WorkflowId,
    finished: Option<watch::Receiver<Option<WorkflowStatus>>>,
    inner: Arc<Inner>,
}

impl Watcher {
    pub fn new() -> Watcher {
        Watcher::default()
    }

    /// Registers interest in `id`. Read the workflow after this call, not before: a finish
    /// reported from now on wakes [`Waiter::finished`].
    pub fn watch(&self, id: WorkflowId) -> Waiter {
        let mut slots = self.inner.slots();
        let finished = slots
            .entry(id)
            .or_insert_with(|| watch::channel(None).0)
            .subscribe();
        Waiter {
            id,
            finished: Some(finished),
            inner: self.inner.clone(),
        }
    }

    /// Reports that `id` reached the terminal `status` (call it after the commit). Costs a
    /// map lookup; nothing is kept when nobody waits.
    pub fn notify_finished(&self, id: WorkflowId, status: WorkflowStatus) {
        debug_assert!(status.is_terminal(), "only terminal statuses are reported");
        if let Some(slot) = self.inner.slots().get(&id) {
            slot.send_replace(Some(status));
        }
    }

    /// The hook an in-process runner reports finished workflows through
    /// ([`crate::runner::Runner::with_on_finished`]): each is passed to
    /// [`Watcher::notify_finished`] on this watcher.
    pub fn on_finished(&self) -> OnFinished {
        let watcher = self.clone();
        Arc::new(move |id, status| watcher.notify_finished(id, status))
    }

    /// How many workflows are waited on now.
    pub fn waiting(&self) -> usize {
        self.inner.slots().len()
    }

    /// Starts this process's one poller: every `interval_ms`, one query for the waited-on
    /// workflows that are terminal (none when nobody waits), each reported like
    /// [`Watcher::notify_finished`]. It ends when the last clone of this watcher is dropped,
    /// or when the returned handle is aborted. Panics if a poller was already started.
    pub fn spawn_poller(&self, store: Store, interval_ms: u64) -> JoinHandle<()> {
        assert!(interval_ms > 0, "a poll interval of 0 would spin");
        let already = self.inner.polling.swap(true, Ordering::SeqCst);
        assert!(!already, "one watch poller per process");
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(poll(inner, store, Duration::from_millis(interval_ms)))
    }
}

async fn poll(inner: Weak<Inner>, store: Store, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let watcher = Watcher { inner };
        let ids: Vec<WorkflowId> = watcher.inner.slots().keys().copied().collect();
        for chunk in ids.chunks(POLL_IDS_MAX) {
            match store.finished_among(chunk).await {
                Ok(finished) => {
                    for (id, status) in finished {
                        watcher.notify_finished(id, status);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, waiting = ids.len(), "watch poll failed");
                    break;
                }
            }
        }
    }
}

impl Waiter {
    /// Resolves when the workflow is reported terminal after this waiter registered.
    pub async fn finished(&mut self) -> WorkflowStatus {
        let finished = self.finished.as_mut().expect("present until drop");
        loop {
            finished
                .changed()
                .await
                .expect("the slot lives while a waiter holds it");
            if let Some(status) = *finished.borrow_and_update() {
                return status;
            }
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut slots = self.inner.slots();
        drop(self.finished.take());
        if slots
            .get(&self.id)
            .is_some_and(|slot| slot.receiver_count() == 0)
        {
            slots.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn a_notify_wakes_every_waiter_and_the_last_to_leave_forgets_the_workflow() {
        let watcher = Watcher::new();
        let (id, other) = (WorkflowId::new(), WorkflowId::new());
        let (mut a, mut b) = (watcher.watch(id), watcher.watch(id));
        let _c = watcher.watch(other);
        assert_eq!(watcher.waiting(), 2);
        watcher.notify_finished(id, WorkflowStatus::Completed);
        assert_eq!(a.finished().await, WorkflowStatus::Completed);
        assert_eq!(b.finished().await, WorkflowStatus::Completed);
        drop(a);
        assert_eq!(watcher.waiting(), 2, "b still waits on id");
        drop(b);
        assert_eq!(watcher.waiting(), 1, "only `other` is left");
    }

    #[tokio::test]
    async fn a_finish_reported_before_registering_is_not_replayed() {
        let watcher = Watcher::new();
        let id = WorkflowId::new();
        watcher.notify_finished(id, WorkflowStatus::Compensated);
        assert_eq!(watcher.waiting(), 0, "nothing kept for nobody");
        let mut waiter = watcher.watch(id);
        let woke = waiter.finished().now_or_never();
        assert_eq!(woke, None, "the waiter's own read covers earlier finishes");
    }
}
