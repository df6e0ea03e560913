//! `Rounds`: concurrent linearizable reads share one confirmation round. A read barrier costs a quorum
//! round (the leader's heartbeats to every voter, and on a follower one `ReadIndex` call to the leader
//! first); under load, dozens of dequeues that found nothing ready locally want one at the same time.
//! Each caller joins the next round that *starts* after it asked, never one already under way, so every
//! answer still reflects a leadership confirmed after the caller's read began (linearizable); rounds run
//! one after another, each for everyone who arrived during the one before.
use std::future::Future;

use doq_api::{Error, Result};
use tokio::sync::{mpsc, oneshot};

/// What a round answers: the log index a read must have applied (`None`: nothing to wait for).
pub(crate) type ReadIndex = Result<Option<u64>>;

/// A queue of callers in front of one round at a time. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Rounds {
    tx: mpsc::UnboundedSender<oneshot::Sender<ReadIndex>>,
}

impl Rounds {
    /// Starts the task that runs `round` for each group of callers; it ends when the last clone is
    /// dropped.
    pub(crate) fn start<F, Fut>(round: F) -> Self
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ReadIndex> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<ReadIndex>>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut waiting = vec![first];
                while let Ok(w) = rx.try_recv() {
                    waiting.push(w);
                }
                // Everyone in `waiting` asked before this round starts.
                let began = std::time::Instant::now();
                let answer = round().await;
                super::timing::READ_ROUND.record(waiting.len(), began.elapsed());
                for w in waiting {
                    // A caller that gave up (timed out) no longer listens.
                    let _ = w.send(answer.clone());
                }
            }
        });
        Self { tx }
    }

    /// Joins the next round and returns its answer.
    pub(crate) async fn join(&self) -> ReadIndex {
        let stopped = || Error::Unavailable("no leader available: this node is stopping".into());
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).map_err(|_| stopped())?;
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            atomic::{AtomicU64, Ordering},
            Arc,
        },
        time::Duration,
    };

    use super::Rounds;

    #[tokio::test]
    async fn callers_waiting_together_share_a_round_and_later_ones_get_a_new_one() {
        let started = Arc::new(AtomicU64::new(0));
        let count = started.clone();
        let rounds = Rounds::start(move || {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(Some(n))
            }
        });
        // The first caller starts round 1; the ten who ask while it runs share round 2.
        let first = tokio::spawn({
            let r = rounds.clone();
            async move { r.join().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let during: Vec<_> = (0..10)
            .map(|_| {
                let r = rounds.clone();
                tokio::spawn(async move { r.join().await })
            })
            .collect();
        assert_eq!(first.await.unwrap().unwrap(), Some(1));
        for d in during {
            assert_eq!(d.await.unwrap().unwrap(), Some(2));
        }
        assert_eq!(started.load(Ordering::SeqCst), 2);
        // A caller after they finished gets a round of its own.
        assert_eq!(rounds.join().await.unwrap(), Some(3));
    }
}
