//! The engine's model test on a real backend: random commands on a round-robin queue and a weighted queue
//! (both with `max_unacked`), and a delayed queue that dead-letters after `max_deliveries`, with acks by id
//! and by receipt (current and stale), nacks, lease expiry and restarts. The same steps run on the engine over
//! the backend under test and over `MemoryStore` (the reference): replies and digests must agree after every
//! step. A restart closes and reopens the backend's files and rebuilds the engine from them, and the rebuilt
//! engine must have the live one's digest. Every delivery is also checked against a model of what may be
//! delivered: a message that is stored, not leased, within its group's `max_unacked`, and under
//! `max_deliveries`, and a dead letter only after its source's last delivery.
use std::collections::{BTreeMap, BTreeSet};

use doq_api::{
    Body, Command, Delivery, Engine, Error, Group, MessageId, Metadata, NewMessage, Priority,
    QueueKind, QueueName, QueueSettings, Receipt, Reply, Stamped, Strategy as Pick, Timestamp,
};
use proptest::{prelude::*, test_runner::TestCaseError};
use tempfile::TempDir;

use super::{opts, Backend};
use crate::{open_stores, Applied, Source, Staged, Stores, WriteBatch};

/// Round-robin, `max_unacked` 1 per group.
const RR: usize = 0;
/// Weighted, `max_unacked` 2 per group.
const WEIGHTED: usize = 1;
/// Delayed; a message delivered `MAX_DELIVERIES` times moves to `DLQ` when next selected.
const SRC: usize = 2;
/// Delayed, the dead-letter queue of `SRC`.
const DLQ: usize = 3;
const NAMES: [&str; 4] = ["rr", "weighted", "src", "dlq"];
const MAX_DELIVERIES: u32 = 2;
/// Seconds.
const ACK_TIMEOUT: u32 = 30;
/// A realistic Unix time in ms, so delayed priorities (Unix seconds) of 0..3 are long due.
const START: u64 = 1_800_000_000_000;

/// How an ack names its delivery.
#[derive(Clone, Copy, Debug)]
pub(super) enum ReceiptKind {
    /// By id only.
    None,
    /// With the receipt of the current lease.
    Current,
    /// With the receipt of an earlier delivery.
    Stale,
}

#[derive(Clone, Debug)]
pub(super) enum Step {
    Enqueue {
        queue: usize,
        group: u8,
        priority: i64,
    },
    Dequeue {
        queue: usize,
        ack: bool,
    },
    /// Acks the `pick`th leased (or, with none leased, stored) message.
    Ack {
        pick: usize,
        receipt: ReceiptKind,
    },
    /// Nacks the `pick`th leased message.
    Nack {
        pick: usize,
    },
    /// Moves the clock; past `ACK_TIMEOUT`, leases lapse.
    Advance {
        secs: u64,
    },
    Restart,
}

pub(super) fn step() -> impl Strategy<Value = Step> {
    let receipt = prop_oneof![
        Just(ReceiptKind::None),
        Just(ReceiptKind::Current),
        Just(ReceiptKind::Stale)
    ];
    prop_oneof![
        6 => (0..3usize, 0..3u8, 0..3i64)
            .prop_map(|(queue, group, priority)| Step::Enqueue { queue, group, priority }),
        6 => (0..4usize, any::<bool>()).prop_map(|(queue, ack)| Step::Dequeue { queue, ack }),
        3 => (0..8usize, receipt).prop_map(|(pick, receipt)| Step::Ack { pick, receipt }),
        2 => (0..8usize).prop_map(|pick| Step::Nack { pick }),
        2 => prop_oneof![1..5u64, Just(u64::from(ACK_TIMEOUT))].prop_map(|secs| Step::Advance { secs }),
        1 => Just(Step::Restart),
    ]
}

/// Fewer cases than the store-level model test: each step applies a command twice and commits it twice.
pub(super) fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if std::env::var_os("DOQ_SLOW_TESTS").is_some() {
            512
        } else {
            32
        },
        ..ProptestConfig::default()
    }
}

fn name(q: usize) -> QueueName {
    QueueName::new(NAMES[q]).expect("a valid queue name")
}

fn settings(q: usize) -> (QueueKind, QueueSettings) {
    let mut s = QueueSettings {
        strategy: None,
        max_unacked: 0,
        ack_timeout: ACK_TIMEOUT,
        max_deliveries: 0,
        dead_letter: None,
    };
    let kind = match q {
        RR => {
            s.strategy = Some(Pick::RoundRobin);
            s.max_unacked = 1;
            QueueKind::Fair
        }
        WEIGHTED => {
            s.strategy = Some(Pick::Weighted);
            s.max_unacked = 2;
            QueueKind::Fair
        }
        SRC => {
            s.max_deliveries = MAX_DELIVERIES;
            s.dead_letter = Some(name(DLQ));
            QueueKind::Delayed
        }
        _ => QueueKind::Delayed,
    };
    (kind, s)
}

