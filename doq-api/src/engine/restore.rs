//! Online restore (docs/backup.md §8.3): `StageImport` chunks land in the store's staging area, `CommitImport` checks
//! the chain rules, validates every staged record and then applies them all in one command, and
//! `AbortImport` discards them. Deterministic like every apply: the staging timeout is command time.
use std::collections::BTreeSet;

use super::{queue_state::QueueState, Engine, Mutations};
use crate::{
    backup::{ImportHeader, ImportItem, ImportMode, RestoreId, RestoreMark, StagingState},
    command::{LogIndex, Reply},
    error::{Error, Result},
    limits,
    message::{Body, Group, MessageId, Priority},
    name::QueueName,
    queue::{QueueId, QueueKind, QueueSettings},
    time::Timestamp,
    STAGING_IDLE_MS,
};

/// How many staged items a commit reads at a time: bounded memory for any backup size.
const PAGE: usize = 1024;

/// A staged record that breaks the format's rules: `backup_invalid` naming the record.
fn invalid(seq: u64, why: impl std::fmt::Display) -> Error {
    // Record 0 is the header, so staged item `seq` is record `seq + 1` of the file.
    Error::BackupInvalid(format!("record {}: {why}", seq + 1))
}

/// The settings rules a queue record must meet on its own (docs/http.md §3.2); the dead-letter target may be
/// missing after a restore, which dequeue tolerates (docs/semantics.md §4.5).
fn check_settings(name: &QueueName, kind: QueueKind, s: &QueueSettings) -> Result<(), String> {
    match kind {
        QueueKind::Fair if s.strategy.is_none() => {
            return Err("a fair queue needs a strategy".into())
        }
        QueueKind::Delayed if s.strategy.is_some() || s.max_unacked > 0 => {
            return Err("a delayed queue takes no strategy or max_unacked".into())
        }
        _ => {}
    }
    if s.ack_timeout == 0 {
        return Err("ack_timeout must be positive".into());
    }
    if (s.max_deliveries > 0) != s.dead_letter.is_some() {
        return Err("max_deliveries and dead_letter_queue are set together".into());
    }
    if s.dead_letter.as_ref() == Some(name) {
        return Err("a queue cannot be its own dead-letter queue".into());
    }
    Ok(())
}

/// What the validation pass learns about a staged restore.
struct Plan {
    queues: u64,
    messages: u64,
    /// Names of the backup's queue records (replace mode keeps only these).
    names: BTreeSet<QueueName>,
}

impl Engine {
    /// Stages one chunk. Another restore's staging area is taken over once it has been idle for
    /// [`STAGING_IDLE_MS`]; before that the answer is `restore_in_progress`.
    pub(super) fn stage_import(
        &mut self,
        now: Timestamp,
        restore: RestoreId,
        items: &[ImportItem],
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        if let Some(st) = &self.backup.staging {
            if st.restore != restore {
                if now.0 < st.last_now.0.saturating_add(STAGING_IDLE_MS) {
                    return Err(Error::RestoreInProgress);
                }
                m.drop_staged(st.restore);
                self.backup.staging = None;
            }
        }
        // Only records the API could have produced are staged (docs/backup.md §8.3): a group past the fixed limit
        // would cost every replica memory and a deep walk, and once committed it would come back on
        // every restart. The configurable limits were checked by the node that read the file.
        let next = self.backup.staging.as_ref().map_or(0, |st| st.next_seq);
        for (seq, item) in (next..).zip(items) {
            if let ImportItem::Message { group, .. } = item {
                limits::check_group(group.as_str()).map_err(|v| invalid(seq, v))?;
            }
        }
        let st = self.backup.staging.get_or_insert(StagingState {
            restore,
            next_seq: 0,
            last_now: now,
        });
        for item in items {
            m.put_staged(restore, st.next_seq, item);
            st.next_seq += 1;
        }
        st.last_now = now;
        m.put_backup_state(&self.backup);
        Ok(Reply::Staged)
    }

