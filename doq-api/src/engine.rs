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
mod peek;
mod prng;
mod queue_state;
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
    queue_state::{Entry, QueueState},
    rates::Op,
    round_robin::RoundRobin,
};
use crate::{
    backup::{BackupState, Tombstone},
    command::{Command, Delivery, Enqueued, LogIndex, NewMessage, Reply, SettingsUpdate, Stamped},
    error::{Error, Result},
    message::{Body, Group, Lease, MessageHeader, MessageId, Metadata, Priority},
    name::QueueName,
    queue::{QueueId, QueueKind, QueueSettings, Strategy},
    receipt::Receipt,
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
            let mut headers = Vec::new();
            src.headers(q.record.id, &mut |h| headers.push(h))?;
            for h in headers {
                let entry = Entry {
                    group: h.group.clone(),
                    priority: h.priority,
                    deliveries: h.deliveries,
                    lease: h.lease,
                    version: h.version,
                };
                match h.lease {
                    Some(lease) => {
                        q.add_lease(h.id, &h.group, lease.deadline);
                        engine.leases.insert((lease.deadline, q.record.id, h.id));
                    }
                    None => q.insert_ready(&h.group, (h.priority, h.id)),
                }
                q.messages.insert(h.id, entry);
            }
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
        }
    }

    fn queue(&self, name: &QueueName) -> Result<&QueueState> {
        self.queues
            .get(name)
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))
    }

    fn queue_mut(&mut self, name: &QueueName) -> Result<&mut QueueState> {
        self.queues
            .get_mut(name)
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))
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
            e.lease = None;
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

    fn create_queue(
        &mut self,
        index: LogIndex,
        name: &QueueName,
        kind: QueueKind,
        settings: &QueueSettings,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        self.validate_settings(name, kind, settings)?;
        if self.queues.contains_key(name) {
            return Ok(Reply::QueueCreated);
        }
        self.add_queue(name.clone(), kind, settings.clone(), index, index, m);
        Ok(Reply::QueueCreated)
    }

    /// The one place a queue comes to exist (create and restore): a fresh id that is never reused, an empty
    /// round-robin tree, the record and the tree staged into `m`.
    fn add_queue(
        &mut self,
        name: QueueName,
        kind: QueueKind,
        settings: QueueSettings,
        created_version: LogIndex,
        version: LogIndex,
        m: &mut dyn Mutations,
    ) {
        let id = QueueId(self.counters.next_queue);
        self.counters.next_queue = self.counters.next_queue.saturating_add(1);
        let record = QueueRecord {
            id,
            name: name.clone(),
            kind,
            settings,
            created_version,
            version,
            next_node: 1,
            dead_lettered: 0,
        };
        m.put_queue(&record);
        let mut q = QueueState::new(record, None);
        q.flush_tree(m);
        self.by_id.insert(id, name.clone());
        self.queues.insert(name, q);
    }

    fn update_queue(
        &mut self,
        index: LogIndex,
        name: &QueueName,
        u: &SettingsUpdate,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = self.queue(name)?;
        let bad = |reason: &str| {
            Err(Error::InvalidSettings {
                name: name.to_string(),
                reason: reason.to_string(),
            })
        };
        if u.strategy != q.record.settings.strategy {
            return bad("the strategy of a queue cannot change");
        }
        let kind = q.record.kind;
        let settings = QueueSettings {
            strategy: u.strategy,
            max_unacked: u.max_unacked,
            ack_timeout: u.ack_timeout,
            max_deliveries: u.max_deliveries.unwrap_or(q.record.settings.max_deliveries),
            dead_letter: u
                .dead_letter
                .clone()
                .unwrap_or_else(|| q.record.settings.dead_letter.clone()),
        };
        self.validate_settings(name, kind, &settings)?;
        let q = self.queue_mut(name)?;
        q.record.settings = settings;
        q.record.version = index;
        m.put_queue(&q.record);
        Ok(Reply::QueueUpdated)
    }

    /// Records a deletion for incremental backups (docs/backup.md §8.1).
    fn tombstone(
        m: &mut dyn Mutations,
        version: LogIndex,
        now: Timestamp,
        record: &QueueRecord,
        id: Option<MessageId>,
    ) {
        m.put_tombstone(&Tombstone {
            version,
            now,
            queue: record.id,
            name: record.name.clone(),
            id,
        });
    }

    fn delete_queue(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        self.queue(name)?;
        if self
            .queues
            .values()
            .any(|q| q.record.settings.dead_letter.as_ref() == Some(name))
        {
            return Err(Error::QueueInUse(name.to_string()));
        }
        self.drop_queue(index, now, name, m);
        Ok(Reply::QueueDeleted)
    }

    /// Removes a queue, its messages and leases, with a queue tombstone; no checks.
    fn drop_queue(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        m: &mut dyn Mutations,
    ) {
        if let Some(q) = self.queues.remove(name) {
            let id = q.record.id;
            for (deadline, mid) in &q.leases {
                self.leases.remove(&(*deadline, id, *mid));
            }
            self.by_id.remove(&id);
            Self::tombstone(m, index, now, &q.record, None);
            m.delete_queue(id);
        }
    }

    fn purge(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = self
            .queues
            .get_mut(name)
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))?;
        let id = q.record.id;
        let count = q.messages.len() as u64;
        for (deadline, mid) in &q.leases {
            self.leases.remove(&(*deadline, id, *mid));
        }
        // Sorted, so the staged tombstones do not depend on hash order.
        let mut ids: Vec<MessageId> = q.messages.keys().copied().collect();
        ids.sort_unstable();
        for mid in ids {
            Self::tombstone(m, index, now, &q.record, Some(mid));
        }
        q.clear();
        m.delete_messages(id);
        q.flush_tree(m);
        Ok(Reply::Purged { count })
    }

    fn next_id(
        counters: &mut Counters,
        now: Timestamp,
        taken: impl Fn(MessageId) -> bool,
    ) -> MessageId {
        let snowflake = now
            .0
            .saturating_sub(SNOWFLAKE_EPOCH_MS)
            .checked_shl(22)
            .unwrap_or(u64::MAX);
        let mut id = counters.last_id.saturating_add(1).max(snowflake);
        while taken(MessageId(id)) && id < u64::MAX {
            id += 1;
        }
        counters.last_id = id;
        MessageId(id)
    }

    fn enqueue(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        items: &[NewMessage],
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let Some(q) = self.queues.get_mut(name) else {
            return Err(Error::QueueNotFound(name.to_string()));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let id = match item.id {
                Some(id) if id.0 != 0 => id,
                _ => Self::next_id(&mut self.counters, now, |id| q.messages.contains_key(&id)),
            };
            let group = q.stored_group(&item.group);
            let entry = match q.messages.get(&id).cloned() {
                // Last write wins for content, priority and metadata; state, group and deliveries stay.
                Some(old) => {
                    if old.lease.is_none() {
                        q.remove_ready(&old.group, (old.priority, id));
                        q.insert_ready(&old.group, (item.priority, id));
                    }
                    Entry {
                        priority: item.priority,
                        version: index,
                        ..old
                    }
                }
                None => {
                    q.insert_ready(&group, (item.priority, id));
                    Entry {
                        group,
                        priority: item.priority,
                        deliveries: 0,
                        lease: None,
                        version: index,
                    }
                }
            };
            let header = entry.header(q.record.id, id);
            m.put_message(&header, &item.body);
            out.push(Enqueued {
                id,
                group: entry.group.clone(),
                priority: entry.priority,
            });
            q.messages.insert(id, entry);
        }
        q.rates.record(
            Op::Enqueue,
            now.as_secs(),
            u32::try_from(items.len()).unwrap_or(u32::MAX),
        );
        q.flush_tree(m);
        Ok(Reply::Enqueued(out))
    }

    #[allow(clippy::too_many_arguments)]
    fn dequeue(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        ack: bool,
        max: u16,
        prng: &mut Prng,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        // A dead-letter queue that no longer exists means messages are delivered normally (docs/semantics.md §4.5).
        let target = self
            .queues
            .get(name)
            .and_then(|q| q.record.settings.dead_letter.clone())
            .filter(|d| self.queues.contains_key(d));
        let Some(q) = self.queues.get_mut(name) else {
            return Err(Error::QueueNotFound(name.to_string()));
        };
        let max_deliveries = q.record.settings.max_deliveries;
        let mut out = Vec::new();
        let mut dead = Vec::new();
        while out.len() < usize::from(max.max(1)) {
            let Some(id) = q.select(now, prng) else { break };
            let Some(entry) = q.messages.get_mut(&id) else {
                continue;
            };
            if target.is_some() && max_deliveries > 0 && entry.deliveries >= max_deliveries {
                // This would be delivery max_deliveries + 1: move it instead and keep selecting.
                let body = m.body(q.record.id, id)?.unwrap_or_default();
                dead.push((
                    id,
                    entry.group.clone(),
                    entry.priority,
                    entry.deliveries,
                    body,
                ));
                q.messages.remove(&id);
                m.delete_message(q.record.id, id);
                Self::tombstone(m, index, now, &q.record, Some(id));
                q.record.dead_lettered += 1;
                continue;
            }
            entry.deliveries = entry.deliveries.saturating_add(1);
            entry.version = index;
            let body = m.body(q.record.id, id)?.unwrap_or_default();
            let receipt = Receipt { id, lease: index };
            let (group, priority, deliveries) =
                (entry.group.clone(), entry.priority, entry.deliveries);
            if ack {
                q.messages.remove(&id);
                m.delete_message(q.record.id, id);
                Self::tombstone(m, index, now, &q.record, Some(id));
            } else {
                let deadline = now.plus_secs(q.record.settings.ack_timeout);
                entry.lease = Some(Lease {
                    deadline,
                    version: index,
                });
                let header = entry.header(q.record.id, id);
                q.add_lease(id, &group, deadline);
                self.leases.insert((deadline, q.record.id, id));
                m.put_header(&header);
            }
            out.push(Delivery {
                id,
                group,
                priority,
                body,
                receipt,
                deliveries,
            });
        }
        q.flush_tree(m);
        if !dead.is_empty() {
            m.put_queue(&q.record);
        }
        if !out.is_empty() {
            q.rates.record(
                Op::Dequeue,
                now.as_secs(),
                u32::try_from(out.len()).unwrap_or(u32::MAX),
            );
        }
        if let Some(target) = target {
            self.dead_letter(index, now, name, &target, dead, m);
        }
        if out.is_empty() {
            return Err(Error::QueueEmpty(name.to_string()));
        }
        Ok(Reply::Dequeued(out))
    }

    /// Enqueues moved messages into the dead-letter queue `target` with `x-doq-*` metadata (docs/semantics.md §4.5).
    fn dead_letter(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        source: &QueueName,
        target: &QueueName,
        moved: Vec<(MessageId, Group, Priority, u32, Body)>,
        m: &mut dyn Mutations,
    ) {
        let Some(t) = self.queues.get_mut(target) else {
            return;
        };
        let count = u32::try_from(moved.len()).unwrap_or(u32::MAX);
        for (old_id, group, priority, deliveries, mut body) in moved {
            let id = if t.messages.contains_key(&old_id) {
                Self::next_id(&mut self.counters, now, |id| t.messages.contains_key(&id))
            } else {
                old_id
            };
            let meta = &mut body.metadata;
            meta.insert("x-doq-original-queue".into(), source.to_string());
            meta.insert("x-doq-original-id".into(), old_id.to_string());
            meta.insert("x-doq-original-group".into(), group.as_str().to_string());
            meta.insert("x-doq-delivery-count".into(), deliveries.to_string());
            meta.insert("x-doq-dead-lettered-at".into(), now.as_secs().to_string());
            let stored = t.stored_group(&group);
            let entry = Entry {
                group: stored.clone(),
                priority,
                deliveries: 0,
                lease: None,
                version: index,
            };
            t.insert_ready(&stored, (priority, id));
            m.put_message(&entry.header(t.record.id, id), &body);
            t.messages.insert(id, entry);
        }
        t.rates.record(Op::Enqueue, now.as_secs(), count);
        t.flush_tree(m);
    }

    /// Finds a message with a live lease, checking the receipt (docs/http.md §3.4).
    fn leased<'a>(
        q: &'a mut QueueState,
        name: &QueueName,
        id: MessageId,
        receipt: Option<Receipt>,
    ) -> Result<(&'a mut Entry, Lease)> {
        let not_held = || Error::LeaseNotHeld {
            queue: name.to_string(),
        };
        let entry = q.messages.get_mut(&id).ok_or_else(not_held)?;
        let lease = entry.lease.ok_or_else(not_held)?;
        if let Some(r) = receipt {
            if r.lease != lease.version {
                return Err(Error::StaleReceipt {
                    queue: name.to_string(),
                });
            }
        }
        Ok((entry, lease))
    }

    fn ack(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        id: MessageId,
        receipt: Option<Receipt>,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = self
            .queues
            .get_mut(name)
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))?;
        let (entry, lease) = Self::leased(q, name, id, receipt)?;
        let group = entry.group.clone();
        q.messages.remove(&id);
        q.remove_lease(id, &group, lease.deadline);
        self.leases.remove(&(lease.deadline, q.record.id, id));
        m.delete_message(q.record.id, id);
        Self::tombstone(m, index, now, &q.record, Some(id));
        q.rates.record(Op::Ack, now.as_secs(), 1);
        Ok(Reply::Acked)
    }

    #[allow(clippy::too_many_arguments)]
    fn nack(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        id: MessageId,
        priority: Priority,
        metadata: Option<&Metadata>,
        receipt: Option<Receipt>,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = self
            .queues
            .get_mut(name)
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))?;
        let qid = q.record.id;
        let (entry, lease) = Self::leased(q, name, id, receipt)?;
        // Read the body before changing anything, so a failed read leaves the engine untouched.
        let body = match metadata {
            Some(meta) => Some(Body {
                content: m.body(qid, id)?.unwrap_or_default().content,
                metadata: meta.clone(),
            }),
            None => None,
        };
        if priority.0 != 0 {
            entry.priority = priority;
        }
        entry.lease = None;
        entry.version = index;
        let (group, new_priority) = (entry.group.clone(), entry.priority);
        let header = entry.header(qid, id);
        q.remove_lease(id, &group, lease.deadline);
        self.leases.remove(&(lease.deadline, qid, id));
        q.insert_ready(&group, (new_priority, id));
        match &body {
            Some(b) => m.put_message(&header, b),
            None => m.put_header(&header),
        }
        q.flush_tree(m);
        q.rates.record(Op::Nack, now.as_secs(), 1);
        Ok(Reply::Nacked {
            priority: new_priority,
        })
    }

    fn touch(
        &mut self,
        now: Timestamp,
        name: &QueueName,
        id: MessageId,
        receipt: Option<Receipt>,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = self
            .queues
            .get_mut(name)
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))?;
        let qid = q.record.id;
        let timeout = q.record.settings.ack_timeout;
        let (entry, lease) = Self::leased(q, name, id, receipt)?;
        let deadline = now.plus_secs(timeout);
        entry.lease = Some(Lease {
            deadline,
            version: lease.version,
        });
        let group = entry.group.clone();
        let header = entry.header(qid, id);
        q.remove_lease(id, &group, lease.deadline);
        q.add_lease(id, &group, deadline);
        self.leases.remove(&(lease.deadline, qid, id));
        self.leases.insert((deadline, qid, id));
        m.put_header(&header);
        Ok(Reply::Touched)
    }

    fn update_priority(
        &mut self,
        index: LogIndex,
        name: &QueueName,
        id: MessageId,
        priority: Priority,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = self
            .queues
            .get_mut(name)
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))?;
        let Some(entry) = q.messages.get_mut(&id) else {
            return Err(Error::MessageNotFound {
                queue: name.to_string(),
            });
        };
        let (old, leased, group) = (entry.priority, entry.lease.is_some(), entry.group.clone());
        entry.priority = priority;
        entry.version = index;
        let header = entry.header(q.record.id, id);
        if !leased {
            q.remove_ready(&group, (old, id));
            q.insert_ready(&group, (priority, id));
        }
        m.put_header(&header);
        q.flush_tree(m);
        Ok(Reply::PriorityUpdated)
    }

    fn delete_message(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        id: MessageId,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = self
            .queues
            .get_mut(name)
            .ok_or_else(|| Error::QueueNotFound(name.to_string()))?;
        let Some(entry) = q.messages.remove(&id) else {
            return Err(Error::MessageNotFound {
                queue: name.to_string(),
            });
        };
        match entry.lease {
            Some(lease) => {
                q.remove_lease(id, &entry.group, lease.deadline);
                self.leases.remove(&(lease.deadline, q.record.id, id));
            }
            None => q.remove_ready(&entry.group, (entry.priority, id)),
        }
        m.delete_message(q.record.id, id);
        Self::tombstone(m, index, now, &q.record, Some(id));
        q.flush_tree(m);
        Ok(Reply::Deleted)
    }

    fn reserve_ids(&mut self, now: Timestamp, count: u16) -> Result<Reply> {
        if !(1..=1000).contains(&count) {
            return Err(Error::invalid(
                "body.number",
                "expected number between 1 and 1000",
                count.to_string(),
            ));
        }
        let ids = (0..count)
            .map(|_| Self::next_id(&mut self.counters, now, |_| false))
            .collect();
        Ok(Reply::Ids(ids))
    }
}
