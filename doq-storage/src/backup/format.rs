//! The `doq.backup.v1` records of docs/backup.md §8.2 as `prost` messages with frozen tags (no codegen, like
//! `record.rs`), and their conversion to and from the engine's [`ImportItem`].
//!
//! **Frozen:** these tags are the portable backup format, version 1. Kinds 1–6 are backup records; kinds
//! from 16 are reserved for internal snapshots, which a restore refuses.
use std::collections::BTreeMap;

use doq_api::{
    Body, Group, ImportItem, MessageId, Priority, QueueKind, QueueName, QueueSettings, Strategy,
};
use prost::{Message, Oneof};

/// The one message every frame carries.
#[derive(Clone, PartialEq, Message)]
pub struct Record {
    /// Which record this is; `None` when the kind is unknown to this version (a snapshot-only kind).
    #[prost(oneof = "Kind", tags = "1, 2, 3, 4, 5, 6")]
    pub kind: Option<Kind>,
}

/// `Record.kind`.
#[derive(Clone, PartialEq, Oneof)]
pub enum Kind {
    /// The first record.
    #[prost(message, tag = "1")]
    Header(Header),
    /// A queue's configuration.
    #[prost(message, tag = "2")]
    Queue(QueueRecord),
    /// A message.
    #[prost(message, tag = "3")]
    Message(MessageRecord),
    /// A deleted queue.
    #[prost(message, tag = "4")]
    QueueDeleted(QueueTombstone),
    /// A deleted message.
    #[prost(message, tag = "5")]
    MessageDeleted(MessageTombstone),
    /// The last record.
    #[prost(message, tag = "6")]
    Trailer(Trailer),
}

/// `Header`: what the stream is.
#[derive(Clone, PartialEq, Message)]
pub struct Header {
    /// Always [`FORMAT_VERSION`] for this format.
    #[prost(uint32, tag = "1")]
    pub format_version: u32,
    /// The source deployment.
    #[prost(string, tag = "2")]
    pub cluster_id: String,
    /// 0: full; else the first version covered.
    #[prost(uint64, tag = "3")]
    pub since: u64,
    /// The version the backup is consistent at.
    #[prost(uint64, tag = "4")]
    pub last_version: u64,
    /// Unix milliseconds when the backup was taken.
    #[prost(int64, tag = "5")]
    pub created_at_ms: i64,
    /// `doq <version>`.
    #[prost(string, tag = "6")]
    pub producer: String,
    /// The source's highest id handed out.
    #[prost(uint64, tag = "7")]
    pub id_watermark: u64,
    /// The source's `storage.backend`.
    #[prost(string, tag = "8")]
    pub backend: String,
}

/// `QueueRecord`.
#[derive(Clone, PartialEq, Message)]
pub struct QueueRecord {
    /// The queue's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `delayed` or `fair`.
    #[prost(string, tag = "2")]
    pub r#type: String,
    /// `ROUND_ROBIN`, `WEIGHTED` or `""`.
    #[prost(string, tag = "3")]
    pub strategy: String,
    /// 0 = unlimited.
    #[prost(uint32, tag = "4")]
    pub max_unacked: u32,
    /// Seconds.
    #[prost(uint32, tag = "5")]
    pub ack_timeout: u32,
    /// 0 = unlimited.
    #[prost(uint32, tag = "6")]
    pub max_deliveries: u32,
    /// `""` = none.
    #[prost(string, tag = "7")]
    pub dead_letter_queue: String,
    /// The version that last changed the record.
    #[prost(uint64, tag = "8")]
    pub version: u64,
    /// The version that created the queue.
    #[prost(uint64, tag = "9")]
    pub created_version: u64,
}

/// `MessageRecord`.
#[derive(Clone, PartialEq, Message)]
pub struct MessageRecord {
    /// The queue's name.
    #[prost(string, tag = "1")]
    pub queue: String,
    /// The id.
    #[prost(uint64, tag = "2")]
    pub id: u64,
    /// The stored group.
    #[prost(string, tag = "3")]
    pub group: String,
    /// The priority.
    #[prost(int64, tag = "4")]
    pub priority: i64,
    /// The content.
    #[prost(string, tag = "5")]
    pub content: String,
    /// The metadata.
    #[prost(btree_map = "string, string", tag = "6")]
    pub metadata: BTreeMap<String, String>,
    /// Deliveries so far.
    #[prost(uint32, tag = "7")]
    pub deliveries: u32,
    /// The version that last changed the message.
    #[prost(uint64, tag = "8")]
    pub version: u64,
}

/// `QueueTombstone`.
#[derive(Clone, PartialEq, Message)]
pub struct QueueTombstone {
    /// The queue's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The deleting version.
    #[prost(uint64, tag = "2")]
    pub version: u64,
}

/// `MessageTombstone`.
#[derive(Clone, PartialEq, Message)]
pub struct MessageTombstone {
    /// The queue's name.
    #[prost(string, tag = "1")]
    pub queue: String,
    /// The id.
    #[prost(uint64, tag = "2")]
    pub id: u64,
    /// The deleting version.
    #[prost(uint64, tag = "3")]
    pub version: u64,
}

