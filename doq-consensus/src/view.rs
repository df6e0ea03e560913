//! `StateView`: local reads of the engine's indexes and the store's bodies, answered only from durable
//! state, and `Shared`, what the applier publishes to readers.
//!
//! # Invariants
//! - The applier holds the engine's write lock only while it applies (memory, no IO); commits and their
//!   fsyncs happen after it lets go. So the engine may show writes that are not durable yet.
//! - Every applied run bumps the engine's [`Version`] under the write lock; after a group's commit the
//!   committer publishes its version in `durable`. A reader records the version it read at (under the
//!   read lock) and answers only once that version is durable, waiting on the `durable` watch, never on
//!   a lock held across a sync. So a client never sees state that a crash could take back.
//! - A failed commit rebuilds the engine from the store and starts a new epoch. A reader whose version
//!   belongs to an older epoch reads again: what it saw may never become durable.
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard,
    },
    time::{Duration, Instant},
};

use doq_api::{
    Body, Clock, Engine, Error, LogIndex, MessageId, MessageView, PeekFilter, QueueName,
    QueueStats, Result, Timestamp,
};
use doq_storage::{QueueStore, Source, WriteBatch};
use tokio::sync::watch;
use tracing::error;

use crate::health::Health;

/// A point in the engine's history. `seq` grows with every applied run and is never reused within an
/// epoch; `epoch` grows with every rebuild after a failed commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Version {
    /// Rebuilds so far.
    pub(crate) epoch: u64,
    /// Runs applied so far.
    pub(crate) seq: u64,
}

/// Group-commit counters of a node, for benchmarks and tests (what `/metrics` will export).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Batches committed to the store (one sync each when `storage.sync = always`).
    pub commits: u64,
    /// Commands those batches carried.
    pub commands: u64,
    /// Commits that failed (each also failed the groups staged behind it).
    pub failed: u64,
}

impl CommitStats {
    /// Mean commands per commit; 0 before the first.
    pub fn commands_per_commit(&self) -> f64 {
        if self.commits == 0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)] // a ratio for humans
        let ratio = self.commands as f64 / self.commits as f64;
        ratio
    }
}

/// Told about every state-machine commit that succeeded: how many commands it carried and how long the
/// store took to write (and, with `storage.sync = always` in single mode, sync) it. `/metrics` turns this
/// into its storage histograms. Called on the committing thread, so it must be cheap and must not block.
pub trait CommitObserver: Send + Sync + std::fmt::Debug + 'static {
    /// One commit of `commands` commands took `took`.
    fn committed(&self, commands: usize, took: Duration);
}

/// What the applier shares with readers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) engine: RwLock<Engine>,
    pub(crate) store: Arc<dyn QueueStore>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Bumped after every committed group, so long-polls and streams wake without polling.
    pub(crate) changed: watch::Sender<u64>,
    /// The newest version known durable.
    durable: watch::Sender<Version>,
    /// The engine's version. Written only under the engine's write lock, so a reader holding the read
    /// lock gets the version of exactly what it reads.
    epoch: AtomicU64,
    seq: AtomicU64,
    /// The applied marker's index as of the last durable commit (or rebuild).
    durable_index: AtomicU64,
    /// The error of the last failed commit, for the groups staged behind it.
    failure: Mutex<Option<Error>>,
    /// Set when a rebuild after a failed commit failed too: memory may differ from disk, so every read
    /// and write is refused until a restart replays the store.
    broken: Mutex<Option<Error>>,
    commits: AtomicU64,
    commands: AtomicU64,
    failed: AtomicU64,
    /// Set once by the front end that exports metrics; unset costs one atomic load per commit.
    observer: OnceLock<Arc<dyn CommitObserver>>,
    /// Whether the applier and the store work, for readiness.
    pub(crate) health: Health,
}

impl Shared {
    /// Shares `engine`, rebuilt from `store` whose applied marker is `applied`.
    pub(crate) fn new(
        engine: Engine,
        store: Arc<dyn QueueStore>,
        clock: Arc<dyn Clock>,
        applied: LogIndex,
    ) -> Self {
        Self {
            engine: RwLock::new(engine),
            store,
            clock,
            changed: watch::channel(0).0,
            durable: watch::channel(Version::default()).0,
            epoch: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            durable_index: AtomicU64::new(applied),
            failure: Mutex::new(None),
            broken: Mutex::new(None),
            commits: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            observer: OnceLock::new(),
            health: Health::default(),
        }
    }

