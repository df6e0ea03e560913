//! Engine tests: DOQ's vectors, lease rules, rebuild equality, and a model-based property test.
use std::collections::{BTreeMap, HashMap};

use proptest::prelude::{
    any, prop, prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig, Strategy as PropStrategy,
};

use super::*;
use crate::queue::Strategy;
use crate::{
    command::{Delivery, NewMessage},
    message::{Body, Group, Metadata},
    receipt::Receipt,
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

#[test]
fn delayed_queue_dequeues_lowest_priority_first_then_fifo() {
    let mut r = Rig::new();
    r.create("login", QueueKind::Delayed, settings(None, 0));
    let prios = [123, 523, 35, 7863, 12, 4, 1, 4555];
    let ids: Vec<MessageId> = prios
        .iter()
        .map(|p| r.enqueue("login", msg("", *p, "x")))
        .collect();
    let want: Vec<MessageId> = [6, 5, 4, 2, 0, 1, 7, 3].iter().map(|i| ids[*i]).collect();
    assert_eq!(r.drain("login", true), want);
    r.assert_rebuild_agrees();
}

#[test]
fn future_priorities_wait_until_due() {
    let mut r = Rig::new();
    r.create("d", QueueKind::Delayed, settings(None, 0));
    let secs = i64::try_from(T0 / 1000).unwrap();
    let late = r.enqueue("d", msg("", secs + 2, "late"));
    let soon = r.enqueue("d", msg("", secs + 1, "soon"));
    let now = r.enqueue("d", msg("", 10, "now"));
    assert_eq!(r.drain("d", true), vec![now]);
    r.now += 1100;
    assert_eq!(r.drain("d", true), vec![soon]);
    r.now += 1100;
    assert_eq!(r.drain("d", true), vec![late]);
}

#[test]
fn next_ready_at_names_the_earliest_lease_deadline_or_due_head() {
    let mut r = Rig::new();
    r.create("d", QueueKind::Delayed, settings(None, 0));
    let at = |r: &Rig| {
        r.engine
            .next_ready_at(&name("d"), Timestamp(r.now))
            .unwrap()
    };
    assert_eq!(at(&r), None, "an empty queue changes only on a write");
    let secs = i64::try_from(T0 / 1000).unwrap();
    r.enqueue("d", msg("", secs + 5, "later"));
    assert_eq!(at(&r), Some(Timestamp(T0 + 5000)), "the head comes due");
    r.enqueue("d", msg("", 1, "now"));
    assert_eq!(at(&r), None, "a due head is deliverable already");
    assert!(r.dequeue("d", false).is_some());
    assert_eq!(
        at(&r),
        Some(Timestamp(T0 + 5000)),
        "the due time beats the lease"
    );
    r.now += 5000;
    assert!(r.dequeue("d", false).is_some());
    assert_eq!(
        at(&r),
        Some(Timestamp(T0 + 60_000)),
        "the first lease lapses"
    );
    assert!(r
        .engine
        .next_ready_at(&name("nope"), Timestamp(r.now))
        .is_err());
}

#[test]
fn stored_group_of_delayed_queue_is_default() {
    let mut r = Rig::new();
    r.create("d", QueueKind::Delayed, settings(None, 0));
    match r.run(Command::Enqueue {
        queue: name("d"),
        items: vec![msg("g1", 1, "a")],
    }) {
        Ok(Reply::Enqueued(v)) => assert_eq!(v[0].group.as_str(), "default"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ack_timeout_redelivers_and_receipts_go_stale() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let id = r.enqueue("q", msg("", 1, "a"));
    let first = r.dequeue("q", false).unwrap();
    assert_eq!(first.deliveries, 1);
    assert!(
        r.dequeue("q", false).is_none(),
        "leased messages are invisible"
    );
    r.now += 60_000;
    let second = r.dequeue("q", false).unwrap();
    assert_eq!((second.id, second.deliveries), (id, 2));
    let stale = r.run(Command::Ack {
        queue: name("q"),
        id,
        receipt: Some(first.receipt),
    });
    assert!(matches!(stale, Err(Error::StaleReceipt { .. })));
    r.assert_rebuild_agrees();
    assert_eq!(
        r.run(Command::Ack {
            queue: name("q"),
            id,
            receipt: Some(second.receipt)
        }),
        Ok(Reply::Acked)
    );
    assert!(matches!(
        r.run(Command::Ack {
            queue: name("q"),
            id,
            receipt: None
        }),
        Err(Error::LeaseNotHeld { .. })
    ));
}

#[test]
fn nack_returns_message_with_new_priority_and_metadata() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let ids: Vec<MessageId> = (0..4).map(|_| r.enqueue("q", msg("", 10, "m"))).collect();
    for id in &ids {
        assert_eq!(r.dequeue("q", false).unwrap().id, *id);
    }
    for (id, p) in ids.iter().zip([30, 20, 30, 40]) {
        let meta = Metadata::from([("retry".to_string(), "1".to_string())]);
        let reply = r.run(Command::Nack {
            queue: name("q"),
            id: *id,
            priority: Priority(p),
            metadata: Some(meta),
            receipt: None,
        });
        assert_eq!(
            reply,
            Ok(Reply::Nacked {
                priority: Priority(p)
            })
        );
    }
    let got = std::iter::from_fn(|| r.dequeue("q", true)).collect::<Vec<_>>();
    assert_eq!(
        got.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![ids[1], ids[0], ids[2], ids[3]]
    );
    assert_eq!(
        got[0].body.metadata.get("retry").map(String::as_str),
        Some("1")
    );
}

#[test]
fn nack_with_zero_priority_keeps_the_old_one() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let id = r.enqueue("q", msg("", 7, "m"));
    r.dequeue("q", false).unwrap();
    let reply = r.run(Command::Nack {
        queue: name("q"),
        id,
        priority: Priority(0),
        metadata: None,
        receipt: None,
    });
    assert_eq!(
        reply,
        Ok(Reply::Nacked {
            priority: Priority(7)
        })
    );
}

#[test]
fn touch_resets_the_deadline() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let id = r.enqueue("q", msg("", 1, "a"));
    r.dequeue("q", false).unwrap();
    r.now += 50_000;
    assert_eq!(
        r.run(Command::Touch {
            queue: name("q"),
            id,
            receipt: None
        }),
        Ok(Reply::Touched)
    );
    r.now += 50_000;
    assert!(
        r.dequeue("q", false).is_none(),
        "touched lease is still live"
    );
    r.now += 10_001;
    assert_eq!(r.dequeue("q", false).map(|d| d.id), Some(id));
}