/// `Trailer`.
#[derive(Clone, PartialEq, Message)]
pub struct Trailer {
    /// Records between header and trailer.
    #[prost(uint64, tag = "1")]
    pub records: u64,
    /// CRC32C of every byte before the trailer's frame.
    #[prost(uint32, tag = "2")]
    pub checksum: u32,
}

/// The only format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

fn name(n: &str) -> Result<QueueName, String> {
    QueueName::new(n).map_err(|e| format!("bad queue name {n:?}: {e}"))
}

impl QueueRecord {
    /// The portable form of a stored queue record (`version` is the record's own).
    pub fn from_store(r: &doq_api::QueueRecord) -> Self {
        let s = &r.settings;
        Self {
            name: r.name.as_str().to_owned(),
            r#type: match r.kind {
                QueueKind::Delayed => "delayed",
                QueueKind::Fair => "fair",
            }
            .to_owned(),
            strategy: match s.strategy {
                None => "",
                Some(Strategy::RoundRobin) => "ROUND_ROBIN",
                Some(Strategy::Weighted) => "WEIGHTED",
            }
            .to_owned(),
            max_unacked: s.max_unacked,
            ack_timeout: s.ack_timeout,
            max_deliveries: s.max_deliveries,
            dead_letter_queue: s
                .dead_letter
                .as_ref()
                .map_or_else(String::new, |n| n.as_str().to_owned()),
            version: r.version,
            created_version: r.created_version,
        }
    }
}

/// The import item a data record stands for; `Err` says why it is invalid. Header and trailer are not
/// data records.
pub fn to_item(kind: Kind) -> Result<ImportItem, String> {
    match kind {
        Kind::QueueDeleted(t) => Ok(ImportItem::QueueDeleted {
            name: name(&t.name)?,
        }),
        Kind::Queue(q) => {
            let kind = match q.r#type.as_str() {
                "delayed" => QueueKind::Delayed,
                "fair" => QueueKind::Fair,
                other => return Err(format!("unknown queue type {other:?}")),
            };
            let strategy = match q.strategy.as_str() {
                "" => None,
                "ROUND_ROBIN" => Some(Strategy::RoundRobin),
                "WEIGHTED" => Some(Strategy::Weighted),
                other => return Err(format!("unknown strategy {other:?}")),
            };
            let dead_letter = match q.dead_letter_queue.as_str() {
                "" => None,
                n => Some(name(n)?),
            };
            Ok(ImportItem::Queue {
                name: name(&q.name)?,
                kind,
                settings: QueueSettings {
                    strategy,
                    max_unacked: q.max_unacked,
                    ack_timeout: q.ack_timeout,
                    max_deliveries: q.max_deliveries,
                    dead_letter,
                },
                created_version: q.created_version,
            })
        }
        Kind::Message(m) => Ok(ImportItem::Message {
            queue: name(&m.queue)?,
            group: {
                // Fixed, whatever the node's limits: a longer group costs every replica a deep tree.
                doq_api::limits::check_group(&m.group).map_err(|v| format!("bad message {v}"))?;
                Group::new(&m.group)
            },
            id: MessageId(m.id),
            priority: Priority(m.priority),
            body: Body {
                content: m.content,
                metadata: m.metadata,
            },
            deliveries: m.deliveries,
        }),
        Kind::MessageDeleted(t) => Ok(ImportItem::MessageDeleted {
            queue: name(&t.queue)?,
            id: MessageId(t.id),
        }),
        Kind::Header(_) => Err("a second header".into()),
        Kind::Trailer(_) => Err("a trailer where a data record belongs".into()),
    }
}

/// The record an import item was read from (versions are not kept: they are the source's).
pub fn from_item(item: &ImportItem) -> Kind {
    match item {
        ImportItem::QueueDeleted { name } => Kind::QueueDeleted(QueueTombstone {
            name: name.as_str().to_owned(),
            version: 0,
        }),
        ImportItem::Queue {
            name,
            kind,
            settings,
            created_version,
        } => Kind::Queue(QueueRecord::from_store(&doq_api::QueueRecord {
            id: doq_api::QueueId(0),
            name: name.clone(),
            kind: *kind,
            settings: settings.clone(),
            created_version: *created_version,
            version: 0,
            next_node: 0,
            dead_lettered: 0,
        })),
        ImportItem::Message {
            queue,
            id,
            group,
            priority,
            body,
            deliveries,
        } => Kind::Message(MessageRecord {
            queue: queue.as_str().to_owned(),
            id: id.0,
            group: group.as_str().to_owned(),
            priority: priority.0,
            content: body.content.clone(),
            metadata: body.metadata.clone(),
            deliveries: *deliveries,
            version: 0,
        }),
        ImportItem::MessageDeleted { queue, id } => Kind::MessageDeleted(MessageTombstone {
            queue: queue.as_str().to_owned(),
            id: id.0,
            version: 0,
        }),
    }
}
