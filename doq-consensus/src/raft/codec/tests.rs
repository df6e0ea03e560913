//! Round trips of every command, reply and error through the codec's entry points, old
//! single-command log entries read as batches, and truncated or trailing bytes refused.
use doq_api::{
    Body, Delivery, Enqueued, Error, Group, ImportHeader, ImportItem, ImportMode, MessageId,
    Metadata, NewMessage, Priority, QueueKind, QueueName, QueueSettings, Receipt, SettingsUpdate,
    Strategy,
};

use super::*;

fn q(s: &str) -> QueueName {
    QueueName::new(s).unwrap()
}

fn commands() -> Vec<Command> {
    let mut meta = Metadata::new();
    meta.insert("k".into(), "v ü".into());
    vec![
        Command::CreateQueue {
            name: q("a"),
            kind: QueueKind::Fair,
            settings: QueueSettings {
                strategy: Some(Strategy::Weighted),
                max_unacked: 3,
                ack_timeout: 30,
                max_deliveries: 2,
                dead_letter: Some(q("dl")),
            },
        },
        Command::UpdateQueue {
            name: q("a"),
            settings: SettingsUpdate {
                strategy: None,
                max_unacked: 0,
                ack_timeout: 1,
                max_deliveries: Some(4),
                dead_letter: Some(None),
            },
        },
        Command::DeleteQueue { name: q("a") },
        Command::Purge { name: q("a") },
        Command::Enqueue {
            queue: q("a"),
            items: vec![NewMessage {
                id: Some(MessageId(u64::MAX)),
                group: Group::new("g.h"),
                priority: Priority(-5),
                body: Body {
                    content: "hello".into(),
                    metadata: meta.clone(),
                },
            }],
        },
        Command::Dequeue {
            queue: q("a"),
            ack: true,
            max: 7,
        },
        Command::AckBatch {
            queue: q("a"),
            items: vec![
                (MessageId(3), None),
                (
                    MessageId(4),
                    Some(Receipt {
                        id: MessageId(4),
                        lease: 9,
                    }),
                ),
            ],
        },
        Command::Ack {
            queue: q("a"),
            id: MessageId(1),
            receipt: Some(Receipt {
                id: MessageId(1),
                lease: 9,
            }),
        },
        Command::Nack {
            queue: q("a"),
            id: MessageId(2),
            priority: Priority(3),
            metadata: Some(meta),
            receipt: None,
        },
        Command::Touch {
            queue: q("a"),
            id: MessageId(3),
            receipt: None,
        },
        Command::UpdatePriority {
            queue: q("a"),
            id: MessageId(4),
            priority: Priority(i64::MIN),
        },
        Command::Delete {
            queue: q("a"),
            id: MessageId(5),
        },
        Command::ReserveIds { count: 1000 },
        Command::StageImport {
            restore: 77,
            items: vec![
                ImportItem::QueueDeleted { name: q("old") },
                ImportItem::Queue {
                    name: q("a"),
                    kind: QueueKind::Fair,
                    settings: QueueSettings {
                        strategy: Some(Strategy::RoundRobin),
                        max_unacked: 1,
                        ack_timeout: 60,
                        max_deliveries: 0,
                        dead_letter: None,
                    },
                    created_version: 12,
                },
                ImportItem::Message {
                    queue: q("a"),
                    id: MessageId(3),
                    group: Group::new("g"),
                    priority: Priority(-1),
                    body: Body {
                        content: "c".into(),
                        metadata: Metadata::new(),
                    },
                    deliveries: 2,
                },
                ImportItem::MessageDeleted {
                    queue: q("a"),
                    id: MessageId(4),
                },
            ],
        },
        Command::CommitImport {
            restore: 77,
            mode: ImportMode::Replace,
            header: ImportHeader {
                cluster_id: "c-1".into(),
                since: 5,
                last_version: 9,
                id_watermark: 100,
            },
        },
        Command::AbortImport { restore: 77 },
    ]
}

