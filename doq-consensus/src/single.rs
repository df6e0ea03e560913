//! `SingleNode`: consensus of one. A bounded channel feeds one writer thread that stamps each
//! command and applies it to the engine; a committer thread commits what the writer staged, many
//! commands per sync (group commit), and only then answers them.
//!
//! # The pipeline
//! While the committer syncs group N, the writer keeps applying new commands into group N+1, which
//! grows until the committer is free to take it (as redis's `appendfsync always` writes everything
//! that arrived during the last fsync with the next one). Commands of N+1 read bodies that N staged
//! through `Staged::over`, since N may not be in the store yet. Replies go out in group order, each
//! only after its group is durable. When a commit fails, its group and the group staged behind it get
//! the error, and the engine is rebuilt from the store (`Shared::recover`) before anything else is
//! applied, so nothing failed stays visible.
//!
//! What overlaps, per backend: the committer calls `QueueStore::commit_ref`, which writes and syncs
//! in one call, so on every backend the writer's apply (engine work, body reads, encoding nothing)
//! runs beside the whole write + sync of the previous group: redb (`Durability::Immediate` commit:
//! page writes + fsync), RocksDB (`WriteBatch` with `sync = true`: WAL append + fsync), sled
//! (transaction + `flush`), memory (no sync). The store's own write and its sync stay serial per group.
use std::{
    collections::VecDeque,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
};

use async_trait::async_trait;
use doq_api::{Clock, Command, Engine, Error, Reply, Result, Stamped, Timestamp};
use doq_storage::{QueueStore, Source, WriteBatch};
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use crate::{
    applier::{Applier, Group, StageError},
    consensus::{ClusterStatus, Consensus, Member, NodeInfo, Role},
    stamper::Stamper,
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
    /// Rebuilds the engine from `store` and starts the writer and committer threads.
    pub fn open(
        store: Arc<dyn QueueStore>,
        clock: Arc<dyn Clock>,
        options: SingleOptions,
    ) -> Result<Self> {
        let engine = Engine::rebuild(&Source(&*store))?;
        let applied = store.applied().map_err(Error::from)?.map_or(0, |a| a.index);
        info!(backend = store.backend(), applied, "single node recovered");
        let shared = Arc::new(Shared::new(engine, store, clock, applied));
        let (tx, rx) = mpsc::channel(options.queue_depth.max(1));
        let pipe = Arc::new(Pipe::default());
        let committer = {
            let (shared, pipe) = (shared.clone(), pipe.clone());
            std::thread::Builder::new()
                .name("doq-committer".into())
                .spawn(move || commit_loop(&shared, &pipe))
                .map_err(|e| Error::Internal(format!("spawn committer thread: {e}")))?
        };
        let writer = {
            let shared = shared.clone();
            let max_batch = options.max_batch.max(1);
            std::thread::Builder::new()
                .name("doq-writer".into())
                .spawn(move || {
                    write_loop(&shared, applied, rx, max_batch, &pipe);
                    pipe.stop();
                    if committer.join().is_err() {
                        tracing::error!("the committer thread panicked");
                    }
                    if let Err(e) = shared.store.flush() {
                        tracing::error!(error = %e, "flush at shutdown failed");
                    }
                    let stats = shared.stats();
                    info!(
                        commits = stats.commits,
                        commands = stats.commands,
                        per_commit = format!("{:.1}", stats.commands_per_commit()),
                        failed = stats.failed,
                        "group commit totals"
                    );
                })
                .map_err(|e| Error::Internal(format!("spawn writer thread: {e}")))?
        };
        Ok(Self {
            tx,
            view: StateView { shared },
            options,
            writer: Mutex::new(Some(writer)),
        })
    }
}

/// A group with the clients waiting for it and the replies they get once it is durable.
#[derive(Debug, Default)]
struct Open {
    group: Group,
    waiters: Vec<(oneshot::Sender<Result<Reply>>, Result<Reply>)>,
}

impl Open {
    /// Answers every waiter with `e` (the group will never be committed).
    fn fail(self, e: &Error) {
        for (waiter, _) in self.waiters {
            let _ = waiter.send(Err(e.clone()));
        }
    }
}

/// The hand-over between the writer and the committer.
#[derive(Debug, Default)]
struct Slot {
    /// The group the writer fills; the committer takes it whenever it is free. `None` while the writer
    /// has it out to apply a run, or when nothing waits.
    open: Option<Open>,
    /// The batch being committed, for the writer's body reads.
    committing: Option<Arc<WriteBatch>>,
    /// Set once the writer is done: the committer commits what is open and ends.
    stopped: bool,
}

#[derive(Debug, Default)]
struct Pipe {
    slot: Mutex<Slot>,
    turn: Condvar,
}

impl Pipe {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // Nothing panics while holding the slot; a poisoned one still holds consistent data.
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait<'a>(&self, slot: MutexGuard<'a, Slot>) -> MutexGuard<'a, Slot> {
        self.turn
            .wait(slot)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the open group to add a run to (waiting while it is full, until the committer takes it),
    /// with the batch being committed.
    fn take_open(&self, max_batch: usize) -> (Option<Open>, Option<Arc<WriteBatch>>) {
        let mut slot = self.lock();
        while slot
            .open
            .as_ref()
            .is_some_and(|o| o.group.commands >= max_batch)
        {
            slot = self.wait(slot);
        }
        (slot.open.take(), slot.committing.clone())
    }

    /// Puts the open group back for the committer.
    fn put_open(&self, open: Open) {
        if open.waiters.is_empty() {
            return;
        }
        self.lock().open = Some(open);
        self.turn.notify_all();
    }

    /// Waits until nothing is open or committing.
    fn drain(&self) {
        let mut slot = self.lock();
        while slot.open.is_some() || slot.committing.is_some() {
            slot = self.wait(slot);
        }
    }

    fn stop(&self) {
        self.lock().stopped = true;
        self.turn.notify_all();
    }
}

