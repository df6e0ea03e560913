//! [`WriteBatch`]: the ordered writes of one commit, and [`Staged`], the engine's view of a batch being built
//! (it implements `doq_api::Mutations`, so reads see writes staged earlier in the same batch).
use std::collections::{BTreeMap, BTreeSet};

use doq_api::{
    BackupState, Body, Counters, GroupRecord, ImportItem, MessageHeader, MessageId, Mutations,
    QueueId, QueueRecord, RestoreId, Tombstone,
};

use crate::{
    error::to_api,
    keys::{self, MetaKey, Space},
    record, Applied, QueueStore,
};

/// One write. Backends apply a batch's ops in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Stores a header and its body under (`header.queue`, `header.id`).
    PutMessage {
        /// The header; its `queue` and `id` are the key.
        header: MessageHeader,
        /// The body.
        body: Body,
    },
    /// Stores a header, keeping whatever body the message has.
    PutHeader(MessageHeader),
    /// Removes a message's header and body.
    DeleteMessage {
        /// The message's queue.
        queue: QueueId,
        /// The message.
        id: MessageId,
    },
    /// Stores a queue record under `record.id`.
    PutQueue(QueueRecord),
    /// Removes a queue's record and every header, body and group of the queue.
    DeleteQueue(QueueId),
    /// Removes every header, body and group of a queue, keeping its record.
    DeleteMessages(QueueId),
    /// Stores a group tree node under (`group.queue`, `group.node`).
    PutGroup(GroupRecord),
    /// Removes a group tree node.
    DeleteGroup {
        /// The tree's queue.
        queue: QueueId,
        /// The node.
        node: u32,
    },
    /// Stores the engine counters.
    PutCounters(Counters),
    /// Stores the applied marker.
    SetApplied(Applied),
    /// Stores a value in the `meta` keyspace.
    PutMeta {
        /// Which value.
        key: MetaKey,
        /// Its encoded bytes.
        value: Vec<u8>,
    },
    /// Stores `key → value` in an ordered byte keyspace.
    Put {
        /// The keyspace.
        space: Space,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Removes every key `lo <= key <= hi` of an ordered byte keyspace.
    DeleteRange {
        /// The keyspace.
        space: Space,
        /// The first key removed.
        lo: Vec<u8>,
        /// The last key removed.
        hi: Vec<u8>,
    },
}