fn max_unacked(q: usize) -> u32 {
    settings(q).1.max_unacked
}

/// One engine over one backend's stores, applying each command in its own batch with the applied marker
/// (as `doq restore` does), so a reopen finds exactly what was applied.
struct Node {
    backend: Backend,
    dir: TempDir,
    /// `None` only while reopening.
    stores: Option<Stores>,
    engine: Engine,
    index: u64,
}

impl Node {
    fn open(backend: Backend) -> Self {
        let dir = TempDir::new().expect("a temporary data dir");
        let stores = open_stores(backend.name, dir.path(), &opts(false)).expect("open the store");
        Self {
            backend,
            dir,
            stores: Some(stores),
            engine: Engine::new(),
            index: 0,
        }
    }

    fn stores(&self) -> &Stores {
        self.stores.as_ref().expect("the node holds open stores")
    }

    fn run(&mut self, now: u64, seed: u64, command: Command) -> Result<Reply, Error> {
        self.index += 1;
        let stamped = Stamped {
            now: Timestamp(now),
            seed,
            command,
        };
        let store = self.stores().queues.clone();
        let mut batch = WriteBatch::new();
        let reply = self
            .engine
            .apply(self.index, &stamped, &mut Staged::new(&mut batch, &*store));
        batch.set_applied(Applied {
            index: self.index,
            data: Vec::new(),
        });
        store.commit(batch).expect("commit the command's batch");
        reply
    }

    /// Closes and reopens the store (a durable backend) and rebuilds the engine from it.
    fn restart(&mut self) -> Result<(), TestCaseError> {
        if self.backend.durable {
            self.stores = None;
            let stores = open_stores(self.backend.name, self.dir.path(), &opts(false))
                .expect("reopen the store");
            self.stores = Some(stores);
        }
        let store = self.stores().queues.clone();
        let rebuilt = Engine::rebuild(&Source(&*store)).expect("rebuild the engine");
        prop_assert_eq!(
            rebuilt.digest(),
            self.engine.digest(),
            "rebuild after restart"
        );
        self.engine = rebuilt;
        self.index = store
            .applied()
            .expect("read applied")
            .map_or(0, |a| a.index);
        Ok(())
    }
}

/// A live or lapsed lease the model knows of.
#[derive(Clone, Debug)]
struct Lease {
    queue: usize,
    group: Group,
    deadline: u64,
    receipt: Receipt,
}

/// What may be delivered: stored ids per queue, leases, and deliveries from `SRC`.
#[derive(Debug, Default)]
struct Model {
    stored: [BTreeSet<u64>; 4],
    leases: BTreeMap<u64, Lease>,
    src_deliveries: BTreeMap<u64, u32>,
}

impl Model {
    fn leased(&self, id: u64, now: u64) -> Option<&Lease> {
        self.leases.get(&id).filter(|l| l.deadline > now)
    }

