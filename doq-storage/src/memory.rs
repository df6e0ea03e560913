//! [`MemoryStore`]: ordered maps behind a mutex. The reference semantics every backend is compared with, for
//! both [`QueueStore`] and [`LogStore`]; not durable.
use std::{
    collections::BTreeMap,
    ops::{Range, RangeInclusive},
    sync::{Mutex, MutexGuard},
};

use doq_api::{Body, Counters, GroupRecord, MessageHeader, MessageId, QueueId, QueueRecord};

use crate::{
    Backend, Stores,
    batch::Op, Applied, Error, LogMeta, LogStore, MetaKey, QueueStore, Result, Snapshot, Space,
    WriteBatch,
};

/// The memory backend's line in the registry (`registry.rs`). It takes the data directory's lock like the
/// others, so two nodes cannot be pointed at one directory, but keeps nothing in it.
pub(crate) const ENTRY: Backend = Backend {
    name: "memory",
    durable: false,
    caveat: Some("storage.backend = memory keeps nothing across a restart"),
    open: |_dir, _opts, lock| Ok(Stores::locked(MemoryStore::new(), lock)),
};

/// A store that keeps everything in memory: fast, obviously correct, and gone when dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Apart from `state`: log writes and queue commits never wait for each other.
    log: Mutex<Log>,
}

/// The [`LogStore`] half.
#[derive(Debug, Default)]
struct Log {
    entries: BTreeMap<u64, Vec<u8>>,
    purged: Option<u64>,
    meta: BTreeMap<LogMeta, Vec<u8>>,
}

#[derive(Clone, Debug, Default)]
struct State {
    queues: BTreeMap<QueueId, QueueRecord>,
    headers: BTreeMap<(QueueId, MessageId), MessageHeader>,
    bodies: BTreeMap<(QueueId, MessageId), Body>,
    groups: BTreeMap<(QueueId, u32), GroupRecord>,
    counters: Option<Counters>,
    applied: Option<Applied>,
    meta: BTreeMap<MetaKey, Vec<u8>>,
    spaces: BTreeMap<Space, BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryStore {
    /// The backend's name.
    pub const BACKEND: &'static str = "memory";

    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        // A poisoned lock means a thread panicked mid-commit: the state may hold half a batch.
        self.state
            .lock()
            .map_err(|_| Error::backend_failed(Self::BACKEND, "lock state", "poisoned by a panic"))
    }

    fn log(&self) -> Result<MutexGuard<'_, Log>> {
        self.log
            .lock()
            .map_err(|_| Error::backend_failed(Self::BACKEND, "lock log", "poisoned by a panic"))
    }
}

fn messages_of(q: QueueId) -> RangeInclusive<(QueueId, MessageId)> {
    (q, MessageId(0))..=(q, MessageId(u64::MAX))
}

fn groups_of(q: QueueId) -> RangeInclusive<(QueueId, u32)> {
    (q, 0)..=(q, u32::MAX)
}

fn remove_range<K: Ord + Copy, V>(map: &mut BTreeMap<K, V>, range: RangeInclusive<K>) {
    let keys: Vec<K> = map.range(range).map(|(k, _)| *k).collect();
    for k in keys {
        map.remove(&k);
    }
}

impl State {
    fn apply(&mut self, op: Op) {
        match op {
            Op::PutMessage { header, body } => {
                let key = (header.queue, header.id);
                self.headers.insert(key, header);
                self.bodies.insert(key, body);
            }
            Op::PutHeader(header) => {
                self.headers.insert((header.queue, header.id), header);
            }
            Op::DeleteMessage { queue, id } => {
                self.headers.remove(&(queue, id));
                self.bodies.remove(&(queue, id));
            }
            Op::PutQueue(record) => {
                self.queues.insert(record.id, record);
            }
            Op::DeleteQueue(q) => {
                self.queues.remove(&q);
                self.delete_messages(q);
            }
            Op::DeleteMessages(q) => self.delete_messages(q),
            Op::PutGroup(group) => {
                self.groups.insert((group.queue, group.node), group);
            }
            Op::DeleteGroup { queue, node } => {
                self.groups.remove(&(queue, node));
            }
            Op::PutCounters(counters) => self.counters = Some(counters),
            Op::SetApplied(applied) => self.applied = Some(applied),
            Op::PutMeta { key, value } => {
                self.meta.insert(key, value);
            }
            Op::Put { space, key, value } => {
                self.spaces.entry(space).or_default().insert(key, value);
            }
            Op::DeleteRange { space, lo, hi } => {
                if lo <= hi {
                    if let Some(map) = self.spaces.get_mut(&space) {
                        let keys: Vec<Vec<u8>> =
                            map.range(lo..=hi).map(|(k, _)| k.clone()).collect();
                        for k in keys {
                            map.remove(&k);
                        }
                    }
                }
            }
        }
    }

    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Vec<MessageHeader> {
        let first = match after {
            None => MessageId(0),
            Some(MessageId(u64::MAX)) => return Vec::new(),
            Some(MessageId(id)) => MessageId(id + 1),
        };
        let range = (q, first)..=(q, MessageId(u64::MAX));
        self.headers
            .range(range)
            .take(limit)
            .map(|(_, h)| h.clone())
            .collect()
    }

