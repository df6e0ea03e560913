//! `LogAdapter`: openraft's log storage over doq-storage's [`LogStore`], the `log` and `raft` keyspaces of
//! the node's own database. Entries are in `wire`'s binary layout (older logs' JSON entries still read).
//! Every call runs the blocking store on tokio's blocking pool, and `append` writes a whole batch of
//! entries with one `LogStore::append`, so openraft's batched appends cost one fsync (group commit).
#![allow(
    clippy::result_large_err,
    reason = "openraft's traits fix the error type; boxing it here would only unbox it again"
)]

use std::{
    fmt::Debug,
    ops::{Bound, RangeBounds},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use doq_storage::{LogMeta, LogStore, QueueStore};
use openraft::{
    storage::{LogFlushed, RaftLogStorage},
    AnyError, Entry, LogId, LogState, OptionalSend, RaftLogReader, StorageError, StorageIOError,
    Vote,
};
use serde::{de::DeserializeOwned, Serialize};

use super::{gate::Gate, types::TypeConfig, wire};
use crate::view::Shared;

type StorageResult<T> = Result<T, StorageError<u64>>;

/// The first pause after a failed log write or read; it doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(50);
/// The longest pause between two tries, and so how long a stop may wait for a try to notice it.
const RETRY_MAX: Duration = Duration::from_secs(1);

/// The Raft log of one node. Cheap to clone: clones share the store.
///
/// openraft stops Raft on a node for good at the first error its log storage returns. A storage error
/// that clears (a disk that was briefly full or failing) is not a reason to lose the node until a
/// restart, so every call that fails on the store is tried again, with growing pauses, until it works:
/// Raft on this node waits meanwhile (the others elect a leader without it if it led), `/readyz` says
/// why, and the node catches up once the disk does. redb and RocksDB latch an ENOSPC until the
/// database is reopened, and a raft node does not reopen its database in place (see
/// `doq-server`'s `server.rs`), so on those the retries keep failing and the node waits, reported,
/// until it is restarted, which replays the log and loses nothing. A stop ends the retries.
#[derive(Clone, Debug)]
pub(crate) struct LogAdapter {
    log: Arc<dyn LogStore>,
    /// When set, flushed after every log write that must be durable (the store itself does not sync
    /// each write).
    flush: Option<Arc<dyn QueueStore>>,
    /// Entered around every write, so the state machine never waits for the store's writer (held
    /// through our fsync) while it holds the engine lock.
    gate: Gate,
    /// Where failing log IO is reported, for readiness.
    shared: Arc<Shared>,
    /// Set when the node stops: a call still retrying gives up, so Raft can shut down.
    stopping: Arc<AtomicBool>,
}

impl LogAdapter {
    /// Wraps the node's log view; with `flush`, every durable log write is followed by `flush()` on that
    /// view of the same database. `gate` is shared with the state machine, `shared` with the readers.
    pub(crate) fn new(
        log: Arc<dyn LogStore>,
        flush: Option<Arc<dyn QueueStore>>,
        gate: Gate,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            log,
            flush,
            gate,
            shared,
            stopping: Arc::default(),
        }
    }

    /// Set it when the node stops, before shutting Raft down.
    pub(crate) fn stopping(&self) -> Arc<AtomicBool> {
        self.stopping.clone()
    }

    /// Runs `work` on tokio's blocking pool until it succeeds or the node stops (see the type's doc).
    async fn retrying<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl Fn() -> Result<T, doq_storage::Error> + Send + Sync + 'static,
    ) -> Result<T, AnyError> {
        let work = Arc::new(work);
        let mut pause = RETRY_MIN;
        let mut failures = 0u32;
        loop {
            let once = work.clone();
            let e = match tokio::task::spawn_blocking(move || once()).await {
                Ok(Ok(v)) => {
                    if failures > 0 {
                        self.shared.health.log_recovered();
                        tracing::warn!(failures, what, "the Raft log works again");
                    }
                    return Ok(v);
                }
                Ok(Err(e)) => e,
                // A panic in the store is a bug, not a disk that may come back.
                Err(panicked) => return Err(AnyError::new(&panicked)),
            };
            failures = failures.saturating_add(1);
            self.shared.health.log_failed(what, &e);
            if self.stopping.load(Ordering::SeqCst) {
                return Err(AnyError::new(&e));
            }
            if failures == 1 || failures.is_power_of_two() {
                tracing::error!(error = %e.with_causes(), failures, what, "the Raft log failed; retrying until the store works");
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
            if self.stopping.load(Ordering::SeqCst) {
                return Err(AnyError::new(&e));
            }
        }
    }

    /// Runs the write `f` inside the gate; flushes afterwards only when `durable` and configured.
    async fn write<T: Send + 'static>(
        &self,
        f: impl Fn(&dyn LogStore) -> Result<T, doq_storage::Error> + Send + Sync + 'static,
        durable: bool,
        fail: fn(AnyError) -> StorageIOError<u64>,
    ) -> StorageResult<T> {
        let log = self.log.clone();
        let flush = self.flush.clone().filter(|_| durable);
        let gate = self.gate.clone();
        let work = move || -> Result<T, doq_storage::Error> {
            let _gate = gate.enter();
            let out = f(&*log)?;
            if let Some(store) = &flush {
                store.flush()?;
            }
            Ok(out)
        };
        self.retrying("write", work)
            .await
            .map_err(|e| fail(e).into())
    }

    /// Runs a read on the store off the async workers.
    async fn read<T: Send + 'static>(
        &self,
        f: impl Fn(&dyn LogStore) -> Result<T, doq_storage::Error> + Send + Sync + 'static,
        fail: fn(AnyError) -> StorageIOError<u64>,
    ) -> StorageResult<T> {
        let log = self.log.clone();
        self.retrying("read", move || f(&*log))
            .await
            .map_err(|e| fail(e).into())
    }

    async fn load<T: DeserializeOwned>(
        &self,
        key: LogMeta,
        fail: fn(AnyError) -> StorageIOError<u64>,
    ) -> StorageResult<Option<T>> {
        let raw = self.read(move |log| log.load(key), fail).await?;
        match raw {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| fail(AnyError::new(&e)).into()),
        }
    }

    async fn save<T: Serialize>(
        &self,
        key: LogMeta,
        value: &T,
        durable: bool,
        fail: fn(AnyError) -> StorageIOError<u64>,
    ) -> StorageResult<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| fail(AnyError::new(&e)))?;
        self.write(move |log| log.save(key, &bytes), durable, fail)
            .await
    }
}

