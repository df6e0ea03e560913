//! Dequeue that waits for a deliverable message without polling (docs/http.md §3.3 `wait`, §7.2 DequeueStream).
//!
//! A waiter checks readiness locally (DOQ's PeekReady guard, so an idle consumer never costs a proposal)
//! and proposes only when something is deliverable. Otherwise it sleeps until the first of: a committed
//! run (`StateView::changes`: an enqueue, a nack, an ack freeing a `max_unacked` slot, a new queue), the
//! moment time alone makes something deliverable (`Engine::next_ready_at`: a lease lapsing or a delayed
//! head coming due), its deadline, or its caller's stop signal.
use std::{future::Future, pin::Pin, task::Poll, time::Duration};

use doq_api::{Command, Delivery, Error, QueueName, Reply, Timestamp};
use doq_consensus::{Consensus, StateView};
use tokio::time::Instant;

use crate::waiters::Waiters;

/// Shortest timer sleep: a guard against spinning if clock and engine ever disagree by a tick.
const MIN_SLEEP: Duration = Duration::from_millis(5);

/// What an unknown queue means to the waiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Fail at once (unary `Dequeue`, like HTTP).
    Fail,
    /// Wait for it to be created (DOQ's DequeueStream waits "even for a queue that does not exist yet").
    Wait,
}

/// How a wait ended.
#[derive(Debug)]
pub(crate) enum Waited<T> {
    /// Up to `max` messages were selected (and, with `ack`, deleted); never empty.
    Delivered(Vec<Delivery>),
    /// The deadline passed with nothing deliverable.
    Expired,
    /// The stop future finished first, with this value; nothing was selected.
    Stopped(T),
}

/// Selects up to `max` (at least 1) messages of `queue` in one command, waiting until `until` (forever
/// when `None`) for one to become deliverable, or until `stop` finishes.
///
/// `stop` is checked before each proposal, so a caller whose client has gone takes nothing, and polled
/// while parked; never while a dequeue is being proposed: once a selection is in flight it completes, so
/// a stop never loses a message that was already taken.
#[allow(clippy::too_many_arguments)] // the wait's whole description; a struct would only rename them
pub(crate) async fn dequeue<T>(
    consensus: &dyn Consensus,
    queue: &QueueName,
    ack: bool,
    max: u16,
    until: Option<Instant>,
    missing: Missing,
    mut stop: Pin<&mut impl Future<Output = T>>,
    parked: &Waiters,
) -> Result<Waited<T>, Error> {
    let view = consensus.view();
    let mut changes = view.changes();
    let mut parking = None;
    // A dequeue is a log entry the leader judges, so a local "ready" needs no read barrier first; only
    // a local "nothing ready" or "no such queue" may be stale (a follower behind), and one barrier
    // confirms it before the waiter believes it.
    let mut confirmed = false;
    loop {
        // Mark the current version seen before checking, so a commit after the check wakes the wait.
        changes.borrow_and_update();
        let ready = match view.ready_now(queue).await {
            Ok(ready) => ready,
            Err(Error::QueueNotFound(_)) if missing == Missing::Wait || !confirmed => false,
            Err(e) => return Err(e),
        };
        if !ready && !confirmed {
            consensus.read_barrier().await?;
            confirmed = true;
            continue;
        }
        if ready {
            if let Poll::Ready(value) = futures::poll!(stop.as_mut()) {
                return Ok(Waited::Stopped(value));
            }
            let cmd = Command::Dequeue {
                queue: queue.clone(),
                ack,
                max: max.max(1),
            };
            match consensus.propose(cmd).await {
                Ok(Reply::Dequeued(items)) => {
                    if !items.is_empty() {
                        return Ok(Waited::Delivered(items));
                    }
                }
                // Another consumer won the race, or selection dead-lettered what was ready: keep waiting.
                Err(Error::QueueEmpty(_)) => {}
                Err(Error::QueueNotFound(_)) if missing == Missing::Wait => {}
                Ok(other) => {
                    return Err(Error::Internal(format!(
                        "unexpected reply to a dequeue: {other:?}"
                    )))
                }
                Err(e) => return Err(e),
            }
        }
        let timer = earliest(wake_at(&view, queue), until);
        if until.is_some_and(|u| Instant::now() >= u) {
            return Ok(Waited::Expired);
        }
        // Counted once per call, not per wake: the map's lock is taken only here and at return.
        if parking.is_none() {
            parking = Some(parked.enter(queue));
        }
        tokio::select! {
            biased;
            value = stop.as_mut() => return Ok(Waited::Stopped(value)),
            changed = changes.changed() => {
                if changed.is_err() {
                    return Err(Error::Unavailable("the node is shutting down".into()));
                }
            }
            () = sleep_until(timer) => {}
        }
    }
}