#[test]
fn update_priority_reorders_ready_messages() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let ids: Vec<MessageId> = [10, 5, 10]
        .iter()
        .map(|p| r.enqueue("q", msg("", *p, "m")))
        .collect();
    for (i, p) in [(0, 20), (2, 2)] {
        let c = Command::UpdatePriority {
            queue: name("q"),
            id: ids[i],
            priority: Priority(p),
        };
        assert_eq!(r.run(c), Ok(Reply::PriorityUpdated));
    }
    assert_eq!(r.drain("q", true), vec![ids[2], ids[1], ids[0]]);
}

#[test]
fn weighted_respects_max_unacked() {
    let mut r = Rig::new();
    r.create("w", QueueKind::Fair, settings(Some(Strategy::Weighted), 8));
    for (g, n) in [("a", 10), ("b", 8), ("c", 3), ("d", 1)] {
        for _ in 0..n {
            r.enqueue("w", msg(g, 10, "m"));
        }
    }
    let got = std::iter::from_fn(|| r.dequeue("w", false)).collect::<Vec<_>>();
    let mut per_group: BTreeMap<String, usize> = BTreeMap::new();
    for d in &got {
        *per_group.entry(d.group.as_str().to_string()).or_default() += 1;
    }
    assert_eq!(
        per_group,
        BTreeMap::from([
            ("a".into(), 8),
            ("b".into(), 8),
            ("c".into(), 3),
            ("d".into(), 1)
        ])
    );
    r.assert_rebuild_agrees();
}