    fn scan(&self, space: Space, lo: &[u8], hi: &[u8], limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        if lo > hi {
            return Vec::new();
        }
        self.spaces.get(&space).map_or_else(Vec::new, |map| {
            map.range(lo.to_vec()..=hi.to_vec())
                .take(limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    fn delete_messages(&mut self, q: QueueId) {
        remove_range(&mut self.headers, messages_of(q));
        remove_range(&mut self.bodies, messages_of(q));
        remove_range(&mut self.groups, groups_of(q));
    }
}

impl QueueStore for MemoryStore {
    fn backend(&self) -> &'static str {
        Self::BACKEND
    }

    fn commit(&self, batch: WriteBatch) -> Result<()> {
        let mut state = self.state()?;
        // Nothing below can fail, so the batch is applied whole.
        for op in batch.into_ops() {
            state.apply(op);
        }
        Ok(())
    }

    fn commit_ref(&self, batch: &WriteBatch) -> Result<()> {
        // The reference store keeps owned values: it copies, which only tests pay for.
        self.commit(batch.clone())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn applied(&self) -> Result<Option<Applied>> {
        Ok(self.state()?.applied.clone())
    }

    fn counters(&self) -> Result<Option<Counters>> {
        Ok(self.state()?.counters)
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        Ok(self.state()?.queues.values().cloned().collect())
    }

    fn groups(&self, q: QueueId) -> Result<Vec<GroupRecord>> {
        Ok(self
            .state()?
            .groups
            .range(groups_of(q))
            .map(|(_, g)| g.clone())
            .collect())
    }

    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>> {
        Ok(self.state()?.scan_headers(q, after, limit))
    }

    fn get_message(&self, q: QueueId, id: MessageId) -> Result<Option<(MessageHeader, Body)>> {
        let state = self.state()?;
        let (Some(h), Some(b)) = (state.headers.get(&(q, id)), state.bodies.get(&(q, id))) else {
            return Ok(None);
        };
        Ok(Some((h.clone(), b.clone())))
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        Ok(self.state()?.bodies.get(&(q, id)).cloned())
    }

    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>> {
        Ok(self.state()?.meta.get(&key).cloned())
    }

    fn scan(
        &self,
        space: Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self.state()?.scan(space, lo, hi, limit))
    }

    /// The view is a copy of the state taken under the lock: the data is in memory anyway, and commits
    /// never wait for the export.
    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn Snapshot) -> Result<()>) -> Result<()> {
        let copy = self.state()?.clone();
        f(&copy)
    }
}

impl Snapshot for State {
    fn backend(&self) -> &'static str {
        MemoryStore::BACKEND
    }

    fn applied(&self) -> Result<Option<Applied>> {
        Ok(self.applied.clone())
    }

    fn counters(&self) -> Result<Option<Counters>> {
        Ok(self.counters)
    }

    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>> {
        Ok(self.meta.get(&key).cloned())
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        Ok(self.queues.values().cloned().collect())
    }

    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>> {
        Ok(State::scan_headers(self, q, after, limit))
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        Ok(self.bodies.get(&(q, id)).cloned())
    }

    fn scan(
        &self,
        space: Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(State::scan(self, space, lo, hi, limit))
    }
}

impl LogStore for MemoryStore {
    fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<()> {
        let mut log = self.log()?;
        for (index, entry) in entries {
            log.entries.insert(*index, entry.clone());
        }
        Ok(())
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .log()?
            .entries
            .range(range)
            .map(|(i, e)| (*i, e.clone()))
            .collect())
    }

    fn truncate(&self, from: u64) -> Result<()> {
        self.log()?.entries.split_off(&from);
        Ok(())
    }

    fn purge(&self, upto: u64) -> Result<()> {
        let mut log = self.log()?;
        log.entries = match upto.checked_add(1) {
            Some(first_kept) => log.entries.split_off(&first_kept),
            None => BTreeMap::new(),
        };
        log.purged = log.purged.max(Some(upto));
        Ok(())
    }

    fn last_purged(&self) -> Result<Option<u64>> {
        Ok(self.log()?.purged)
    }

    fn last_index(&self) -> Result<Option<u64>> {
        Ok(self.log()?.entries.last_key_value().map(|(i, _)| *i))
    }

    fn save(&self, key: LogMeta, value: &[u8]) -> Result<()> {
        self.log()?.meta.insert(key, value.to_vec());
        Ok(())
    }

    fn load(&self, key: LogMeta) -> Result<Option<Vec<u8>>> {
        Ok(self.log()?.meta.get(&key).cloned())
    }
}
