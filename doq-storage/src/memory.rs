//! [`MemoryStore`]: ordered maps behind a mutex. The reference semantics every backend is compared with, for
//! both [`QueueStore`] and [`LogStore`]; not durable.
use std::{
    collections::BTreeMap,
    ops::{Range, RangeInclusive},
    sync::{Mutex, MutexGuard},
};

use doq_api::{Body, Counters, GroupRecord, MessageHeader, MessageId, QueueId, QueueRecord};

use crate::{batch::Op, Applied, Error, LogMeta, LogStore, QueueStore, Result, WriteBatch};

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

#[derive(Debug, Default)]
struct State {
    queues: BTreeMap<QueueId, QueueRecord>,
    headers: BTreeMap<(QueueId, MessageId), MessageHeader>,
    bodies: BTreeMap<(QueueId, MessageId), Body>,
    groups: BTreeMap<(QueueId, u32), GroupRecord>,
    counters: Option<Counters>,
    applied: Option<Applied>,
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
        }
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
        let first = match after {
            None => MessageId(0),
            Some(MessageId(u64::MAX)) => return Ok(Vec::new()),
            Some(MessageId(id)) => MessageId(id + 1),
        };
        let state = self.state()?;
        let range = (q, first)..=(q, MessageId(u64::MAX));
        Ok(state
            .headers
            .range(range)
            .take(limit)
            .map(|(_, h)| h.clone())
            .collect())
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
