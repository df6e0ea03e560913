//! `StateView`: local reads of the engine's indexes and the store's bodies.
use std::sync::{Arc, RwLock, RwLockReadGuard};

use doq_api::{
    Body, Clock, Engine, Error, MessageId, MessageView, QueueName, QueueStats, Result, Timestamp,
};
use doq_storage::QueueStore;
use tokio::sync::watch;

use crate::health::Health;

/// What the applier shares with readers. The applier holds the write lock while it applies and
/// commits a run, so a reader never sees a write that is not yet durable.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) engine: RwLock<Engine>,
    pub(crate) store: Arc<dyn QueueStore>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Bumped after every committed run, so long-polls and streams wake without polling.
    pub(crate) changed: watch::Sender<u64>,
    /// Whether the applier and the store work, for readiness.
    pub(crate) health: Health,
}

/// Read access to a node's state. Cheap to clone. Call `Consensus::read_barrier` first when the read
/// must be linearizable.
#[derive(Clone, Debug)]
pub struct StateView {
    pub(crate) shared: Arc<Shared>,
}

impl StateView {
    fn engine(&self) -> Result<RwLockReadGuard<'_, Engine>> {
        self.shared
            .engine
            .read()
            .map_err(|_| Error::Internal("engine lock poisoned".into()))
    }

    /// The node's clock, the time reads are evaluated at.
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
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

    /// Whether a dequeue now would find something.
    pub fn ready_now(&self, queue: &QueueName) -> Result<bool> {
        let now = self.now();
        self.engine()?.ready_now(queue, now)
    }

    /// Queue info and stats.
    pub fn stats(&self, queue: &QueueName, window: u32) -> Result<QueueStats> {
        let now = self.now();
        self.engine()?.stats(queue, now, window)
    }

    /// Every queue's stats, sorted by name.
    pub fn list(&self, window: u32) -> Result<Vec<QueueStats>> {
        let now = self.now();
        Ok(self.engine()?.list(now, window))
    }

    /// A message with its body. Blocks on the store: call it from `spawn_blocking`.
    pub fn message(&self, queue: &QueueName, id: MessageId) -> Result<(MessageView, Body)> {
        let now = self.now();
        let view = self.engine()?.message(queue, id, now)?;
        match self
            .shared
            .store
            .get_body(view.header.queue, id)
            .map_err(Error::from)?
        {
            Some(body) => Ok((view, body)),
            // Deleted between the index read and the body read.
            None => Err(Error::MessageNotFound {
                queue: queue.to_string(),
            }),
        }
    }

    /// The engine's digest (replicas and rebuilds must agree).
    pub fn digest(&self) -> Result<u64> {
        Ok(self.engine()?.digest())
    }

    /// Runs `f` on the engine under the read lock (for tests and admin tools).
    pub fn with_engine<R>(&self, f: impl FnOnce(&Engine) -> R) -> Result<R> {
        let engine = self.engine()?;
        Ok(f(&engine))
    }

    /// Why this node's state machine cannot serve (a failed commit not yet followed by a good one, or an
    /// engine that could not be rebuilt), or `None` when it can. `/readyz` answers 503 with it.
    pub fn health_problem(&self) -> Option<String> {
        self.shared.health.problem()
    }

    /// A receiver that changes after every committed run of commands.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }
}
