//! Store calls cut short, as a timeout or an aborted task cuts them: a future holding a
//! transaction is dropped at each of its suspension points in turn, and the pool still hands
//! out only connections outside any transaction, in step with their server.
//!
//! On MySQL a statement cut while its answer is half read would leave the rest on the
//! socket for the next statement (sqlx-mysql is not cancel-safe there): the store's
//! connections are closed instead of reused when that happens (`store::db::guarded`).

use crate::support::*;
use engine::WorkflowStatus;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;

/// Rounds of cutting every store call at each of its suspension points.
const ROUNDS: usize = 10;
/// More suspension points than any one store call has (a cut past its end is no cut).
const SUSPENSIONS_MAX: usize = 200;
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

testkit::backend_tests!(store_calls_cut_short_at_every_await_leave_the_pool_usable);

/// Aborts, claims, reads and clock reads dropped at their 1st, 2nd, … suspension point
/// (mid-`BEGIN`, mid-statement, mid-commit) leave every next store call answering within 5 s.
async fn store_calls_cut_short_at_every_await_leave_the_pool_usable(db: TestDb) {
    let (store, registry) = (store(&db).await, registry());
    let mut ids = Vec::new();
    for user in 0..8 {
        let submitted = store
            .submit(&registry, &purchase("purchase", user, 1))
            .await
            .expect("submit");
        ids.push(submitted.id);
    }
    let mut cuts = 0;
    for round in 0..ROUNDS {
        let id = ids[round % ids.len()];
        cuts += cut_at_every_suspension(|| store.abort(&registry, id, None)).await;
        cuts += cut_at_every_suspension(|| store.claim(&registry, "cut", 4, 60_000)).await;
        cuts += cut_at_every_suspension(|| store.now()).await;
        cuts += cut_at_every_suspension(|| store.get(id)).await;
        cuts += cut_at_every_suspension(|| store.status(id)).await;
    }
    assert!(
        cuts >= ROUNDS * 5,
        "every call was cut at least once: {cuts}"
    );

    for n in 0..10 {
        let fresh = tokio::time::timeout(
            ANSWER_DEADLINE,
            store.submit(&registry, &purchase("purchase", 100 + n, 1)),
        )
        .await
        .unwrap_or_else(|_| panic!("submit {n} after the cuts: no answer within 5 s"))
        .expect("submit");
        let aborted = tokio::time::timeout(ANSWER_DEADLINE, store.abort(&registry, fresh.id, None))
            .await
            .unwrap_or_else(|_| panic!("abort {n} after the cuts: no answer within 5 s"))
            .expect("abort");
        assert_eq!(aborted, WorkflowStatus::Compensated, "abort {n}");
    }
}

/// Runs `call()` again and again, dropping it at its 1st, 2nd, … suspension point, until one
/// run completes; returns how many runs were cut.
async fn cut_at_every_suspension<F, Fut>(mut call: F) -> usize
where
    F: FnMut() -> Fut,
    Fut: Future,
{
    for suspensions in 0..SUSPENSIONS_MAX {
        if cut_short(suspensions, call()).await.is_some() {
            return suspensions;
        }
    }
    panic!("a store call suspended more than {SUSPENSIONS_MAX} times");
}

/// Polls `call` until it has been pending `suspensions` times, then drops it (`None`), unless
/// it completed first.
async fn cut_short<Fut: Future>(suspensions: usize, call: Fut) -> Option<Fut::Output> {
    let mut call = std::pin::pin!(call);
    let mut pending = 0;
    std::future::poll_fn(|cx| match call.as_mut().poll(cx) {
        Poll::Ready(out) => Poll::Ready(Some(out)),
        Poll::Pending if pending == suspensions => Poll::Ready(None),
        Poll::Pending => {
            pending += 1;
            Poll::Pending
        }
    })
    .await
}
