//! On-disk values: `prost` messages with frozen tags (no codegen), and their conversions to and from doq-api's
//! types. Keys carry the ids, so values do not repeat them. Bytes that do not decode are [`Error::Corrupt`].
//!
//! **Frozen:** a tag, once released, never changes meaning. Add fields with new tags; never reuse one.
use doq_api::{
    BackupState, Body, Counters, Group, GroupRecord, ImportItem, Lease, MessageHeader, MessageId,
    Priority, QueueId, QueueKind, QueueName, QueueRecord, QueueSettings, RestoreMark, StagingState,
    Strategy, Timestamp, Tombstone,
};
use prost::Message;

use crate::{Applied, Error, Result};

/// A [`QueueRecord`] without its id (the key).
#[derive(Clone, PartialEq, Message)]
struct QueueValue {
    #[prost(string, tag = "1")]
    name: String,
    /// 1 = delayed, 2 = fair.
    #[prost(uint32, tag = "2")]
    kind: u32,
    /// 0 = none, 1 = round-robin, 2 = weighted.
    #[prost(uint32, tag = "3")]
    strategy: u32,
    #[prost(uint32, tag = "4")]
    max_unacked: u32,
    #[prost(uint32, tag = "5")]
    ack_timeout: u32,
    #[prost(uint32, tag = "6")]
    max_deliveries: u32,
    #[prost(string, optional, tag = "7")]
    dead_letter: Option<String>,
    #[prost(uint64, tag = "8")]
    created_version: u64,
    #[prost(uint64, tag = "9")]
    version: u64,
    #[prost(uint32, tag = "10")]
    next_node: u32,
    #[prost(uint64, tag = "11")]
    dead_lettered: u64,
}

/// A [`MessageHeader`] without its queue and id (the key).
#[derive(Clone, PartialEq, Message)]
struct HeaderValue {
    #[prost(string, tag = "1")]
    group: String,
    #[prost(sint64, tag = "2")]
    priority: i64,
    #[prost(uint32, tag = "3")]
    deliveries: u32,
    #[prost(message, optional, tag = "4")]
    lease: Option<LeaseValue>,
    #[prost(uint64, tag = "5")]
    version: u64,
}

/// A [`Lease`].
#[derive(Clone, PartialEq, Message)]
struct LeaseValue {
    #[prost(uint64, tag = "1")]
    deadline: u64,
    #[prost(uint64, tag = "2")]
    version: u64,
}

/// A [`Body`].
#[derive(Clone, PartialEq, Message)]
struct BodyValue {
    #[prost(string, tag = "1")]
    content: String,
    #[prost(btree_map = "string, string", tag = "2")]
    metadata: std::collections::BTreeMap<String, String>,
}

/// A [`GroupRecord`] without its queue and node (the key).
#[derive(Clone, PartialEq, Message)]
struct GroupValue {
    #[prost(uint32, tag = "1")]
    parent: u32,
    #[prost(string, tag = "2")]
    segment: String,
    #[prost(bool, tag = "3")]
    leaf: bool,
    #[prost(uint32, tag = "4")]
    cursor: u32,
}

/// The engine's [`Counters`].
#[derive(Clone, PartialEq, Message)]
struct CountersValue {
    #[prost(uint64, tag = "1")]
    last_now: u64,
    #[prost(uint64, tag = "2")]
    last_id: u64,
    #[prost(uint32, tag = "3")]
    next_queue: u32,
}

/// The [`Applied`] marker.
#[derive(Clone, PartialEq, Message)]
struct AppliedValue {
    #[prost(uint64, tag = "1")]
    index: u64,
    #[prost(bytes = "vec", tag = "2")]
    data: Vec<u8>,
}

fn decode<M: Message + Default>(what: impl FnOnce() -> String, bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|e| Error::corrupt(format!("{}: {e}", what())))
}

/// Encodes a queue record (the id goes in the key).
pub(crate) fn encode_queue(r: &QueueRecord) -> Vec<u8> {
    let s = &r.settings;
    QueueValue {
        name: r.name.as_str().to_owned(),
        kind: match r.kind {
            QueueKind::Delayed => 1,
            QueueKind::Fair => 2,
        },
        strategy: match s.strategy {
            None => 0,
            Some(Strategy::RoundRobin) => 1,
            Some(Strategy::Weighted) => 2,
        },
        max_unacked: s.max_unacked,
        ack_timeout: s.ack_timeout,
        max_deliveries: s.max_deliveries,
        dead_letter: s.dead_letter.as_ref().map(|n| n.as_str().to_owned()),
        created_version: r.created_version,
        version: r.version,
        next_node: r.next_node,
        dead_lettered: r.dead_lettered,
    }
    .encode_to_vec()
}