    /// The engine under the write lock.
    pub(crate) fn write(&self) -> Result<RwLockWriteGuard<'_, Engine>> {
        self.engine
            .write()
            .map_err(|_| Error::Internal("engine lock poisoned".into()))
    }

    /// The engine under the read lock.
    pub(crate) fn read(&self) -> Result<RwLockReadGuard<'_, Engine>> {
        self.engine
            .read()
            .map_err(|_| Error::Internal("engine lock poisoned".into()))
    }

    /// The engine's version. Meaningful only with the engine locked (read or write).
    pub(crate) fn version(&self) -> Version {
        Version {
            epoch: self.epoch.load(Ordering::SeqCst),
            seq: self.seq.load(Ordering::SeqCst),
        }
    }

    /// Counts one applied run; call with the write lock held (the guard proves it).
    pub(crate) fn advance(&self, _locked: &RwLockWriteGuard<'_, Engine>) -> Version {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        Version {
            epoch: self.epoch.load(Ordering::SeqCst),
            seq,
        }
    }

    /// The applied marker's index as of the last durable commit or rebuild.
    pub(crate) fn durable_index(&self) -> LogIndex {
        self.durable_index.load(Ordering::SeqCst)
    }

    /// Why the applier refuses everything, if it does.
    pub(crate) fn broken(&self) -> Option<Error> {
        self.broken.lock().ok().and_then(|b| b.clone())
    }

    /// The error the groups staged behind a failed commit get.
    pub(crate) fn failure(&self) -> Error {
        self.failure
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_else(|| Error::Internal("a commit before this one failed".into()))
    }

    /// Commits `batch`, whose commands were applied up to `version` and whose marker is `last`; on
    /// success publishes `version` as durable, on failure rebuilds the engine from the store.
    pub(crate) fn commit(
        &self,
        batch: &WriteBatch,
        version: Version,
        commands: usize,
        last: LogIndex,
    ) -> Result<()> {
        let observer = self.observer.get();
        let started = observer.map(|_| Instant::now());
        match self.store.commit_ref(batch) {
            Ok(()) => {
                if let (Some(observer), Some(started)) = (observer, started) {
                    observer.committed(commands, started.elapsed());
                }
                self.health.committed();
                self.durable_index.store(last, Ordering::SeqCst);
                self.commits.fetch_add(1, Ordering::Relaxed);
                self.commands.fetch_add(commands as u64, Ordering::Relaxed);
                self.publish(version);
                Ok(())
            }
            Err(e) => {
                let e = Error::from(e);
                self.health.commit_failed(&e);
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.recover(&e);
                Err(e)
            }
        }
    }

    /// Publishes `version` as durable and wakes waiters.
    pub(crate) fn publish(&self, version: Version) {
        self.durable.send_if_modified(|d| {
            let newer =
                version.epoch > d.epoch || (version.epoch == d.epoch && version.seq > d.seq);
            if newer {
                *d = version;
            }
            newer
        });
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// After a failed commit: rebuilds the engine from the store under the write lock and starts a new
    /// epoch, so nothing that failed stays visible and readers of the old epoch read again. The caller
    /// fails every group of the old epoch that is still staged.
    pub(crate) fn recover(&self, cause: &Error) {
        error!(error = %cause, "commit failed; rebuilding the engine from the store");
        if let Ok(mut f) = self.failure.lock() {
            *f = Some(cause.clone());
        }
        let version = {
            let mut engine = match self.write() {
                Ok(engine) => engine,
                Err(e) => {
                    self.set_broken(e);
                    return;
                }
            };
            match Engine::rebuild(&Source(&*self.store)) {
                Ok(fresh) => *engine = fresh,
                Err(re) => {
                    error!(error = %re, "rebuild after a failed commit failed too; refusing reads and writes until restart");
                    self.set_broken(cause.clone());
                }
            }
            if let Ok(Some(a)) = self.store.applied() {
                self.durable_index.store(a.index, Ordering::SeqCst);
            }
            self.epoch.fetch_add(1, Ordering::SeqCst);
            let v = self.version();
            drop(engine);
            v
        };
        self.publish(version);
    }

    /// Replaces the engine (a snapshot install) after `commit` ran under the write lock; the new state
    /// is durable as soon as it is visible.
    pub(crate) fn replaced(
        &self,
        mut engine: RwLockWriteGuard<'_, Engine>,
        fresh: Engine,
        last: LogIndex,
    ) {
        *engine = fresh;
        self.durable_index.store(last, Ordering::SeqCst);
        let v = self.advance(&engine);
        drop(engine);
        if let Ok(mut b) = self.broken.lock() {
            *b = None;
        }
        self.health.repaired();
        self.health.committed();
        self.publish(v);
    }

    /// Tries again to rebuild the engine from the store after a rebuild failed (the disk may be back),
    /// so a node recovers from a storage fault without a restart. Memory then matches disk again: what
    /// the failed commits carried was answered as a storage error, never acknowledged.
    pub(crate) fn repair(&self) {
        let version = {
            let Ok(mut engine) = self.write() else {
                return;
            };
            let Ok(fresh) = Engine::rebuild(&Source(&*self.store)) else {
                return;
            };
            let Ok(applied) = self.store.applied() else {
                return;
            };
            *engine = fresh;
            self.durable_index
                .store(applied.map_or(0, |a| a.index), Ordering::SeqCst);
            self.epoch.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut b) = self.broken.lock() {
                *b = None;
            }
            let v = self.version();
            drop(engine);
            v
        };
        self.health.repaired();
        tracing::warn!("engine rebuilt from the store; accepting reads and writes again");
        self.publish(version);
    }

    pub(crate) fn set_broken(&self, e: Error) {
        self.health.broke(&e);
        if let Ok(mut b) = self.broken.lock() {
            *b = Some(e);
        }
    }

    /// Group-commit counters so far.
    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.commits.load(Ordering::Relaxed),
            commands: self.commands.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// Read access to a node's state. Cheap to clone. Call `Consensus::read_barrier` first when the read
