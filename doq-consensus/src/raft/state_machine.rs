//! `StateMachine`: openraft's state machine over the [`Applier`]. A run of committed entries is applied to
//! the engine and committed to the `QueueStore` as one batch whose applied marker holds the Raft log id and
//! membership, so state and position can never disagree after a crash. Snapshots come from `snapshot.rs`.
use std::{
    io::Cursor,
    sync::{Arc, Mutex, PoisonError},
};

use doq_api::{Error, LogIndex, Stamped};
use doq_storage::Applied;
use openraft::{
    storage::RaftStateMachine, AnyError, Entry, EntryPayload, LogId, OptionalSend,
    RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::{
    snapshot,
    types::{DoqNode, Response, TypeConfig},
};
use crate::applier::Applier;

type StorageResult<T> = Result<T, StorageError<u64>>;

/// What the applied marker's opaque bytes hold: where the state is in the Raft log, and the membership
/// that was in force there.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Marker {
    /// The last applied log id.
    pub(crate) last_applied: Option<LogId<u64>>,
    /// The last applied membership.
    pub(crate) membership: StoredMembership<u64, DoqNode>,
}

impl Marker {
    /// Reads the marker from the store's applied record (`None` for a fresh store).
    pub(crate) fn decode(applied: Option<&Applied>) -> doq_api::Result<Self> {
        match applied {
            None => Ok(Self::default()),
            Some(a) if a.data.is_empty() => Ok(Self::default()),
            Some(a) => serde_json::from_slice(&a.data)
                .map_err(|e| Error::Internal(format!("undecodable raft applied marker: {e}"))),
        }
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The snapshot this node last built or installed.
#[derive(Clone, Debug)]
struct Stored {
    meta: SnapshotMeta<u64, DoqNode>,
    data: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    marker: Marker,
    current: Option<Stored>,
    built: u64,
}

/// The state machine; clones share the applier.
#[derive(Clone, Debug)]
pub(crate) struct StateMachine {
    applier: Arc<Mutex<Applier>>,
    state: Arc<Mutex<State>>,
}

fn sm_error(e: &Error) -> StorageError<u64> {
    StorageIOError::write_state_machine(AnyError::new(e)).into()
}

fn join_error(e: &tokio::task::JoinError) -> StorageError<u64> {
    StorageIOError::write_state_machine(AnyError::new(e)).into()
}

impl StateMachine {
    /// Wraps `applier`, whose store's applied marker is `marker`.
    pub(crate) fn new(applier: Applier, marker: Marker) -> Self {
        Self {
            applier: Arc::new(Mutex::new(applier)),
            state: Arc::new(Mutex::new(State {
                marker,
                ..State::default()
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<u64>>, StoredMembership<u64, DoqNode>)> {
        let s = self.state();
        Ok((s.marker.last_applied, s.marker.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Response>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut marker = self.state().marker.clone();
        let mut run: Vec<(LogIndex, Option<Stamped>)> = Vec::new();
        for entry in entries {
            marker.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => run.push((entry.log_id.index, None)),
                EntryPayload::Normal(req) => run.push((entry.log_id.index, Some(req.0))),
                EntryPayload::Membership(m) => {
                    marker.membership = StoredMembership::new(Some(entry.log_id), m);
                    run.push((entry.log_id.index, None));
                }
            }
        }
        let Some(last) = marker.last_applied else {
            return Ok(Vec::new());
        };
        let applier = self.applier.clone();
        let data = marker.encode();
        let replies = tokio::task::spawn_blocking(move || {
            let refs: Vec<(LogIndex, Option<&Stamped>)> =
                run.iter().map(|(i, s)| (*i, s.as_ref())).collect();
            applier
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .apply_entries(&refs, last.index, data)
        })
        .await
        .map_err(|e| join_error(&e))?
        // A failed commit stops this node's Raft: it must not apply later entries over a gap. A restart
        // replays the log from the store's applied marker.
        .map_err(|e| sm_error(&e))?;
        self.state().marker = marker;
        Ok(replies.into_iter().map(Response).collect())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, DoqNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let marker = Marker {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        let data = snapshot.into_inner();
        let applier = self.applier.clone();
        let applied = Applied {
            index: meta.last_log_id.map_or(0, |l| l.index),
            data: marker.encode(),
        };
        let bytes = data.clone();
        tokio::task::spawn_blocking(move || {
            let mut applier = applier.lock().unwrap_or_else(PoisonError::into_inner);
            let existing = applier.store().queues().map_err(Error::from)?;
            let index = applied.index;
            let batch = snapshot::install_batch(&bytes, &existing, applied)?;
            applier.replace(batch, index)
        })
        .await
        .map_err(|e| join_error(&e))?
        .map_err(|e| sm_error(&e))?;
        tracing::info!(last = ?meta.last_log_id, bytes = data.len(), "installed a snapshot from the leader");
        let mut s = self.state();
        s.marker = marker;
        s.current = Some(Stored {
            meta: meta.clone(),
            data,
        });
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        Ok(self.state().current.clone().map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let applier = self.applier.clone();
        // Holding the applier, nothing can commit (the applier commits outside the engine's lock), so
        // the records and the marker read here are one consistent state.
        let (data, marker) = tokio::task::spawn_blocking(move || {
            let still = applier.lock().unwrap_or_else(PoisonError::into_inner);
            let shared = still.shared().clone();
            let marker = Marker::decode(shared.store.applied().map_err(Error::from)?.as_ref())?;
            let data = snapshot::build(&*shared.store)?;
            Ok::<_, Error>((data, marker))
        })
        .await
        .map_err(|e| join_error(&e))?
        .map_err(|e| StorageError::from(StorageIOError::read_state_machine(AnyError::new(&e))))?;
        let mut s = self.state();
        s.built += 1;
        let snapshot_id = format!("{}-{}", marker.last_applied.map_or(0, |l| l.index), s.built);
        let meta = SnapshotMeta {
            last_log_id: marker.last_applied,
            last_membership: marker.membership,
            snapshot_id,
        };
        s.current = Some(Stored {
            meta: meta.clone(),
            data: data.clone(),
        });
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}
