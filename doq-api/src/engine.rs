//! The queue engine: a deterministic state machine over commands. It owns the indexes (never the
//! bodies), decides every outcome, and stages its writes into a [`Mutations`] batch.
//!
//! # Invariants
//! - The state after `apply` depends only on the state before, the index and the stamped command:
//!   no IO, no clock, no OS randomness, no `HashMap` iteration order in a decision.
//! - `apply` never panics, and a rejected command stages nothing of its own.
//! - After any prefix of commands, `Engine::rebuild` over the store has the live engine's `digest()`.
mod delayed;
mod digest;
mod messages;
mod peek;
mod prng;
mod queue_state;
mod queues;
mod rates;
mod records;
mod restore;
mod round_robin;

#[cfg(test)]
mod tests;
mod weighted;

use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use peek::{PeekFilter, PeekPage};
pub use records::{Counters, GroupRecord, IndexSource, Mutations, QueueRecord};

use self::{
    digest::Fnv,
    prng::Prng,
    queue_state::{Entry, QueueState, ReadyIndex},
    rates::Op,
    round_robin::RoundRobin,
};
use crate::{
    backup::BackupState,
    command::{Command, LogIndex, Reply, Stamped},
    error::{Error, Result},
    message::{Group, MessageHeader, MessageId, Priority},
    name::QueueName,
    queue::{QueueId, QueueKind, QueueSettings, Strategy},
    time::Timestamp,
};

/// DOQ's snowflake epoch (Twitter's), in Unix milliseconds.
const SNOWFLAKE_EPOCH_MS: u64 = 1_288_834_974_657;

/// A message's state as reads report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageState {
    /// Ready and due.
    Ready,
    /// Ready but its priority is a future time (delayed queues).
    Delayed,
    /// Under a live lease.
    Leased,
}

/// A message as reads see it (the body comes from the store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageView {
    /// The stored header.
    pub header: MessageHeader,
    /// Its state at the time of the read.
    pub state: MessageState,
}

/// Queue info and stats (docs/http.md §3.2).
#[derive(Clone, Debug, PartialEq)]
pub struct QueueStats {
    /// The queue's name.
    pub name: QueueName,
    /// Delayed or fair.
    pub kind: QueueKind,
    /// Stored settings.
    pub settings: QueueSettings,
    /// Messages not under a live lease (including not-yet-due and blocked ones).
    pub ready: u64,
    /// Live leases.
    pub unacked: u64,
    /// `ready + unacked`.
    pub total: u64,
    /// Ready messages whose priority is still in the future (delayed queues).
    pub delayed: u64,
    /// Messages moved to the dead-letter queue since creation.
    pub dead_lettered: u64,
    /// Enqueues per second over the window.
    pub enqueue_rps: f64,
    /// Dequeues per second over the window.
    pub dequeue_rps: f64,
    /// Acks per second over the window.
    pub ack_rps: f64,
    /// Nacks per second over the window.
    pub nack_rps: f64,
    /// Running totals since this node built its engine (for `/metrics` counters).
    pub totals: OpTotals,
}

/// Operations applied to one queue since the node built its engine (a restart starts them at 0). Counted at
/// apply, so every replica counts the same commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpTotals {
    /// Messages enqueued (dead-letter moves into this queue included).
    pub enqueued: u64,
    /// Messages delivered by dequeues.
    pub dequeued: u64,
    /// Leases acked.
    pub acked: u64,
    /// Leases nacked.
    pub nacked: u64,
    /// Deliveries of a message that had been delivered before.
    pub redelivered: u64,
    /// Messages past `max_deliveries` delivered normally because the dead-letter queue is gone.
    pub dead_letter_failures: u64,
}

/// The deterministic queue state machine.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    queues: BTreeMap<QueueName, QueueState>,
    by_id: HashMap<QueueId, QueueName>,
    /// Every live lease, earliest deadline first: expiry is a walk from the front at each apply.
    leases: BTreeSet<(Timestamp, QueueId, MessageId)>,
    counters: Counters,
    /// The restore watermark and the restore being staged (docs/backup.md §8.3).
    backup: BackupState,
}

/// What `Engine::rebuild` gathers of one queue before moving it into the indexes in bulk: sorted
/// B-tree maps built in one go have full nodes (half the memory of ascending inserts), and headers
/// come from the store one page at a time, so only a chunk is ever held twice.
struct Rebuilt {
    /// The next messages, ascending by id (the store's order).
    messages: Vec<(MessageId, Entry)>,
    /// Their ready keys (delayed queues; the fair indexes take keys one by one).
    ready: BTreeSet<(Priority, MessageId)>,
    /// One `Group` per distinct name, so a million messages of one group share one allocation.
    groups: HashMap<Group, ()>,
}

