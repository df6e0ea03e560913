//! Engine tests: DOQ's vectors, lease rules, rebuild equality, and a model-based property test.
//! This file holds the test store and the `Rig` the tests drive; the tests are grouped by concept:
//! `delayed`, `leases`, `fair` (weighted and round-robin), `queues` (lifecycle and ids),
//! `dead_letters`, `rebuild` and `model` (the property test).
mod dead_letters;
mod delayed;
mod fair;
mod leases;
mod model;
mod queues;
mod rebuild;

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::queue::Strategy;
use crate::{
    command::{Delivery, NewMessage},
    message::{Body, Group, Metadata},
};

/// A store that applies mutations at once: enough to check what the engine persists and to rebuild.
#[derive(Clone, Default)]
struct TestStore {
    headers: BTreeMap<(u32, u64), MessageHeader>,
    bodies: HashMap<(u32, u64), Body>,
    queues: BTreeMap<u32, QueueRecord>,
    groups: BTreeMap<(u32, u32), GroupRecord>,
    counters: Option<Counters>,
    backup: crate::BackupState,
    staged: BTreeMap<(u64, u64), crate::ImportItem>,
    tombstones: Vec<crate::Tombstone>,
}

impl Mutations for TestStore {
    fn body(&mut self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        Ok(self.bodies.get(&(q.0, id.0)).cloned())
    }
    fn put_message(&mut self, h: &MessageHeader, b: &Body) {
        self.headers.insert((h.queue.0, h.id.0), h.clone());
        self.bodies.insert((h.queue.0, h.id.0), b.clone());
    }
    fn put_header(&mut self, h: &MessageHeader) {
        self.headers.insert((h.queue.0, h.id.0), h.clone());
    }
    fn delete_message(&mut self, q: QueueId, id: MessageId) {
        self.headers.remove(&(q.0, id.0));
        self.bodies.remove(&(q.0, id.0));
    }
    fn put_queue(&mut self, q: &QueueRecord) {
        self.queues.insert(q.id.0, q.clone());
    }
    fn delete_queue(&mut self, q: QueueId) {
        self.queues.remove(&q.0);
        self.delete_messages(q);
    }
    fn delete_messages(&mut self, q: QueueId) {
        self.headers.retain(|k, _| k.0 != q.0);
        self.bodies.retain(|k, _| k.0 != q.0);
        self.groups.retain(|k, _| k.0 != q.0);
    }
    fn put_group(&mut self, g: &GroupRecord) {
        self.groups.insert((g.queue.0, g.node), g.clone());
    }
    fn delete_group(&mut self, q: QueueId, node: u32) {
        self.groups.remove(&(q.0, node));
    }
    fn put_counters(&mut self, c: &Counters) {
        self.counters = Some(*c);
    }
    fn put_tombstone(&mut self, t: &crate::Tombstone) {
        self.tombstones.push(t.clone());
    }
    fn put_backup_state(&mut self, s: &crate::BackupState) {
        self.backup = s.clone();
    }
    fn put_staged(&mut self, restore: u64, seq: u64, item: &crate::ImportItem) {
        self.staged.insert((restore, seq), item.clone());
    }
    fn staged(
        &mut self,
        restore: u64,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, crate::ImportItem)>> {
        let first = after.map_or(0, |a| a + 1);
        Ok(self
            .staged
            .range((restore, first)..=(restore, u64::MAX))
            .take(limit)
            .map(|((_, seq), item)| (*seq, item.clone()))
            .collect())
    }
    fn drop_staged(&mut self, restore: u64) {
        self.staged.retain(|(r, _), _| *r != restore);
    }
}

impl IndexSource for TestStore {
    fn counters(&self) -> Result<Option<Counters>> {
        Ok(self.counters)
    }
    fn backup_state(&self) -> Result<crate::BackupState> {
        Ok(self.backup.clone())
    }
    fn queues(&self) -> Result<Vec<QueueRecord>> {
        Ok(self.queues.values().cloned().collect())
    }
    fn groups(&self, q: QueueId) -> Result<Vec<GroupRecord>> {
        Ok(self
            .groups
            .values()
            .filter(|g| g.queue == q)
            .cloned()
            .collect())
    }
    fn headers(&self, q: QueueId, visit: &mut dyn FnMut(MessageHeader)) -> Result<()> {
        self.headers
            .values()
            .filter(|h| h.queue == q)
            .cloned()
            .for_each(visit);
        Ok(())
    }
}

/// An engine, its store, a clock and an index counter.
struct Rig {
    engine: Engine,
    store: TestStore,
    now: u64,
    index: u64,
}

const T0: u64 = 1_800_000_000_000;

fn name(s: &str) -> QueueName {
    QueueName::new(s).unwrap()
}

fn settings(strategy: Option<Strategy>, max_unacked: u32) -> QueueSettings {
    QueueSettings {
        strategy,
        max_unacked,
        ack_timeout: 60,
        max_deliveries: 0,
        dead_letter: None,
    }
}

fn msg(group: &str, priority: i64, content: &str) -> NewMessage {
    NewMessage {
        id: None,
        group: Group::new(group),
        priority: Priority(priority),
        body: Body {
            content: content.into(),
            metadata: Metadata::new(),
        },
    }
}

impl Rig {
    fn new() -> Self {
        Self {
            engine: Engine::new(),
            store: TestStore::default(),
            now: T0,
            index: 0,
        }
    }

    fn run(&mut self, command: Command) -> Result<Reply> {
        self.index += 1;
        let e = Stamped {
            now: Timestamp(self.now),
            seed: self.index.wrapping_mul(0x9E37),
            command,
        };
        self.engine.apply(self.index, &e, &mut self.store)
    }

    fn create(&mut self, q: &str, kind: QueueKind, s: QueueSettings) {
        assert_eq!(
            self.run(Command::CreateQueue {
                name: name(q),
                kind,
                settings: s
            }),
            Ok(Reply::QueueCreated)
        );
    }

    fn enqueue(&mut self, q: &str, m: NewMessage) -> MessageId {
        match self.run(Command::Enqueue {
            queue: name(q),
            items: vec![m],
        }) {
            Ok(Reply::Enqueued(v)) => v[0].id,
            other => panic!("enqueue: {other:?}"),
        }
    }

    fn dequeue(&mut self, q: &str, ack: bool) -> Option<Delivery> {
        match self.run(Command::Dequeue {
            queue: name(q),
            ack,
            max: 1,
        }) {
            Ok(Reply::Dequeued(mut v)) => v.pop(),
            Err(Error::QueueEmpty(_)) => None,
            other => panic!("dequeue: {other:?}"),
        }
    }

    fn drain(&mut self, q: &str, ack: bool) -> Vec<MessageId> {
        std::iter::from_fn(|| self.dequeue(q, ack).map(|d| d.id)).collect()
    }

    fn assert_rebuild_agrees(&self) {
        let rebuilt = Engine::rebuild(&self.store).unwrap();
        assert_eq!(
            rebuilt.digest(),
            self.engine.digest(),
            "rebuild must reproduce the live engine"
        );
    }
}
