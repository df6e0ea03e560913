//! Raft snapshots of the replicated state: every queue record, round-robin tree node, message (header with
//! its lease, and body), the engine counters, and what backups need (the `meta` values for the restore
//! state, cluster id and tombstone horizon, and the `tombstones` and `staging` keyspaces, copied as raw
//! entries), read through the `QueueStore` API, in a simple framed
//! stream: the magic `DOQSNAP1`, then frames `kind: u8 | len: u32 LE | payload` (payloads in `codec`'s
//! layout) and a final `END` frame with the record count. Installing one is a single `WriteBatch` that
//! deletes every local queue's range and writes the snapshot's records, so a crash leaves the old state or
//! the new one. Today: the whole snapshot is held in memory; it moves to the backup record format
//! (docs/backup.md §8.2) once `export`/`import` land.
use doq_api::{Counters, Error, LogIndex, QueueRecord, Result};
use doq_storage::{Applied, MetaKey, Op, QueueStore, Space, WriteBatch};

use super::codec::{bad, Reader, Writer};

const MAGIC: &[u8; 8] = b"DOQSNAP1";
const COUNTERS: u8 = 1;
const QUEUE: u8 = 2;
const GROUP: u8 = 3;
const MESSAGE: u8 = 4;
const META: u8 = 5;
const RAW: u8 = 6;
/// The store's applied index: the count of commands applied (a log entry holds many), which numbers
/// the next command on the installing replica as it would have on the leader.
const INDEX: u8 = 7;
const END: u8 = 0xff;
/// Headers read per `scan_headers` call while building.
const PAGE: usize = 1024;
/// Above every key of the raw keyspaces (all fixed-width and shorter than this).
const KEY_MAX: [u8; 32] = [0xff; 32];

/// The `meta` values a snapshot carries, by their tag in the stream.
const METAS: [(u8, MetaKey); 3] = [
    (0, MetaKey::BackupState),
    (1, MetaKey::ClusterId),
    (2, MetaKey::TombstoneHorizon),
];
/// The raw keyspaces a snapshot carries, by their tag in the stream.
const SPACES: [(u8, Space); 2] = [(0, Space::Tombstones), (1, Space::Staging)];