impl Rebuilt {
    /// Messages per bulk move: large enough to amortize `BTreeMap::append`'s merge, small enough
    /// that the chunk is a few MB.
    const CHUNK: usize = 64 * 1024;

    fn new(default_group: Group) -> Self {
        let mut groups = HashMap::new();
        groups.insert(default_group, ());
        Self {
            messages: Vec::with_capacity(Self::CHUNK),
            ready: BTreeSet::new(),
            groups,
        }
    }

    /// The shared `Group` equal to `g`.
    fn intern(&mut self, g: Group) -> Group {
        match self.groups.get_key_value(&g) {
            Some((shared, ())) => shared.clone(),
            None => {
                self.groups.insert(g.clone(), ());
                g
            }
        }
    }

    /// Moves the gathered chunk into `q`'s indexes.
    fn flush(&mut self, q: &mut QueueState) {
        let mut chunk: BTreeMap<MessageId, Entry> = self.messages.drain(..).collect();
        q.messages.append(&mut chunk);
        if let ReadyIndex::Delayed(d) = &mut q.ready {
            d.append(&mut self.ready);
        }
    }
}

impl Engine {
    /// An engine with no queues.
    pub fn new() -> Self {
        Self {
            counters: Counters {
                next_queue: 1,
                ..Counters::default()
            },
            ..Self::default()
        }
    }

    /// Rebuilds the indexes from what a store persisted (headers, queue records, tree nodes, counters).
    pub fn rebuild(src: &dyn IndexSource) -> Result<Self> {
        let mut engine = Self::new();
        if let Some(c) = src.counters()? {
            engine.counters = c;
            engine.counters.next_queue = engine.counters.next_queue.max(1);
        }
        engine.backup = src.backup_state()?;
        for record in src.queues()? {
            let tree = match (record.kind, record.settings.strategy) {
                (QueueKind::Fair, Some(Strategy::RoundRobin)) => Some(RoundRobin::from_records(
                    record.next_node,
                    src.groups(record.id)?,
                )),
                _ => None,
            };
            let mut q = QueueState::new(record, tree);
            let qid = q.record.id;
            let mut rebuilt = Rebuilt::new(q.default_group.clone());
            src.headers(qid, &mut |h| {
                let group = rebuilt.intern(h.group);
                match h.lease {
                    Some(lease) => {
                        q.add_lease(h.id, &group, lease.deadline);
                        engine.leases.insert((lease.deadline, qid, h.id));
                    }
                    None => match &mut q.ready {
                        ReadyIndex::Delayed(_) => {
                            rebuilt.ready.insert((h.priority, h.id));
                        }
                        _ => q.insert_ready(&group, (h.priority, h.id)),
                    },
                }
                let mut entry = Entry::new(group, h.priority, h.deliveries, h.version);
                entry.set_lease(h.lease);
                rebuilt.messages.push((h.id, entry));
                if rebuilt.messages.len() >= Rebuilt::CHUNK {
                    rebuilt.flush(&mut q);
                }
            })?;
            rebuilt.flush(&mut q);
            // Rebuilding must not leave pending tree changes: the tree already matches the store.
            if let queue_state::ReadyIndex::RoundRobin(t) = &mut q.ready {
                t.drain_changes(q.record.id);
            }
            engine.counters.next_queue = engine
                .counters
                .next_queue
                .max(q.record.id.0.saturating_add(1));
            engine.by_id.insert(q.record.id, q.record.name.clone());
            engine.queues.insert(q.record.name.clone(), q);
        }
        Ok(engine)
    }

    /// Cheap validation before proposing, so most bad requests never reach the log. `apply` checks again.
    pub fn check(&self, cmd: &Command) -> Result<()> {
        match cmd {
            Command::CreateQueue {
                name,
                kind,
                settings,
            } => self.validate_settings(name, *kind, settings),
            Command::ReserveIds { count } => {
                if (1..=1000).contains(count) {
                    Ok(())
                } else {
                    Err(Error::invalid(
                        "body.number",
                        "expected number between 1 and 1000",
                        count.to_string(),
                    ))
                }
            }
            other => match other.queue() {
                Some(q) if !self.queues.contains_key(q) => Err(Error::QueueNotFound(q.to_string())),
                _ => Ok(()),
            },
        }
    }

