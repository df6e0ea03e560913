//! The queue commands' handlers: create (and `add_queue`, the one place a queue record is built, which
//! restore also uses), update, delete and purge, with the tombstones incremental backups need.
use super::{queue_in, queue_state::QueueState, Engine, Mutations, QueueRecord};
use crate::{
    backup::Tombstone,
    command::{LogIndex, Reply, SettingsUpdate},
    error::{Error, Result},
    message::MessageId,
    name::QueueName,
    queue::{QueueId, QueueKind, QueueSettings},
    time::Timestamp,
};

impl Engine {
    pub(super) fn create_queue(
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
    pub(super) fn add_queue(
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

    pub(super) fn update_queue(
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
    pub(super) fn tombstone(
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

    pub(super) fn delete_queue(
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
    pub(super) fn drop_queue(
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

    pub(super) fn purge(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: &QueueName,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let q = queue_in(&mut self.queues, name)?;
        let id = q.record.id;
        let count = q.messages.len() as u64;
        for (deadline, mid) in &q.leases {
            self.leases.remove(&(*deadline, id, *mid));
        }
        // In id order, so the staged tombstones are the same on every replica.
        for mid in q.messages.keys() {
            Self::tombstone(m, index, now, &q.record, Some(*mid));
        }
        q.clear();
        m.delete_messages(id);
        q.flush_tree(m);
        Ok(Reply::Purged { count })
    }
}
