//! Dequeue with an optional long-poll `wait` (docs/http.md §3.3): check readiness locally first (DOQ's PeekReady
//! guard, so an empty queue never costs a proposal), propose only when something is deliverable, and while
//! waiting wake on every commit and at least every 200 ms, so time-based readiness (a delayed message coming
//! due, a lease lapsing) is caught too.
use std::time::Duration;

use doq_api::{Command, Delivery, Error, QueueName, Reply};
use tokio::time::Instant;

use crate::{
    errors::{ApiError, Route},
    http::AppState,
};

/// Longest sleep between readiness checks: commits wake a waiter at once, the clock does not.
const RECHECK: Duration = Duration::from_millis(200);

/// Selects up to `max` messages of `queue`, waiting up to `wait` for one to become deliverable.
/// An empty result means nothing was deliverable within the wait; an unknown queue fails at once.
pub(crate) async fn dequeue(
    state: &AppState,
    route: Route,
    queue: &QueueName,
    ack: bool,
    max: u16,
    wait: Duration,
) -> Result<Vec<Delivery>, ApiError> {
    let fail = |e: Error| ApiError::new(route, e);
    let view = state.consensus.view();
    let mut changes = view.changes();
    let deadline = Instant::now() + wait;
    // A dequeue is a log entry the leader judges, so a local "ready" needs no read barrier first; only
    // a local "nothing ready" or "no such queue" may be stale (a follower behind), and one barrier
    // confirms it before the answer relies on it.
    let mut confirmed = false;
    // Counted from the first park to the answer; the waiters' map is touched only then.
    let mut parking = None;
    loop {
        // Mark the current version seen before checking, so a commit after the check wakes the wait below.
        changes.borrow_and_update();
        let ready = view.ready_now(queue).await;
        if !confirmed && !matches!(ready, Ok(true)) {
            state.consensus.read_barrier().await.map_err(fail)?;
            confirmed = true;
            continue;
        }
        if ready.map_err(fail)? {
            let cmd = Command::Dequeue {
                queue: queue.clone(),
                ack,
                max: max.max(1),
            };
            match state.consensus.propose(cmd).await {
                Ok(Reply::Dequeued(items)) if !items.is_empty() => return Ok(items),
                // Another consumer won the race, or selection dead-lettered what was ready: keep waiting.
                Ok(Reply::Dequeued(_)) | Err(Error::QueueEmpty(_)) => {}
                Ok(other) => {
                    return Err(fail(Error::Internal(format!(
                        "unexpected reply to a dequeue: {other:?}"
                    ))))
                }
                Err(e) => return Err(fail(e)),
            }
            // Our own commit is no news: without this the wait below would return at once and spin.
            changes.borrow_and_update();
        }
        let now = Instant::now();
        if now >= deadline || state.shutdown.is_cancelled() {
            // A node that is shutting down answers pending polls with the empty-queue 400 (docs/cluster.md §5).
            return Ok(Vec::new());
        }
        if parking.is_none() {
            parking = Some(state.waiters.enter(queue));
        }
        let slice = (deadline - now).min(RECHECK);
        tokio::select! {
            () = state.shutdown.cancelled() => return Ok(Vec::new()),
            changed = tokio::time::timeout(slice, changes.changed()) => match changed {
                Ok(Ok(())) | Err(_) => {}
                // The node stopped publishing commits; fall back to the clock.
                Ok(Err(_)) => tokio::time::sleep(slice).await,
            },
        }
    }
}
