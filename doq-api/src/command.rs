//! Commands (every write, as one log entry) and their replies.
use crate::{
    backup::{ImportHeader, ImportItem, ImportMode, RestoreId},
    error::Error,
    message::{Body, Group, MessageId, Metadata, Priority},
    name::QueueName,
    queue::{QueueKind, QueueSettings, Strategy},
    receipt::Receipt,
    time::Timestamp,
};

/// A position in the command sequence: the Raft log index, or the single node's command counter.
/// Every record remembers the index that last changed it (its *version*).
pub type LogIndex = u64;

/// A command as it is ordered and applied: the proposer stamps time and a random seed into it so
/// that applying it never reads a clock or an RNG.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamped {
    /// The proposer's clock (`ts_ms`); the engine uses `max(now, last now)` so time never runs back.
    pub now: Timestamp,
    /// The seed of the command's weighted-pick stream.
    pub seed: u64,
    /// What to do.
    pub command: Command,
}

/// A message to enqueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// A client-chosen id (an existing one is replaced, last write wins); `None` lets the engine assign one.
    pub id: Option<MessageId>,
    /// The group; the engine stores `default` for delayed queues and for an empty group.
    pub group: Group,
    /// The priority.
    pub priority: Priority,
    /// Content and metadata.
    pub body: Body,
}

/// Settings of an update. Unlike create, absent extension settings keep their stored values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsUpdate {
    /// Must equal the stored strategy (`None` for delayed queues).
    pub strategy: Option<Strategy>,
    /// Replaces the stored value; 0 is unlimited.
    pub max_unacked: u32,
    /// Replaces the stored value; resolved by the proposer, never 0.
    pub ack_timeout: u32,
    /// `None` keeps the stored value.
    pub max_deliveries: Option<u32>,
    /// `None` keeps the stored value; `Some(None)` clears it.
    pub dead_letter: Option<Option<QueueName>>,
}

/// Every write doq knows. Reads are not commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Create a queue; an existing name is left unchanged (DOQ answers `CREATED` anyway).
    CreateQueue {
        /// The new queue's name.
        name: QueueName,
        /// Delayed or fair.
        kind: QueueKind,
        /// Resolved settings.
        settings: QueueSettings,
    },
    /// Replace a queue's settings.
    UpdateQueue {
        /// The queue.
        name: QueueName,
        /// The new settings.
        settings: SettingsUpdate,
    },
    /// Delete a queue with all its messages and leases.
    DeleteQueue {
        /// The queue.
        name: QueueName,
    },
    /// Delete every message of a queue and keep the queue.
    Purge {
        /// The queue.
        name: QueueName,
    },
    /// Enqueue messages atomically, ids assigned in order (one item for DOQ's enqueue).
    Enqueue {
        /// The queue.
        queue: QueueName,
        /// The messages.
        items: Vec<NewMessage>,
    },
    /// Select up to `max` deliverable messages; with `ack` they are deleted, else leased.
    Dequeue {
        /// The queue.
        queue: QueueName,
        /// At-most-once (delete now) instead of a lease.
        ack: bool,
        /// How many to select, at least 1.
        max: u16,
    },
    /// Acknowledge a leased message: delete it.
    Ack {
        /// The queue.
        queue: QueueName,
        /// The message.
        id: MessageId,
        /// When present, must name the current delivery.
        receipt: Option<Receipt>,
    },
    /// Acknowledge many leased messages of one queue in one command (docs/http.md §3.5). Each item is
    /// judged on its own, as a single `Ack` would be; the reply lists every item's outcome in order. Only an
    /// unknown queue fails the command as a whole.
    AckBatch {
        /// The queue.
        queue: QueueName,
        /// The messages, each with the receipt that must name its current delivery when present.
        items: Vec<(MessageId, Option<Receipt>)>,
    },
    /// Give a leased message back, optionally with a new priority and metadata.
    Nack {
        /// The queue.
        queue: QueueName,
        /// The message.
        id: MessageId,
        /// New priority; 0 keeps the stored one.
        priority: Priority,
        /// Replaces the whole metadata map when present.
        metadata: Option<Metadata>,
        /// When present, must name the current delivery.
        receipt: Option<Receipt>,
    },
    /// Reset a live lease's deadline to now + ack timeout.
    Touch {
        /// The queue.
        queue: QueueName,
        /// The message.
        id: MessageId,
        /// When present, must name the current delivery.
        receipt: Option<Receipt>,
    },
    /// Change a message's stored priority (and its place, when ready).
    UpdatePriority {
        /// The queue.
        queue: QueueName,
        /// The message.
        id: MessageId,
        /// The new priority.
        priority: Priority,
    },
    /// Delete a message in any state.
    Delete {
        /// The queue.
        queue: QueueName,
        /// The message.
        id: MessageId,
    },
    /// Advance the id counter by `count` and hand out those ids.
    ReserveIds {
        /// How many, 1..=1000.
        count: u16,
    },
    /// Stages one chunk of a restore (docs/backup.md §8.3); queues are untouched until `CommitImport`.
    StageImport {
        /// The restore the chunk belongs to.
        restore: RestoreId,
        /// The records, in backup order.
        items: Vec<ImportItem>,
    },
    /// Makes a staged restore live atomically, after checking the chain rules.
    CommitImport {
        /// The staged restore.
        restore: RestoreId,
        /// Merge or replace.
        mode: ImportMode,
        /// The backup's header facts.
        header: ImportHeader,
    },
    /// Discards a staged restore; a no-op when it is not the one staged.
    AbortImport {
        /// The restore to discard.
        restore: RestoreId,
    },
}