/// Decodes the record of queue `id`.
pub(crate) fn decode_queue(id: QueueId, bytes: &[u8]) -> Result<QueueRecord> {
    let what = || format!("queue {}", id.0);
    let v: QueueValue = decode(what, bytes)?;
    let name = |n: &str| QueueName::new(n).map_err(|e| Error::corrupt(format!("{}: {e}", what())));
    let kind = match v.kind {
        1 => QueueKind::Delayed,
        2 => QueueKind::Fair,
        k => return Err(Error::corrupt(format!("{}: unknown kind {k}", what()))),
    };
    let strategy = match v.strategy {
        0 => None,
        1 => Some(Strategy::RoundRobin),
        2 => Some(Strategy::Weighted),
        k => return Err(Error::corrupt(format!("{}: unknown strategy {k}", what()))),
    };
    Ok(QueueRecord {
        id,
        name: name(&v.name)?,
        kind,
        settings: QueueSettings {
            strategy,
            max_unacked: v.max_unacked,
            ack_timeout: v.ack_timeout,
            max_deliveries: v.max_deliveries,
            dead_letter: v.dead_letter.as_deref().map(name).transpose()?,
        },
        created_version: v.created_version,
        version: v.version,
        next_node: v.next_node,
        dead_lettered: v.dead_lettered,
    })
}

/// Encodes a message header (queue and id go in the key).
pub(crate) fn encode_header(h: &MessageHeader) -> Vec<u8> {
    HeaderValue {
        group: h.group.as_str().to_owned(),
        priority: h.priority.0,
        deliveries: h.deliveries,
        lease: h.lease.map(|l| LeaseValue {
            deadline: l.deadline.0,
            version: l.version,
        }),
        version: h.version,
    }
    .encode_to_vec()
}

/// Decodes the header of message `id` of queue `q`.
pub(crate) fn decode_header(q: QueueId, id: MessageId, bytes: &[u8]) -> Result<MessageHeader> {
    let v: HeaderValue = decode(|| format!("header {}/{id}", q.0), bytes)?;
    Ok(MessageHeader {
        queue: q,
        id,
        group: Group::new(&v.group),
        priority: Priority(v.priority),
        deliveries: v.deliveries,
        lease: v.lease.map(|l| Lease {
            deadline: Timestamp(l.deadline),
            version: l.version,
        }),
        version: v.version,
    })
}

/// Encodes a body straight from the borrowed strings, with the same bytes as `BodyValue` (tags 1 and 2):
/// the batch is committed by reference (a pipelined writer keeps reading it meanwhile), and building a
/// `BodyValue` would copy the content once more.
pub(crate) fn encode_body(b: &Body) -> Vec<u8> {
    use prost::encoding::{btree_map, string};
    let len = if b.content.is_empty() {
        0
    } else {
        string::encoded_len(1, &b.content)
    } + btree_map::encoded_len(string::encoded_len, string::encoded_len, 2, &b.metadata);
    let mut out = Vec::with_capacity(len);
    if !b.content.is_empty() {
        string::encode(1, &b.content, &mut out);
    }
    btree_map::encode(
        string::encode,
        string::encoded_len,
        string::encode,
        string::encoded_len,
        2,
        &b.metadata,
        &mut out,
    );
    out
}

/// Decodes the body of message `id` of queue `q`.
pub(crate) fn decode_body(q: QueueId, id: MessageId, bytes: &[u8]) -> Result<Body> {
    let v: BodyValue = decode(|| format!("body {}/{id}", q.0), bytes)?;
    Ok(Body {
        content: v.content,
        metadata: v.metadata,
    })
}

/// Encodes a group tree node (queue and node go in the key).
pub(crate) fn encode_group(g: &GroupRecord) -> Vec<u8> {
    GroupValue {
        parent: g.parent,
        segment: g.segment.clone(),
        leaf: g.leaf,
        cursor: g.cursor,
    }
    .encode_to_vec()
}

