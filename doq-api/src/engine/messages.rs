//! The message commands' handlers: id assignment, enqueue, dequeue (with dead-lettering), ack, nack,
//! touch, priority updates, deletes and id reservations.
use super::{
    prng::Prng,
    queue_in,
    queue_state::{Entry, QueueState},
    rates::Op,
    Counters, Engine, Mutations, SNOWFLAKE_EPOCH_MS,
};
use crate::{
    command::{Delivery, Enqueued, LogIndex, NewMessage, Reply},
    error::{Error, Result},
    message::{Body, Group, Lease, MessageId, Metadata, Priority},
    name::QueueName,
    receipt::Receipt,
    time::Timestamp,
};

impl Engine {
    pub(super) fn next_id(
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

    pub(super) fn enqueue(
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
                Some(mut old) => {
                    if old.lease().is_none() {
                        q.remove_ready(&old.group, (old.priority, id));
                        q.insert_ready(&old.group, (item.priority, id));
                    }
                    old.priority = item.priority;
                    old.version = index;
                    old
                }
                None => {
                    q.insert_ready(&group, (item.priority, id));
                    Entry::new(group, item.priority, 0, index)
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
    pub(super) fn dequeue(
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
        let configured = self
            .queues
            .get(name)
            .and_then(|q| q.record.settings.dead_letter.clone());
        let target = configured.clone().filter(|d| self.queues.contains_key(d));
        // Counted, not fixed: docs/semantics.md §4.5 delivers such messages normally.
        let dead_letter_missing = configured.is_some() && target.is_none();
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
            if dead_letter_missing && max_deliveries > 0 && entry.deliveries >= max_deliveries {
                q.dead_letter_failures += 1;
            }
            if entry.deliveries > 0 {
                q.redelivered += 1;
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
                entry.set_lease(Some(Lease {
                    deadline,
                    version: index,
                }));
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
    pub(super) fn dead_letter(
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
            let entry = Entry::new(stored.clone(), priority, 0, index);
            t.insert_ready(&stored, (priority, id));
            m.put_message(&entry.header(t.record.id, id), &body);
            t.messages.insert(id, entry);
        }
        t.rates.record(Op::Enqueue, now.as_secs(), count);
        t.flush_tree(m);
    }

    /// Finds a message with a live lease, checking the receipt (docs/http.md §3.4).
    pub(super) fn leased<'a>(
        q: &'a mut QueueState,
        name: &QueueName,
        id: MessageId,
        receipt: Option<Receipt>,
    ) -> Result<(&'a mut Entry, Lease)> {
        let not_held = || Error::LeaseNotHeld {
            queue: name.to_string(),
        };
        let entry = q.messages.get_mut(&id).ok_or_else(not_held)?;
        let lease = entry.lease().ok_or_else(not_held)?;
        if let Some(r) = receipt {
            if r.lease != lease.version {
                return Err(Error::StaleReceipt {
                    queue: name.to_string(),
                });
            }
        }
        Ok((entry, lease))
    }

    pub(super) fn ack(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        id: MessageId,
        receipt: Option<Receipt>,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = queue_in(&mut self.queues, name)?;
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

    /// Acks each item as [`Engine::ack`] would, within this one command: a failed item changes nothing
    /// (`ack` checks before it mutates) and does not stop the others. An unknown queue fails the whole.
    pub(super) fn ack_each(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        items: &[(MessageId, Option<Receipt>)],
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        if !self.queues.contains_key(name) {
            return Err(Error::QueueNotFound(name.to_string()));
        }
        let results = items
            .iter()
            .map(|&(id, receipt)| {
                let outcome = self.ack(index, now, name, id, receipt, m).map(|_| ());
                (id, outcome)
            })
            .collect();
        Ok(Reply::AckedEach(results))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn nack(
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
        let q = queue_in(&mut self.queues, name)?;
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
        entry.set_lease(None);
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

    pub(super) fn touch(
        &mut self,
        now: Timestamp,
        name: &QueueName,
        id: MessageId,
        receipt: Option<Receipt>,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = queue_in(&mut self.queues, name)?;
        let qid = q.record.id;
        let timeout = q.record.settings.ack_timeout;
        let (entry, lease) = Self::leased(q, name, id, receipt)?;
        let deadline = now.plus_secs(timeout);
        entry.set_lease(Some(Lease {
            deadline,
            version: lease.version,
        }));
        let group = entry.group.clone();
        let header = entry.header(qid, id);
        q.remove_lease(id, &group, lease.deadline);
        q.add_lease(id, &group, deadline);
        self.leases.remove(&(lease.deadline, qid, id));
        self.leases.insert((deadline, qid, id));
        m.put_header(&header);
        Ok(Reply::Touched)
    }

    pub(super) fn update_priority(
        &mut self,
        index: LogIndex,
        name: &QueueName,
        id: MessageId,
        priority: Priority,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = queue_in(&mut self.queues, name)?;
        let Some(entry) = q.messages.get_mut(&id) else {
            return Err(Error::MessageNotFound {
                queue: name.to_string(),
            });
        };
        let (old, leased, group) = (entry.priority, entry.lease().is_some(), entry.group.clone());
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

    pub(super) fn delete_message(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        id: MessageId,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = queue_in(&mut self.queues, name)?;
        let Some(entry) = q.messages.remove(&id) else {
            return Err(Error::MessageNotFound {
                queue: name.to_string(),
            });
        };
        match entry.lease() {
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

    pub(super) fn reserve_ids(&mut self, now: Timestamp, count: u16) -> Result<Reply> {
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