/// The writes of one atomic commit, in order, plus an index of the bodies they stage so that
/// [`Staged::body`] can answer without the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<Op>,
    /// The last staged write to each body: `Some(i)` is the `PutMessage` at `ops[i]`, `None` a delete.
    /// Positions, not copies, so a body is held once.
    bodies: BTreeMap<(QueueId, MessageId), Option<usize>>,
    /// Queues wiped by `DeleteQueue`/`DeleteMessages`: their bodies read as absent unless put again later.
    wiped: BTreeSet<QueueId>,
    /// Positions of the ops on the `staging` keyspace, so reading staged items never walks the whole
    /// batch (a restore's commit stages a million message writes into one batch).
    staging: Vec<usize>,
    /// Where the batch's `PutCounters` and `SetApplied` ops are. Each is one key that no range delete
    /// touches, so a later one replaces the earlier op in place: a group of many commands writes the
    /// counters and the marker once, not once per command.
    counters_at: Option<usize>,
    applied_at: Option<usize>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `op` (or, for counters and the applied marker, replaces the batch's earlier one).
    pub fn push(&mut self, op: Op) {
        match &op {
            Op::PutCounters(_) | Op::SetApplied(_) => {
                let at = if matches!(op, Op::PutCounters(_)) {
                    &mut self.counters_at
                } else {
                    &mut self.applied_at
                };
                if let Some(slot) = at.and_then(|i| self.ops.get_mut(i)) {
                    *slot = op;
                    return;
                }
                *at = Some(self.ops.len());
            }
            Op::PutMessage { header, .. } => {
                self.bodies
                    .insert((header.queue, header.id), Some(self.ops.len()));
            }
            Op::DeleteMessage { queue, id } => {
                self.bodies.insert((*queue, *id), None);
            }
            Op::DeleteQueue(q) | Op::DeleteMessages(q) => {
                self.bodies.retain(|(bq, _), _| bq != q);
                self.wiped.insert(*q);
            }
            Op::PutHeader(_)
            | Op::PutQueue(_)
            | Op::PutGroup(_)
            | Op::DeleteGroup { .. }
            | Op::PutMeta { .. } => {}
            Op::Put { space, .. } | Op::DeleteRange { space, .. } => {
                if *space == Space::Staging {
                    self.staging.push(self.ops.len());
                }
            }
        }
        self.ops.push(op);
    }

    /// Stores a header and its body.
    pub fn put_message(&mut self, header: MessageHeader, body: Body) {
        self.push(Op::PutMessage { header, body });
    }

    /// Stores a header, keeping the message's body.
    pub fn put_header(&mut self, header: MessageHeader) {
        self.push(Op::PutHeader(header));
    }

    /// Removes a message's header and body.
    pub fn delete_message(&mut self, queue: QueueId, id: MessageId) {
        self.push(Op::DeleteMessage { queue, id });
    }

    /// Stores a queue record.
    pub fn put_queue(&mut self, record: QueueRecord) {
        self.push(Op::PutQueue(record));
    }

    /// Removes a queue record and everything keyed by the queue.
    pub fn delete_queue(&mut self, queue: QueueId) {
        self.push(Op::DeleteQueue(queue));
    }

    /// Removes a queue's headers, bodies and groups, keeping its record.
    pub fn delete_messages(&mut self, queue: QueueId) {
        self.push(Op::DeleteMessages(queue));
    }

    /// Stores a group tree node.
    pub fn put_group(&mut self, group: GroupRecord) {
        self.push(Op::PutGroup(group));
    }

    /// Removes a group tree node.
    pub fn delete_group(&mut self, queue: QueueId, node: u32) {
        self.push(Op::DeleteGroup { queue, node });
    }

    /// Stores the engine counters.
    pub fn put_counters(&mut self, counters: Counters) {
        self.push(Op::PutCounters(counters));
    }

    /// Stores the applied marker.
    pub fn set_applied(&mut self, applied: Applied) {
        self.push(Op::SetApplied(applied));
    }

    /// Records a deletion in the `tombstones` keyspace.
    pub fn put_tombstone(&mut self, t: &Tombstone) {
        self.push(Op::Put {
            space: Space::Tombstones,
            key: keys::tombstone(t.version, t.queue, t.id),
            value: record::encode_tombstone(t),
        });
    }

    /// Stores the replicated backup state.
    pub fn put_backup_state(&mut self, state: &BackupState) {
        self.push(Op::PutMeta {
            key: MetaKey::BackupState,
            value: record::encode_backup_state(state),
        });
    }

    /// Stores the deployment's cluster id.
    pub fn set_cluster_id(&mut self, id: &str) {
        self.push(Op::PutMeta {
            key: MetaKey::ClusterId,
            value: id.as_bytes().to_vec(),
        });
    }

    /// Stages item `seq` of restore `restore`.
    pub fn put_staged(&mut self, restore: RestoreId, seq: u64, item: &ImportItem) {
        self.push(Op::Put {
            space: Space::Staging,
            key: keys::staged(restore, seq).to_vec(),
            value: record::encode_staged(item),
        });
    }

    /// Removes every staged item of `restore`.
    pub fn drop_staged(&mut self, restore: RestoreId) {
        self.push(Op::DeleteRange {
            space: Space::Staging,
            lo: keys::staged(restore, 0).to_vec(),
            hi: keys::staged(restore, u64::MAX).to_vec(),
        });
    }

    /// How many ops the batch holds.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch holds no op.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The ops, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The ops, in order, for a backend to apply.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// The body of a message as this batch leaves it: `Some(body)` when the batch decides it (`Some(None)`:
    /// deleted or wiped), `None` when the batch does not touch it and the store must be asked.
    pub fn staged_body(&self, queue: QueueId, id: MessageId) -> Option<Option<&Body>> {
        match self.bodies.get(&(queue, id)) {
            Some(Some(i)) => match self.ops.get(*i) {
                Some(Op::PutMessage { body, .. }) => Some(Some(body)),
                // Unreachable: `bodies` only points at `PutMessage` ops. Ask the store rather than panic.
                _ => None,
            },
            Some(None) => Some(None),
            None if self.wiped.contains(&queue) => Some(None),
            None => None,
        }
    }
}

