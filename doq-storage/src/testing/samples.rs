//! Sample records and log entries the contract cases (and other crates' tests) build stores from.
// Test fixtures: a bad sample is a bug in the test, so failing loudly is what we want.
#![allow(clippy::expect_used)]
use doq_api::{
    Body, Group, GroupRecord, Lease, MessageHeader, MessageId, Priority, QueueId, QueueKind,
    QueueName, QueueRecord, QueueSettings, Timestamp,
};

/// A sample queue record.
pub fn queue(q: u32, name: &str) -> QueueRecord {
    QueueRecord {
        id: QueueId(q),
        name: QueueName::new(name).expect("sample queue names are valid"),
        kind: QueueKind::Delayed,
        settings: QueueSettings {
            strategy: None,
            max_unacked: 0,
            ack_timeout: 30,
            max_deliveries: 0,
            dead_letter: None,
        },
        created_version: u64::from(q),
        version: u64::from(q),
        next_node: 0,
        dead_lettered: 0,
    }
}

/// A sample message header; odd ids carry a lease.
pub fn header(q: u32, id: u64) -> MessageHeader {
    MessageHeader {
        queue: QueueId(q),
        id: MessageId(id),
        group: Group::new(if id % 2 == 1 { "a.b" } else { "default" }),
        priority: Priority(i64::from(q) - 3),
        deliveries: u32::from(id % 2 == 1),
        lease: (id % 2 == 1).then_some(Lease {
            deadline: Timestamp(id.saturating_add(1_000)),
            version: id,
        }),
        version: id,
    }
}

/// A sample body.
pub fn body(text: &str) -> Body {
    Body {
        content: text.to_owned(),
        metadata: [("k".to_owned(), text.to_owned())].into(),
    }
}

/// A sample round-robin tree node.
pub fn group(q: u32, node: u32) -> GroupRecord {
    GroupRecord {
        queue: QueueId(q),
        node,
        parent: node.saturating_sub(1),
        segment: format!("s{node}"),
        leaf: node % 2 == 1,
        cursor: node / 2,
    }
}

/// Sample log entries `(i, "e{i}")` for `i` in `range`.
pub fn entries(range: std::ops::Range<u64>) -> Vec<(u64, Vec<u8>)> {
    range.map(|i| (i, format!("e{i}").into_bytes())).collect()
}
