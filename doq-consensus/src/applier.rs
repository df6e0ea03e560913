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
}

impl Applier {
    /// Opens the applier over a store whose engine was rebuilt into `shared`.
    pub(crate) fn new(shared: Arc<Shared>, applied: LogIndex) -> Self {
        Self {
            shared,
            applied,
            broken: None,
        }
    }

    /// The index of the last command committed.
    pub(crate) fn applied(&self) -> LogIndex {
        self.applied
    }

    /// Applies `run` in order and commits it as one batch. Returns one result per command. When the
    /// commit fails every command gets the storage error and the engine is rebuilt from the store, so
    /// memory never runs ahead of disk.
    pub(crate) fn apply_run(&mut self, run: &[Stamped]) -> Vec<Result<Reply>> {
        if let Some(e) = &self.broken {
            return run.iter().map(|_| Err(e.clone())).collect();
        }
        let store: &dyn QueueStore = &*self.shared.store;
        let Ok(mut engine) = self.shared.engine.write() else {
            return run
                .iter()
                .map(|_| Err(Error::Internal("engine lock poisoned".into())))
                .collect();
        };
        let mut batch = WriteBatch::new();
        let mut replies = Vec::with_capacity(run.len());
        let mut index = self.applied;
        let mut failure = None;
        for cmd in run {
            index += 1;
            let reply = engine.apply(index, cmd, &mut Staged::new(&mut batch, store));
            if let Err(e @ (Error::Storage { .. } | Error::Internal(_))) = &reply {
                failure = Some(e.clone());
                break;
            }
            replies.push(reply);
        }
        let committed = match failure {
            Some(e) => Err(e),
            None => {
                batch.set_applied(Applied {
                    index,
                    data: Vec::new(),
                });
                store.commit(batch).map_err(Error::from)
            }
        };
        match committed {
            Ok(()) => {
                self.applied = index;
                drop(engine);
                self.shared.changed.send_modify(|v| *v = v.wrapping_add(1));
                replies
            }
            Err(e) => {
                error!(error = %e, "commit failed; rebuilding the engine from the store");
                match Engine::rebuild(&Source(store)) {
                    Ok(fresh) => *engine = fresh,
                    Err(re) => {
                        error!(error = %re, "rebuild after a failed commit failed too; refusing writes until restart");
                        self.broken = Some(e.clone());
                    }
                }
                if let Ok(Some(a)) = store.applied() {
                    self.applied = a.index;
                }
                run.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }
}