fn decode_entry(bytes: &[u8]) -> StorageResult<Entry<TypeConfig>> {
    wire::decode_entry(bytes).map_err(|e| StorageIOError::read_logs(AnyError::new(&e)).into())
}

impl RaftLogReader<TypeConfig> for LogAdapter {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => e.saturating_add(1),
            Bound::Excluded(e) => *e,
            Bound::Unbounded => u64::MAX,
        };
        let raw = self
            .read(move |log| log.read(start..end), StorageIOError::read_logs)
            .await?;
        raw.iter().map(|(_, bytes)| decode_entry(bytes)).collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogAdapter {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId<u64>> = self
            .load(LogMeta::LastPurged, StorageIOError::read_logs)
            .await?;
        let last = self
            .read(
                |log| match log.last_index()? {
                    Some(i) => log.read(i..i.saturating_add(1)),
                    None => Ok(Vec::new()),
                },
                StorageIOError::read_logs,
            )
            .await?;
        let last_log_id = match last.first() {
            Some((_, bytes)) => Some(decode_entry(bytes)?.log_id),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> StorageResult<()> {
        // openraft: the vote must be on disk before this returns (a node must never vote twice in a term).
        self.save(LogMeta::Vote, vote, true, StorageIOError::write_vote)
            .await
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<u64>>> {
        self.load(LogMeta::Vote, StorageIOError::read_vote).await
    }

    /// Saved without an fsync of its own. openraft does not need `committed` durable
    /// (docs/data/log_pointers.md, "Optionally Persisted committed": standard Raft keeps it in memory and
    /// learns it again from the leader); it only lets a restarted node re-apply up to it at once. Lost, it
    /// falls back to an earlier value, which is safe: the store's applied marker, not this, says what was
    /// applied. It is never ahead of what is on disk either: every backend persists writes in order (redb
    /// and sled roll back to their last durable commit, RocksDB replays its WAL as a prefix), and the
    /// entries it names were written before it. The next log append's flush makes it durable in passing,
    /// so a commit advance costs no fsync: RaftCore awaited one per advance on every node before.
    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> StorageResult<()> {
        self.save(
            LogMeta::Committed,
            &committed,
            false,
            StorageIOError::write_logs,
        )
        .await
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<u64>>> {
        Ok(self
            .load::<Option<LogId<u64>>>(LogMeta::Committed, StorageIOError::read_logs)
            .await?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let batch: Vec<(u64, Vec<u8>)> = entries
            .into_iter()
            .map(|entry| (entry.log_id.index, wire::encode_entry(&entry)))
            .collect();
        // One store call for the whole batch: one atomic write, one fsync. Writing the same entries
        // again after a failure is safe: an append replaces entries at those indexes.
        let log = self.log.clone();
        let flush = self.flush.clone();
        let gate = self.gate.clone();
        let written = self
            .retrying("append", move || {
                let _gate = gate.enter();
                let began = std::time::Instant::now();
                log.append(&batch)?;
                super::timing::LOG_WRITE.record(batch.len(), began.elapsed());
                match &flush {
                    Some(store) => {
                        let began = std::time::Instant::now();
                        let flushed = store.flush();
                        super::timing::LOG_FLUSH.record(1, began.elapsed());
                        flushed
                    }
                    None => Ok(()),
                }
            })
            .await;
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(e).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        self.write(
            move |log| log.truncate(log_id.index),
            true,
            StorageIOError::write_logs,
        )
        .await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        // Record the purged id (with its term) first: a crash in between leaves a log that starts later
        // than recorded, never earlier (LogMeta::LastPurged). With `flush`, saving it also makes every
        // state-machine commit so far durable, so nothing purged is still needed for replay.
        self.save(
            LogMeta::LastPurged,
            &log_id,
            true,
            StorageIOError::write_logs,
        )
        .await?;
        self.write(
            move |log| log.purge(log_id.index),
            true,
            StorageIOError::write_logs,
        )
        .await
    }
}
