//! One queue's in-memory state: its record, a small entry per message, the ready index for its
//! kind, and its live leases.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{
    delayed::Delayed,
    prng::Prng,
    rates::Rates,
    records::{Mutations, QueueRecord},
    round_robin::{Blocked, RoundRobin},
    weighted::Weighted,
};
use crate::{
    command::LogIndex,
    message::{Group, Lease, MessageHeader, MessageId, Priority},
    queue::{QueueId, QueueKind, Strategy},
    time::Timestamp,
};

/// What the engine keeps per message: no body, 48 bytes plus the shared group. The lease is boxed
/// because few messages hold one at a time, and an inline `Option<Lease>` would add 16 bytes to every
/// entry (a million queued messages are held in memory, docs/semantics.md §1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) group: Group,
    pub(crate) priority: Priority,
    pub(crate) deliveries: u32,
    lease: Option<Box<Lease>>,
    pub(crate) version: LogIndex,
}

impl Entry {
    /// A message with no lease.
    pub(crate) fn new(
        group: Group,
        priority: Priority,
        deliveries: u32,
        version: LogIndex,
    ) -> Self {
        Self {
            group,
            priority,
            deliveries,
            lease: None,
            version,
        }
    }

    /// The current lease, if any.
    pub(crate) fn lease(&self) -> Option<Lease> {
        self.lease.as_deref().copied()
    }

    /// Sets or clears the lease.
    pub(crate) fn set_lease(&mut self, lease: Option<Lease>) {
        self.lease = lease.map(Box::new);
    }

    /// The header the store keeps for this entry.
    pub(crate) fn header(&self, queue: QueueId, id: MessageId) -> MessageHeader {
        MessageHeader {
            queue,
            id,
            group: self.group.clone(),
            priority: self.priority,
            deliveries: self.deliveries,
            lease: self.lease(),
            version: self.version,
        }
    }
}

/// The ready index of the queue's kind.
#[derive(Clone, Debug)]
pub(crate) enum ReadyIndex {
    Delayed(Delayed),
    RoundRobin(RoundRobin),
    Weighted(Weighted),
}

/// Live leases per exact group, and the limit `max_unacked` checks them against.
struct LeaseLimit<'a> {
    counts: &'a HashMap<Group, u32>,
    max_unacked: u32,
}

impl Blocked for LeaseLimit<'_> {
    fn blocked(&self, path: &Group) -> bool {
        self.max_unacked > 0 && self.counts.get(path).copied().unwrap_or(0) >= self.max_unacked
    }
}

/// One queue.
#[derive(Clone, Debug)]
pub(crate) struct QueueState {
    pub(crate) record: QueueRecord,
    /// Every message, by id: ordered, so peeks, purges and digests walk it without sorting, and rebuild
    /// fills it in bulk with full B-tree nodes (about 60 bytes a message, where a hash map at a million
    /// entries sits at half load and takes twice that).
    pub(crate) messages: BTreeMap<MessageId, Entry>,
    pub(crate) ready: ReadyIndex,
    /// Live leases, earliest deadline first; mirrors the engine-wide set for this queue.
    pub(crate) leases: BTreeSet<(Timestamp, MessageId)>,
    pub(crate) leases_by_group: HashMap<Group, u32>,
    pub(crate) rates: Rates,
    /// `default`, shared by every message stored under it rather than allocated per message.
    pub(crate) default_group: Group,
    /// Deliveries of messages delivered before (memory only, like the rates' totals).
    pub(crate) redelivered: u64,
    /// Messages past `max_deliveries` delivered normally because the dead-letter queue is gone.
    pub(crate) dead_letter_failures: u64,
}

impl QueueState {
    /// A queue with no messages; a round-robin tree starts from `tree` when rebuilding.
    pub(crate) fn new(record: QueueRecord, tree: Option<RoundRobin>) -> Self {
        let ready = match (record.kind, record.settings.strategy) {
            (QueueKind::Fair, Some(Strategy::Weighted)) => {
                ReadyIndex::Weighted(Weighted::default())
            }
            (QueueKind::Fair, _) => {
                ReadyIndex::RoundRobin(tree.unwrap_or_else(|| RoundRobin::new(record.next_node)))
            }
            (QueueKind::Delayed, _) => ReadyIndex::Delayed(Delayed::default()),
        };
        Self {
            record,
            messages: BTreeMap::new(),
            ready,
            leases: BTreeSet::new(),
            leases_by_group: HashMap::new(),
            rates: Rates::default(),
            default_group: Group::new("default"),
            redelivered: 0,
            dead_letter_failures: 0,
        }
    }

    /// The group a message is stored under, by the queue's rules (docs/http.md §3.3, §4.2, §4.3).
    pub(crate) fn stored_group(&self, requested: &Group) -> Group {
        match &self.ready {
            ReadyIndex::Delayed(_) => self.default_group.clone(),
            ReadyIndex::RoundRobin(_) if requested.as_str().is_empty() => {
                self.default_group.clone()
            }
            ReadyIndex::RoundRobin(_) | ReadyIndex::Weighted(_) => requested.clone(),
        }
    }

    pub(crate) fn insert_ready(&mut self, group: &Group, key: (Priority, MessageId)) {
        match &mut self.ready {
            ReadyIndex::Delayed(d) => d.insert(key),
            ReadyIndex::RoundRobin(t) => t.insert(group, key),
            ReadyIndex::Weighted(w) => w.insert(group, key),
        }
    }