fn frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) -> Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| Error::Internal("snapshot record over 4 GiB".into()))?;
    out.push(kind);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Serializes everything `store` holds for the engine. The caller keeps the store still meanwhile (it
/// holds the applier's mutex, under which the applier commits).
pub(crate) fn build(store: &dyn QueueStore) -> Result<Vec<u8>> {
    let mut out = MAGIC.to_vec();
    let mut records: u64 = 0;
    if let Some(c) = store.counters().map_err(Error::from)? {
        let mut w = Writer::new();
        w.counters(&c);
        frame(&mut out, COUNTERS, &w.0)?;
        records += 1;
    }
    if let Some(a) = store.applied().map_err(Error::from)? {
        let mut w = Writer::new();
        w.u64(a.index);
        frame(&mut out, INDEX, &w.0)?;
        records += 1;
    }
    for q in store.queues().map_err(Error::from)? {
        let mut w = Writer::new();
        w.queue_record(&q);
        frame(&mut out, QUEUE, &w.0)?;
        records += 1;
        for g in store.groups(q.id).map_err(Error::from)? {
            let mut w = Writer::new();
            w.group_record(&g);
            frame(&mut out, GROUP, &w.0)?;
            records += 1;
        }
        let mut after = None;
        loop {
            let page = store.scan_headers(q.id, after, PAGE).map_err(Error::from)?;
            let full = page.len() >= PAGE;
            for h in page {
                after = Some(h.id);
                let body = store
                    .get_body(q.id, h.id)
                    .map_err(Error::from)?
                    .ok_or_else(|| Error::Internal(format!("header {} without a body", h.id)))?;
                let mut w = Writer::new();
                w.message(&h, &body);
                frame(&mut out, MESSAGE, &w.0)?;
                records += 1;
            }
            if !full {
                break;
            }
        }
    }
    for (tag, key) in METAS {
        if let Some(value) = store.meta(key).map_err(Error::from)? {
            let mut w = Writer::new();
            w.bytes(&[tag]);
            w.bytes(&value);
            frame(&mut out, META, &w.0)?;
            records += 1;
        }
    }
    for (tag, space) in SPACES {
        let mut lo = Vec::new();
        loop {
            let page = store
                .scan(space, &lo, &KEY_MAX, PAGE)
                .map_err(Error::from)?;
            let full = page.len() >= PAGE;
            for (key, value) in page {
                let mut w = Writer::new();
                w.bytes(&[tag]);
                w.bytes(&key);
                w.bytes(&value);
                frame(&mut out, RAW, &w.0)?;
                records += 1;
                // The next page starts just after this key.
                lo = key;
                lo.push(0);
            }
            if !full {
                break;
            }
        }
    }
    frame(&mut out, END, &records.to_le_bytes())?;
    Ok(out)
}

/// The batch that turns a store holding `existing` queues into exactly the snapshot's state, with the
/// applied marker `applied` (its index replaced by the snapshot's command count, when it has one), and
/// that marker's index. Checks the whole snapshot before anything is written.
pub(crate) fn install_batch(
    bytes: &[u8],
    existing: &[QueueRecord],
    mut applied: Applied,
) -> Result<(WriteBatch, LogIndex)> {
    let mut rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| bad("snapshot magic"))?;
    let mut batch = WriteBatch::new();
    for q in existing {
        batch.delete_queue(q.id);
    }
    for (_, space) in SPACES {
        batch.push(Op::DeleteRange {
            space,
            lo: Vec::new(),
            hi: KEY_MAX.to_vec(),
        });
    }
    // Values the snapshot lacks go back to "none": an empty restore state, a horizon of 0.
    batch.push(Op::PutMeta {
        key: MetaKey::BackupState,
        value: Vec::new(),
    });
    batch.push(Op::PutMeta {
        key: MetaKey::TombstoneHorizon,
        value: 0u64.to_be_bytes().to_vec(),
    });
    let mut counters = Counters::default();
    let mut records: u64 = 0;
    let mut ended = false;
    while !rest.is_empty() {
        if ended {
            return Err(bad("bytes after the snapshot's end"));
        }
        let (&kind, tail) = rest.split_first().ok_or_else(|| bad("snapshot frame"))?;
        let len_bytes: [u8; 4] = tail
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("snapshot frame length"))?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        let payload = tail
            .get(4..4 + len)
            .ok_or_else(|| bad("truncated snapshot frame"))?;
        rest = &tail[4 + len..];
        if kind == END {
            let count: [u8; 8] = payload.try_into().map_err(|_| bad("snapshot end frame"))?;
            if u64::from_le_bytes(count) != records {
                return Err(bad("snapshot record count"));
            }
            ended = true;
            continue;
        }
        let mut r = Reader::new(payload)?;
        match kind {
            COUNTERS => counters = r.counters()?,
            INDEX => applied.index = r.u64()?,
            QUEUE => batch.put_queue(r.queue_record()?),
            GROUP => batch.put_group(r.group_record()?),
            MESSAGE => {
                let (h, b) = r.message()?;
                batch.put_message(h, b);
            }
            META => {
                let tag = single_byte(&r.bytes()?)?;
                let key = METAS
                    .iter()
                    .find(|(t, _)| *t == tag)
                    .map(|(_, k)| *k)
                    .ok_or_else(|| bad(&format!("snapshot meta tag {tag}")))?;
                batch.push(Op::PutMeta {
                    key,
                    value: r.bytes()?,
                });
            }
            RAW => {
                let tag = single_byte(&r.bytes()?)?;
                let space = SPACES
                    .iter()
                    .find(|(t, _)| *t == tag)
                    .map(|(_, s)| *s)
                    .ok_or_else(|| bad(&format!("snapshot keyspace tag {tag}")))?;
                batch.push(Op::Put {
                    space,
                    key: r.bytes()?,
                    value: r.bytes()?,
                });
            }
            k => return Err(bad(&format!("snapshot record kind {k}"))),
        }
        r.end()?;
        records += 1;
    }
    if !ended {
        return Err(bad("snapshot without its end frame"));
    }
    batch.put_counters(counters);
    let index = applied.index;
    batch.set_applied(applied);
    Ok((batch, index))
}