/// must be linearizable. Every `async` read answers only from durable state (see the module's
/// invariants); the synchronous ones are for tests, admin tools and timer hints.
#[derive(Clone, Debug)]
pub struct StateView {
    pub(crate) shared: Arc<Shared>,
}

impl StateView {
    fn engine(&self) -> Result<RwLockReadGuard<'_, Engine>> {
        if let Some(e) = self.shared.broken() {
            return Err(e);
        }
        self.shared.read()
    }

    /// Runs `read` under the read lock, with the version it read at.
    fn read_at<R>(&self, read: impl FnOnce(&Engine) -> R) -> Result<(R, Version)> {
        let engine = self.engine()?;
        let version = self.shared.version();
        Ok((read(&engine), version))
    }

    /// Waits until `seen` is durable: `true` then, `false` when the engine was rebuilt meanwhile (what
    /// was read at `seen` may never become durable: read again). Waits on the durable watch only.
    async fn settled(&self, seen: Version) -> Result<bool> {
        let mut durable = self.shared.durable.subscribe();
        loop {
            let d = *durable.borrow_and_update();
            if d.epoch > seen.epoch {
                if let Some(e) = self.shared.broken() {
                    return Err(e);
                }
                return Ok(false);
            }
            // An epoch that is not published yet is a rebuild that is about to be: wait for it.
            if d.epoch == seen.epoch && d.seq >= seen.seq {
                return Ok(true);
            }
            if durable.changed().await.is_err() {
                return Err(Error::Unavailable("the node is shutting down".into()));
            }
        }
    }

    /// `read` over the engine, answered once what it read is durable.
    async fn durable_read<R>(&self, mut read: impl FnMut(&Engine) -> R) -> Result<R> {
        loop {
            let (r, seen) = self.read_at(&mut read)?;
            if self.settled(seen).await? {
                return Ok(r);
            }
        }
    }

    /// The node's clock, the time reads are evaluated at.
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// The clock a proposer on this node stamps from.
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.shared.clock
    }

    /// The storage backend's name.
    pub fn backend(&self) -> &'static str {
        self.shared.store.backend()
    }

    /// The node's store, for point-in-time exports (`QueueStore::with_snapshot`) and housekeeping
    /// outside apply (tombstone pruning). Writes to queue state go through consensus, never through this.
    pub fn store(&self) -> std::sync::Arc<dyn QueueStore> {
        self.shared.store.clone()
    }

    /// Whether a dequeue now would find something. `true` is answered at once: it only leads to a
    /// proposal, which is ordered after what was seen and answered after it is durable. `false` and
    /// errors (an unknown queue) wait until what they were read from is durable, so an empty answer
    /// never rests on a dequeue or delete that a crash could undo.
    pub async fn ready_now(&self, queue: &QueueName) -> Result<bool> {
        loop {
            let now = self.now();
            let (ready, seen) = self.read_at(|e| e.ready_now(queue, now))?;
            if matches!(ready, Ok(true)) || self.settled(seen).await? {
                return ready;
            }
        }
    }

    /// [`Engine::check`] on this node's state: `Ok` at once (the command is then proposed, and `apply`
    /// checks again); a rejection waits until what it was read from is durable, like [`Self::ready_now`],
    /// so it never rests on a write a crash could undo. It is local: in a cluster, confirm a rejection
    /// after a read barrier (`crate::Checked` does).
    pub async fn check(&self, cmd: &doq_api::Command) -> Result<()> {
        loop {
            let (checked, seen) = self.read_at(|e| e.check(cmd))?;
            if checked.is_ok() || self.settled(seen).await? {
                return checked;
            }
        }
    }

    /// Queue info and stats, from durable state.
    pub async fn stats(&self, queue: &QueueName, window: u32) -> Result<QueueStats> {
        self.durable_read(|e| e.stats(queue, self.now(), window))
            .await?
    }

    /// Every queue's stats, sorted by name, from durable state.
    pub async fn list(&self, window: u32) -> Result<Vec<QueueStats>> {
        self.durable_read(|e| e.list(self.now(), window)).await
    }

    /// A message with its body, from durable state. The body is read from the store on a blocking
    /// thread once the index entry is durable (only then is it sure to be in the store), and the answer
    /// waits again for whatever the store showed, which the engine had applied before.
    pub async fn message(&self, queue: &QueueName, id: MessageId) -> Result<(MessageView, Body)> {
        loop {
            let now = self.now();
            let (found, seen) = self.read_at(|e| e.message(queue, id, now))?;
            if !self.settled(seen).await? {
                continue;
            }
            let view = found?;
            let store = self.shared.store.clone();
            let qid = view.header.queue;
            let body = tokio::task::spawn_blocking(move || store.get_body(qid, id))
                .await
                .map_err(|e| Error::Internal(format!("read task failed: {e}")))?
                .map_err(Error::from)?;
            let (_, after) = self.read_at(|_| ())?;
            if !self.settled(after).await? {
                continue;
            }
            return match body {
                Some(body) => Ok((view, body)),
                // Deleted between the index read and the body read.
                None => Err(Error::MessageNotFound {
                    queue: queue.to_string(),
                }),
            };
        }
    }

    /// A page of `queue`'s messages with their bodies (docs/http.md §3.5 peek): up to `limit` with ids after
    /// `after` whose state passes `filter`, by id, and whether more follow. Like `message`, the index is
    /// read once durable, the bodies on a blocking thread, and the answer waits again for what the store
    /// showed. A message deleted between the two reads is left out of the page.
    pub async fn peek(
        &self,
        queue: &QueueName,
        after: Option<MessageId>,
        limit: usize,
        filter: PeekFilter,
    ) -> Result<(Vec<(MessageView, Body)>, bool)> {
        loop {
            let now = self.now();
            let (found, seen) = self.read_at(|e| e.peek(queue, after, limit, filter, now))?;
            if !self.settled(seen).await? {
                continue;
            }
            let page = found?;
            let store = self.shared.store.clone();
            let more = page.more;
            let views = page.messages;
            let read = tokio::task::spawn_blocking(move || {
                let mut out = Vec::with_capacity(views.len());
                for view in views {
                    if let Some(body) = store.get_body(view.header.queue, view.header.id)? {
                        out.push((view, body));
                    }
                }
                Ok::<_, doq_storage::Error>(out)
            })
            .await
            .map_err(|e| Error::Internal(format!("read task failed: {e}")))?
            .map_err(Error::from)?;
            let (_, after_read) = self.read_at(|_| ())?;
            if !self.settled(after_read).await? {
                continue;
            }
            return Ok((read, more));
        }
    }

    /// The engine's digest (replicas and rebuilds must agree). It includes writes not yet durable.
    pub fn digest(&self) -> Result<u64> {
        Ok(self.engine()?.digest())
    }

    /// Runs `f` on the engine under the read lock (for tests, admin tools and timer hints); it may
    /// see writes that are not durable yet.
    pub fn with_engine<R>(&self, f: impl FnOnce(&Engine) -> R) -> Result<R> {
        let engine = self.engine()?;
        Ok(f(&engine))
    }

    /// Why this node's state machine cannot serve (a failed commit not yet followed by a good one, or an
    /// engine that could not be rebuilt), or `None` when it can. `/readyz` answers 503 with it.
    pub fn health_problem(&self) -> Option<String> {
        self.shared.health.problem()
    }

    /// A receiver that changes after every committed group of commands.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// Group-commit counters: commits, the commands they carried, failures.
    pub fn commit_stats(&self) -> CommitStats {
        self.shared.stats()
    }

    /// Installs the observer told about every successful commit; `false` if one was installed already.
    pub fn observe_commits(&self, observer: Arc<dyn CommitObserver>) -> bool {
        self.shared.observer.set(observer).is_ok()
    }
}