/// Decodes node `node` of queue `q`'s group tree.
pub(crate) fn decode_group(q: QueueId, node: u32, bytes: &[u8]) -> Result<GroupRecord> {
    let v: GroupValue = decode(|| format!("group {}/{node}", q.0), bytes)?;
    Ok(GroupRecord {
        queue: q,
        node,
        parent: v.parent,
        segment: v.segment,
        leaf: v.leaf,
        cursor: v.cursor,
    })
}

/// Encodes the engine counters.
pub(crate) fn encode_counters(c: &Counters) -> Vec<u8> {
    CountersValue {
        last_now: c.last_now.0,
        last_id: c.last_id,
        next_queue: c.next_queue,
    }
    .encode_to_vec()
}

/// Decodes the engine counters.
pub(crate) fn decode_counters(bytes: &[u8]) -> Result<Counters> {
    let v: CountersValue = decode(|| "counters".to_owned(), bytes)?;
    Ok(Counters {
        last_now: Timestamp(v.last_now),
        last_id: v.last_id,
        next_queue: v.next_queue,
    })
}

/// Encodes the applied marker.
pub(crate) fn encode_applied(a: &Applied) -> Vec<u8> {
    AppliedValue {
        index: a.index,
        data: a.data.clone(),
    }
    .encode_to_vec()
}

/// Decodes the applied marker.
pub(crate) fn decode_applied(bytes: &[u8]) -> Result<Applied> {
    let v: AppliedValue = decode(|| "applied marker".to_owned(), bytes)?;
    Ok(Applied {
        index: v.index,
        data: v.data,
    })
}

/// A [`Tombstone`] without its version, queue id and message id (the key).
#[derive(Clone, PartialEq, Message)]
struct TombstoneValue {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(uint64, tag = "2")]
    now: u64,
}

/// The [`BackupState`].
#[derive(Clone, PartialEq, Message)]
struct BackupStateValue {
    #[prost(string, optional, tag = "1")]
    mark_cluster_id: Option<String>,
    #[prost(uint64, tag = "2")]
    mark_last_version: u64,
    #[prost(uint64, optional, tag = "3")]
    staging_restore: Option<u64>,
    #[prost(uint64, tag = "4")]
    staging_next_seq: u64,
    #[prost(uint64, tag = "5")]
    staging_last_now: u64,
}

/// Encodes a tombstone's value.
pub(crate) fn encode_tombstone(t: &Tombstone) -> Vec<u8> {
    TombstoneValue {
        name: t.name.as_str().to_owned(),
        now: t.now.0,
    }
    .encode_to_vec()
}

/// Decodes the tombstone stored under `key`.
pub(crate) fn decode_tombstone(key: &[u8], bytes: &[u8]) -> Result<Tombstone> {
    let (version, queue, id) =
        crate::keys::split_tombstone(key).ok_or_else(|| Error::corrupt("tombstone key"))?;
    let v: TombstoneValue = decode(|| format!("tombstone {version}"), bytes)?;
    Ok(Tombstone {
        version,
        now: Timestamp(v.now),
        queue,
        name: QueueName::new(&v.name)
            .map_err(|e| Error::corrupt(format!("tombstone {version}: {e}")))?,
        id,
    })
}

/// Encodes the backup state.
pub(crate) fn encode_backup_state(s: &BackupState) -> Vec<u8> {
    BackupStateValue {
        mark_cluster_id: s.mark.as_ref().map(|m| m.cluster_id.clone()),
        mark_last_version: s.mark.as_ref().map_or(0, |m| m.last_version),
        staging_restore: s.staging.as_ref().map(|st| st.restore),
        staging_next_seq: s.staging.as_ref().map_or(0, |st| st.next_seq),
        staging_last_now: s.staging.as_ref().map_or(0, |st| st.last_now.0),
    }
    .encode_to_vec()
}

/// Decodes the backup state.
pub(crate) fn decode_backup_state(bytes: &[u8]) -> Result<BackupState> {
    let v: BackupStateValue = decode(|| "backup state".to_owned(), bytes)?;
    Ok(BackupState {
        mark: v.mark_cluster_id.map(|cluster_id| RestoreMark {
            cluster_id,
            last_version: v.mark_last_version,
        }),
        staging: v.staging_restore.map(|restore| StagingState {
            restore,
            next_seq: v.staging_next_seq,
            last_now: Timestamp(v.staging_last_now),
        }),
    })
}

