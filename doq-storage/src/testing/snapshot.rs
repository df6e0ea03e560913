//! [`Snapshot`] and [`LogSnapshot`]: everything a store or log holds, read into a comparable form, so a
//! model test can compare a backend with the memory reference after every step.
use doq_api::{Body, Counters, GroupRecord, MessageHeader, MessageId, QueueId, QueueRecord};

use crate::{Applied, LogMeta, LogStore, QueueStore, Result};

/// Everything a store holds within a universe of queue and message ids, in a comparable form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// `counters()`.
    pub counters: Option<Counters>,
    /// `applied()`.
    pub applied: Option<Applied>,
    /// `queues()`.
    pub queues: Vec<QueueRecord>,
    /// `groups(q)` for every queue of the universe.
    pub groups: Vec<Vec<GroupRecord>>,
    /// `scan_headers(q, None, usize::MAX)` for every queue of the universe.
    pub headers: Vec<Vec<MessageHeader>>,
    /// `get_body(q, id)` for every (queue, id) of the universe.
    pub bodies: Vec<Option<Body>>,
    /// `get_message(q, id)` for every (queue, id) of the universe.
    pub messages: Vec<Option<(MessageHeader, Body)>>,
}

/// Everything a [`LogStore`] holds, in a comparable form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSnapshot {
    /// `read(0..u64::MAX)`: every entry but one at index `u64::MAX`.
    pub entries: Vec<(u64, Vec<u8>)>,
    /// `last_index()`.
    pub last_index: Option<u64>,
    /// `last_purged()`.
    pub last_purged: Option<u64>,
    /// `load(k)` for every `k` of [`LogMeta::ALL`].
    pub meta: Vec<Option<Vec<u8>>>,
}

/// Reads everything `log` holds.
pub fn log_snapshot(log: &dyn LogStore) -> Result<LogSnapshot> {
    Ok(LogSnapshot {
        entries: log.read(0..u64::MAX)?,
        last_index: log.last_index()?,
        last_purged: log.last_purged()?,
        meta: LogMeta::ALL
            .iter()
            .map(|k| log.load(*k))
            .collect::<Result<_>>()?,
    })
}

/// Reads everything `store` holds for the queue ids `qs` and message ids `ids`.
pub fn snapshot(store: &dyn QueueStore, qs: &[QueueId], ids: &[MessageId]) -> Result<Snapshot> {
    let mut s = Snapshot {
        counters: store.counters()?,
        applied: store.applied()?,
        queues: store.queues()?,
        groups: Vec::new(),
        headers: Vec::new(),
        bodies: Vec::new(),
        messages: Vec::new(),
    };
    for &q in qs {
        s.groups.push(store.groups(q)?);
        s.headers.push(store.scan_headers(q, None, usize::MAX)?);
        for &id in ids {
            s.bodies.push(store.get_body(q, id)?);
            s.messages.push(store.get_message(q, id)?);
        }
    }
    Ok(s)
}
