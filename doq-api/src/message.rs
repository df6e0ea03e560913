//! Messages: ids, priorities, groups, bodies and the small header the engine indexes.
use std::{collections::BTreeMap, fmt, sync::Arc};

use crate::{command::LogIndex, queue::QueueId, time::Timestamp};

/// A message id: a u64 in DOQ's snowflake range, unique within its queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A message priority: lower comes out first. In delayed queues it doubles as a Unix time in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub i64);

/// A message's group: a dot-separated path in round-robin queues, an opaque key in weighted ones.
///
/// Interned as `Arc<str>` because the index holds one per message and most messages share a few groups.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group(pub Arc<str>);

impl Group {
    /// A group from any string.
    pub fn new(s: &str) -> Self {
        Self(Arc::from(s))
    }

    /// The group as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Message metadata: string keys to string values, sorted so encodings and replies are deterministic.
pub type Metadata = BTreeMap<String, String>;

/// What a message carries and the engine never keeps in memory: it lives in the store's `bodies` keyspace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    /// The message content, UTF-8.
    pub content: String,
    /// Client metadata; empty means absent.
    pub metadata: Metadata,
}

/// A live delivery: the message is invisible until `deadline` unless acked, nacked or touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// When the lease lapses and the message counts as ready again.
    pub deadline: Timestamp,
    /// The index of the command that delivered it; a receipt names it to detect stale acks.
    pub version: LogIndex,
}

/// Everything about a message except its body: what the store's `headers` keyspace holds and the
/// engine's indexes are rebuilt from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageHeader {
    /// The queue that holds the message.
    pub queue: QueueId,
    /// The message id.
    pub id: MessageId,
    /// The stored group (`default` in delayed queues).
    pub group: Group,
    /// The stored priority.
    pub priority: Priority,
    /// How many times the message has been delivered.
    pub deliveries: u32,
    /// The current lease, if the message was dequeued without ack and not yet acked or nacked.
    pub lease: Option<Lease>,
    /// The index of the command that last changed the message (backups use it).
    pub version: LogIndex,
}
