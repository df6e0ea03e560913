//! `SingleNode`: consensus of one. A bounded channel feeds one writer thread that stamps each
//! command, applies a whole run of them and commits the run with one sync (group commit).
use std::{
    sync::{Arc, Mutex, RwLock},
    thread::JoinHandle,
};

use async_trait::async_trait;
use doq_api::{Clock, Command, Engine, Error, Reply, Result, Stamped, Timestamp};
use doq_storage::{QueueStore, Source};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::info;

use crate::{
    applier::Applier,
    consensus::{ClusterStatus, Consensus, Member, NodeInfo, Role},
    view::{Shared, StateView},
};

/// Settings of a single node.
#[derive(Clone, Debug)]
pub struct SingleOptions {
    /// `cluster.node_id`, reported by status routes.
    pub node_id: String,
    /// Most commands in one group commit.
    pub max_batch: usize,
    /// Bound of the proposal queue; a full queue makes proposers wait (backpressure).
    pub queue_depth: usize,
    /// `raft.apply_timeout`: how long a write waits for its commit (a hung disk) before 503, its outcome
    /// unknown.
    pub apply_timeout: std::time::Duration,
}

impl Default for SingleOptions {
    fn default() -> Self {
        Self {
            node_id: "node-0".into(),
            max_batch: 1024,
            queue_depth: 4096,
            apply_timeout: std::time::Duration::from_secs(5),
        }
    }
}

enum Msg {
    Propose(Command, oneshot::Sender<Result<Reply>>),
    Stop,
}

/// The single-node [`Consensus`]: no log, the applied marker counts commands.
#[derive(Debug)]
pub struct SingleNode {
    tx: mpsc::Sender<Msg>,
    view: StateView,
    options: SingleOptions,
    applied: Arc<RwLock<u64>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Propose(c, _) => write!(f, "Propose({c:?})"),
            Self::Stop => f.write_str("Stop"),
        }
    }
}

impl SingleNode {
    /// Rebuilds the engine from `store` and starts the writer thread.
    pub fn open(
        store: Arc<dyn QueueStore>,
        clock: Arc<dyn Clock>,
        options: SingleOptions,
    ) -> Result<Self> {
        let engine = Engine::rebuild(&Source(&*store))?;
        let applied = store.applied().map_err(Error::from)?.map_or(0, |a| a.index);
        info!(backend = store.backend(), applied, "single node recovered");
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            engine: RwLock::new(engine),
            store,
            clock,
            changed,
            health: crate::health::Health::default(),
        });
        let (tx, rx) = mpsc::channel(options.queue_depth.max(1));
        let applied_cell = Arc::new(RwLock::new(applied));
        let writer = {
            let shared = shared.clone();
            let applied_cell = applied_cell.clone();
            let max_batch = options.max_batch.max(1);
            std::thread::Builder::new()
                .name("doq-writer".into())
                .spawn(move || write_loop(&shared, applied, rx, max_batch, &applied_cell))
                .map_err(|e| Error::Internal(format!("spawn writer thread: {e}")))?
        };
        Ok(Self {
            tx,
            view: StateView { shared },
            options,
            applied: applied_cell,
            writer: Mutex::new(Some(writer)),
        })
    }
}

/// The writer thread: wait for one proposal, take whatever else is queued (up to `max_batch`),
/// stamp, apply and commit the run, answer everyone.
fn write_loop(
    shared: &Arc<Shared>,
    applied: u64,
    mut rx: mpsc::Receiver<Msg>,
    max_batch: usize,
    applied_cell: &RwLock<u64>,
) {
    let mut applier = Applier::new(Arc::clone(shared), applied);
    let mut last_now = shared.engine.read().map_or(Timestamp(0), |e| e.last_now());
    let mut stopping = false;
    while !stopping {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut msgs = vec![first];
        while msgs.len() < max_batch {
            match rx.try_recv() {
                Ok(m) => msgs.push(m),
                Err(_) => break,
            }
        }
        let mut run = Vec::with_capacity(msgs.len());
        let mut waiters = Vec::with_capacity(msgs.len());
        for m in msgs {
            match m {
                Msg::Propose(command, reply) => {
                    // The proposer stamps time (never backwards) and the weighted-pick seed.
                    last_now = shared.clock.now().max(last_now);
                    run.push(Stamped {
                        now: last_now,
                        seed: rand::random(),
                        command,
                    });
                    waiters.push(reply);
                }
                Msg::Stop => stopping = true,
            }
        }
        if run.is_empty() {
            continue;
        }
        let results = applier.apply_run(&run);
        if let Ok(mut a) = applied_cell.write() {
            *a = applier.applied();
        }
        for (waiter, result) in waiters.into_iter().zip(results) {
            let _ = waiter.send(result);
        }
    }
    if let Err(e) = shared.store.flush() {
        tracing::error!(error = %e, "flush at shutdown failed");
    }
}

