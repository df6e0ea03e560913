//! The stored state that snapshots carry: queue records, round-robin group records, messages
//! (header, lease and body) and the engine counters.
use doq_api::{
    Body, Counters, Group, GroupRecord, Lease, MessageHeader, MessageId, Priority, QueueId,
    QueueRecord, Result, Timestamp,
};

use super::{Reader, Writer};

impl Writer {
    /// A queue record, with its id.
    pub(crate) fn queue_record(&mut self, r: &QueueRecord) {
        self.u32(r.id.0);
        self.name(&r.name);
        self.kind(r.kind);
        self.settings(&r.settings);
        self.u64(r.created_version);
        self.u64(r.version);
        self.u32(r.next_node);
        self.u64(r.dead_lettered);
    }
    /// A round-robin tree node, with its key.
    pub(crate) fn group_record(&mut self, g: &GroupRecord) {
        self.u32(g.queue.0);
        self.u32(g.node);
        self.u32(g.parent);
        self.str(&g.segment);
        self.bool(g.leaf);
        self.u32(g.cursor);
    }
    /// A message header (with its lease) and its body.
    pub(crate) fn message(&mut self, h: &MessageHeader, b: &Body) {
        self.u32(h.queue.0);
        self.u64(h.id.0);
        self.str(h.group.as_str());
        self.i64(h.priority.0);
        self.u32(h.deliveries);
        self.opt(h.lease.as_ref(), |w, l| {
            w.u64(l.deadline.0);
            w.u64(l.version);
        });
        self.u64(h.version);
        self.body(b);
    }
    /// The engine counters.
    pub(crate) fn counters(&mut self, c: &Counters) {
        self.u64(c.last_now.0);
        self.u64(c.last_id);
        self.u32(c.next_queue);
    }
}

impl Reader<'_> {
    /// A queue record written by [`Writer::queue_record`].
    pub(crate) fn queue_record(&mut self) -> Result<QueueRecord> {
        Ok(QueueRecord {
            id: QueueId(self.u32()?),
            name: self.name()?,
            kind: self.kind()?,
            settings: self.settings()?,
            created_version: self.u64()?,
            version: self.u64()?,
            next_node: self.u32()?,
            dead_lettered: self.u64()?,
        })
    }
    /// A group record written by [`Writer::group_record`].
    pub(crate) fn group_record(&mut self) -> Result<GroupRecord> {
        Ok(GroupRecord {
            queue: QueueId(self.u32()?),
            node: self.u32()?,
            parent: self.u32()?,
            segment: self.str()?,
            leaf: self.bool()?,
            cursor: self.u32()?,
        })
    }
    /// A message written by [`Writer::message`].
    pub(crate) fn message(&mut self) -> Result<(MessageHeader, Body)> {
        let header = MessageHeader {
            queue: QueueId(self.u32()?),
            id: MessageId(self.u64()?),
            group: Group::new(&self.str()?),
            priority: Priority(self.i64()?),
            deliveries: self.u32()?,
            lease: self.opt(|r| {
                Ok(Lease {
                    deadline: Timestamp(r.u64()?),
                    version: r.u64()?,
                })
            })?,
            version: self.u64()?,
        };
        Ok((header, self.body()?))
    }
    /// Counters written by [`Writer::counters`].
    pub(crate) fn counters(&mut self) -> Result<Counters> {
        Ok(Counters {
            last_now: Timestamp(self.u64()?),
            last_id: self.u64()?,
            next_queue: self.u32()?,
        })
    }
}