    pub(crate) fn remove_ready(&mut self, group: &Group, key: (Priority, MessageId)) {
        match &mut self.ready {
            ReadyIndex::Delayed(d) => d.remove(key),
            ReadyIndex::RoundRobin(t) => t.remove(group, key),
            ReadyIndex::Weighted(w) => w.remove(group, key),
        }
    }

    pub(crate) fn add_lease(&mut self, id: MessageId, group: &Group, deadline: Timestamp) {
        self.leases.insert((deadline, id));
        *self.leases_by_group.entry(group.clone()).or_insert(0) += 1;
    }

    pub(crate) fn remove_lease(&mut self, id: MessageId, group: &Group, deadline: Timestamp) {
        self.leases.remove(&(deadline, id));
        if let Some(n) = self.leases_by_group.get_mut(group) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.leases_by_group.remove(group);
            }
        }
    }

    /// Pops the next deliverable message id, by the queue's kind.
    pub(crate) fn select(&mut self, now: Timestamp, prng: &mut Prng) -> Option<MessageId> {
        let limit = LeaseLimit {
            counts: &self.leases_by_group,
            max_unacked: self.record.settings.max_unacked,
        };
        match &mut self.ready {
            ReadyIndex::Delayed(d) => d.pop_due(now).map(|(_, id)| id),
            ReadyIndex::RoundRobin(t) => t.select(&limit).map(|(_, (_, id))| id),
            ReadyIndex::Weighted(w) => w
                .select(limit.counts, limit.max_unacked, prng)
                .map(|(_, (_, id))| id),
        }
    }

    /// Whether a dequeue at `now` would find something, counting leases that lapsed by `now`.
    pub(crate) fn has_deliverable(&self, now: Timestamp) -> bool {
        if self
            .leases
            .first()
            .is_some_and(|(deadline, _)| *deadline <= now)
        {
            return true;
        }
        let limit = LeaseLimit {
            counts: &self.leases_by_group,
            max_unacked: self.record.settings.max_unacked,
        };
        match &self.ready {
            ReadyIndex::Delayed(d) => d.peek_due(now).is_some(),
            ReadyIndex::RoundRobin(t) => t.has_deliverable(&limit),
            ReadyIndex::Weighted(w) => w.has_deliverable(limit.counts, limit.max_unacked),
        }
    }

    /// The earliest time after `now` at which time alone may make something deliverable: the first live
    /// lease's deadline, or the moment a delayed queue's head comes due.
    pub(crate) fn next_ready_at(&self, now: Timestamp) -> Option<Timestamp> {
        let lease = self
            .leases
            .range((Timestamp(now.0.saturating_add(1)), MessageId(0))..)
            .next()
            .map(|(deadline, _)| *deadline);
        let due = match &self.ready {
            ReadyIndex::Delayed(d) => d.next_due(now),
            ReadyIndex::RoundRobin(_) | ReadyIndex::Weighted(_) => None,
        };
        match (lease, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Live leases at `now` (reads happen between applies, so some may have lapsed already).
    pub(crate) fn live_leases(&self, now: Timestamp) -> u64 {
        self.leases
            .range((Timestamp(now.0.saturating_add(1)), MessageId(0))..)
            .count() as u64
    }

    /// Ready messages not yet due (delayed queues only).
    pub(crate) fn not_due(&self, now: Timestamp) -> u64 {
        match &self.ready {
            ReadyIndex::Delayed(d) => d.not_due(now),
            ReadyIndex::RoundRobin(_) | ReadyIndex::Weighted(_) => 0,
        }
    }

    /// Drops every message, lease and tree node (purge).
    pub(crate) fn clear(&mut self) {
        self.messages.clear();
        self.leases.clear();
        self.leases_by_group.clear();
        match &mut self.ready {
            ReadyIndex::Delayed(d) => d.clear(),
            ReadyIndex::RoundRobin(t) => t.clear(),
            ReadyIndex::Weighted(w) => w.clear(),
        }
    }

    /// Writes round-robin tree changes (and the queue record when node ids were allocated).
    pub(crate) fn flush_tree(&mut self, m: &mut dyn Mutations) {
        let ReadyIndex::RoundRobin(tree) = &mut self.ready else {
            return;
        };
        let (puts, deletes) = tree.drain_changes(self.record.id);
        for g in &puts {
            m.put_group(g);
        }
        for node in deletes {
            m.delete_group(self.record.id, node);
        }
        if tree.next_node() != self.record.next_node {
            self.record.next_node = tree.next_node();
            m.put_queue(&self.record);
        }
    }

    pub(crate) fn digest(&self, h: &mut super::digest::Fnv) {
        let r = &self.record;
        h.str(r.name.as_str());
        h.u64(u64::from(r.id.0));
        h.str(r.kind.as_str());
        h.str(r.settings.strategy.map_or("", Strategy::as_upper));
        h.u64(u64::from(r.settings.max_unacked));
        h.u64(u64::from(r.settings.ack_timeout));
        h.u64(u64::from(r.settings.max_deliveries));
        h.str(r.settings.dead_letter.as_ref().map_or("", |n| n.as_str()));
        h.u64(r.created_version);
        h.u64(r.dead_lettered);
        for (id, e) in &self.messages {
            h.u64(id.0);
            h.str(e.group.as_str());
            h.i64(e.priority.0);
            h.u64(u64::from(e.deliveries));
            if let Some(l) = e.lease() {
                h.u64(l.deadline.0);
                h.u64(l.version);
            }
            h.u64(e.version);
        }
        if let ReadyIndex::RoundRobin(t) = &self.ready {
            t.digest(h);
        }
    }
}