#[async_trait]
impl Consensus for SingleNode {
    async fn propose(&self, cmd: Command) -> Result<Reply> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Propose(cmd, tx))
            .await
            .map_err(|_| Error::Unavailable("the node is shutting down".into()))?;
        match tokio::time::timeout(self.options.apply_timeout, rx).await {
            Ok(answer) => {
                answer.map_err(|_| Error::Unavailable("the node is shutting down".into()))?
            }
            Err(_) => Err(Error::Unavailable(
                "commit not confirmed within timeout; the write may have been applied".into(),
            )),
        }
    }

    async fn read_barrier(&self) -> Result<()> {
        // One writer, and it publishes a run only after committing it: local reads are current.
        Ok(())
    }

    fn view(&self) -> StateView {
        self.view.clone()
    }

    fn status(&self) -> ClusterStatus {
        let applied = self.applied.read().map_or(0, |a| *a);
        ClusterStatus {
            node_id: self.options.node_id.clone(),
            role: Role::Leader,
            leader_id: Some(self.options.node_id.clone()),
            leader_addr: Some(String::new()),
            term: 0,
            last_log_index: applied,
            commit_index: applied,
            last_applied: applied,
            members: vec![Member {
                id: self.options.node_id.clone(),
                addr: String::new(),
                voter: true,
            }],
            storage_backend: self.view.backend().to_string(),
        }
    }

    async fn add_node(&self, _node: NodeInfo) -> Result<()> {
        Err(Error::MembershipRefused(
            "this node runs with consensus = single".into(),
        ))
    }

    async fn remove_node(&self, _id: &str) -> Result<()> {
        Err(Error::MembershipRefused(
            "this node runs with consensus = single".into(),
        ))
    }

    async fn shutdown(&self) -> Result<()> {
        let _ = self.tx.send(Msg::Stop).await;
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|e| Error::Internal(format!("join writer: {e}")))?
                .map_err(|_| Error::Internal("the writer thread panicked".into()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use doq_api::{
        Body, Group, ManualClock, Metadata, NewMessage, Priority, QueueKind, QueueName,
        QueueSettings,
    };
    use doq_storage::StoreOptions;

    use super::*;

    fn open(dir: &std::path::Path, clock: &ManualClock) -> SingleNode {
        let store = doq_storage::open(
            "redb",
            dir,
            &StoreOptions {
                sync: true,
                cache_bytes: 1 << 20,
                ..Default::default()
            },
        )
        .unwrap();
        SingleNode::open(store, Arc::new(clock.clone()), SingleOptions::default()).unwrap()
    }

    fn enqueue(q: &QueueName, n: usize) -> Command {
        Command::Enqueue {
            queue: q.clone(),
            items: vec![NewMessage {
                id: None,
                group: Group::new("default"),
                priority: Priority(10),
                body: Body {
                    content: format!("m{n}"),
                    metadata: Metadata::new(),
                },
            }],
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_all_durable_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(Timestamp(1_800_000_000_000));
        let q = QueueName::new("q").unwrap();
        let node = Arc::new(open(dir.path(), &clock));
        let settings = QueueSettings {
            strategy: None,
            max_unacked: 0,
            ack_timeout: 60,
            max_deliveries: 0,
            dead_letter: None,
        };
        node.propose(Command::CreateQueue {
            name: q.clone(),
            kind: QueueKind::Delayed,
            settings,
        })
        .await
        .unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let (node, q) = (node.clone(), q.clone());
                tokio::spawn(async move { node.propose(enqueue(&q, n)).await })
            })
            .collect();
        for t in tasks {
            assert!(matches!(t.await.unwrap(), Ok(Reply::Enqueued(_))));
        }
        let digest = node.view().digest().unwrap();
        assert_eq!(node.status().last_applied, 201);
        node.shutdown().await.unwrap();
        drop(node);

        let again = open(dir.path(), &clock);
        assert_eq!(
            again.view().digest().unwrap(),
            digest,
            "recovery rebuilds the same state"
        );
        assert_eq!(again.view().stats(&q, 10).unwrap().total, 200);
        assert_eq!(again.status().last_applied, 201);
        again.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn single_mode_refuses_membership_changes() {
        let dir = tempfile::tempdir().unwrap();
        let node = open(dir.path(), &ManualClock::new(Timestamp(0)));
        let join = node
            .add_node(NodeInfo {
                id: "n1".into(),
                addr: "127.0.0.1:1".into(),
            })
            .await;
        assert!(matches!(join, Err(Error::MembershipRefused(_))));
        node.shutdown().await.unwrap();
        assert!(matches!(
            node.propose(Command::ReserveIds { count: 1 }).await,
            Err(Error::Unavailable(_))
        ));
    }
}
