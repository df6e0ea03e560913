//! [`MemoryStore`]: ordered maps behind a mutex. The reference semantics every backend is compared with; not
//! durable.
use std::{
    collections::BTreeMap,
    ops::RangeInclusive,
    sync::{Mutex, MutexGuard},
};

use doq_api::{Body, Counters, GroupRecord, MessageHeader, MessageId, QueueId, QueueRecord};

use crate::{batch::Op, Applied, Error, QueueStore, Result, WriteBatch};

/// A store that keeps everything in memory: fast, obviously correct, and gone when dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
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
