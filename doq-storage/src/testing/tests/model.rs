//! The model test: random op sequences, committed in random batches, and random log writes, applied to a
//! backend and to `MemoryStore` (the model: ordered maps), must leave both with the same contents after
//! every step and every reopen.
use doq_api::{
    Body, Counters, Group, GroupRecord, Lease, MessageHeader, MessageId, Priority, QueueId,
    QueueRecord, Timestamp,
};
use proptest::{collection::vec, prelude::*, test_runner::TestCaseError};

use super::{Backend, Harness};
use crate::{testing, Applied, LogMeta, LogStore, MemoryStore, Op, QueueStore, WriteBatch};

const QS: [QueueId; 3] = [QueueId(0), QueueId(1), QueueId(2)];
const IDS: [MessageId; 5] = [
    MessageId(0),
    MessageId(1),
    MessageId(2),
    MessageId(3),
    MessageId(u64::MAX),
];

#[derive(Clone, Debug)]
pub(super) enum Step {
    Commit(Vec<Op>),
    Log(LogOp),
    Reopen,
}

#[derive(Clone, Debug)]
pub(super) enum LogOp {
    Append(Vec<(u64, Vec<u8>)>),
    Truncate(u64),
    Purge(u64),
    Save(LogMeta, Vec<u8>),
}

impl LogOp {
    fn apply(&self, log: &dyn LogStore) -> crate::Result<()> {
        match self {
            Self::Append(entries) => log.append(entries),
            Self::Truncate(from) => log.truncate(*from),
            Self::Purge(upto) => log.purge(*upto),
            Self::Save(key, value) => log.save(*key, value),
        }
    }
}

fn qid() -> impl Strategy<Value = u32> {
    0..3u32
}

fn mid() -> impl Strategy<Value = u64> {
    prop_oneof![0..4u64, Just(u64::MAX)]
}

fn header() -> impl Strategy<Value = MessageHeader> {
    (
        qid(),
        mid(),
        "[ab.]{0,3}",
        any::<i64>(),
        0..3u32,
        proptest::option::of((any::<u64>(), any::<u64>())),
        any::<u64>(),
    )
        .prop_map(
            |(q, id, group, priority, deliveries, lease, version)| MessageHeader {
                queue: QueueId(q),
                id: MessageId(id),
                group: Group::new(&group),
                priority: Priority(priority),
                deliveries,
                lease: lease.map(|(d, v)| Lease {
                    deadline: Timestamp(d),
                    version: v,
                }),
                version,
            },
        )
}

fn body() -> impl Strategy<Value = Body> {
    (
        "\\PC{0,8}",
        proptest::collection::btree_map("[a-c]", "\\PC{0,3}", 0..3),
    )
        .prop_map(|(content, metadata)| Body { content, metadata })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (header(), body()).prop_map(|(header, body)| Op::PutMessage { header, body }),
        2 => header().prop_map(Op::PutHeader),
        2 => (qid(), mid()).prop_map(|(q, id)| Op::DeleteMessage { queue: QueueId(q), id: MessageId(id) }),
        1 => (qid(), "[a-z]{1,4}", any::<u64>()).prop_map(|(q, name, version)| {
            Op::PutQueue(QueueRecord { version, ..testing::queue(q, &name) })
        }),
        1 => qid().prop_map(|q| Op::DeleteQueue(QueueId(q))),
        1 => qid().prop_map(|q| Op::DeleteMessages(QueueId(q))),
        2 => (qid(), 0..3u32, any::<u32>()).prop_map(|(q, node, cursor)| {
            Op::PutGroup(GroupRecord { cursor, ..testing::group(q, node) })
        }),
        1 => (qid(), 0..3u32).prop_map(|(q, node)| Op::DeleteGroup { queue: QueueId(q), node }),
        1 => (any::<u64>(), any::<u64>(), any::<u32>()).prop_map(|(now, last_id, next_queue)| {
            Op::PutCounters(Counters { last_now: Timestamp(now), last_id, next_queue })
        }),
        1 => (any::<u64>(), vec(any::<u8>(), 0..8)).prop_map(|(index, data)| Op::SetApplied(Applied { index, data })),
    ]
}

/// Log indexes: a small range, so appends, truncates and purges overlap; and the extremes.
fn index() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 0..12u64, 1 => Just(u64::MAX)]
}

fn log_op() -> impl Strategy<Value = LogOp> {
    prop_oneof![
        4 => vec((index(), vec(any::<u8>(), 0..6)), 0..5).prop_map(LogOp::Append),
        3 => (0..12u64, 1..5u64).prop_map(|(first, n)| {
            LogOp::Append((first..first + n).map(|i| (i, i.to_be_bytes().to_vec())).collect())
        }),
        2 => index().prop_map(LogOp::Truncate),
        2 => index().prop_map(LogOp::Purge),
        2 => (prop::sample::select(LogMeta::ALL.to_vec()), vec(any::<u8>(), 0..6))
            .prop_map(|(key, value)| LogOp::Save(key, value)),
    ]
}

pub(super) fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => vec(op(), 0..12).prop_map(Step::Commit),
        4 => log_op().prop_map(Step::Log),
        1 => Just(Step::Reopen),
    ]
}

fn cases(fast: u32) -> u32 {
    if std::env::var_os("DOQ_SLOW_TESTS").is_some() {
        fast * 16
    } else {
        fast
    }
}

pub(super) fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(48),
        ..ProptestConfig::default()
    }
}

/// Compares everything `h` holds with the model.
fn compare(h: &Harness, model: &MemoryStore) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        testing::snapshot(h.queues(), &QS, &IDS).unwrap(),
        testing::snapshot(model, &QS, &IDS).unwrap()
    );
    let mut got = testing::log_snapshot(h.log()).unwrap();
    let mut want = testing::log_snapshot(model).unwrap();
    // `log_snapshot` reads below `u64::MAX`; add the entry at it, if any.
    got.entries
        .extend(h.log().read(u64::MAX - 1..u64::MAX).unwrap());
    want.entries
        .extend(model.read(u64::MAX - 1..u64::MAX).unwrap());
    prop_assert_eq!(got, want);
    Ok(())
}

/// Runs `steps` on `backend` and on the model, comparing after each step and after a final reopen.
pub(super) fn run(backend: Backend, steps: &[Step], sync: bool) -> Result<(), TestCaseError> {
    let mut h = Harness::new(backend, sync);
    let model = MemoryStore::new();
    for step in steps {
        match step {
            Step::Commit(ops) => {
                let batch: WriteBatch = ops.iter().cloned().collect();
                // The staged view of a body must be what the commit leaves.
                let keys: Vec<_> = QS
                    .iter()
                    .flat_map(|q| IDS.iter().map(move |id| (*q, *id)))
                    .collect();
                let staged: Vec<_> = keys
                    .iter()
                    .map(|(q, id)| batch.staged_body(*q, *id).map(Option::<&Body>::cloned))
                    .collect();
                model.commit(batch.clone()).unwrap();
                h.queues().commit(batch).unwrap();
                for ((q, id), staged) in keys.into_iter().zip(staged) {
                    if let Some(staged) = staged {
                        prop_assert_eq!(staged, model.get_body(q, id).unwrap());
                    }
                }
            }
            Step::Log(op) => {
                op.apply(&model).unwrap();
                op.apply(h.log()).unwrap();
            }
            Step::Reopen => h.reopen(),
        }
        compare(&h, &model)?;
    }
    h.reopen();
    compare(&h, &model)
}