/// Whether `cmd` reads restore staging, which `Staged` reads from the store only.
fn reads_staging(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::StageImport { .. } | Command::CommitImport { .. } | Command::AbortImport { .. }
    )
}

/// The writer thread: wait for proposals, stamp them, apply them into the open group, hand it over.
fn write_loop(
    shared: &Arc<Shared>,
    applied: u64,
    mut rx: mpsc::Receiver<Msg>,
    max_batch: usize,
    pipe: &Pipe,
) {
    let mut applier = Applier::new(Arc::clone(shared), applied);
    let mut last_now = shared.read().map_or(Timestamp(0), |e| e.last_now());
    let mut stamper = Stamper::default();
    let mut stopping = false;
    let mut msgs = VecDeque::new();
    while !stopping {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        msgs.push_back(first);
        while msgs.len() < max_batch {
            match rx.try_recv() {
                Ok(m) => msgs.push_back(m),
                Err(_) => break,
            }
        }
        let mut run = Vec::with_capacity(msgs.len());
        let mut waiters = Vec::with_capacity(msgs.len());
        for m in msgs.drain(..) {
            match m {
                Msg::Propose(command, reply) => {
                    // The proposer stamps time (never backwards) and the weighted-pick seed.
                    last_now = stamper.next(&*shared.clock, last_now);
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
        if run.iter().any(|s| reads_staging(&s.command)) {
            pipe.drain();
        }
        stage(shared, &mut applier, pipe, max_batch, &run, waiters);
    }
}

/// Applies `run` into the open group and puts the group back for the committer.
fn stage(
    shared: &Shared,
    applier: &mut Applier,
    pipe: &Pipe,
    max_batch: usize,
    run: &[Stamped],
    waiters: Vec<oneshot::Sender<Result<Reply>>>,
) {
    let (open, committing) = pipe.take_open(max_batch);
    let mut open = open.unwrap_or_else(|| Open {
        group: Group::new(shared.version()),
        waiters: Vec::new(),
    });
    let pending: Vec<&WriteBatch> = committing.as_deref().into_iter().collect();
    loop {
        match applier.stage_run(&mut open.group, run, &pending) {
            Ok(replies) => {
                open.waiters.extend(waiters.into_iter().zip(replies));
                break;
            }
            Err(StageError::Stale) => {
                // A failed commit rebuilt the engine under this group: it can never commit.
                std::mem::take(&mut open).fail(&shared.failure());
                open.group = Group::new(shared.version());
            }
            Err(StageError::Refused(e)) => {
                for w in waiters {
                    let _ = w.send(Err(e.clone()));
                }
                break;
            }
            Err(StageError::Dirty(e)) => {
                for w in waiters {
                    let _ = w.send(Err(e.clone()));
                }
                // The engine holds part of this run on top of the open group: both go. Earlier groups
                // finish committing first, so the rebuild sees everything they wrote.
                std::mem::take(&mut open).fail(&e);
                pipe.drain();
                shared.recover(&e);
                return;
            }
        }
    }
    pipe.put_open(open);
}

/// The committer thread: take the open group whenever there is one, commit it, answer its waiters.
fn commit_loop(shared: &Shared, pipe: &Pipe) {
    loop {
        let open = {
            let mut slot = pipe.lock();
            loop {
                if let Some(open) = slot.open.take() {
                    break open;
                }
                if slot.stopped {
                    return;
                }
                slot = pipe.wait(slot);
            }
        };
        if open.group.version.epoch != shared.version().epoch {
            // Staged before a failed commit rebuilt the engine.
            open.fail(&shared.failure());
            pipe.turn.notify_all();
            continue;
        }
        let Open { group, waiters } = open;
        let mut batch = group.batch;
        batch.set_applied(doq_storage::Applied {
            index: group.last,
            data: Vec::new(),
        });
        let batch = Arc::new(batch);
        pipe.lock().committing = Some(batch.clone());
        // The writer may be waiting for room in the open slot.
        pipe.turn.notify_all();
        let result = shared.commit(&batch, group.version, group.commands, group.last);
        pipe.lock().committing = None;
        pipe.turn.notify_all();
        match result {
            Ok(()) => {
                for (waiter, reply) in waiters {
                    let _ = waiter.send(reply);
                }
            }
            Err(e) => {
                for (waiter, _) in waiters {
                    let _ = waiter.send(Err(e.clone()));
                }
            }
        }
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
        // Handed to the writer: from here on, no answer says nothing about whether it committed.
        match tokio::time::timeout(self.options.apply_timeout, rx).await {
            Ok(answer) => answer.map_err(|_| {
                Error::OutcomeUnknown(
                    "the node is shutting down; the write may have been applied".into(),
                )
            })?,
            Err(_) => Err(Error::OutcomeUnknown(
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
        let applied = self.view.shared.durable_index();
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
            forwarded: crate::Forwarded::default(),
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
mod tests;
