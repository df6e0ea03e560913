//! [`LogStore`]: the Raft log and its metadata (vote, committed index, last purged), kept in the same
//! database as the queue keyspaces (`log` and `raft`), so one data directory holds a node's whole state.
//! The store never looks inside an entry or a metadata value: both are consensus's opaque bytes.
use std::{fmt, ops::Range, sync::Arc};

use crate::Result;

/// A slot of Raft metadata. Values are opaque bytes owned by the consensus layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LogMeta {
    /// The vote (term and candidate); Raft must have it on disk before it answers a vote request.
    Vote,
    /// The committed log id; lets a restarted node apply up to it without waiting for the leader.
    Committed,
    /// Consensus's own record of the last purged log id (with its term, which the store does not know).
    /// Save it before calling [`LogStore::purge`], so a crash in between leaves a log that starts later
    /// than recorded, never earlier.
    LastPurged,
}

impl LogMeta {
    /// Every slot, for tests and dumps.
    pub const ALL: [Self; 3] = [Self::Vote, Self::Committed, Self::LastPurged];
}

/// The Raft log: entries keyed by index, plus a few metadata slots.
///
/// # Contract
/// - Entries are opaque bytes keyed by a `u64` index. `append` stores each entry under its index, replacing
///   one already there. The store checks neither order nor gaps: Raft appends contiguous indexes after
///   [`last_index`](Self::last_index), or after a [`truncate`](Self::truncate).
/// - `append`, `truncate`, `purge` and `save` are each atomic (all of it or none of it, also after a crash),
///   and on stable storage when they return if the store was opened with `sync = true`. With
///   `sync = false` a crash may lose a suffix of them, never part of one; `QueueStore::flush` on the same
///   database makes them durable.
/// - `read(a..b)` returns the stored entries with `a <= index < b`, ascending; an empty range reads nothing.
///   Entries at or below [`last_purged`](Self::last_purged) are gone unless appended again.
/// - `truncate(from)` removes every entry with `index >= from`.
/// - `purge(upto)` removes every entry with `index <= upto` and, in the same atomic write, records
///   `max(upto, last_purged)` as `last_purged`: it never goes down.
/// - `last_index` is the highest stored index, or `None` when no entry is stored (also after everything
///   was purged: then `last_purged` says where the log had got to).
/// - `load(k)` returns the last value `save(k, _)` stored, or `None`. Truncate and purge leave them alone.
/// - The log and the queue keyspaces are independent: a `QueueStore::commit` never changes the log, and
///   log writes never change what `QueueStore` reads.
/// - Methods take `&self` and may be called from several threads; a read never sees half a write.
pub trait LogStore: Send + Sync + fmt::Debug + 'static {
    /// Stores `entries`, each under its index; durable on return when the store was opened with
    /// `sync = true`.
    fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<()>;
    /// The stored entries with index in `range`, ascending.
    fn read(&self, range: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>>;
    /// Removes every entry with index `>= from` (a conflicting suffix).
    fn truncate(&self, from: u64) -> Result<()>;
    /// Removes every entry with index `<= upto` (compacted into a snapshot) and remembers `upto`.
    fn purge(&self, upto: u64) -> Result<()>;
    /// The highest index ever passed to `purge`, or `None`.
    fn last_purged(&self) -> Result<Option<u64>>;
    /// The highest stored index, or `None` when no entry is stored.
    fn last_index(&self) -> Result<Option<u64>>;
    /// Stores `value` in slot `key`, replacing what was there.
    fn save(&self, key: LogMeta, value: &[u8]) -> Result<()>;
    /// The value last saved in slot `key`.
    fn load(&self, key: LogMeta) -> Result<Option<Vec<u8>>>;
}

/// A shared log is a log, so wrappers can wrap what `open_stores` returns.
#[deny(clippy::missing_trait_methods)]
impl<S: LogStore + ?Sized> LogStore for Arc<S> {
    fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<()> {
        (**self).append(entries)
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>> {
        (**self).read(range)
    }

    fn truncate(&self, from: u64) -> Result<()> {
        (**self).truncate(from)
    }

    fn purge(&self, upto: u64) -> Result<()> {
        (**self).purge(upto)
    }

    fn last_purged(&self) -> Result<Option<u64>> {
        (**self).last_purged()
    }

    fn last_index(&self) -> Result<Option<u64>> {
        (**self).last_index()
    }

    fn save(&self, key: LogMeta, value: &[u8]) -> Result<()> {
        (**self).save(key, value)
    }

    fn load(&self, key: LogMeta) -> Result<Option<Vec<u8>>> {
        (**self).load(key)
    }
}