    /// Discards `restore`'s staging area; nothing happens when another (or no) restore is staged.
    pub(super) fn abort_import(&mut self, restore: RestoreId, m: &mut dyn Mutations) -> Reply {
        if self
            .backup
            .staging
            .as_ref()
            .is_some_and(|st| st.restore == restore)
        {
            m.drop_staged(restore);
            self.backup.staging = None;
            m.put_backup_state(&self.backup);
        }
        Reply::Aborted
    }

    /// Checks the chain rules and every staged record, then applies them all (docs/backup.md §8.2, §8.3).
    pub(super) fn commit_import(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        restore: RestoreId,
        mode: ImportMode,
        header: &ImportHeader,
        m: &mut dyn Mutations,
    ) -> Result<Reply> {
        let staged = match &self.backup.staging {
            Some(st) if st.restore == restore => st.next_seq,
            Some(_) => return Err(Error::RestoreInProgress),
            None => {
                return Err(Error::Unavailable(
                    "the restore was aborted before it could be committed".into(),
                ))
            }
        };
        self.check_chain(mode, header, staged)?;
        let plan = self.validate_staged(restore, m)?;
        let mut after = None;
        loop {
            let page = m.staged(restore, after, PAGE)?;
            let Some(&(last, _)) = page.last() else { break };
            after = Some(last);
            for (_, item) in page {
                self.apply_item(index, now, item, m);
            }
        }
        if mode == ImportMode::Replace {
            let doomed: Vec<QueueName> = self
                .queues
                .keys()
                .filter(|n| !plan.names.contains(*n))
                .cloned()
                .collect();
            for name in doomed {
                self.drop_queue(index, now, &name, m);
            }
        }
        self.counters.last_id = self.counters.last_id.max(header.id_watermark);
        let newer = self
            .backup
            .mark
            .as_ref()
            .is_none_or(|mark| header.since == 0 || header.last_version > mark.last_version);
        if newer {
            self.backup.mark = Some(RestoreMark {
                cluster_id: header.cluster_id.clone(),
                last_version: header.last_version,
            });
        }
        self.backup.staging = None;
        m.drop_staged(restore);
        m.put_backup_state(&self.backup);
        Ok(Reply::Restored {
            queues: plan.queues,
            messages: plan.messages,
            last_version: header.last_version,
        })
    }

    /// The incremental chain rules of docs/backup.md §8.3; a full backup starts a new chain.
    fn check_chain(&self, mode: ImportMode, h: &ImportHeader, staged: u64) -> Result<()> {
        if h.since == 0 {
            return Ok(());
        }
        if mode == ImportMode::Replace {
            return Err(Error::BackupInvalid(
                "an incremental backup cannot be restored with mode=replace".into(),
            ));
        }
        let Some(mark) = &self.backup.mark else {
            return Err(Error::BackupInvalid(
                "cluster mismatch: no backup of this cluster was restored before this incremental"
                    .into(),
            ));
        };
        if mark.cluster_id != h.cluster_id {
            return Err(Error::BackupInvalid(format!(
                "cluster mismatch: the incremental is from cluster {}, the last restore from {}",
                h.cluster_id, mark.cluster_id
            )));
        }
        if h.since > mark.last_version.saturating_add(1) {
            return Err(Error::BackupInvalid(format!(
                "gap: the incremental starts at version {}, the last restore ended at {}",
                h.since, mark.last_version
            )));
        }
        let empty_repeat = staged == 0 && h.last_version == mark.last_version;
        if h.last_version <= mark.last_version && !empty_repeat {
            return Err(Error::BackupInvalid(format!(
                "out of order: the incremental ends at version {}, the last restore already reached {}",
                h.last_version, mark.last_version
            )));
        }
        Ok(())
    }