impl FromIterator<Op> for WriteBatch {
    fn from_iter<I: IntoIterator<Item = Op>>(iter: I) -> Self {
        let mut batch = Self::new();
        batch.extend(iter);
        batch
    }
}

impl Extend<Op> for WriteBatch {
    fn extend<I: IntoIterator<Item = Op>>(&mut self, iter: I) {
        for op in iter {
            self.push(op);
        }
    }
}

/// A batch being built by the engine, over the store it will be committed to: the engine's
/// [`Mutations`]. Reads see the batch first, then the batches still being committed (newest first),
/// then the store.
#[derive(Debug)]
pub struct Staged<'a> {
    /// Where the engine's writes go.
    pub batch: &'a mut WriteBatch,
    /// Earlier batches, oldest first, that a pipelined writer handed to its committer and that may not
    /// have reached the store yet.
    pub pending: &'a [&'a WriteBatch],
    /// Where reads go when no batch decides them; the batch is committed to it later.
    pub store: &'a dyn QueueStore,
}

impl<'a> Staged<'a> {
    /// Stages into `batch`, reading through to `store`.
    pub fn new(batch: &'a mut WriteBatch, store: &'a dyn QueueStore) -> Self {
        Self {
            batch,
            pending: &[],
            store,
        }
    }

    /// Stages into `batch`, reading through `pending` (oldest first) and then `store`.
    pub fn over(
        batch: &'a mut WriteBatch,
        pending: &'a [&'a WriteBatch],
        store: &'a dyn QueueStore,
    ) -> Self {
        Self {
            batch,
            pending,
            store,
        }
    }
}

impl Mutations for Staged<'_> {
    fn body(&mut self, queue: QueueId, id: MessageId) -> doq_api::Result<Option<Body>> {
        let newest_first = std::iter::once(&*self.batch).chain(self.pending.iter().rev().copied());
        for batch in newest_first {
            if let Some(staged) = batch.staged_body(queue, id) {
                return Ok(staged.cloned());
            }
        }
        self.store
            .get_body(queue, id)
            .map_err(|e| to_api(self.store, &e))
    }

    fn put_message(&mut self, header: &MessageHeader, body: &Body) {
        self.batch.put_message(header.clone(), body.clone());
    }

    fn put_header(&mut self, header: &MessageHeader) {
        self.batch.put_header(header.clone());
    }

    fn delete_message(&mut self, queue: QueueId, id: MessageId) {
        self.batch.delete_message(queue, id);
    }

    fn put_queue(&mut self, queue: &QueueRecord) {
        self.batch.put_queue(queue.clone());
    }

    fn delete_queue(&mut self, queue: QueueId) {
        self.batch.delete_queue(queue);
    }

    fn delete_messages(&mut self, queue: QueueId) {
        self.batch.delete_messages(queue);
    }

    fn put_group(&mut self, group: &GroupRecord) {
        self.batch.put_group(group.clone());
    }

    fn delete_group(&mut self, queue: QueueId, node: u32) {
        self.batch.delete_group(queue, node);
    }

    fn put_counters(&mut self, counters: &Counters) {
        self.batch.put_counters(*counters);
    }

    fn put_tombstone(&mut self, tombstone: &Tombstone) {
        self.batch.put_tombstone(tombstone);
    }

    fn put_backup_state(&mut self, state: &BackupState) {
        self.batch.put_backup_state(state);
    }

    fn put_staged(&mut self, restore: RestoreId, seq: u64, item: &ImportItem) {
        self.batch.put_staged(restore, seq, item);
    }

    fn staged(
        &mut self,
        restore: RestoreId,
        after: Option<u64>,
        limit: usize,
    ) -> doq_api::Result<Vec<(u64, ImportItem)>> {
        // Restore staging reads through the store only: the pipelined writer lets every earlier batch
        // reach the store before it applies a restore command, so a pending batch never holds one.
        if self.pending.iter().any(|b| !b.staging.is_empty()) {
            return Err(doq_api::Error::Internal(
                "restore staging read while a batch with staged items is being committed".into(),
            ));
        }
        staged_items(self.batch, self.store, restore, after, limit)
            .map_err(|e| to_api(self.store, &e))
    }

    fn drop_staged(&mut self, restore: RestoreId) {
        self.batch.drop_staged(restore);
    }
}

