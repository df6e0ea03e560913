//! Backups end to end over the engine and a `MemoryStore`: export, the reader's checks, staged restores
//! and their all-or-nothing promise under random corruption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use doq_api::{
    Body, Command, Engine, Group, ImportMode, MessageId, NewMessage, Priority, QueueKind,
    QueueName, QueueSettings, Reply, Stamped, Strategy, Timestamp,
};
use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest, ProptestConfig};

use super::{
    export::{self, ExportRequest},
    format::{Header, Kind, QueueTombstone},
    restore::{chunks, import_header, verify},
    BackupError, Reader, Writer,
};
use crate::{MemoryStore, QueueStore, Source, Space, Staged, WriteBatch};

/// What a backup keeps of a message: id, group, priority, deliveries and body.
type Kept = (u64, String, i64, u32, Body);

/// An engine over a memory store, applying commands the way the applier does (one commit each).
struct Node {
    engine: Engine,
    store: MemoryStore,
    index: u64,
    now: u64,
}

impl Node {
    fn new() -> Self {
        Self {
            engine: Engine::new(),
            store: MemoryStore::new(),
            index: 0,
            now: 1_800_000_000_000,
        }
    }

    fn apply(&mut self, command: Command) -> doq_api::Result<Reply> {
        self.index += 1;
        self.now += 10;
        let mut batch = WriteBatch::new();
        let stamped = Stamped {
            now: Timestamp(self.now),
            seed: self.index,
            command,
        };
        let reply = self.engine.apply(
            self.index,
            &stamped,
            &mut Staged::new(&mut batch, &self.store),
        );
        batch.set_applied(crate::Applied {
            index: self.index,
            data: Vec::new(),
        });
        self.store.commit(batch).unwrap();
        reply
    }

    fn backup(&self, since: u64) -> Vec<u8> {
        let mut out = Vec::new();
        self.store
            .with_snapshot(&mut |snap| {
                let req = ExportRequest {
                    since,
                    producer: "test".into(),
                    created_at_ms: 0,
                };
                let header = export::header(snap, &req).unwrap();
                out = export::write(snap, header, Vec::new()).unwrap().0;
                Ok(())
            })
            .unwrap();
        out
    }

    /// Stages `bytes` in small chunks and commits; aborts on any failure, like the HTTP driver.
    fn restore(&mut self, bytes: &[u8], mode: ImportMode) -> doq_api::Result<Reply> {
        let restore = 77;
        let result = chunks(bytes, 200, None, |items| {
            self.apply(Command::StageImport { restore, items })
                .map(drop)
        })
        .and_then(|h| {
            self.apply(Command::CommitImport {
                restore,
                mode,
                header: import_header(&h),
            })
        });
        if result.is_err() {
            self.apply(Command::AbortImport { restore }).unwrap();
        }
        result
    }

    /// Queues by name with their messages (header fields a backup keeps, and bodies).
    fn contents(&self) -> Vec<(String, Vec<Kept>)> {
        let mut queues = self.store.queues().unwrap();
        queues.sort_by(|a, b| a.name.cmp(&b.name));
        queues
            .into_iter()
            .map(|q| {
                let msgs = self
                    .store
                    .scan_headers(q.id, None, usize::MAX)
                    .unwrap()
                    .into_iter()
                    .map(|h| {
                        let b = self.store.get_body(q.id, h.id).unwrap().unwrap();
                        (
                            h.id.0,
                            h.group.as_str().to_owned(),
                            h.priority.0,
                            h.deliveries,
                            b,
                        )
                    })
                    .collect();
                (q.name.to_string(), msgs)
            })
            .collect()
    }

    fn assert_rebuild_matches(&self) {
        let rebuilt = Engine::rebuild(&Source(&self.store)).unwrap();
        assert_eq!(rebuilt.digest(), self.engine.digest(), "rebuild digest");
    }

    fn staged_items(&self) -> usize {
        self.store
            .scan(Space::Staging, &[0], &[255; 17], usize::MAX)
            .unwrap()
            .len()
    }
}

fn name(s: &str) -> QueueName {
    QueueName::new(s).unwrap()
}

fn msg(priority: i64, content: &str, group: &str) -> NewMessage {
    NewMessage {
        id: None,
        group: Group::new(group),
        priority: Priority(priority),
        body: Body {
            content: content.into(),
            metadata: [("k".to_string(), content.to_string())].into(),
        },
    }
}