/// The one byte a tag field holds.
fn single_byte(b: &[u8]) -> Result<u8> {
    match b {
        [t] => Ok(*t),
        _ => Err(bad("snapshot tag")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use doq_api::{
        Body, Command, Engine, Group, Metadata, NewMessage, Priority, QueueKind, QueueName,
        QueueSettings, Stamped, Strategy, Timestamp,
    };
    use doq_storage::{MemoryStore, Source, Staged};

    use super::*;

    /// A store with a fair queue, a few messages in two groups and one lease.
    fn filled() -> (MemoryStore, u64) {
        let store = MemoryStore::new();
        let mut engine = Engine::rebuild(&Source(&store)).unwrap();
        let q = QueueName::new("fair").unwrap();
        let mut commands = vec![Command::CreateQueue {
            name: q.clone(),
            kind: QueueKind::Fair,
            settings: QueueSettings {
                strategy: Some(Strategy::RoundRobin),
                max_unacked: 0,
                ack_timeout: 60,
                max_deliveries: 0,
                dead_letter: None,
            },
        }];
        for i in 0..6 {
            commands.push(Command::Enqueue {
                queue: q.clone(),
                items: vec![NewMessage {
                    id: None,
                    group: Group::new(if i % 2 == 0 { "a.x" } else { "b" }),
                    priority: Priority(1),
                    body: Body {
                        content: format!("m{i}"),
                        metadata: Metadata::new(),
                    },
                }],
            });
        }
        commands.push(Command::Dequeue {
            queue: q,
            ack: false,
            max: 1,
        });
        for (i, command) in commands.into_iter().enumerate() {
            let mut batch = WriteBatch::new();
            let stamped = Stamped {
                now: Timestamp(1_800_000_000_000),
                seed: 7,
                command,
            };
            let index = i as u64 + 1;
            engine
                .apply(index, &stamped, &mut Staged::new(&mut batch, &store))
                .unwrap();
            batch.set_applied(Applied {
                index,
                data: Vec::new(),
            });
            store.commit(batch).unwrap();
        }
        (store, engine.digest())
    }

    /// Applies `command` as command `index` to `engine` over `store`.
    fn run(engine: &mut Engine, store: &MemoryStore, index: u64, command: Command) {
        let mut batch = WriteBatch::new();
        let stamped = Stamped {
            now: Timestamp(1_800_000_000_000 + index),
            seed: 7,
            command,
        };
        engine
            .apply(index, &stamped, &mut Staged::new(&mut batch, store))
            .unwrap();
        batch.set_applied(Applied {
            index,
            data: Vec::new(),
        });
        store.commit(batch).unwrap();
    }

    fn raw(store: &MemoryStore, space: Space) -> Vec<(Vec<u8>, Vec<u8>)> {
        store.scan(space, &[], &KEY_MAX, usize::MAX).unwrap()
    }

    #[test]
    fn a_snapshot_carries_tombstones_staged_restores_and_backup_meta() {
        let (source, _) = filled();
        let mut engine = Engine::rebuild(&Source(&source)).unwrap();
        let q = QueueName::new("fair").unwrap();
        let first = source
            .scan_headers(source.queues().unwrap()[0].id, None, 1)
            .unwrap()[0]
            .id;
        // A deletion leaves a tombstone; a staged chunk and the cluster id are backup state too.
        run(
            &mut engine,
            &source,
            100,
            Command::Delete {
                queue: q.clone(),
                id: first,
            },
        );
        run(
            &mut engine,
            &source,
            101,
            Command::StageImport {
                restore: 9,
                items: vec![doq_api::ImportItem::QueueDeleted { name: q }],
            },
        );
        let mut batch = WriteBatch::new();
        batch.set_cluster_id("cluster-a");
        source.commit(batch).unwrap();
        assert!(!raw(&source, Space::Tombstones).is_empty());
        assert!(!raw(&source, Space::Staging).is_empty());

        // The target has its own, different backup state, which the snapshot must replace.
        let target = MemoryStore::new();
        let mut batch = WriteBatch::new();
        batch.set_cluster_id("cluster-b");
        batch.push(Op::Put {
            space: Space::Tombstones,
            key: vec![0; 12],
            value: Vec::new(),
        });
        target.commit(batch).unwrap();

        let (installed, _) = install_batch(
            &build(&source).unwrap(),
            &target.queues().unwrap(),
            Applied::default(),
        )
        .unwrap();
        target.commit(installed).unwrap();
        for space in [Space::Tombstones, Space::Staging] {
            assert_eq!(raw(&target, space), raw(&source, space), "{space:?}");
        }
        assert_eq!(
            doq_storage::cluster_id(&target).unwrap().as_deref(),
            Some("cluster-a")
        );
        assert_eq!(
            doq_storage::backup_state(&target).unwrap(),
            doq_storage::backup_state(&source).unwrap()
        );
        assert_eq!(
            Engine::rebuild(&Source(&target)).unwrap().digest(),
            engine.digest()
        );
    }

    #[test]
    fn a_snapshot_installs_the_same_state_over_anything() {
        let (source, digest) = filled();
        let bytes = build(&source).unwrap();
        // Install over a store that already holds other state: it must be replaced, not merged.
        let (target, _) = filled();
        let target = Arc::new(target);
        let existing = target.queues().unwrap();
        let (batch, index) = install_batch(
            &bytes,
            &existing,
            Applied {
                index: 42,
                data: vec![1],
            },
        )
        .unwrap();
        target.commit(batch).unwrap();
        assert_eq!(Engine::rebuild(&Source(&*target)).unwrap().digest(), digest);
        // The source's command count wins: the next command gets the index it would have there.
        let counted = source.applied().unwrap().map(|a| a.index);
        assert_eq!(counted, Some(index));
        assert_eq!(target.applied().unwrap().map(|a| a.index), counted);
        assert_eq!(target.applied().unwrap().map(|a| a.data), Some(vec![1]));
        let empty = MemoryStore::new();
        target
            .commit(
                install_batch(
                    &build(&empty).unwrap(),
                    &target.queues().unwrap(),
                    Applied::default(),
                )
                .unwrap()
                .0,
            )
            .unwrap();
        assert!(
            target.queues().unwrap().is_empty(),
            "an empty snapshot empties the store"
        );
    }

    #[test]
    fn damaged_snapshots_are_refused_whole() {
        let (source, _) = filled();
        let bytes = build(&source).unwrap();
        for cut in [0, 4, 8, 9, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                install_batch(&bytes[..cut], &[], Applied::default()).is_err(),
                "a snapshot cut at {cut} of {} bytes",
                bytes.len()
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(install_batch(&extra, &[], Applied::default()).is_err());
        let mut flipped = bytes;
        flipped[8] = 0x7f; // the first record's kind
        assert!(install_batch(&flipped, &[], Applied::default()).is_err());
    }
}