/// When time alone may make something in `queue` deliverable, as a tokio instant.
///
/// The engine answers in the node clock's milliseconds; the gap to the clock's `now` becomes a sleep, so
/// a test's `ManualClock` is honoured too (its time only moves when advanced).
fn wake_at(view: &StateView, queue: &QueueName) -> Option<Instant> {
    let now = view.now();
    let at: Timestamp = view
        .with_engine(|e| e.next_ready_at(queue, now))
        .ok()?
        .ok()??;
    let gap = Duration::from_millis(at.0.saturating_sub(now.0)).max(MIN_SLEEP);
    // A priority far in the future may not fit an `Instant`: then only a write can wake the waiter.
    Instant::now().checked_add(gap)
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{atomic::AtomicUsize, Arc};

    use doq_api::{
        Body, Command, Group, ManualClock, Metadata, NewMessage, Priority, QueueKind, QueueName,
        QueueSettings, Reply, Result, Timestamp,
    };
    use doq_consensus::{ClusterStatus, Consensus, NodeInfo, SingleNode, SingleOptions, StateView};
    use doq_storage::MemoryStore;

    use super::{dequeue, Missing, Waited};

    /// A single node that counts read barriers.
    struct Counting {
        node: SingleNode,
        barriers: AtomicUsize,
    }

    #[tonic::async_trait]
    impl Consensus for Counting {
        async fn propose(&self, cmd: Command) -> Result<Reply> {
            self.node.propose(cmd).await
        }
        async fn read_barrier(&self) -> Result<()> {
            self.barriers
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.node.read_barrier().await
        }
        fn view(&self) -> StateView {
            self.node.view()
        }
        fn status(&self) -> ClusterStatus {
            self.node.status()
        }
        async fn add_node(&self, node: NodeInfo) -> Result<()> {
            self.node.add_node(node).await
        }
        async fn remove_node(&self, id: &str) -> Result<()> {
            self.node.remove_node(id).await
        }
        async fn shutdown(&self) -> Result<()> {
            self.node.shutdown().await
        }
    }

    #[tokio::test]
    async fn a_dequeue_runs_a_read_barrier_only_to_confirm_nothing_is_ready() {
        let c = Counting {
            node: SingleNode::open(
                Arc::new(MemoryStore::new()),
                Arc::new(ManualClock::new(Timestamp(1_800_000_000_000))),
                SingleOptions::default(),
            )
            .unwrap(),
            barriers: AtomicUsize::new(0),
        };
        let q = QueueName::new("q").unwrap();
        c.propose(Command::CreateQueue {
            name: q.clone(),
            kind: QueueKind::Delayed,
            settings: QueueSettings {
                strategy: None,
                max_unacked: 0,
                ack_timeout: 60,
                max_deliveries: 0,
                dead_letter: None,
            },
        })
        .await
        .unwrap();
        c.propose(Command::Enqueue {
            queue: q.clone(),
            items: vec![NewMessage {
                id: None,
                group: Group::new("default"),
                priority: Priority(0),
                body: Body {
                    content: "x".into(),
                    metadata: Metadata::new(),
                },
            }],
        })
        .await
        .unwrap();
        let parked = crate::waiters::Waiters::default();
        let now = Some(tokio::time::Instant::now());
        let never = std::pin::pin!(std::future::pending::<()>());
        let got = dequeue(&c, &q, true, 1, now, Missing::Fail, never, &parked)
            .await
            .unwrap();
        assert!(
            matches!(got, Waited::Delivered(ref d) if d.len() == 1),
            "{got:?}"
        );
        assert_eq!(c.barriers.load(std::sync::atomic::Ordering::SeqCst), 0);
        // Now the queue is empty: that verdict is confirmed by one barrier before the wait ends.
        let never = std::pin::pin!(std::future::pending::<()>());
        let got = dequeue(&c, &q, true, 1, now, Missing::Fail, never, &parked)
            .await
            .unwrap();
        assert!(matches!(got, Waited::Expired), "{got:?}");
        assert_eq!(c.barriers.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