    /// Reads every staged record once without changing anything: each must be valid on its own and name a
    /// queue that exists at that point of the restore.
    fn validate_staged(&self, restore: RestoreId, m: &mut dyn Mutations) -> Result<Plan> {
        let mut live: BTreeSet<QueueName> = self.queues.keys().cloned().collect();
        let mut plan = Plan {
            queues: 0,
            messages: 0,
            names: BTreeSet::new(),
        };
        let mut after = None;
        loop {
            let page = m.staged(restore, after, PAGE)?;
            let Some(&(last, _)) = page.last() else { break };
            after = Some(last);
            for (seq, item) in page {
                match item {
                    ImportItem::QueueDeleted { name } => {
                        live.remove(&name);
                    }
                    ImportItem::Queue {
                        name,
                        kind,
                        settings,
                        ..
                    } => {
                        check_settings(&name, kind, &settings).map_err(|e| invalid(seq, e))?;
                        plan.queues += 1;
                        plan.names.insert(name.clone());
                        live.insert(name);
                    }
                    ImportItem::Message { queue, group, .. } => {
                        limits::check_group(group.as_str()).map_err(|v| invalid(seq, v))?;
                        if !live.contains(&queue) {
                            return Err(invalid(seq, format!("message of unknown queue {queue}")));
                        }
                        plan.messages += 1;
                    }
                    ImportItem::MessageDeleted { queue, .. } => {
                        if !live.contains(&queue) {
                            return Err(invalid(seq, format!("message of unknown queue {queue}")));
                        }
                    }
                }
            }
        }
        Ok(plan)
    }

    /// Applies one validated record.
    fn apply_item(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        item: ImportItem,
        m: &mut dyn Mutations,
    ) {
        match item {
            ImportItem::QueueDeleted { name } => self.drop_queue(index, now, &name, m),
            ImportItem::Queue {
                name,
                kind,
                settings,
                created_version,
            } => self.import_queue(index, now, name, kind, settings, created_version, m),
            ImportItem::Message {
                queue,
                id,
                group,
                priority,
                body,
                deliveries,
            } => self.import_message(index, &queue, id, &group, priority, &body, deliveries, m),
            ImportItem::MessageDeleted { queue, id } => {
                if let Some(q) = self.queues.get_mut(&queue) {
                    if Self::unlink(q, &mut self.leases, id) {
                        m.delete_message(q.record.id, id);
                        Self::tombstone(m, index, now, &q.record, Some(id));
                        q.flush_tree(m);
                    }
                }
            }
        }
    }

    /// Upserts a queue record: same `created_version` and shape updates the settings, anything else
    /// replaces the queue and its messages.
    #[allow(clippy::too_many_arguments)]
    fn import_queue(
        &mut self,
        index: LogIndex,
        now: Timestamp,
        name: QueueName,
        kind: QueueKind,
        settings: QueueSettings,
        created_version: LogIndex,
        m: &mut dyn Mutations,
    ) {
        if let Some(q) = self.queues.get_mut(&name) {
            let same = q.record.created_version == created_version
                && q.record.kind == kind
                && q.record.settings.strategy == settings.strategy;
            if same {
                q.record.settings = settings;
                q.record.version = index;
                m.put_queue(&q.record);
                return;
            }
            self.drop_queue(index, now, &name, m);
        }
        self.add_queue(name, kind, settings, created_version, index, m);
    }

    /// Upserts a message as ready, keeping its `deliveries`; a lease on an existing one is dropped.
    #[allow(clippy::too_many_arguments)]
    fn import_message(
        &mut self,
        index: LogIndex,
        queue: &QueueName,
        id: MessageId,
        group: &Group,
        priority: Priority,
        body: &Body,
        deliveries: u32,
        m: &mut dyn Mutations,
    ) {
        let Some(q) = self.queues.get_mut(queue) else {
            return;
        };
        Self::unlink(q, &mut self.leases, id);
        let group = q.stored_group(group);
        q.insert_ready(&group, (priority, id));
        let entry = super::queue_state::Entry::new(group, priority, deliveries, index);
        m.put_message(&entry.header(q.record.id, id), body);
        q.messages.insert(id, entry);
        q.flush_tree(m);
    }

    /// Takes message `id` out of `q`'s indexes (ready or leased); `false` when it is not there.
    fn unlink(
        q: &mut QueueState,
        leases: &mut BTreeSet<(Timestamp, QueueId, MessageId)>,
        id: MessageId,
    ) -> bool {
        let Some(entry) = q.messages.remove(&id) else {
            return false;
        };
        match entry.lease() {
            Some(lease) => {
                q.remove_lease(id, &entry.group, lease.deadline);
                leases.remove(&(lease.deadline, q.record.id, id));
            }
            None => q.remove_ready(&entry.group, (entry.priority, id)),
        }
        true
    }
}