#[test]
fn round_robin_max_unacked_blocks_a_group_until_ack() {
    let mut r = Rig::new();
    r.create(
        "f",
        QueueKind::Fair,
        settings(Some(Strategy::RoundRobin), 1),
    );
    let a1 = r.enqueue("f", msg("a", 1, "m"));
    let a2 = r.enqueue("f", msg("a", 1, "m"));
    let b1 = r.enqueue("f", msg("b", 1, "m"));
    assert_eq!(r.dequeue("f", false).map(|d| d.id), Some(a1));
    assert_eq!(r.dequeue("f", false).map(|d| d.id), Some(b1));
    assert!(r.dequeue("f", false).is_none(), "a is at max_unacked");
    r.assert_rebuild_agrees();
    assert_eq!(
        r.run(Command::Ack {
            queue: name("f"),
            id: a1,
            receipt: None
        }),
        Ok(Reply::Acked)
    );
    assert_eq!(r.dequeue("f", false).map(|d| d.id), Some(a2));
}

#[test]
fn round_robin_rotation_survives_rebuild() {
    let mut r = Rig::new();
    r.create(
        "f",
        QueueKind::Fair,
        settings(Some(Strategy::RoundRobin), 0),
    );
    for g in ["x", "y", "x", "z", "y.k", "y"] {
        r.enqueue("f", msg(g, 1, "m"));
    }
    r.dequeue("f", true).unwrap();
    r.dequeue("f", true).unwrap();
    let mut twin = Rig {
        engine: Engine::rebuild(&r.store).unwrap(),
        store: TestStore::default(),
        now: r.now,
        index: r.index,
    };
    twin.store = std::mem::take(&mut r.store);
    r.store = TestStore::default();
    // Both continue from the same state; `r` keeps its live engine but needs a store for bodies.
    let mut live = Rig {
        engine: r.engine.clone(),
        store: TestStore::default(),
        now: r.now,
        index: r.index,
    };
    live.store.bodies.clone_from(&twin.store.bodies);
    live.store.headers.clone_from(&twin.store.headers);
    assert_eq!(live.drain("f", true), twin.drain("f", true));
}

#[test]
fn deleting_a_queue_deletes_its_messages_and_recreation_starts_empty() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    r.enqueue("q", msg("", 1, "a"));
    r.dequeue("q", false);
    r.enqueue("q", msg("", 1, "b"));
    assert_eq!(
        r.run(Command::DeleteQueue { name: name("q") }),
        Ok(Reply::QueueDeleted)
    );
    assert!(r.store.headers.is_empty() && r.store.bodies.is_empty());
    r.create("q", QueueKind::Delayed, settings(None, 0));
    assert!(r.dequeue("q", true).is_none());
    assert!(
        r.engine.next_deadline().is_none(),
        "leases of the deleted queue are gone"
    );
    r.assert_rebuild_agrees();
}

#[test]
fn invalid_settings_are_conflicts_and_change_nothing() {
    let mut r = Rig::new();
    let before = r.engine.digest();
    for (kind, s) in [
        (QueueKind::Fair, settings(None, 0)),
        (QueueKind::Delayed, settings(Some(Strategy::RoundRobin), 0)),
        (QueueKind::Delayed, settings(None, 3)),
    ] {
        let got = r.run(Command::CreateQueue {
            name: name("q"),
            kind,
            settings: s,
        });
        assert!(matches!(got, Err(Error::InvalidSettings { .. })), "{got:?}");
    }
    assert_eq!(r.engine.digest(), before);
    assert!(r.store.queues.is_empty());
}

