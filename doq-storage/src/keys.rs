//! Fixed-width big-endian keys, so byte order is numeric order and a queue's keys are one contiguous range.
//!
//! ```text
//! queues   qid:u32            headers, bodies  qid:u32 ‖ id:u64
//! groups   qid:u32 ‖ node:u32 meta             tag:u8
//! log      index:u64          raft             tag:u8
//! tombstones version:u64 ‖ qid:u32 [‖ id:u64]  (no id: the queue was deleted)
//! staging  restore:u64 ‖ seq:u64
//! ```
use doq_api::{MessageId, QueueId};

/// A `headers` or `bodies` key: `qid:u32 ‖ id:u64`.
pub(crate) type MessageKey = [u8; 12];
/// A `queues` key: `qid:u32`.
pub(crate) type QueueKey = [u8; 4];
/// A `groups` key: `qid:u32 ‖ node:u32`.
pub(crate) type GroupKey = [u8; 8];

/// An ordered keyspace of byte keys and values, for data that is written through [`crate::batch::Op::Put`]
/// and read with [`crate::QueueStore::scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Space {
    /// Deletions kept for incremental backups: `version:u64 ‖ qid:u32 [‖ id:u64]` → `Tombstone`.
    Tombstones,
    /// Records of a restore being staged: `restore:u64 ‖ seq:u64` → a backup `Record`.
    Staging,
}

/// Values of the `meta` keyspace that callers address (besides counters and the applied marker).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetaKey {
    /// The replicated [`doq_api::BackupState`].
    BackupState,
    /// The deployment's cluster id (UTF-8).
    ClusterId,
    /// The highest version of a pruned tombstone, a `u64` big-endian: incrementals must start after it.
    TombstoneHorizon,
}

impl MetaKey {
    /// The one-byte key. Frozen: on disk.
    pub(crate) fn key(self) -> u8 {
        match self {
            Self::BackupState => 3,
            Self::ClusterId => 4,
            Self::TombstoneHorizon => 5,
        }
    }
}

/// A `tombstones` key: the message's, or (no id) the queue's.
pub(crate) fn tombstone(version: u64, q: QueueId, id: Option<MessageId>) -> Vec<u8> {
    let mut k = Vec::with_capacity(20);
    k.extend_from_slice(&version.to_be_bytes());
    k.extend_from_slice(&q.0.to_be_bytes());
    if let Some(id) = id {
        k.extend_from_slice(&id.0.to_be_bytes());
    }
    k
}

/// Splits a `tombstones` key; `None` if it has neither 12 nor 20 bytes.
pub(crate) fn split_tombstone(k: &[u8]) -> Option<(u64, QueueId, Option<MessageId>)> {
    let (v, rest) = k.split_first_chunk::<8>()?;
    let (q, rest) = rest.split_first_chunk::<4>()?;
    let id = match rest.len() {
        0 => None,
        8 => Some(MessageId(u64::from_be_bytes(rest.try_into().ok()?))),
        _ => return None,
    };
    Some((u64::from_be_bytes(*v), QueueId(u32::from_be_bytes(*q)), id))
}

/// A `staging` key.
pub(crate) fn staged(restore: u64, seq: u64) -> [u8; 16] {
    let mut k = [0; 16];
    k[..8].copy_from_slice(&restore.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Splits a `staging` key; `None` if it is not 16 bytes.
pub(crate) fn split_staged(k: &[u8]) -> Option<(u64, u64)> {
    let (r, seq) = k.split_first_chunk::<8>()?;
    let seq: [u8; 8] = seq.try_into().ok()?;
    Some((u64::from_be_bytes(*r), u64::from_be_bytes(seq)))
}

/// The `meta` keyspace's tags. Frozen: they are on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum MetaTag {
    /// The engine's [`doq_api::Counters`].
    Counters = 1,
    /// The [`crate::Applied`] marker.
    Applied = 2,
}

impl MetaTag {
    /// The one-byte key.
    pub(crate) fn key(self) -> u8 {
        self as u8
    }
}

/// A `log` key: `index:u64`.
pub(crate) type LogKey = [u8; 8];

/// The `raft` keyspace's tags. Frozen: they are on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RaftTag {
    /// [`LogMeta::Vote`](crate::LogMeta::Vote).
    Vote = 1,
    /// [`LogMeta::Committed`](crate::LogMeta::Committed).
    Committed = 2,
    /// [`LogMeta::LastPurged`](crate::LogMeta::LastPurged): consensus's opaque record.
    LastPurged = 3,
    /// The store's own `last_purged` index, a `u64` big-endian, written by `purge`.
    PurgedIndex = 4,
}

