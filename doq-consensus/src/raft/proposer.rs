//! `Proposer`: group commit for a Raft leader. openraft 0.9 makes every `client_write` its own log
//! entry, and RaftCore waits for each append's fsync before it takes the next one, so one entry per
//! client write costs one serial fsync per write on the leader (and one per follower). The proposer
//! drains every write waiting on this node (local and forwarded) into one entry of many stamped
//! commands, submits entries in order, and keeps one in flight: while entry N is being appended,
//! replicated and applied, the writes arriving meanwhile gather into entry N+1. Each command keeps its
//! own index (the state machine numbers commands by count) and its own reply.
use std::sync::Arc;

use doq_api::{Command, Error, Reply, Result, Stamped, Timestamp};
use openraft::{error::ClientWriteError, Raft};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{
    codec,
    types::{Request, TypeConfig},
};
use crate::{stamper::Stamper, view::StateView};

/// Most commands in one entry: enough to carry every write of a loaded node in one round, few enough
/// that an entry stays a modest AppendEntries payload.
const MAX_COMMANDS: usize = 1024;
/// An entry stops taking commands once it holds this many bytes (one larger command still goes alone).
const MAX_BYTES: usize = 1 << 20;
/// Entries submitted and not yet answered. Every entry costs one fsync per node, and what bounds a
/// loaded machine is the disk: with one in flight, every write that arrives during a round joins the
/// next entry, so batches are as large as the load makes them. Measured (bench/cluster.sh, 100 VUs,
/// release, a busy 2-core machine): 1 in flight 1834 and 2290 it/s, 2 in flight 1942 and 1646, 4 in
/// flight 1379 and 895; 0.08 fsyncs per acknowledged write with 1, 0.15 with 4.
const IN_FLIGHT: usize = 1;
/// Writes that may wait for a batch; senders beyond it wait (backpressure, not memory).
const QUEUE: usize = 16 * 1024;

/// A write waiting for its batch.
struct Pending {
    command: Command,
    size: usize,
    reply: oneshot::Sender<Result<Reply>>,
}

/// The leader's write batcher; every node runs one (only a leader's succeeds). Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Proposer {
    tx: mpsc::Sender<Pending>,
}

fn unavailable(what: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("no leader available: {what}"))
}

fn unknown(what: impl std::fmt::Display) -> Error {
    Error::OutcomeUnknown(format!("{what}; the write may have been applied"))
}

impl Proposer {
    /// Starts the batching task; it ends when the last clone is dropped.
    pub(crate) fn start(raft: Raft<TypeConfig>, view: StateView) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(raft, view, rx));
        Self { tx }
    }

    /// Stamps `command` with the others of its batch, commits it through this node's Raft and returns
    /// its reply. Fails with `Unavailable` when this node does not lead (nothing was applied), and with
    /// `OutcomeUnknown` when Raft stopped after taking the command.
    pub(crate) async fn propose(&self, command: Command) -> Result<Reply> {
        let (reply, answer) = oneshot::channel();
        let size = codec::encode_command(&command).len();
        self.tx
            .send(Pending {
                command,
                size,
                reply,
            })
            .await
            .map_err(|_| unavailable("raft stopped"))?;
        // Handed over: from here on, a lost answer says nothing about whether it was applied.
        answer
            .await
            .unwrap_or_else(|_| Err(unknown("raft stopped before answering")))
    }
}

/// The batching loop: wait for a free slot, take everything waiting (up to the limits), stamp it,
/// submit it, and hand the answer out in a task of its own.
async fn run(raft: Raft<TypeConfig>, view: StateView, mut rx: mpsc::Receiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    // The proposer's own floor for `now`, so stamps never go backwards on this leader. It learns the
    // engine's time when it can without waiting: a proposer never blocks behind the applier's lock
    // (the engine clamps with `max(now, last_now)` anyway, so a lower stamp is harmless).
    let mut floor = Timestamp(0);
    let mut stamper = Stamper::default();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut bytes = first.size;
        let mut batch = vec![first];
        while batch.len() < MAX_COMMANDS && bytes < MAX_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    bytes = bytes.saturating_add(p.size);
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        if let Ok(engine) = view.shared.engine.try_read() {
            floor = floor.max(engine.last_now());
        }
        let now = stamper.next(view.clock(), floor);
        floor = now;
        let mut stamped = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for p in batch {
            stamped.push(Stamped {
                now,
                seed: rand::random(),
                command: p.command,
            });
            replies.push(p.reply);
        }
        // Submitted here, in order; only the wait for the answer runs concurrently.
        let began = std::time::Instant::now();
        let commands = stamped.len();
        let submitted = raft.client_write_ff(Request(stamped)).await;
        tokio::spawn(async move {
            let outcomes = match submitted {
                Err(fatal) => Err(unavailable(format!("raft stopped: {fatal}"))),
                Ok(answer) => match answer.await {
                    // The entry may be in the log and committed by the next leader.
                    Err(_) => Err(unknown("raft stopped before answering")),
                    Ok(Ok(resp)) => Ok(resp.data.0),
                    // openraft refuses before appending: nothing was applied, the caller may retry.
                    Ok(Err(ClientWriteError::ForwardToLeader(_))) => {
                        Err(unavailable("this node lost the leadership; retry"))
                    }
                    Ok(Err(ClientWriteError::ChangeMembershipError(e))) => {
                        Err(Error::Internal(format!("membership error on a write: {e}")))
                    }
                },
            };
            drop(slot);
            super::timing::ROUND.record(commands, began.elapsed());
            hand_out(replies, outcomes);
        });
    }
}

/// Sends each waiting writer its own outcome, or the batch's error to all of them.
fn hand_out(replies: Vec<oneshot::Sender<Result<Reply>>>, outcomes: Result<Vec<Result<Reply>>>) {
    match outcomes {
        Ok(outcomes) if outcomes.len() == replies.len() => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A writer that gave up (timed out) no longer listens; its command still committed.
                let _ = reply.send(outcome);
            }
        }
        Ok(outcomes) => {
            let e = Error::Internal(format!(
                "a batch of {} commands answered {} outcomes",
                replies.len(),
                outcomes.len()
            ));
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use doq_api::Reply;
    use tokio::sync::oneshot;

    use super::hand_out;

    #[test]
    fn each_writer_gets_its_own_outcome_or_the_batch_error() {
        let (tx, rx): (Vec<_>, Vec<_>) = (0..3).map(|_| oneshot::channel()).unzip();
        hand_out(
            tx,
            Ok(vec![
                Ok(Reply::Acked),
                Err(doq_api::Error::RestoreInProgress),
                Ok(Reply::Staged),
            ]),
        );
        let got: Vec<_> = rx.into_iter().map(|mut r| r.try_recv().unwrap()).collect();
        assert_eq!(
            got,
            vec![
                Ok(Reply::Acked),
                Err(doq_api::Error::RestoreInProgress),
                Ok(Reply::Staged)
            ]
        );
        let (tx, rx): (Vec<_>, Vec<_>) = (0..2).map(|_| oneshot::channel()).unzip();
        hand_out(tx, Ok(vec![Ok(Reply::Acked)]));
        for mut r in rx {
            assert!(matches!(
                r.try_recv().unwrap(),
                Err(doq_api::Error::Internal(_))
            ));
        }
    }
}