#[test]
fn reenqueue_of_an_existing_id_is_last_write_wins() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let mut m = msg("", 50, "old");
    m.id = Some(MessageId(77));
    r.enqueue("q", m.clone());
    let other = r.enqueue("q", msg("", 20, "other"));
    m.priority = Priority(10);
    m.body.content = "new".into();
    r.enqueue("q", m);
    let first = r.dequeue("q", true).unwrap();
    assert_eq!(
        (first.id, first.body.content.as_str()),
        (MessageId(77), "new")
    );
    assert_eq!(r.drain("q", true), vec![other]);
}

#[test]
fn ids_are_snowflakes_and_increase() {
    let mut r = Rig::new();
    let Ok(Reply::Ids(ids)) = r.run(Command::ReserveIds { count: 3 }) else {
        panic!()
    };
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert!(ids[0].0 >= (T0 - SNOWFLAKE_EPOCH_MS) << 22);
    r.create("q", QueueKind::Delayed, settings(None, 0));
    assert!(r.enqueue("q", msg("", 1, "a")) > ids[2]);
}

#[test]
fn time_never_runs_backwards() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    r.enqueue("q", msg("", 1, "a"));
    r.dequeue("q", false).unwrap();
    r.now += 61_000;
    r.run(Command::ReserveIds { count: 1 }).unwrap();
    r.now = T0; // a new leader with a slow clock
    assert!(
        r.dequeue("q", false).is_some(),
        "the lease lapsed at the later time already seen"
    );
}

#[test]
fn exhausted_messages_move_to_the_dead_letter_queue() {
    let mut r = Rig::new();
    r.create("dlq", QueueKind::Delayed, settings(None, 0));
    let mut s = settings(None, 0);
    s.max_deliveries = 2;
    s.dead_letter = Some(name("dlq"));
    r.create("src", QueueKind::Delayed, s);
    let id = r.enqueue("src", msg("", 5, "payload"));
    for _ in 0..2 {
        assert_eq!(r.dequeue("src", false).map(|d| d.id), Some(id));
        r.now += 60_000;
    }
    assert!(
        r.dequeue("src", false).is_none(),
        "the third delivery moves it instead"
    );
    let moved = r.dequeue("dlq", true).unwrap();
    assert_eq!(
        (moved.id, moved.body.content.as_str(), moved.deliveries),
        (id, "payload", 1)
    );
    let meta = &moved.body.metadata;
    assert_eq!(
        meta.get("x-doq-original-queue").map(String::as_str),
        Some("src")
    );
    assert_eq!(
        meta.get("x-doq-delivery-count").map(String::as_str),
        Some("2")
    );
    assert_eq!(
        r.engine
            .stats(&name("src"), Timestamp(r.now), 10)
            .unwrap()
            .dead_lettered,
        1
    );
    r.assert_rebuild_agrees();
    assert!(matches!(
        r.run(Command::DeleteQueue { name: name("dlq") }),
        Err(Error::QueueInUse(_))
    ));
}

// ---- model-based property test -------------------------------------------------------------

/// The obviously-right model of one delayed queue: a Vec scanned linearly.
#[derive(Default)]
struct Model {
    msgs: Vec<ModelMsg>,
    last_id: u64,
}

struct ModelMsg {
    id: u64,
    priority: i64,
    content: String,
    lease: Option<u64>,
    deliveries: u32,
}

#[derive(Clone, Debug)]
enum Op {
    Enqueue(i64),
    Dequeue(bool),
    Ack(usize),
    Nack(usize, i64),
    Touch(usize),
    UpdatePriority(usize, i64),
    Delete(usize),
    Advance(u64),
    Restart,
}