/// Up to `limit` staged items of `restore` after `after`, as `batch` over `store` leaves them. Sequence
/// numbers only grow, so committed items come before the batch's own, unless the batch dropped the
/// staging area first (then only the batch's items after the drop count).
fn staged_items(
    batch: &WriteBatch,
    store: &dyn QueueStore,
    restore: RestoreId,
    after: Option<u64>,
    limit: usize,
) -> crate::Result<Vec<(u64, ImportItem)>> {
    let (lo_key, hi_key) = (keys::staged(restore, 0), keys::staged(restore, u64::MAX));
    let staging_ops = || {
        batch
            .staging
            .iter()
            .filter_map(|&i| Some((i, batch.ops.get(i)?)))
    };
    let mut dropped_at = None;
    for (i, op) in staging_ops() {
        if let Op::DeleteRange { lo, hi, .. } = op {
            if lo.as_slice() <= lo_key.as_slice() && hi.as_slice() >= hi_key.as_slice() {
                dropped_at = Some(i);
            }
        }
    }
    let first = match after {
        None => 0,
        Some(u64::MAX) => return Ok(Vec::new()),
        Some(a) => a + 1,
    };
    let mut out = Vec::new();
    if dropped_at.is_none() {
        let lo = keys::staged(restore, first);
        for (k, v) in store.scan(Space::Staging, &lo, &hi_key, limit)? {
            let seq = keys::split_staged(&k)
                .ok_or_else(|| crate::Error::corrupt("staging key"))?
                .1;
            out.push((seq, record::decode_staged(&v)?));
        }
    }
    let start = dropped_at.map_or(0, |i| i + 1);
    for (_, op) in staging_ops().filter(|(i, _)| *i >= start) {
        if out.len() >= limit {
            break;
        }
        if let Op::Put { key, value, .. } = op {
            if let Some((r, seq)) = keys::split_staged(key) {
                if r == restore && seq >= first && out.last().is_none_or(|(s, _)| *s < seq) {
                    out.push((seq, record::decode_staged(value)?));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use doq_api::{Counters, Timestamp};

    use super::*;
    use crate::{testing, MemoryStore};

    #[test]
    fn counters_and_marker_are_written_once_per_batch() {
        let mut batch = WriteBatch::new();
        for n in 1..=3 {
            batch.put_message(testing::header(1, n), testing::body("x"));
            batch.put_counters(Counters {
                last_now: Timestamp(n),
                last_id: n,
                next_queue: 2,
            });
            batch.set_applied(Applied {
                index: n,
                data: Vec::new(),
            });
        }
        assert_eq!(
            batch.len(),
            5,
            "three messages, one counters op, one marker"
        );
        let store = MemoryStore::new();
        store.commit(batch).unwrap();
        assert_eq!(
            store.counters().unwrap().unwrap().last_id,
            3,
            "the last value wins"
        );
        assert_eq!(store.applied().unwrap().unwrap().index, 3);
    }

    #[test]
    fn reads_see_the_batch_then_pending_batches_newest_first_then_the_store() {
        let store = MemoryStore::new();
        let mut committed = WriteBatch::new();
        committed.put_message(testing::header(1, 1), testing::body("stored"));
        committed.put_message(testing::header(1, 2), testing::body("stored"));
        store.commit(committed).unwrap();
        let mut older = WriteBatch::new();
        older.put_message(testing::header(1, 1), testing::body("older"));
        older.put_message(testing::header(1, 3), testing::body("older"));
        let mut newer = WriteBatch::new();
        newer.delete_message(QueueId(1), MessageId(3));
        let pending = [&older, &newer];
        let mut batch = WriteBatch::new();
        let mut staged = Staged::over(&mut batch, &pending, &store);
        let content = |s: &mut Staged<'_>, id| {
            s.body(QueueId(1), MessageId(id))
                .unwrap()
                .map(|b| b.content)
        };
        assert_eq!(content(&mut staged, 1).as_deref(), Some("older"));
        assert_eq!(content(&mut staged, 2).as_deref(), Some("stored"));
        assert_eq!(
            content(&mut staged, 3),
            None,
            "the newer pending batch deleted it"
        );
        staged.put_message(&testing::header(1, 3), &testing::body("mine"));
        assert_eq!(content(&mut staged, 3).as_deref(), Some("mine"));
    }
}
