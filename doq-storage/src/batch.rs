//! [`WriteBatch`]: the ordered writes of one commit, and [`Staged`], the engine's view of a batch being built
//! (it implements `doq_api::Mutations`, so reads see writes staged earlier in the same batch).
use std::collections::{BTreeMap, BTreeSet};

use doq_api::{
    Body, Counters, GroupRecord, MessageHeader, MessageId, Mutations, QueueId, QueueRecord,
};

use crate::{error::to_api, Applied, QueueStore};

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
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `op`.
    pub fn push(&mut self, op: Op) {
        match &op {
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
            | Op::PutCounters(_)
            | Op::SetApplied(_) => {}
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
/// [`Mutations`]. Reads see the batch first, then the store.
#[derive(Debug)]
pub struct Staged<'a> {
    /// Where the engine's writes go.
    pub batch: &'a mut WriteBatch,
    /// Where reads go when the batch does not decide them; the batch is committed to it later.
    pub store: &'a dyn QueueStore,
}

impl<'a> Staged<'a> {
    /// Stages into `batch`, reading through to `store`.
    pub fn new(batch: &'a mut WriteBatch, store: &'a dyn QueueStore) -> Self {
        Self { batch, store }
    }
}

impl Mutations for Staged<'_> {
    fn body(&mut self, queue: QueueId, id: MessageId) -> doq_api::Result<Option<Body>> {
        match self.batch.staged_body(queue, id) {
            Some(staged) => Ok(staged.cloned()),
            None => self
                .store
                .get_body(queue, id)
                .map_err(|e| to_api(self.store, &e)),
        }
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
}