impl RaftTag {
    /// The one-byte key.
    pub(crate) fn key(self) -> u8 {
        self as u8
    }
}

impl From<crate::LogMeta> for RaftTag {
    fn from(m: crate::LogMeta) -> Self {
        match m {
            crate::LogMeta::Vote => Self::Vote,
            crate::LogMeta::Committed => Self::Committed,
            crate::LogMeta::LastPurged => Self::LastPurged,
        }
    }
}

/// The key of log entry `index`.
pub(crate) fn log(index: u64) -> LogKey {
    index.to_be_bytes()
}

/// Reads a log key (or the stored purged index); `None` if it is not 8 bytes.
pub(crate) fn split_log(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

/// Reads the purged index stored under [`RaftTag::PurgedIndex`].
pub(crate) fn decode_purged(bytes: &[u8]) -> crate::Result<u64> {
    split_log(bytes).ok_or_else(|| crate::Error::corrupt("purged index: not 8 bytes"))
}

/// The key of message `id` of queue `q`.
pub(crate) fn message(q: QueueId, id: MessageId) -> MessageKey {
    let mut k = [0; 12];
    k[..4].copy_from_slice(&q.0.to_be_bytes());
    k[4..].copy_from_slice(&id.0.to_be_bytes());
    k
}

/// The first and last possible message keys of queue `q` (both inclusive).
pub(crate) fn messages_of(q: QueueId) -> (MessageKey, MessageKey) {
    (message(q, MessageId(0)), message(q, MessageId(u64::MAX)))
}

/// Splits a message key; `None` if it is not 12 bytes.
pub(crate) fn split_message(k: &[u8]) -> Option<(QueueId, MessageId)> {
    let (q, id) = k.split_first_chunk::<4>()?;
    let id: [u8; 8] = id.try_into().ok()?;
    Some((
        QueueId(u32::from_be_bytes(*q)),
        MessageId(u64::from_be_bytes(id)),
    ))
}

/// The key of queue `q`'s record.
pub(crate) fn queue(q: QueueId) -> QueueKey {
    q.0.to_be_bytes()
}

/// Reads a queue key; `None` if it is not 4 bytes.
pub(crate) fn split_queue(k: &[u8]) -> Option<QueueId> {
    Some(QueueId(u32::from_be_bytes(k.try_into().ok()?)))
}

/// The key of node `node` of queue `q`'s group tree.
pub(crate) fn group(q: QueueId, node: u32) -> GroupKey {
    let mut k = [0; 8];
    k[..4].copy_from_slice(&q.0.to_be_bytes());
    k[4..].copy_from_slice(&node.to_be_bytes());
    k
}

/// The first and last possible group keys of queue `q` (both inclusive).
pub(crate) fn groups_of(q: QueueId) -> (GroupKey, GroupKey) {
    (group(q, 0), group(q, u32::MAX))
}

/// Splits a group key; `None` if it is not 8 bytes.
pub(crate) fn split_group(k: &[u8]) -> Option<(QueueId, u32)> {
    let (q, node) = k.split_first_chunk::<4>()?;
    let node: [u8; 4] = node.try_into().ok()?;
    Some((QueueId(u32::from_be_bytes(*q)), u32::from_be_bytes(node)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_sort_by_queue_then_id() {
        let keys = [
            message(QueueId(0), MessageId(u64::MAX)),
            message(QueueId(1), MessageId(0)),
            message(QueueId(1), MessageId(255)),
            message(QueueId(1), MessageId(256)),
            message(QueueId(256), MessageId(1)),
        ];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(split_message(&keys[3]), Some((QueueId(1), MessageId(256))));
        assert_eq!(split_message(&keys[3][..11]), None);
    }

    #[test]
    fn ranges_cover_exactly_one_queue() {
        let (lo, hi) = messages_of(QueueId(7));
        assert!(message(QueueId(6), MessageId(u64::MAX)) < lo);
        assert!(message(QueueId(8), MessageId(0)) > hi);
        let (lo, hi) = groups_of(QueueId(u32::MAX));
        assert_eq!(split_group(&lo), Some((QueueId(u32::MAX), 0)));
        assert_eq!(split_group(&hi), Some((QueueId(u32::MAX), u32::MAX)));
        assert_eq!(split_queue(&queue(QueueId(9))), Some(QueueId(9)));
    }

    #[test]
    fn log_keys_sort_by_index() {
        let keys = [log(0), log(255), log(256), log(u64::MAX)];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(split_log(&keys[2]), Some(256));
        assert_eq!(split_log(&keys[2][..7]), None);
    }
}