/// A source with a delayed and a round-robin queue, a lease, an ack and a deleted queue.
fn source() -> Node {
    let mut n = Node::new();
    let delayed = QueueSettings {
        strategy: None,
        max_unacked: 0,
        ack_timeout: 60,
        max_deliveries: 0,
        dead_letter: None,
    };
    for q in ["a", "gone"] {
        n.apply(Command::CreateQueue {
            name: name(q),
            kind: QueueKind::Delayed,
            settings: delayed.clone(),
        })
        .unwrap();
    }
    n.apply(Command::CreateQueue {
        name: name("rr"),
        kind: QueueKind::Fair,
        settings: QueueSettings {
            strategy: Some(Strategy::RoundRobin),
            max_unacked: 2,
            ..delayed
        },
    })
    .unwrap();
    let items = (0..12).map(|i| msg(i % 3, &format!("m{i}"), "")).collect();
    n.apply(Command::Enqueue {
        queue: name("a"),
        items,
    })
    .unwrap();
    let items = ["x", "y", "x.z", "y"]
        .iter()
        .map(|g| msg(5, g, g))
        .collect();
    n.apply(Command::Enqueue {
        queue: name("rr"),
        items,
    })
    .unwrap();
    n.apply(Command::Dequeue {
        queue: name("a"),
        ack: false,
        max: 2,
    })
    .unwrap();
    n.apply(Command::Dequeue {
        queue: name("a"),
        ack: true,
        max: 1,
    })
    .unwrap();
    n.apply(Command::DeleteQueue { name: name("gone") })
        .unwrap();
    n
}

#[test]
fn full_backup_round_trips_and_rebuilds() {
    let src = source();
    let bytes = src.backup(0);
    let (header, records) = verify(bytes.as_slice(), None).unwrap();
    assert_eq!((header.since, header.last_version), (0, src.index));
    assert_eq!(records, 2 + 11 + 4);
    let mut dst = Node::new();
    let reply = dst.restore(&bytes, ImportMode::Merge).unwrap();
    assert_eq!(
        reply,
        Reply::Restored {
            queues: 2,
            messages: 15,
            last_version: src.index
        }
    );
    assert_eq!(dst.contents(), src.contents());
    assert_eq!(dst.staged_items(), 0);
    dst.assert_rebuild_matches();
}

#[test]
fn incremental_carries_changes_and_tombstones() {
    let mut src = source();
    let full = src.backup(0);
    let v1 = src.index;
    src.apply(Command::Dequeue {
        queue: name("a"),
        ack: true,
        max: 3,
    })
    .unwrap();
    src.apply(Command::Purge { name: name("rr") }).unwrap();
    src.apply(Command::DeleteQueue { name: name("rr") })
        .unwrap();
    let inc = src.backup(v1 + 1);
    let mut dst = Node::new();
    dst.restore(&full, ImportMode::Merge).unwrap();
    dst.restore(&inc, ImportMode::Merge).unwrap();
    assert_eq!(dst.contents(), src.contents());
    dst.assert_rebuild_matches();
    // Applied twice: out of order, and nothing changes.
    let before = dst.contents();
    let err = dst.restore(&inc, ImportMode::Merge).unwrap_err();
    assert!(err.to_string().contains("out of order"), "{err}");
    assert_eq!(dst.contents(), before);
    assert_eq!(dst.staged_items(), 0);
}

#[test]
fn replace_drops_queues_not_in_the_backup() {
    let src = source();
    let bytes = src.backup(0);
    let mut dst = Node::new();
    dst.apply(Command::CreateQueue {
        name: name("local"),
        kind: QueueKind::Delayed,
        settings: QueueSettings {
            strategy: None,
            max_unacked: 0,
            ack_timeout: 60,
            max_deliveries: 0,
            dead_letter: None,
        },
    })
    .unwrap();
    dst.restore(&bytes, ImportMode::Replace).unwrap();
    assert_eq!(dst.contents(), src.contents());
    dst.assert_rebuild_matches();
}

#[test]
fn reader_refuses_order_version_and_trailing_bytes() {
    let header = Header {
        format_version: 1,
        ..Header::default()
    };
    // A queue tombstone after a queue record is out of order.
    let mut w = Writer::new(Vec::new(), header.clone()).unwrap();
    w.write(Kind::Queue(super::format::QueueRecord {
        name: "q".into(),
        r#type: "delayed".into(),
        ack_timeout: 60,
        ..Default::default()
    }))
    .unwrap();
    w.write(Kind::QueueDeleted(QueueTombstone {
        name: "q".into(),
        version: 1,
    }))
    .unwrap();
    let bytes = w.finish().unwrap();
    let err = verify(bytes.as_slice(), None).unwrap_err();
    assert!(err.to_string().contains("out of order"), "{err}");

    let good = Writer::new(Vec::new(), header).unwrap().finish().unwrap();
    let mut extra = good.clone();
    extra.push(0);
    assert!(verify(extra.as_slice(), None)
        .unwrap_err()
        .to_string()
        .contains("after the trailer"));
    let future = Writer::new(
        Vec::new(),
        Header {
            format_version: 9,
            ..Header::default()
        },
    )
    .unwrap()
    .finish()
    .unwrap();
    assert!(
        matches!(Reader::open(future.as_slice()), Err(BackupError::Invalid(m)) if m.contains("version 9"))
    );
}