#[test]
fn every_command_round_trips_stamped_and_bare() {
    for command in commands() {
        let s = Stamped {
            now: Timestamp(17),
            seed: u64::MAX,
            command: command.clone(),
        };
        assert_eq!(decode_stamped(&encode_stamped(&s)).unwrap(), s);
        assert_eq!(decode_command(&encode_command(&command)).unwrap(), command);
    }
}

#[test]
fn batches_round_trip_and_old_single_entries_read_as_one() {
    let batch: Vec<Stamped> = commands()
        .into_iter()
        .enumerate()
        .map(|(i, command)| Stamped {
            now: Timestamp(i as u64),
            seed: 7 * i as u64,
            command,
        })
        .collect();
    assert_eq!(decode_batch(&encode_batch(&batch)).unwrap(), batch);
    assert_eq!(decode_batch(&encode_batch(&[])).unwrap(), Vec::new());
    // A log written before entries carried batches still replays.
    let single = batch[3].clone();
    assert_eq!(
        decode_batch(&encode_stamped(&single)).unwrap(),
        vec![single]
    );
    let bare: Vec<Command> = commands();
    assert_eq!(decode_commands(&encode_commands(&bare)).unwrap(), bare);
    let outcomes = vec![Ok(Reply::Acked), Err(Error::RestoreInProgress)];
    assert_eq!(
        decode_outcomes(&encode_outcomes(&outcomes)).unwrap(),
        outcomes
    );
    let good = encode_batch(&batch[..3]);
    for cut in 0..good.len() {
        assert!(decode_batch(&good[..cut]).is_err(), "prefix of {cut} bytes");
    }
    // A count larger than the bytes left is refused before anything is allocated.
    let mut huge = vec![BATCH];
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(decode_batch(&huge).is_err());
}

#[test]
fn outcomes_round_trip() {
    let outcomes = vec![
        Ok(Reply::QueueCreated),
        Ok(Reply::Purged { count: 3 }),
        Ok(Reply::Enqueued(vec![Enqueued {
            id: MessageId(1),
            group: Group::new("default"),
            priority: Priority(2),
        }])),
        Ok(Reply::Dequeued(vec![Delivery {
            id: MessageId(1),
            group: Group::new("g"),
            priority: Priority(2),
            body: Body::default(),
            receipt: Receipt {
                id: MessageId(1),
                lease: 4,
            },
            deliveries: 2,
        }])),
        Ok(Reply::Nacked {
            priority: Priority(1),
        }),
        Ok(Reply::Ids(vec![MessageId(8), MessageId(9)])),
        Ok(Reply::Staged),
        Ok(Reply::AckedEach(vec![
            (MessageId(3), Ok(())),
            (MessageId(4), Err(Error::LeaseNotHeld { queue: "a".into() })),
        ])),
        Ok(Reply::Restored {
            queues: 1,
            messages: 2,
            last_version: 3,
        }),
        Ok(Reply::Aborted),
        Err(Error::BackupInvalid("gap".into())),
        Err(Error::RestoreInProgress),
        Err(Error::SinceTooOld),
        // Kept apart from `Unavailable` across the hop: the follower retries only "not sent".
        Err(Error::OutcomeUnknown("no answer".into())),
        Err(Error::Unavailable("not the leader".into())),
        Err(Error::QueueEmpty("q".into())),
        Err(Error::invalid("body.priority", "expected number", "x")),
        Err(Error::storage("redb", "commit")),
        Err(Error::InvalidSettings {
            name: "q".into(),
            reason: "r".into(),
        }),
    ];
    for o in outcomes {
        assert_eq!(decode_outcome(&encode_outcome(&o)).unwrap(), o);
    }
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let good = encode_stamped(&Stamped {
        now: Timestamp(1),
        seed: 2,
        command: commands().remove(4),
    });
    for cut in 0..good.len() {
        assert!(
            decode_stamped(&good[..cut]).is_err(),
            "prefix of {cut} bytes"
        );
    }
    let mut long = good.clone();
    long.push(0);
    assert!(decode_stamped(&long).is_err());
    assert!(decode_outcome(&[VERSION, 9]).is_err());
    assert!(decode_command(&[2, 1]).is_err());
}