fn op() -> impl PropStrategy<Value = Op> {
    let now_secs = i64::try_from(T0 / 1000).unwrap();
    prop_oneof![
        4 => prop_oneof![0..20i64, now_secs..now_secs + 5].prop_map(Op::Enqueue),
        4 => any::<bool>().prop_map(Op::Dequeue),
        2 => (0..8usize).prop_map(Op::Ack),
        1 => (0..8usize, 0..20i64).prop_map(|(i, p)| Op::Nack(i, p)),
        1 => (0..8usize).prop_map(Op::Touch),
        1 => (0..8usize, 0..20i64).prop_map(|(i, p)| Op::UpdatePriority(i, p)),
        1 => (0..8usize).prop_map(Op::Delete),
        2 => (0..40_000u64).prop_map(Op::Advance),
        1 => Just(Op::Restart),
    ]
}

/// What both sides answer, reduced to comparable values.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Enqueued(u64),
    Got(u64, String, u32),
    Empty,
    Ok,
    Priority(i64),
    NoLease,
    NotFound,
}

impl Model {
    fn live(&self, i: usize, now: u64) -> bool {
        self.msgs
            .get(i)
            .and_then(|m| m.lease)
            .is_some_and(|d| d > now)
    }

    fn apply(&mut self, op: &Op, now: u64, ids: &[u64]) -> Option<Answer> {
        let pos = |i: &usize| {
            ids.get(*i)
                .and_then(|id| self.msgs.iter().position(|m| m.id == *id))
        };
        Some(match op {
            Op::Enqueue(p) => {
                let id = (self.last_id + 1).max((now - SNOWFLAKE_EPOCH_MS) << 22);
                self.last_id = id;
                self.msgs.push(ModelMsg {
                    id,
                    priority: *p,
                    content: format!("m{id}"),
                    lease: None,
                    deliveries: 0,
                });
                Answer::Enqueued(id)
            }
            Op::Dequeue(ack) => {
                let best = (0..self.msgs.len())
                    .filter(|i| !self.live(*i, now))
                    .min_by_key(|i| (self.msgs[*i].priority, self.msgs[*i].id));
                match best {
                    Some(i) if i128::from(self.msgs[i].priority) <= i128::from(now / 1000) => {
                        self.msgs[i].deliveries += 1;
                        let m = &self.msgs[i];
                        let a = Answer::Got(m.id, m.content.clone(), m.deliveries);
                        if *ack {
                            self.msgs.remove(i);
                        } else {
                            self.msgs[i].lease = Some(now + 60_000);
                        }
                        a
                    }
                    _ => Answer::Empty,
                }
            }
            Op::Ack(i) => match pos(i).filter(|p| self.live(*p, now)) {
                Some(p) => {
                    self.msgs.remove(p);
                    Answer::Ok
                }
                None => Answer::NoLease,
            },
            Op::Nack(i, prio) => match pos(i).filter(|p| self.live(*p, now)) {
                Some(p) => {
                    if *prio != 0 {
                        self.msgs[p].priority = *prio;
                    }
                    self.msgs[p].lease = None;
                    Answer::Priority(self.msgs[p].priority)
                }
                None => Answer::NoLease,
            },
            Op::Touch(i) => match pos(i).filter(|p| self.live(*p, now)) {
                Some(p) => {
                    self.msgs[p].lease = Some(now + 60_000);
                    Answer::Ok
                }
                None => Answer::NoLease,
            },
            Op::UpdatePriority(i, prio) => match pos(i) {
                Some(p) => {
                    self.msgs[p].priority = *prio;
                    Answer::Ok
                }
                None => Answer::NotFound,
            },
            Op::Delete(i) => match pos(i) {
                Some(p) => {
                    self.msgs.remove(p);
                    Answer::Ok
                }
                None => Answer::NotFound,
            },
            Op::Advance(_) | Op::Restart => return None,
        })
    }
}