/// Ids in a backup keep the target's id counter ahead of them.
#[test]
fn id_watermark_moves_the_id_counter() {
    let src = source();
    let mut dst = Node::new();
    dst.restore(&src.backup(0), ImportMode::Merge).unwrap();
    let Reply::Ids(ids) = dst.apply(Command::ReserveIds { count: 1 }).unwrap() else {
        panic!("ids")
    };
    let max_src = src
        .contents()
        .iter()
        .flat_map(|(_, m)| m.iter().map(|x| x.0))
        .max()
        .unwrap();
    assert!(ids[0] > MessageId(max_src));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any corruption (a flipped byte anywhere, a truncation, trailing garbage) is refused, never
    /// panics, and a restore of it into a populated node changes nothing and leaves no staged record.
    #[test]
    fn corruption_is_refused_and_restores_nothing(
        pos in any::<usize>(),
        flip in 1u8..=255,
        how in 0u8..3,
    ) {
        let src = source();
        let good = src.backup(0);
        let mut bad = good.clone();
        match how {
            0 => { let i = pos % bad.len(); bad[i] ^= flip; }
            1 => bad.truncate(pos % bad.len()),
            _ => bad.extend_from_slice(&[flip; 3]),
        }
        prop_assert!(verify(bad.as_slice(), None).is_err());
        let mut dst = source();
        let before = dst.contents();
        prop_assert!(dst.restore(&bad, ImportMode::Replace).is_err());
        prop_assert_eq!(dst.contents(), before);
        prop_assert_eq!(dst.staged_items(), 0);
        dst.assert_rebuild_matches();
    }

    /// Arbitrary bytes never panic the reader.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut input = super::MAGIC.to_vec();
        input.extend_from_slice(&bytes);
        let _ = verify(input.as_slice(), None);
        let _ = verify(bytes.as_slice(), None);
    }
}

#[test]
fn pruned_tombstones_make_an_old_since_too_old() {
    let src = source();
    let last = src.index;
    let header = |since: u64| {
        let mut got = None;
        src.store
            .with_snapshot(&mut |snap| {
                let req = ExportRequest {
                    since,
                    producer: "test".into(),
                    created_at_ms: 0,
                };
                got = Some(export::header(snap, &req));
                Ok(())
            })
            .unwrap();
        got.unwrap()
    };
    assert!(header(1).is_ok(), "nothing pruned yet");
    let pruned = super::prune::prune(&src.store, Timestamp(src.now + 1)).unwrap();
    assert!(pruned > 0);
    assert_eq!(header(1).unwrap_err(), doq_api::Error::SinceTooOld);
    assert_eq!(header(last).unwrap_err(), doq_api::Error::SinceTooOld);
    assert!(header(last + 1).is_ok(), "after every pruned deletion");
    assert!(matches!(
        header(last + 2),
        Err(doq_api::Error::Invalid { .. })
    ));
    // Pruning again finds nothing older.
    assert_eq!(
        super::prune::prune(&src.store, Timestamp(src.now + 1)).unwrap(),
        0
    );
}

#[test]
fn one_restore_is_staged_at_a_time_until_it_idles() {
    let mut n = Node::new();
    let item = |q: &str| doq_api::ImportItem::QueueDeleted { name: name(q) };
    n.apply(Command::StageImport {
        restore: 1,
        items: vec![item("a")],
    })
    .unwrap();
    assert_eq!(
        n.apply(Command::StageImport {
            restore: 2,
            items: vec![item("b")],
        }),
        Err(doq_api::Error::RestoreInProgress)
    );
    n.assert_rebuild_matches();
    n.now += doq_api::STAGING_IDLE_MS;
    n.apply(Command::StageImport {
        restore: 2,
        items: vec![item("b")],
    })
    .unwrap();
    assert_eq!(n.staged_items(), 1, "restore 1's items were dropped");
    let commit = |restore| Command::CommitImport {
        restore,
        mode: ImportMode::Merge,
        header: doq_api::ImportHeader {
            cluster_id: "c".into(),
            since: 0,
            last_version: 9,
            id_watermark: 0,
        },
    };
    assert_eq!(n.apply(commit(1)), Err(doq_api::Error::RestoreInProgress));
    assert!(matches!(
        n.apply(commit(2)),
        Ok(Reply::Restored {
            last_version: 9,
            ..
        })
    ));
    assert_eq!(n.staged_items(), 0);
    n.assert_rebuild_matches();
}