    /// Applies one stamped command at `index`, staging its writes into `m`.
    pub fn apply(&mut self, index: LogIndex, e: &Stamped, m: &mut dyn Mutations) -> Result<Reply> {
        let now = e.now.max(self.counters.last_now);
        self.counters.last_now = now;
        self.expire_leases(now, m);
        let mut prng = Prng::seeded(e.seed);
        let reply = match &e.command {
            Command::CreateQueue {
                name,
                kind,
                settings,
            } => self.create_queue(index, name, *kind, settings, m),
            Command::UpdateQueue { name, settings } => self.update_queue(index, name, settings, m),
            Command::DeleteQueue { name } => self.delete_queue(index, now, name, m),
            Command::Purge { name } => self.purge(index, now, name, m),
            Command::Enqueue { queue, items } => self.enqueue(index, now, queue, items, m),
            Command::Dequeue { queue, ack, max } => {
                self.dequeue(index, now, queue, *ack, *max, &mut prng, m)
            }
            Command::Ack { queue, id, receipt } => self.ack(index, now, queue, *id, *receipt, m),
            Command::AckBatch { queue, items } => self.ack_each(index, now, queue, items, m),
            Command::Nack {
                queue,
                id,
                priority,
                metadata,
                receipt,
            } => self.nack(
                index,
                now,
                queue,
                *id,
                *priority,
                metadata.as_ref(),
                *receipt,
                m,
            ),
            Command::Touch { queue, id, receipt } => self.touch(now, queue, *id, *receipt, m),
            Command::UpdatePriority {
                queue,
                id,
                priority,
            } => self.update_priority(index, queue, *id, *priority, m),
            Command::Delete { queue, id } => self.delete_message(index, now, queue, *id, m),
            Command::ReserveIds { count } => self.reserve_ids(now, *count),
            Command::StageImport { restore, items } => self.stage_import(now, *restore, items, m),
            Command::CommitImport {
                restore,
                mode,
                header,
            } => self.commit_import(index, now, *restore, *mode, header, m),
            Command::AbortImport { restore } => Ok(self.abort_import(*restore, m)),
        };
        m.put_counters(&self.counters);
        reply
    }

    /// Whether a dequeue at `now` would find something (DOQ's PeekReady guard); unknown queue is an error.
    pub fn ready_now(&self, queue: &QueueName, now: Timestamp) -> Result<bool> {
        let q = self.queue(queue)?;
        Ok(q.has_deliverable(now))
    }

    /// The earliest time after `now` at which `queue` may gain a deliverable message without any write:
    /// its first live lease's deadline, or (delayed queues) the second its head comes due. `None` means
    /// only a write can; waiters sleep until then instead of polling. Unknown queue is an error.
    pub fn next_ready_at(&self, queue: &QueueName, now: Timestamp) -> Result<Option<Timestamp>> {
        Ok(self.queue(queue)?.next_ready_at(now))
    }

    /// The store id of a queue.
    pub fn queue_id(&self, queue: &QueueName) -> Option<QueueId> {
        self.queues.get(queue).map(|q| q.record.id)
    }

    /// A message's header and state at `now`.
    pub fn message(&self, queue: &QueueName, id: MessageId, now: Timestamp) -> Result<MessageView> {
        let q = self.queue(queue)?;
        let Some(e) = q.messages.get(&id) else {
            return Err(Error::MessageNotFound {
                queue: queue.to_string(),
            });
        };
        Ok(peek::view(q, id, e, now))
    }

    /// Queue info and stats at `now`; rates cover the `window` seconds before `now`.
    pub fn stats(&self, queue: &QueueName, now: Timestamp, window: u32) -> Result<QueueStats> {
        Ok(Self::stats_of(self.queue(queue)?, now, window))
    }

    /// Stats of every queue, sorted by name.
    pub fn list(&self, now: Timestamp, window: u32) -> Vec<QueueStats> {
        self.queues
            .values()
            .map(|q| Self::stats_of(q, now, window))
            .collect()
    }

    /// The queue records, sorted by name.
    pub fn queue_records(&self) -> impl Iterator<Item = &QueueRecord> {
        self.queues.values().map(|q| &q.record)
    }