/// Encodes a staged item as the backup `Record` it came from.
pub(crate) fn encode_staged(item: &ImportItem) -> Vec<u8> {
    crate::backup::format::Record {
        kind: Some(crate::backup::format::from_item(item)),
    }
    .encode_to_vec()
}

/// Decodes a staged item.
pub(crate) fn decode_staged(bytes: &[u8]) -> Result<ImportItem> {
    let r: crate::backup::format::Record = decode(|| "staged record".to_owned(), bytes)?;
    let kind = r
        .kind
        .ok_or_else(|| Error::corrupt("staged record without a kind"))?;
    crate::backup::format::to_item(kind).map_err(|e| Error::corrupt(format!("staged record: {e}")))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{any, proptest};

    use super::*;

    fn queue_record() -> QueueRecord {
        QueueRecord {
            id: QueueId(3),
            name: QueueName::new("jobs").unwrap(),
            kind: QueueKind::Fair,
            settings: QueueSettings {
                strategy: Some(Strategy::Weighted),
                max_unacked: 4,
                ack_timeout: 30,
                max_deliveries: 5,
                dead_letter: Some(QueueName::new("dlq").unwrap()),
            },
            created_version: 7,
            version: 9,
            next_node: 12,
            dead_lettered: 2,
        }
    }

    #[test]
    fn every_record_round_trips() {
        let q = queue_record();
        assert_eq!(decode_queue(q.id, &encode_queue(&q)).unwrap(), q);

        let h = MessageHeader {
            queue: QueueId(3),
            id: MessageId(u64::MAX),
            group: Group::new("a.b"),
            priority: Priority(-5),
            deliveries: 2,
            lease: Some(Lease {
                deadline: Timestamp(1_700_000_000_000),
                version: 44,
            }),
            version: 45,
        };
        assert_eq!(decode_header(h.queue, h.id, &encode_header(&h)).unwrap(), h);

        let b = Body {
            content: "héllo".into(),
            metadata: [("k".into(), "v".into())].into(),
        };
        assert_eq!(
            decode_body(QueueId(3), MessageId(1), &encode_body(&b)).unwrap(),
            b
        );
        for body in [b.clone(), Body::default()] {
            let prost_bytes = BodyValue {
                content: body.content.clone(),
                metadata: body.metadata.clone(),
            }
            .encode_to_vec();
            assert_eq!(
                encode_body(&body),
                prost_bytes,
                "the hand encoding is BodyValue's"
            );
        }

        let g = GroupRecord {
            queue: QueueId(3),
            node: 2,
            parent: 1,
            segment: "x".into(),
            leaf: true,
            cursor: 1,
        };
        assert_eq!(decode_group(g.queue, g.node, &encode_group(&g)).unwrap(), g);

        let c = Counters {
            last_now: Timestamp(5),
            last_id: 6,
            next_queue: 7,
        };
        assert_eq!(decode_counters(&encode_counters(&c)).unwrap(), c);

        let a = Applied {
            index: 10,
            data: vec![1, 2, 3],
        };
        assert_eq!(decode_applied(&encode_applied(&a)).unwrap(), a);
    }

    #[test]
    fn bad_values_are_corrupt_not_panics() {
        let mut bytes = encode_queue(&queue_record());
        bytes.truncate(bytes.len() - 1);
        assert!(matches!(
            decode_queue(QueueId(3), &bytes),
            Err(Error::Corrupt { .. })
        ));
        let bad_kind = QueueValue {
            name: "q".into(),
            kind: 9,
            ..QueueValue::default()
        }
        .encode_to_vec();
        assert!(matches!(
            decode_queue(QueueId(3), &bad_kind),
            Err(Error::Corrupt { .. })
        ));
        let bad_name = QueueValue {
            name: "a/b".into(),
            kind: 1,
            ..QueueValue::default()
        }
        .encode_to_vec();
        assert!(matches!(
            decode_queue(QueueId(3), &bad_name),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            decode_body(QueueId(1), MessageId(1), &[0x0a, 0x01, 0xff]),
            Err(Error::Corrupt { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let (q, id) = (QueueId(1), MessageId(1));
            let _ = decode_queue(q, &bytes);
            let _ = decode_header(q, id, &bytes);
            let _ = decode_body(q, id, &bytes);
            let _ = decode_group(q, 1, &bytes);
            let _ = decode_counters(&bytes);
            let _ = decode_applied(&bytes);
        }
    }
}
