//! The `Applier`: applies a run of stamped commands to the engine, stages their writes into one
//! batch, commits it once, and only then lets the replies go.
use std::sync::Arc;

use doq_api::{Engine, Error, LogIndex, Reply, Result, Stamped};
use doq_storage::{Applied, QueueStore, Source, Staged, WriteBatch};
use tracing::error;

use crate::view::Shared;

/// Applies runs of commands; owned by the single writer thread.
#[derive(Debug)]
pub(crate) struct Applier {
    shared: Arc<Shared>,
    /// The index of the last command committed.
    applied: LogIndex,
    /// Set when a failed commit could not be undone by a rebuild: memory may differ from disk, so
    /// every later command is refused until a restart replays the store.
    broken: Option<Error>,
    /// Whether the store is known to hold a cluster id, so the check reads the store once, not per run.
    has_cluster_id: bool,
}

impl Applier {
    /// Opens the applier over a store whose engine was rebuilt into `shared`.
    pub(crate) fn new(shared: Arc<Shared>, applied: LogIndex) -> Self {
        Self {
            shared,
            applied,
            broken: None,
            has_cluster_id: false,
        }
    }

    /// The index of the last command committed.
    pub(crate) fn applied(&self) -> LogIndex {
        self.applied
    }

    /// Applies `run` in order and commits it as one batch, numbering the commands after the last one
    /// applied. Returns one result per command. When the commit fails every command gets the storage
    /// error and the engine is rebuilt from the store, so memory never runs ahead of disk.
    pub(crate) fn apply_run(&mut self, run: &[Stamped]) -> Vec<Result<Reply>> {
        let first = self.applied + 1;
        let entries: Vec<(LogIndex, Option<&Stamped>)> = run
            .iter()
            .zip(first..)
            .map(|(cmd, index)| (index, Some(cmd)))
            .collect();
        let last = self.applied + run.len() as u64;
        match self.apply_entries(&entries, last, Vec::new()) {
            Ok(replies) => replies
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err(Error::Internal("no reply".into()))))
                .collect(),
            Err(e) => run.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    /// Applies log entries in order and commits them as one batch whose applied marker is `last` with
    /// consensus's opaque `data` (the Raft log id and membership). `None` entries (Raft's blank and
    /// membership entries) only move the marker. Returns one reply per entry, `None` for those.
    ///
    /// An `Err` means nothing of the run was committed: the engine was rebuilt from the store (or, if
    /// that failed too, the applier refuses everything until a restart).
    pub(crate) fn apply_entries(
        &mut self,
        entries: &[(LogIndex, Option<&Stamped>)],
        last: LogIndex,
        data: Vec<u8>,
    ) -> Result<Vec<Option<Result<Reply>>>> {
        if self.broken.is_some() {
            self.repair();
        }
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let store: &dyn QueueStore = &*self.shared.store;
        let Ok(mut engine) = self.shared.engine.write() else {
            return Err(Error::Internal("engine lock poisoned".into()));
        };
        let mut batch = WriteBatch::new();
        let mut replies = Vec::with_capacity(entries.len());
        let mut failure = None;
        // A replicated deployment's cluster id (what backups name their source with) must be the same on
        // every replica, so it comes from the log: the leader's stamp on the first command.
        if !self.has_cluster_id {
            self.has_cluster_id = doq_storage::cluster_id(store)?.is_some();
        }
        let mut needs_cluster_id = !self.has_cluster_id;
        for (index, cmd) in entries {
            let Some(cmd) = cmd else {
                replies.push(None);
                continue;
            };
            if needs_cluster_id {
                batch.set_cluster_id(&format!("{:016x}-{:016x}", cmd.seed, cmd.now.0));
                needs_cluster_id = false;
            }
            let reply = engine.apply(*index, cmd, &mut Staged::new(&mut batch, store));
            if let Err(e @ (Error::Storage { .. } | Error::Internal(_))) = &reply {
                failure = Some(e.clone());
                break;
            }
            replies.push(Some(reply));
        }
        let committed = match failure {
            Some(e) => Err(e),
            None => {
                batch.set_applied(Applied { index: last, data });
                store.commit(batch).map_err(Error::from)
            }
        };
        match committed {
            Ok(()) => {
                self.shared.health.committed();
                self.applied = last;
                self.has_cluster_id |= !needs_cluster_id;
                drop(engine);
                self.shared.changed.send_modify(|v| *v = v.wrapping_add(1));
                Ok(replies)
            }
            Err(e) => {
                error!(error = %e, "commit failed; rebuilding the engine from the store");
                self.shared.health.commit_failed(&e);
                match Engine::rebuild(&Source(store)) {
                    Ok(fresh) => *engine = fresh,
                    Err(re) => {
                        error!(error = %re, "rebuild after a failed commit failed too; refusing writes until a rebuild succeeds");
                        self.shared.health.broke(&re);
                        self.broken = Some(e.clone());
                    }
                }
                if let Ok(Some(a)) = store.applied() {
                    self.applied = a.index;
                }
                Err(e)
            }
        }
    }

    /// Replaces the state with what `batch` leaves (a snapshot install: it wipes and refills every
    /// keyspace and sets the applied marker), then rebuilds the engine from the store.
    pub(crate) fn replace(&mut self, batch: WriteBatch, last: LogIndex) -> Result<()> {
        let store: &dyn QueueStore = &*self.shared.store;
        let Ok(mut engine) = self.shared.engine.write() else {
            return Err(Error::Internal("engine lock poisoned".into()));
        };
        let committed = store.commit(batch).map_err(Error::from);
        // Rebuild either way: after a failed commit the store still holds the old state.
        match Engine::rebuild(&Source(store)) {
            Ok(fresh) => *engine = fresh,
            Err(re) => {
                error!(error = %re, "rebuild after a snapshot install failed; refusing writes until restart");
                self.shared.health.broke(&re);
                self.broken = Some(re.clone());
                return Err(re);
            }
        }
        committed?;
        self.applied = last;
        self.broken = None;
        self.shared.health.repaired();
        self.shared.health.committed();
        drop(engine);
        self.shared.changed.send_modify(|v| *v = v.wrapping_add(1));
        Ok(())
    }

    /// Tries again to rebuild the engine from the store after a failed rebuild (the disk may be back), so
    /// a node recovers from a storage fault without a restart. Memory then matches disk again: what the
    /// failed commits carried was answered as a storage error (outcome unknown), never acknowledged.
    fn repair(&mut self) {
        let store: &dyn QueueStore = &*self.shared.store;
        let Ok(mut engine) = self.shared.engine.write() else {
            return;
        };
        let Ok(fresh) = Engine::rebuild(&Source(store)) else {
            return;
        };
        let Ok(applied) = store.applied() else {
            return;
        };
        *engine = fresh;
        self.applied = applied.map_or(0, |a| a.index);
        self.broken = None;
        self.shared.health.repaired();
        tracing::warn!("engine rebuilt from the store; accepting writes again");
    }

    /// The store the applier commits to.
    pub(crate) fn store(&self) -> &Arc<dyn QueueStore> {
        &self.shared.store
    }

    /// The state shared with readers.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}