impl Command {
    /// The queue the command is about, for logs and spans.
    pub fn queue(&self) -> Option<&QueueName> {
        match self {
            Self::CreateQueue { name, .. }
            | Self::UpdateQueue { name, .. }
            | Self::DeleteQueue { name }
            | Self::Purge { name } => Some(name),
            Self::Enqueue { queue, .. }
            | Self::Dequeue { queue, .. }
            | Self::Ack { queue, .. }
            | Self::AckBatch { queue, .. }
            | Self::Nack { queue, .. }
            | Self::Touch { queue, .. }
            | Self::UpdatePriority { queue, .. }
            | Self::Delete { queue, .. } => Some(queue),
            Self::ReserveIds { .. }
            | Self::StageImport { .. }
            | Self::CommitImport { .. }
            | Self::AbortImport { .. } => None,
        }
    }
}

/// What an enqueue stored, per item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueued {
    /// The id it got.
    pub id: MessageId,
    /// The group it is stored under.
    pub group: Group,
    /// Its priority.
    pub priority: Priority,
}

/// One delivered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The id.
    pub id: MessageId,
    /// The stored group.
    pub group: Group,
    /// The stored priority.
    pub priority: Priority,
    /// Content and metadata.
    pub body: Body,
    /// Names this delivery for ack, nack and touch.
    pub receipt: Receipt,
    /// Deliveries so far, this one included.
    pub deliveries: u32,
}

/// The successful outcome of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The queue exists now (it may have existed before).
    QueueCreated,
    /// Settings replaced.
    QueueUpdated,
    /// Queue and messages gone.
    QueueDeleted,
    /// Messages deleted by a purge.
    Purged {
        /// How many.
        count: u64,
    },
    /// Messages stored, in request order.
    Enqueued(Vec<Enqueued>),
    /// Messages selected, in selection order (never empty for a single dequeue: that is `QueueEmpty`).
    Dequeued(Vec<Delivery>),
    /// The message was acked.
    Acked,
    /// Each item of an `AckBatch`, in request order: acked, or the error a single ack would have got.
    AckedEach(Vec<(MessageId, Result<(), Error>)>),
    /// The message is ready again with this priority.
    Nacked {
        /// The priority after the nack.
        priority: Priority,
    },
    /// The lease was extended.
    Touched,
    /// The priority was changed.
    PriorityUpdated,
    /// The message was deleted.
    Deleted,
    /// Reserved ids, increasing.
    Ids(Vec<MessageId>),
    /// A restore chunk was staged.
    Staged,
    /// A staged restore went live.
    Restored {
        /// Queues in the backup.
        queues: u64,
        /// Messages in the backup.
        messages: u64,
        /// The backup's `last_version`.
        last_version: LogIndex,
    },
    /// A staged restore was discarded (or there was none).
    Aborted,
}