    fn live_in_group(&self, queue: usize, group: &Group, now: u64) -> u32 {
        let n = self
            .leases
            .values()
            .filter(|l| l.queue == queue && l.group == *group && l.deadline > now)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Checks one delivery from `queue` at `now`, then records it.
    fn delivered(
        &mut self,
        queue: usize,
        d: &Delivery,
        ack: bool,
        now: u64,
    ) -> Result<(), TestCaseError> {
        let id = d.id.0;
        if queue == DLQ && !self.stored[DLQ].contains(&id) {
            // A dead letter moves when `SRC` next selects it, which the model cannot see: it must have had
            // its last delivery there.
            prop_assert_eq!(
                self.src_deliveries.get(&id).copied(),
                Some(MAX_DELIVERIES),
                "dead letter {}",
                id
            );
            prop_assert!(
                self.stored[SRC].remove(&id),
                "dead letter {} not stored in src",
                id
            );
            self.stored[DLQ].insert(id);
        }
        prop_assert!(
            self.stored[queue].contains(&id),
            "{} delivered {} it does not hold",
            NAMES[queue],
            id
        );
        prop_assert!(
            self.leased(id, now).is_none(),
            "{} delivered while leased",
            id
        );
        let limit = max_unacked(queue);
        if limit > 0 {
            prop_assert!(
                self.live_in_group(queue, &d.group, now) < limit,
                "{} delivered {} beyond max_unacked of group {:?}",
                NAMES[queue],
                id,
                d.group
            );
        }
        if queue == SRC {
            let n = self.src_deliveries.entry(id).or_default();
            *n += 1;
            prop_assert!(*n <= MAX_DELIVERIES, "{} delivered {} times", id, n);
        }
        if ack {
            self.stored[queue].remove(&id);
            self.leases.remove(&id);
        } else {
            self.leases.insert(
                id,
                Lease {
                    queue,
                    group: d.group.clone(),
                    deadline: now + u64::from(ACK_TIMEOUT) * 1000,
                    receipt: d.receipt,
                },
            );
        }
        Ok(())
    }

    /// The queue that holds `id`.
    fn queue_of(&self, id: u64) -> Option<usize> {
        (0..4).find(|q| self.stored[*q].contains(&id))
    }
}

/// The engine over `backend` and over memory, with the model, through `steps`.
pub(super) fn run(backend: Backend, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut node = Node::open(backend);
    let mut reference = Node::open(Backend {
        name: "memory",
        durable: false,
    });
    let mut model = Model::default();
    let mut now = START;
    let mut seed = 0u64;
    let mut both = |node: &mut Node, reference: &mut Node, now: u64, cmd: Command| {
        seed += 1;
        let want = reference.run(now, seed, cmd.clone());
        let got = node.run(now, seed, cmd);
        (got, want)
    };
    for q in [DLQ, SRC, RR, WEIGHTED] {
        let (kind, settings) = settings(q);
        let cmd = Command::CreateQueue {
            name: name(q),
            kind,
            settings,
        };
        let (got, want) = both(&mut node, &mut reference, now, cmd);
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(got, Ok(Reply::QueueCreated));
    }
    for step in steps {
        let leased: Vec<u64> = model
            .leases
            .iter()
            .filter(|(_, l)| l.deadline > now)
            .map(|(id, _)| *id)
            .collect();
        let cmd = match step {
            Step::Enqueue {
                queue,
                group,
                priority,
            } => Command::Enqueue {
                queue: name(*queue),
                items: vec![NewMessage {
                    id: None,
                    group: Group::new(["a", "b", "c.d"][usize::from(*group) % 3]),
                    priority: Priority(*priority),
                    body: Body {
                        content: "m".into(),
                        metadata: Metadata::new(),
                    },
                }],
            },
            Step::Dequeue { queue, ack } => Command::Dequeue {
                queue: name(*queue),
                ack: *ack,
                max: 1,
            },
            Step::Ack { pick, receipt } => {
                let stored: Vec<u64> = model.stored.iter().flatten().copied().collect();
                let pool = if leased.is_empty() { &stored } else { &leased };
                let Some(&id) = pool.get(pick % pool.len().max(1)) else {
                    continue;
                };
                let Some(queue) = model.queue_of(id) else {
                    continue;
                };
                let current = model.leases.get(&id).map(|l| l.receipt);
                let receipt = match (receipt, current) {
                    (ReceiptKind::None, _) | (_, None) => None,
                    (ReceiptKind::Current, Some(r)) => Some(r),
                    (ReceiptKind::Stale, Some(r)) => Some(Receipt {
                        id: r.id,
                        lease: r.lease.saturating_sub(1),
                    }),
                };
                Command::Ack {
                    queue: name(queue),
                    id: MessageId(id),
                    receipt,
                }
            }
            Step::Nack { pick } => {
                let Some(&id) = leased.get(pick % leased.len().max(1)) else {
                    continue;
                };
                let Some(queue) = model.queue_of(id) else {
                    continue;
                };
                Command::Nack {
                    queue: name(queue),
                    id: MessageId(id),
                    priority: Priority(0),
                    metadata: None,
                    receipt: None,
                }
            }
            Step::Advance { secs } => {
                now += secs * 1000;
                continue;
            }
            Step::Restart => {
                node.restart()?;
                reference.restart()?;
                continue;
            }
        };
        let (got, want) = both(&mut node, &mut reference, now, cmd.clone());
        prop_assert_eq!(&got, &want, "{:?}", step);
        prop_assert_eq!(
            node.engine.digest(),
            reference.engine.digest(),
            "{:?}",
            step
        );
        match (step, &cmd, want) {
            (Step::Enqueue { queue, .. }, _, Ok(Reply::Enqueued(v))) => {
                for e in v {
                    model.stored[*queue].insert(e.id.0);
                }
            }
            (Step::Dequeue { queue, ack }, _, Ok(Reply::Dequeued(v))) => {
                for d in &v {
                    model.delivered(*queue, d, *ack, now)?;
                }
            }
            (Step::Dequeue { .. }, _, Err(Error::QueueEmpty(_))) => {}
            (Step::Ack { receipt, .. }, Command::Ack { id, .. }, got) => {
                let held = model.leased(id.0, now).is_some();
                let stale = matches!(receipt, ReceiptKind::Stale) && held;
                prop_assert_eq!(got.is_ok(), held && !stale, "ack {:?}: {:?}", id, got);
                if got.is_ok() {
                    model.leases.remove(&id.0);
                    for q in &mut model.stored {
                        q.remove(&id.0);
                    }
                }
            }
            (Step::Nack { .. }, Command::Nack { id, .. }, got) => {
                prop_assert!(got.is_ok(), "nack of a held lease: {:?}", got);
                model.leases.remove(&id.0);
            }
            (step, _, got) => prop_assert!(false, "{:?} got {:?}", step, got),
        }
    }
    node.restart()?;
    prop_assert_eq!(node.engine.digest(), reference.engine.digest());
    Ok(())
}
