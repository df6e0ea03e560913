//! `StateMachine`: openraft's state machine over the [`Applier`]. A run of committed entries is applied to
//! the engine and committed to the `QueueStore` as one batch whose applied marker holds the Raft log id and
//! membership, so state and position can never disagree after a crash. Snapshots come from `snapshot.rs`.
use std::{
    io::Cursor,
    sync::{Arc, Mutex, PoisonError},
};

use doq_api::{Error, LogIndex, Reply, Stamped};
use doq_storage::Applied;
use openraft::{
    storage::RaftStateMachine, AnyError, Entry, EntryPayload, LogId, OptionalSend,
    RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::{
    gate::Gate,
    snapshot,
    types::{DoqNode, Response, TypeConfig},
};
use crate::applier::Applier;

type StorageResult<T> = Result<T, StorageError<u64>>;

/// The first and the longest pause before a run whose commit failed on a storage fault is applied
/// again.
const APPLY_RETRY_MIN: std::time::Duration = std::time::Duration::from_millis(50);
const APPLY_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(2);

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
    /// Shared with the log: taken around every apply, before the engine's write lock.
    gate: Gate,
}

fn sm_error(e: &Error) -> StorageError<u64> {
    StorageIOError::write_state_machine(AnyError::new(e)).into()
}

fn join_error(e: &tokio::task::JoinError) -> StorageError<u64> {
    StorageIOError::write_state_machine(AnyError::new(e)).into()
}

impl StateMachine {
    /// Wraps `applier`, whose store's applied marker is `marker`; `gate` is the log's (see `Gate`).
    pub(crate) fn new(applier: Applier, marker: Marker, gate: Gate) -> Self {
        Self {
            gate,
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

    /// Applies one run of command slots and commits it with the marker `data`, on a blocking thread.
    /// The outer error is a panicked task; the inner one the applier's (nothing of the run committed).
    async fn apply_run(
        &self,
        run: Arc<Vec<Option<Stamped>>>,
        data: Vec<u8>,
    ) -> StorageResult<doq_api::Result<Vec<Option<doq_api::Result<Reply>>>>> {
        let applier = self.applier.clone();
        let gate = self.gate.clone();
        tokio::task::spawn_blocking(move || {
            // Wait for the log's writes (and their fsync) before taking the engine's write lock, so
            // readers never queue behind a disk flush (see `Gate`).
            let _gate = gate.enter();
            let mut applier = applier.lock().unwrap_or_else(PoisonError::into_inner);
            // Slots are numbered by count, not by log index: an entry holds many commands, and each
            // needs an index of its own (receipts name one delivery, versions one write). The store's
            // applied index is the count so far, the same on every replica, since all apply the same
            // entries in order (snapshots carry it). An entry without commands takes one number, as
            // every entry did when each held one command, so a log from then replays alike. After a
            // failed commit, `applied` is the store's again, so a retried run gets the same numbers.
            let first = applier.applied() + 1;
            let refs: Vec<(LogIndex, Option<&Stamped>)> =
                (first..).zip(run.iter().map(Option::as_ref)).collect();
            let last = first - 1 + run.len() as u64;
            applier.apply_entries(&refs, last, data)
        })
        .await
        .map_err(|e| join_error(&e))
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
        // One slot per command, and one (empty) slot for an entry without commands (blank, membership),
        // in order; `shape` remembers each entry's slots, so the replies can be handed back per entry.
        let mut run: Vec<Option<Stamped>> = Vec::new();
        let mut shape: Vec<usize> = Vec::new();
        for entry in entries {
            marker.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Normal(req) if !req.0.is_empty() => {
                    shape.push(req.0.len());
                    run.extend(req.0.into_iter().map(Some));
                }
                EntryPayload::Normal(_) | EntryPayload::Blank => {
                    shape.push(1);
                    run.push(None);
                }
                EntryPayload::Membership(m) => {
                    marker.membership = StoredMembership::new(Some(entry.log_id), m);
                    shape.push(1);
                    run.push(None);
                }
            }
        }
        if marker.last_applied.is_none() {
            return Ok(Vec::new());
        }
        let data = marker.encode();
        let began = std::time::Instant::now();
        let slots = run.len();
        let run = Arc::new(run);
        let mut pause = APPLY_RETRY_MIN;
        let mut failures = 0u32;
        let replies = loop {
            match self.apply_run(run.clone(), data.clone()).await? {
                Ok(replies) => break replies,
                // A storage fault (a full disk, an I/O error): nothing of the run was committed and the
                // engine was rebuilt from the store, so the same run can be applied again once the
                // store works. Later entries must not be applied over the gap, so this node's apply
                // waits here, and `/readyz` reports the failed commit meanwhile; Raft itself keeps
                // running (votes, heartbeats, log appends), and the node catches up when the disk does.
                Err(e) if e.kind() == doq_api::ErrorKind::Storage => {
                    failures = failures.saturating_add(1);
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::error!(error = %e, failures, "applying committed entries failed; retrying until the store works");
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(APPLY_RETRY_MAX);
                }
                // Anything else (a bug) would fail the same way again: stop this node's Raft. A restart
                // replays the log from the store's applied marker.
                Err(e) => {
                    tracing::error!(error = %e, "applying committed entries failed; stopping raft on this node");
                    return Err(sm_error(&e));
                }
            }
        };
        if failures > 0 {
            tracing::warn!(failures, "committed entries applied after storage failures");
        }
        super::timing::APPLY.record(slots, began.elapsed());
        self.state().marker = marker;
        let mut replies = replies.into_iter();
        // A command's slot holds its reply; an entry without commands answers nothing.
        Ok(shape
            .into_iter()
            .map(|n| Response(replies.by_ref().take(n).flatten().collect()))
            .collect())
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
        // A snapshot from before commands were counted has no count: its log index numbered commands.
        let applied = Applied {
            index: meta.last_log_id.map_or(0, |l| l.index),
            data: marker.encode(),
        };
        let bytes = data.clone();
        let gate = self.gate.clone();
        tokio::task::spawn_blocking(move || {
            let _gate = gate.enter();
            let mut applier = applier.lock().unwrap_or_else(PoisonError::into_inner);
            let existing = applier.store().queues().map_err(Error::from)?;
            let (batch, index) = snapshot::install_batch(&bytes, &existing, applied)?;
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
