//! What the engine persists besides message headers and bodies, and the two traits that connect it
//! to a store: `Mutations` (writes staged by one apply) and `IndexSource` (reads for `rebuild`).
use crate::{
    backup::{BackupState, ImportItem, RestoreId, Tombstone},
    command::LogIndex,
    error::Result,
    message::{Body, MessageHeader, MessageId},
    name::QueueName,
    queue::{QueueId, QueueKind, QueueSettings},
    time::Timestamp,
};

/// A queue's configuration and the counters that must survive a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueRecord {
    /// The store key; never reused.
    pub id: QueueId,
    /// The queue's name.
    pub name: QueueName,
    /// Delayed or fair.
    pub kind: QueueKind,
    /// Stored (resolved) settings.
    pub settings: QueueSettings,
    /// The index of the command that created the queue; restores use it to detect a recreated queue.
    pub created_version: LogIndex,
    /// The index of the command that last changed this record.
    pub version: LogIndex,
    /// The next round-robin tree node id; persisted so node ids (and so child order) match after rebuild.
    pub next_node: u32,
    /// Messages moved to the dead-letter queue since the queue was created.
    pub dead_lettered: u64,
}

/// One node of a round-robin queue's group tree (docs/semantics.md §4.2), persisted because the rotation
/// (child order and cursors) cannot be derived from the messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    /// The queue the tree belongs to.
    pub queue: QueueId,
    /// The node id; 0 is the root. Children are ordered by node id, which is their insertion order.
    pub node: u32,
    /// The parent's node id (0 for children of the root; ignored for the root itself).
    pub parent: u32,
    /// The path segment this node stands for (empty for the root and for leaves).
    pub segment: String,
    /// A leaf holds the messages of its parent's exact group path.
    pub leaf: bool,
    /// The child the next visit starts at; 0 means the first child.
    pub cursor: u32,
}

/// Engine-wide counters, persisted with every batch that changes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// The latest command time applied; time never runs backwards.
    pub last_now: Timestamp,
    /// The highest id handed out by the id generator.
    pub last_id: u64,
    /// The next queue id to assign.
    pub next_queue: u32,
}

/// The writes one `apply` stages. Implemented by the store's batch; `body` sees writes staged earlier
/// in the same batch, so a run of commands can be committed with one sync.
pub trait Mutations {
    /// Reads a message body, including one staged earlier in this batch.
    fn body(&mut self, queue: QueueId, id: MessageId) -> Result<Option<Body>>;
    /// Stores a header and its body.
    fn put_message(&mut self, header: &MessageHeader, body: &Body);
    /// Stores a header, keeping the body.
    fn put_header(&mut self, header: &MessageHeader);
    /// Removes a message's header and body.
    fn delete_message(&mut self, queue: QueueId, id: MessageId);
    /// Stores a queue record.
    fn put_queue(&mut self, queue: &QueueRecord);
    /// Removes a queue record and everything keyed by the queue (headers, bodies, groups).
    fn delete_queue(&mut self, queue: QueueId);
    /// Removes every message (headers and bodies) of a queue and its group tree, keeping the record.
    fn delete_messages(&mut self, queue: QueueId);
    /// Stores a round-robin tree node.
    fn put_group(&mut self, group: &GroupRecord);
    /// Removes a round-robin tree node.
    fn delete_group(&mut self, queue: QueueId, node: u32);
    /// Stores the engine counters.
    fn put_counters(&mut self, counters: &Counters);
    /// Records a deletion for incremental backups.
    fn put_tombstone(&mut self, tombstone: &Tombstone);
    /// Stores the replicated backup state (restore watermark, staging).
    fn put_backup_state(&mut self, state: &BackupState);
    /// Stages item `seq` of restore `restore`.
    fn put_staged(&mut self, restore: RestoreId, seq: u64, item: &ImportItem);
    /// Up to `limit` staged items of `restore` with sequence number > `after` (`None`: from the first), in
    /// order, including those staged earlier in this batch.
    fn staged(
        &mut self,
        restore: RestoreId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, ImportItem)>>;
    /// Removes every staged item of `restore`.
    fn drop_staged(&mut self, restore: RestoreId);
}

/// What `Engine::rebuild` reads: everything the indexes are derived from, never bodies.
pub trait IndexSource {
    /// The persisted counters, if any batch was ever committed.
    fn counters(&self) -> Result<Option<Counters>>;
    /// Every queue record.
    fn queues(&self) -> Result<Vec<QueueRecord>>;
    /// The round-robin tree nodes of a queue, in any order.
    fn groups(&self, queue: QueueId) -> Result<Vec<GroupRecord>>;
    /// The persisted backup state (default when none was stored).
    fn backup_state(&self) -> Result<BackupState>;
    /// Calls `visit` for every message header of a queue.
    fn headers(&self, queue: QueueId, visit: &mut dyn FnMut(MessageHeader)) -> Result<()>;
}
