//! The vocabulary of backups and restores (docs/backup.md §8): what a restore stages ([`ImportItem`]), the header
//! facts a commit checks ([`ImportHeader`]), the restore watermark, deletions kept for incrementals
//! ([`Tombstone`]) and the replicated restore state ([`BackupState`]).
use crate::{
    command::LogIndex,
    message::{Body, Group, MessageId, Priority},
    name::QueueName,
    queue::{QueueId, QueueKind, QueueSettings},
    time::Timestamp,
};

/// A restore's id, drawn by the node that receives the upload; one restore is staged at a time.
pub type RestoreId = u64;

/// One record of a backup, as a restore stages it (docs/backup.md §8.2). Records upsert, tombstones delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportItem {
    /// The queue was deleted (`QueueTombstone`).
    QueueDeleted {
        /// The queue's name.
        name: QueueName,
    },
    /// A queue's configuration (`QueueRecord`).
    Queue {
        /// The queue's name.
        name: QueueName,
        /// Delayed or fair.
        kind: QueueKind,
        /// Stored settings.
        settings: QueueSettings,
        /// The version that created the queue in the source; a different one on the target means the queue
        /// was recreated, so the record replaces the target's queue and all its messages.
        created_version: LogIndex,
    },
    /// A message (`MessageRecord`); it is restored ready, keeping its `deliveries`.
    Message {
        /// The queue's name.
        queue: QueueName,
        /// The message id.
        id: MessageId,
        /// The stored group.
        group: Group,
        /// The priority.
        priority: Priority,
        /// Content and metadata.
        body: Body,
        /// Deliveries so far.
        deliveries: u32,
    },
    /// The message was deleted (`MessageTombstone`).
    MessageDeleted {
        /// The queue's name.
        queue: QueueName,
        /// The message id.
        id: MessageId,
    },
}

/// How a commit applies the staged records (docs/backup.md §8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMode {
    /// Over the current state.
    Merge,
    /// Over the current state, then every queue not in the backup is deleted; full backups only.
    Replace,
}

/// What the commit of a restore needs from the backup's header: the chain rules and the id watermark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportHeader {
    /// The source deployment's cluster id.
    pub cluster_id: String,
    /// 0 for a full backup, else the first version an incremental covers.
    pub since: LogIndex,
    /// The source version the backup is consistent at.
    pub last_version: LogIndex,
    /// The source's highest id handed out; the target's id counter becomes at least this.
    pub id_watermark: u64,
}

/// The last backup restored: an incremental must continue it (docs/backup.md §8.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreMark {
    /// The source deployment's cluster id.
    pub cluster_id: String,
    /// The `last_version` of the last backup restored.
    pub last_version: LogIndex,
}

/// The restore being staged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagingState {
    /// Its id.
    pub restore: RestoreId,
    /// The sequence number the next staged item gets.
    pub next_seq: u64,
    /// Command time of the last chunk: a staging area idle for [`STAGING_IDLE_MS`] may be taken over.
    pub last_now: Timestamp,
}

/// How long (command time) a staged restore may go without a chunk before another restore replaces it.
pub const STAGING_IDLE_MS: u64 = 60_000;

/// The replicated backup state besides the queues: persisted as one value, restored by `rebuild`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupState {
    /// The restore watermark, if a backup was ever restored.
    pub mark: Option<RestoreMark>,
    /// The restore being staged, if any.
    pub staging: Option<StagingState>,
}

/// A deletion, kept for `backup.tombstone_retention` so incremental backups can carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tombstone {
    /// The version of the deleting command.
    pub version: LogIndex,
    /// Its command time, for retention.
    pub now: Timestamp,
    /// The store id of the queue.
    pub queue: QueueId,
    /// The queue's name.
    pub name: QueueName,
    /// The deleted message; `None` when the whole queue was deleted.
    pub id: Option<MessageId>,
}
