//! The `Applier`: applies runs of stamped commands to the engine and stages their writes into a
//! [`Group`], one batch for many commands. It holds the engine's write lock only while applying; the
//! group is committed afterwards (by the caller, or a committer thread), and only then do its replies go.
use std::sync::Arc;

use doq_api::{Error, LogIndex, Reply, Result, Stamped};
use doq_storage::{Applied, QueueStore, Staged, WriteBatch};

use crate::view::{Shared, Version};

/// Commands applied to the engine whose writes wait in one batch for their commit.
#[derive(Debug, Default)]
pub(crate) struct Group {
    /// The staged writes.
    pub(crate) batch: WriteBatch,
    /// The engine's version after the last run applied into the group: durable once it commits.
    pub(crate) version: Version,
    /// The index of the last command in the group (the applied marker).
    pub(crate) last: LogIndex,
    /// How many commands the group holds.
    pub(crate) commands: usize,
}

impl Group {
    /// An empty group, opened in the engine's current epoch.
    pub(crate) fn new(version: Version) -> Self {
        Self {
            version,
            ..Self::default()
        }
    }
}

/// Why a run was not staged.
#[derive(Debug)]
pub(crate) enum StageError {
    /// Nothing was applied: the applier refuses writes, or the lock is poisoned.
    Refused(Error),
    /// The group was opened before a failed commit rebuilt the engine: what it holds will never be
    /// committed. Nothing of the run was applied.
    Stale,
    /// Applying failed part-way (a store read or an engine bug): the engine may hold part of the run.
    /// Fail the run and the group, let earlier groups finish committing, then `Shared::recover`.
    Dirty(Error),
}

/// Applies runs of commands; owned by the single writer thread (or Raft's state machine).
#[derive(Debug)]
pub(crate) struct Applier {
    shared: Arc<Shared>,
    /// The index of the last command applied to the engine (it may not be durable yet).
    applied: LogIndex,
    /// The epoch `applied` and `has_cluster_id` belong to; after a rebuild both are read again.
    epoch: u64,
    /// Whether the store (or a staged group) holds a cluster id, so the check reads the store once.
    has_cluster_id: bool,
}

impl Applier {
    /// Opens the applier over a store whose engine was rebuilt into `shared`.
    pub(crate) fn new(shared: Arc<Shared>, applied: LogIndex) -> Self {
        Self {
            shared,
            applied,
            epoch: 0,
            has_cluster_id: false,
        }
    }