fn engine_answer(r: &mut Rig, op: &Op, ids: &[u64]) -> Option<Answer> {
    let q = name("p");
    let id = |i: &usize| MessageId(ids.get(*i).copied().unwrap_or(1));
    let reply = match op {
        Op::Enqueue(p) => {
            let m = NewMessage {
                body: Body {
                    content: String::new(),
                    metadata: Metadata::new(),
                },
                ..msg("", *p, "")
            };
            match r.run(Command::Enqueue {
                queue: q,
                items: vec![m.clone()],
            }) {
                Ok(Reply::Enqueued(v)) => {
                    // Store the same content the model derives from the id.
                    let id = v[0].id;
                    let body = Body {
                        content: format!("m{}", id.0),
                        metadata: Metadata::new(),
                    };
                    let h = r.store.headers.get(&(1, id.0)).cloned().unwrap();
                    r.store.put_message(&h, &body);
                    return Some(Answer::Enqueued(id.0));
                }
                other => other,
            }
        }
        Op::Dequeue(ack) => r.run(Command::Dequeue {
            queue: q,
            ack: *ack,
            max: 1,
        }),
        Op::Ack(i) => r.run(Command::Ack {
            queue: q,
            id: id(i),
            receipt: None,
        }),
        Op::Nack(i, p) => r.run(Command::Nack {
            queue: q,
            id: id(i),
            priority: Priority(*p),
            metadata: None,
            receipt: None,
        }),
        Op::Touch(i) => r.run(Command::Touch {
            queue: q,
            id: id(i),
            receipt: None,
        }),
        Op::UpdatePriority(i, p) => r.run(Command::UpdatePriority {
            queue: q,
            id: id(i),
            priority: Priority(*p),
        }),
        Op::Delete(i) => r.run(Command::Delete {
            queue: q,
            id: id(i),
        }),
        Op::Advance(ms) => {
            r.now += ms;
            return None;
        }
        Op::Restart => {
            let rebuilt = Engine::rebuild(&r.store).unwrap();
            assert_eq!(rebuilt.digest(), r.engine.digest());
            r.engine = rebuilt;
            return None;
        }
    };
    Some(match reply {
        Ok(Reply::Dequeued(mut v)) => {
            let d = v.pop().unwrap();
            Answer::Got(d.id.0, d.body.content, d.deliveries)
        }
        Ok(Reply::Nacked { priority }) => Answer::Priority(priority.0),
        Ok(_) => Answer::Ok,
        Err(Error::QueueEmpty(_)) => Answer::Empty,
        Err(Error::LeaseNotHeld { .. }) => Answer::NoLease,
        Err(Error::MessageNotFound { .. }) => Answer::NotFound,
        Err(e) => panic!("unexpected error {e:?}"),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn engine_agrees_with_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut r = Rig::new();
        r.create("p", QueueKind::Delayed, settings(None, 0));
        let mut model = Model::default();
        let mut ids: Vec<u64> = Vec::new();
        for op in &ops {
            let now = r.now.max(r.engine.last_now().0);
            let expected = model.apply(op, now, &ids);
            let got = engine_answer(&mut r, op, &ids);
            prop_assert_eq!(&got, &expected, "op {:?}", op);
            if let Some(Answer::Enqueued(id)) = got {
                ids.push(id);
            }
        }
        let rebuilt = Engine::rebuild(&r.store).unwrap();
        prop_assert_eq!(rebuilt.digest(), r.engine.digest());
    }
}

#[test]
fn an_entry_stays_small() {
    // A million queued messages live in memory: every byte here is a megabyte there.
    assert!(std::mem::size_of::<Entry>() <= 48);
}

#[test]
fn rebuild_in_chunks_agrees_with_the_live_engine() {
    // More messages than one bulk chunk of `Rebuilt`, with leases, acks and not-yet-due priorities
    // spread over them, so chunk boundaries fall between every kind of entry.
    let mut r = Rig::new();
    r.create("big", QueueKind::Delayed, settings(None, 0));
    let due_later = i64::try_from(T0 / 1000).unwrap() + 3600;
    for batch in 0..70 {
        let items = (0..1000)
            .map(|i| {
                msg(
                    "",
                    if (batch + i) % 7 == 0 {
                        due_later
                    } else {
                        i % 5
                    },
                    "x",
                )
            })
            .collect();
        assert!(matches!(
            r.run(Command::Enqueue {
                queue: name("big"),
                items
            }),
            Ok(Reply::Enqueued(_))
        ));
    }
    for n in 0..300 {
        let d = r.dequeue("big", false).expect("due messages");
        if n % 2 == 0 {
            assert_eq!(
                r.run(Command::Ack {
                    queue: name("big"),
                    id: d.id,
                    receipt: Some(d.receipt),
                }),
                Ok(Reply::Acked)
            );
        }
    }
    let mut rebuilt = Engine::rebuild(&r.store).unwrap();
    assert_eq!(rebuilt.digest(), r.engine.digest());
    let page = |e: &Engine, after| {
        e.peek(&name("big"), after, 50, PeekFilter::All, Timestamp(r.now))
            .unwrap()
    };
    let first = page(&r.engine, None);
    assert_eq!(page(&rebuilt, None), first);
    let after = first.messages.last().map(|v| v.header.id);
    assert_eq!(page(&rebuilt, after), page(&r.engine, after));
    // The ready index came back in bulk: both engines deliver the same messages in the same order.
    let mut twin = r.store.clone();
    for _ in 0..200 {
        r.index += 1;
        let e = Stamped {
            now: Timestamp(r.now),
            seed: r.index,
            command: Command::Dequeue {
                queue: name("big"),
                ack: true,
                max: 10,
            },
        };
        assert_eq!(
            rebuilt.apply(r.index, &e, &mut twin),
            r.engine.apply(r.index, &e, &mut r.store)
        );
    }
}

#[test]
fn ack_batch_judges_each_item_in_one_command_and_totals_count_it() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let a = r.enqueue("q", msg("", 1, "a"));
    let b = r.enqueue("q", msg("", 2, "b"));
    let c = r.enqueue("q", msg("", 3, "c"));
    let da = r.dequeue("q", false).unwrap();
    let db = r.dequeue("q", false).unwrap();
    assert_eq!((da.id, db.id), (a, b));
    let stale = Receipt { id: b, lease: 1 };
    let reply = r.run(Command::AckBatch {
        queue: name("q"),
        items: vec![
            (a, Some(da.receipt)),
            (b, Some(stale)),
            (c, None),
            (b, None),
        ],
    });
    let lease_not_held = Error::LeaseNotHeld { queue: "q".into() };
    assert_eq!(
        reply,
        Ok(Reply::AckedEach(vec![
            (a, Ok(())),
            (b, Err(Error::StaleReceipt { queue: "q".into() })),
            (c, Err(lease_not_held)),
            (b, Ok(())),
        ]))
    );
    let stats = r.engine.stats(&name("q"), Timestamp(r.now), 10).unwrap();
    assert_eq!(stats.total, 1, "only c is left");
    assert_eq!(stats.totals.enqueued, 3);
    assert_eq!(stats.totals.dequeued, 2);
    assert_eq!(stats.totals.acked, 2, "failed items are not counted");
    r.assert_rebuild_agrees();
    assert_eq!(
        r.run(Command::AckBatch {
            queue: name("nope"),
            items: vec![(a, None)],
        }),
        Err(Error::QueueNotFound("nope".into())),
        "an unknown queue fails the whole command"
    );
}

#[test]
fn redeliveries_are_counted_per_queue() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let id = r.enqueue("q", msg("", 1, "a"));
    let first = r.dequeue("q", false).unwrap();
    assert_eq!(first.id, id);
    // The lease lapses: the next dequeue delivers it again.
    r.now += 61_000;
    let again = r.dequeue("q", false).unwrap();
    assert_eq!((again.id, again.deliveries), (id, 2));
    let stats = r.engine.stats(&name("q"), Timestamp(r.now), 10).unwrap();
    assert_eq!(stats.totals.redelivered, 1);
    assert_eq!(stats.totals.dequeued, 2);
    assert_eq!(stats.totals.dead_letter_failures, 0);
}
