//! The model test: random op sequences, committed in random batches to redb and to `MemoryStore` (the model),
//! must leave both with the same contents after every commit and every reopen.
use doq_api::{
    Body, Counters, Group, GroupRecord, Lease, MessageHeader, MessageId, Priority, QueueId,
    QueueRecord, Timestamp,
};
use proptest::{collection::vec, prelude::*};
use tempfile::TempDir;

use super::opts;
use crate::{open, testing, Applied, MemoryStore, Op, QueueStore, WriteBatch};

const QS: [QueueId; 3] = [QueueId(0), QueueId(1), QueueId(2)];
const IDS: [MessageId; 5] = [
    MessageId(0),
    MessageId(1),
    MessageId(2),
    MessageId(3),
    MessageId(u64::MAX),
];

#[derive(Clone, Debug)]
enum Step {
    Commit(Vec<Op>),
    Reopen,
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

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![8 => vec(op(), 0..12).prop_map(Step::Commit), 1 => Just(Step::Reopen)]
}

fn cases(fast: u32) -> u32 {
    if std::env::var_os("DOQ_SLOW_TESTS").is_some() {
        fast * 16
    } else {
        fast
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

    #[test]
    fn redb_agrees_with_memory(steps in vec(step(), 1..16), sync in any::<bool>()) {
        let dir = TempDir::new().unwrap();
        let mut redb = open("redb", dir.path(), &opts(sync)).unwrap();
        let memory = MemoryStore::new();
        for step in steps {
            match step {
                Step::Commit(ops) => {
                    let batch: WriteBatch = ops.into_iter().collect();
                    // The staged view of a body must be what the commit leaves.
                    let keys: Vec<_> = QS.iter().flat_map(|q| IDS.iter().map(move |id| (*q, *id))).collect();
                    let staged: Vec<_> = keys.iter().map(|(q, id)| batch.staged_body(*q, *id).map(Option::<&Body>::cloned)).collect();
                    memory.commit(batch.clone()).unwrap();
                    redb.commit(batch).unwrap();
                    for ((q, id), staged) in keys.into_iter().zip(staged) {
                        if let Some(staged) = staged {
                            prop_assert_eq!(staged, memory.get_body(q, id).unwrap());
                        }
                    }
                }
                Step::Reopen => {
                    drop(redb);
                    redb = open("redb", dir.path(), &opts(sync)).unwrap();
                }
            }
            let want = testing::snapshot(&memory, &QS, &IDS).unwrap();
            prop_assert_eq!(testing::snapshot(redb.as_ref(), &QS, &IDS).unwrap(), want);
        }
        drop(redb);
        let redb = open("redb", dir.path(), &opts(sync)).unwrap();
        prop_assert_eq!(
            testing::snapshot(redb.as_ref(), &QS, &IDS).unwrap(),
            testing::snapshot(&memory, &QS, &IDS).unwrap()
        );
    }
}