    /// Applies `run` in order into `group`, numbering the commands after the last one applied, reading
    /// bodies through `pending` (batches handed to the committer, oldest first). Returns one result per
    /// command, to be sent once the group is durable.
    pub(crate) fn stage_run(
        &mut self,
        group: &mut Group,
        run: &[Stamped],
        pending: &[&WriteBatch],
    ) -> Result<Vec<Result<Reply>>, StageError> {
        self.stage(group, pending, |first| {
            run.iter()
                .zip(first..)
                .map(|(cmd, index)| (index, Some(cmd)))
                .collect()
        })
        .map(|replies| {
            replies
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err(Error::Internal("no reply".into()))))
                .collect()
        })
    }

    /// Applies log entries in order and commits them as one batch whose applied marker is `last` with
    /// consensus's opaque `data` (the Raft log id and membership). `None` entries (Raft's blank and
    /// membership entries) only move the marker. Returns one reply per entry, `None` for those.
    ///
    /// The engine's write lock is held while applying, not while committing. An `Err` means nothing of
    /// the run was committed: the engine was rebuilt from the store (or, if that failed too, the
    /// applier refuses everything until a restart).
    pub(crate) fn apply_entries(
        &mut self,
        entries: &[(LogIndex, Option<&Stamped>)],
        last: LogIndex,
        data: Vec<u8>,
    ) -> Result<Vec<Option<Result<Reply>>>> {
        let mut group = Group::new(self.shared.version());
        let replies = loop {
            match self.stage(&mut group, &[], |_| entries.to_vec()) {
                Ok(replies) => break replies,
                // Nothing is committing here, but a rebuild by `replace` may have started an epoch.
                Err(StageError::Stale) => group = Group::new(self.shared.version()),
                Err(StageError::Refused(e)) => return Err(e),
                Err(StageError::Dirty(e)) => {
                    self.shared.recover(&e);
                    return Err(e);
                }
            }
        };
        self.applied = last;
        group.last = last;
        group.batch.set_applied(Applied { index: last, data });
        self.shared
            .commit(&group.batch, group.version, group.commands, last)?;
        Ok(replies)
    }

    /// Applies the entries `entries(first index)` into `group` under the engine's write lock.
    fn stage<'e>(
        &mut self,
        group: &mut Group,
        pending: &[&WriteBatch],
        entries: impl FnOnce(LogIndex) -> Vec<(LogIndex, Option<&'e Stamped>)>,
    ) -> Result<Vec<Option<Result<Reply>>>, StageError> {
        if self.shared.broken().is_some() {
            // A rebuild failed after a failed commit; the disk may be back, so try again first.
            self.shared.repair();
        }
        if let Some(e) = self.shared.broken() {
            return Err(StageError::Refused(e));
        }
        let store: &dyn QueueStore = &*self.shared.store;
        let mut engine = self.shared.write().map_err(StageError::Refused)?;
        let epoch = self.shared.version().epoch;
        if group.commands > 0 && group.version.epoch != epoch {
            return Err(StageError::Stale);
        }
        if epoch != self.epoch {
            // A failed commit rebuilt the engine from the store: continue from what the store holds.
            self.epoch = epoch;
            self.applied = self.shared.durable_index();
            self.has_cluster_id = false;
        }
        let entries = entries(self.applied + 1);
        // A replicated deployment's cluster id (what backups name their source with) must be the same on
        // every replica, so it comes from the log: the leader's stamp on the first command.
        if !self.has_cluster_id {
            self.has_cluster_id = doq_storage::cluster_id(store)
                .map_err(|e| StageError::Refused(e.into()))?
                .is_some();
        }
        let mut replies = Vec::with_capacity(entries.len());
        let mut staged = Staged::over(&mut group.batch, pending, store);
        for (index, cmd) in &entries {
            let Some(cmd) = cmd else {
                replies.push(None);
                continue;
            };
            if !self.has_cluster_id {
                staged
                    .batch
                    .set_cluster_id(&format!("{:016x}-{:016x}", cmd.seed, cmd.now.0));
                self.has_cluster_id = true;
            }
            let reply = engine.apply(*index, cmd, &mut staged);
            if let Err(e @ (Error::Storage { .. } | Error::Internal(_))) = &reply {
                return Err(StageError::Dirty(e.clone()));
            }
            replies.push(Some(reply));
        }
        if let Some((last, _)) = entries.last() {
            self.applied = *last;
            group.last = *last;
        }
        group.commands += entries.iter().filter(|(_, c)| c.is_some()).count();
        group.version = self.shared.advance(&engine);
        Ok(replies)
    }

    /// Replaces the state with what `batch` leaves (a snapshot install: it wipes and refills every
    /// keyspace and sets the applied marker), then rebuilds the engine from the store. Commits under
    /// the write lock: an install is rare, and readers must not see the old engine over the new store.
    pub(crate) fn replace(&mut self, batch: WriteBatch, last: LogIndex) -> Result<()> {
        let store: &dyn QueueStore = &*self.shared.store;
        let engine = self.shared.write()?;
        let committed = store.commit(batch).map_err(Error::from);
        // Rebuild either way: after a failed commit the store still holds the old state.
        let fresh = match doq_api::Engine::rebuild(&doq_storage::Source(store)) {
            Ok(fresh) => fresh,
            Err(re) => {
                tracing::error!(error = %re, "rebuild after a snapshot install failed; refusing writes until restart");
                self.shared.set_broken(re.clone());
                return Err(re);
            }
        };
        let index = match &committed {
            Ok(()) => last,
            Err(_) => store.applied().ok().flatten().map_or(0, |a| a.index),
        };
        self.shared.replaced(engine, fresh, index);
        self.applied = index;
        self.has_cluster_id = false;
        committed
    }

    /// After a failed commit rebuilt the engine from the store (a new `epoch`), continues from what the
    /// store holds: the failed run's numbers are free again.
    fn resync(&mut self, epoch: u64) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.applied = self.shared.durable_index();
            self.has_cluster_id = false;
        }
    }

    /// The index of the last command applied to the engine, as of the engine's current epoch (after a
    /// failed commit, the last one the store holds).
    pub(crate) fn applied(&mut self) -> LogIndex {
        self.resync(self.shared.version().epoch);
        self.applied
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