    /// The earliest lease deadline, so waiters know when a lapsed lease makes something deliverable.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.leases.first().map(|(d, _, _)| *d)
    }

    /// The latest command time applied.
    pub fn last_now(&self) -> Timestamp {
        self.counters.last_now
    }

    /// A hash of the whole logical state: replicas and rebuilds must agree on it.
    pub fn digest(&self) -> u64 {
        let mut h = Fnv::new();
        h.u64(self.counters.last_id);
        h.u64(u64::from(self.counters.next_queue));
        for q in self.queues.values() {
            q.digest(&mut h);
        }
        for (d, q, id) in &self.leases {
            h.u64(d.0);
            h.u64(u64::from(q.0));
            h.u64(id.0);
        }
        if let Some(mark) = &self.backup.mark {
            h.str(&mark.cluster_id);
            h.u64(mark.last_version);
        }
        if let Some(st) = &self.backup.staging {
            h.u64(st.restore);
            h.u64(st.next_seq);
            h.u64(st.last_now.0);
        }
        h.finish()
    }

    fn stats_of(q: &QueueState, now: Timestamp, window: u32) -> QueueStats {
        let total = q.messages.len() as u64;
        let unacked = q.live_leases(now);
        let second = now.as_secs();
        QueueStats {
            name: q.record.name.clone(),
            kind: q.record.kind,
            settings: q.record.settings.clone(),
            ready: total.saturating_sub(unacked),
            unacked,
            total,
            delayed: q.not_due(now),
            dead_lettered: q.record.dead_lettered,
            enqueue_rps: q.rates.rate(Op::Enqueue, second, window),
            dequeue_rps: q.rates.rate(Op::Dequeue, second, window),
            ack_rps: q.rates.rate(Op::Ack, second, window),
            nack_rps: q.rates.rate(Op::Nack, second, window),
            totals: OpTotals {
                enqueued: q.rates.total(Op::Enqueue),
                dequeued: q.rates.total(Op::Dequeue),
                acked: q.rates.total(Op::Ack),
                nacked: q.rates.total(Op::Nack),
                redelivered: q.redelivered,
                dead_letter_failures: q.dead_letter_failures,
            },
        }
    }

    fn queue(&self, name: &QueueName) -> Result<&QueueState> {
        self.queues
            .get(name)
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))
    }

    fn queue_mut(&mut self, name: &QueueName) -> Result<&mut QueueState> {
        queue_in(&mut self.queues, name)
    }

    /// Moves every lease whose deadline is `<= now` back into its queue's ready index (docs/semantics.md §1.5).
    fn expire_leases(&mut self, now: Timestamp, m: &mut dyn Mutations) {
        while let Some(&(deadline, qid, id)) = self.leases.first() {
            if deadline > now {
                break;
            }
            self.leases.remove(&(deadline, qid, id));
            let Some(q) = self
                .by_id
                .get(&qid)
                .and_then(|name| self.queues.get_mut(name))
            else {
                continue;
            };
            let Some(e) = q.messages.get_mut(&id) else {
                continue;
            };
            e.set_lease(None);
            let (group, priority) = (e.group.clone(), e.priority);
            let header = e.header(qid, id);
            q.remove_lease(id, &group, deadline);
            q.insert_ready(&group, (priority, id));
            m.put_header(&header);
            q.flush_tree(m);
        }
    }

    fn validate_settings(
        &self,
        name: &QueueName,
        kind: QueueKind,
        s: &QueueSettings,
    ) -> Result<()> {
        let bad = |reason: &str| {
            Err(Error::InvalidSettings {
                name: name.to_string(),
                reason: reason.to_string(),
            })
        };
        match kind {
            QueueKind::Fair if s.strategy.is_none() => return bad("a fair queue needs a strategy"),
            QueueKind::Delayed if s.strategy.is_some() => {
                return bad("a delayed queue takes no strategy")
            }
            QueueKind::Delayed if s.max_unacked > 0 => {
                return bad("a delayed queue takes no max_unacked")
            }
            _ => {}
        }
        if s.ack_timeout == 0 {
            return bad("ack_timeout must be positive");
        }
        match (&s.dead_letter, s.max_deliveries) {
            (None, 0) => Ok(()),
            (Some(_), 0) | (None, _) => {
                bad("max_deliveries and dead_letter_queue are set together")
            }
            (Some(dlq), _) => {
                if dlq == name {
                    return bad("a queue cannot be its own dead-letter queue");
                }
                let mut next = Some(dlq.clone());
                let mut hops = 0;
                while let Some(d) = next {
                    let Some(target) = self.queues.get(&d) else {
                        return bad("the dead-letter queue does not exist");
                    };
                    hops += 1;
                    next = target.record.settings.dead_letter.clone();
                    if next.as_ref() == Some(name) || hops > self.queues.len() {
                        return bad("dead-letter queues would form a cycle");
                    }
                }
                Ok(())
            }
        }
    }
}

/// The queue `name` in `queues`, or `QueueNotFound`. A free function over the map (not `&mut self`),
/// so a handler can hold the queue and still update the engine's other fields, such as the lease index.
fn queue_in<'a>(
    queues: &'a mut BTreeMap<QueueName, QueueState>,
    name: &QueueName,
) -> Result<&'a mut QueueState> {
    queues
        .get_mut(name)
        .ok_or_else(|| Error::QueueNotFound(name.to_string()))
}
