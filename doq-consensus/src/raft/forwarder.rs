//! `Forwarder`: a follower's writes travel to the leader in batches. Every write waiting on this node
//! when a slot frees up goes in one `Forward` call (one round trip, one HTTP/2 stream), where the
//! leader's proposer puts them into its next log entry; each writer still gets its own outcome.
use std::{sync::Arc, time::Duration};

use doq_api::{Command, Error, Reply, Result};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{network::Peers, types::DoqNode};

/// Most commands in one forwarding call.
const MAX_COMMANDS: usize = 1024;
/// A call stops taking commands once it holds this many bytes (a larger single command goes alone).
const MAX_BYTES: usize = 1 << 20;
/// Calls in flight at once.
const IN_FLIGHT: usize = 4;
/// Writes that may wait for a call; senders beyond it wait.
const QUEUE: usize = 16 * 1024;

/// A write waiting for its call, with the leader it was meant for.
struct Pending {
    leader: u64,
    node: DoqNode,
    command: Command,
    size: usize,
    reply: oneshot::Sender<Result<Reply>>,
}

/// The follower's write batcher. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Forwarder {
    tx: mpsc::Sender<Pending>,
}

impl Forwarder {
    /// Starts the batching task over the node's peers; `ttl` bounds each call.
    pub(crate) fn start(peers: Arc<Peers>, ttl: Duration) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(peers, ttl, rx));
        Self { tx }
    }

    /// Sends `command` to the leader `leader` (at `node`) with the others waiting, and returns its outcome.
    pub(crate) async fn forward(
        &self,
        leader: u64,
        node: DoqNode,
        command: Command,
    ) -> Result<Reply> {
        let (reply, answer) = oneshot::channel();
        let size = super::codec::encode_command(&command).len();
        self.tx
            .send(Pending {
                leader,
                node,
                command,
                size,
                reply,
            })
            .await
            .map_err(|_| Error::Unavailable("no leader available: this node is stopping".into()))?;
        // The batch task may have sent it before it ended.
        answer.await.unwrap_or_else(|_| {
            Err(Error::OutcomeUnknown(
                "this node stopped while forwarding; the write may have been applied".into(),
            ))
        })
    }
}

async fn run(peers: Arc<Peers>, ttl: Duration, mut rx: mpsc::Receiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    // A write for another leader than the batch's (the leader changed) starts the next batch.
    let mut carried: Option<Pending> = None;
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let (leader, node) = (first.leader, first.node.clone());
        let mut bytes = first.size;
        let mut batch = vec![first];
        while batch.len() < MAX_COMMANDS && bytes < MAX_BYTES {
            match rx.try_recv() {
                Ok(p) if p.leader == leader && p.node == node => {
                    bytes = bytes.saturating_add(p.size);
                    batch.push(p);
                }
                Ok(p) => {
                    carried = Some(p);
                    break;
                }
                Err(_) => break,
            }
        }
        let peer = peers.get(leader, &node);
        tokio::spawn(async move {
            let (commands, replies): (Vec<Command>, Vec<_>) =
                batch.into_iter().map(|p| (p.command, p.reply)).unzip();
            let began = std::time::Instant::now();
            let outcomes = peer.forward(&commands, ttl).await;
            super::timing::FORWARD.record(commands.len(), began.elapsed());
            drop(slot);
            match outcomes {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        // A writer that gave up no longer listens.
                        let _ = reply.send(outcome);
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}
