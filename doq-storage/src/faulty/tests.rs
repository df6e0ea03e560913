use std::time::{Duration, Instant};

use doq_api::{
    Command, Engine, Group, MessageId, NewMessage, Priority, QueueId, QueueKind, QueueName,
    QueueSettings, Stamped, Timestamp,
};

use super::*;
use crate::{testing, MemoryStore, Source, Staged};

fn put(q: u32, id: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put_message(testing::header(q, id), testing::body(&format!("{q}/{id}")));
    b
}

fn ids(store: &dyn QueueStore) -> Vec<u64> {
    store
        .scan_headers(QueueId(1), None, 100)
        .unwrap()
        .into_iter()
        .map(|h| h.id.0)
        .collect()
}

#[test]
fn passes_everything_through_until_told() {
    let store = FaultyStore::new(MemoryStore::new());
    testing::run_all(&mut || Box::new(FaultyStore::new(MemoryStore::new()))).unwrap();
    store.commit(put(1, 1)).unwrap();
    assert_eq!(ids(&store), vec![1]);
    assert_eq!(store.commits(), 1);
    assert_eq!(store.backend(), "memory");
}

#[test]
fn the_log_passes_through_while_commits_fail() {
    let store = std::sync::Arc::new(FaultyStore::new(MemoryStore::new()));
    let stores = crate::Stores::shared(store.clone());
    testing::run_all_log(&mut || {
        crate::Stores::shared(std::sync::Arc::new(FaultyStore::new(MemoryStore::new())))
    })
    .unwrap();
    store.fail_commit(1, CommitFault::Before).unwrap();
    store.fail_reads(true);
    stores.log.append(&testing::entries(1..3)).unwrap();
    assert!(stores.queues.commit(put(1, 1)).is_err());
    assert_eq!(stores.log.read(0..10).unwrap(), testing::entries(1..3));
}

#[test]
fn the_nth_commit_fails_before_writing() {
    let store = FaultyStore::new(MemoryStore::new());
    store.commit(put(1, 1)).unwrap();
    store.fail_commit(2, CommitFault::Before).unwrap();
    store.fail_commit(0, CommitFault::Before).unwrap(); // schedules nothing
    store.commit(put(1, 2)).unwrap();
    let err = store.commit(put(1, 3)).unwrap_err();
    assert!(InjectedFault::caused(&err), "{err:?}");
    assert_eq!(err.backend(), "memory");
    assert_eq!(ids(&store), vec![1, 2], "nothing of the failed batch");
    store.commit(put(1, 4)).unwrap();
    assert_eq!(ids(&store), vec![1, 2, 4], "only the nth fails");
    assert_eq!(store.commits(), 4);
}

#[test]
fn the_nth_commit_fails_after_writing() {
    let store = FaultyStore::new(MemoryStore::new());
    store.fail_commit(1, CommitFault::After).unwrap();
    store.fail_commit(3, CommitFault::Before).unwrap();
    let err = store.commit(put(1, 1)).unwrap_err();
    assert!(InjectedFault::caused(&err), "{err:?}");
    assert_eq!(ids(&store), vec![1], "the whole batch is written");
    store.commit(put(1, 2)).unwrap();
    assert!(store.commit(put(1, 3)).is_err());
    assert_eq!(ids(store.inner()), vec![1, 2]);
}

#[test]
fn reads_fail_while_set() {
    let store = FaultyStore::new(MemoryStore::new());
    store.commit(put(1, 1)).unwrap();
    store.fail_reads(true);
    let q = QueueId(1);
    let id = MessageId(1);
    let errors = [
        store.applied().map(drop),
        store.counters().map(drop),
        store.queues().map(drop),
        store.groups(q).map(drop),
        store.scan_headers(q, None, 10).map(drop),
        store.get_message(q, id).map(drop),
        store.get_body(q, id).map(drop),
    ];
    for e in errors {
        assert!(e.is_err_and(|e| InjectedFault::caused(&e)));
    }
    store.commit(put(1, 2)).unwrap(); // writes still work
    store.flush().unwrap();
    assert_eq!(ids(store.inner()), vec![1, 2]);
    store.fail_reads(false);
    assert_eq!(ids(&store), vec![1, 2]);
}

#[test]
fn commits_are_delayed_and_heal_clears_every_fault() {
    let store = FaultyStore::new(MemoryStore::new());
    let delay = Duration::from_millis(30);
    store.delay_commits(delay).unwrap();
    let start = Instant::now();
    store.commit(put(1, 1)).unwrap();
    assert!(start.elapsed() >= delay);
    store.fail_commit(1, CommitFault::Before).unwrap();
    store.fail_reads(true);
    store.heal().unwrap();
    let start = Instant::now();
    store.commit(put(1, 2)).unwrap();
    assert!(start.elapsed() < delay);
    assert_eq!(ids(&store), vec![1, 2]);
}

#[test]
fn held_commits_wait_until_released() {
    let store = std::sync::Arc::new(FaultyStore::new(MemoryStore::new()));
    store.hold_commits(true).unwrap();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || store.commit(put(1, 1)))
    };
    while store.commits() == 0 {
        std::thread::yield_now();
    }
    // Counted, but nothing written while held.
    assert_eq!(ids(&*store), Vec::<u64>::new());
    assert!(!writer.is_finished());
    store.hold_commits(false).unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(ids(&*store), vec![1]);
}

fn stamped(now: u64, command: Command) -> Stamped {
    Stamped {
        now: Timestamp(now),
        seed: now,
        command,
    }
}

/// Applies `e` at `index` to `engine` and commits the staged batch to `store`.
fn apply(engine: &mut Engine, store: &dyn QueueStore, index: u64, e: &Stamped) -> Result<()> {
    let mut batch = WriteBatch::new();
    engine
        .apply(index, e, &mut Staged::new(&mut batch, store))
        .unwrap();
    store.commit(batch)
}

/// The applier's recovery: after a failed commit it rebuilds the engine from the store. A failure before
/// writing must give back the engine from before the command; after writing, the one after it.
#[test]
fn a_rebuilt_engine_matches_the_store_after_a_failed_commit() {
    let q = QueueName::new("q").unwrap();
    let create = stamped(
        1_000,
        Command::CreateQueue {
            name: q.clone(),
            kind: QueueKind::Delayed,
            settings: QueueSettings {
                strategy: None,
                max_unacked: 0,
                ack_timeout: 30,
                max_deliveries: 0,
                dead_letter: None,
            },
        },
    );
    let enqueue = |now: u64| {
        stamped(
            now,
            Command::Enqueue {
                queue: q.clone(),
                items: vec![NewMessage {
                    id: None,
                    group: Group::new(""),
                    priority: Priority(0),
                    body: testing::body("hello"),
                }],
            },
        )
    };
    let store = FaultyStore::new(MemoryStore::new());
    let mut engine = Engine::new();
    apply(&mut engine, &store, 1, &create).unwrap();
    let before = engine.digest();
    let snapshot =
        |s: &dyn QueueStore| testing::snapshot(s, &[QueueId(1)], &[MessageId(0)]).unwrap();
    let stored = snapshot(&store);

    store.fail_commit(1, CommitFault::Before).unwrap();
    let err = apply(&mut engine, &store, 2, &enqueue(2_000)).unwrap_err();
    assert!(InjectedFault::caused(&err));
    assert_ne!(engine.digest(), before, "the live engine went ahead");
    assert_eq!(snapshot(&store), stored, "the store did not");
    let rebuilt = Engine::rebuild(&Source(&store)).unwrap();
    assert_eq!(rebuilt.digest(), before);

    let mut engine = rebuilt;
    store.fail_commit(1, CommitFault::After).unwrap();
    let err = apply(&mut engine, &store, 2, &enqueue(3_000)).unwrap_err();
    assert!(InjectedFault::caused(&err));
    let after = engine.digest();
    assert_ne!(after, before);
    assert_eq!(Engine::rebuild(&Source(&store)).unwrap().digest(), after);
}

#[test]
fn a_full_disk_refuses_commits_with_enospc_until_freed() {
    let store = FaultyStore::new(MemoryStore::new());
    store.commit(put(1, 1)).unwrap();
    store.fill_disk(true);
    let err = store.commit(put(1, 2)).unwrap_err();
    let source = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the OS error is the source");
    assert_eq!(source.raw_os_error(), Some(28), "ENOSPC");
    assert_eq!(source.kind(), std::io::ErrorKind::StorageFull);
    assert!(store.flush().is_err(), "a flush needs space too");
    assert_eq!(
        ids(&store),
        vec![1],
        "reads work, nothing of the refused batch"
    );
    store.fill_disk(false);
    store.commit(put(1, 3)).unwrap();
    store.flush().unwrap();
    assert_eq!(ids(&store), vec![1, 3]);
    store.fill_disk(true);
    store.heal().unwrap();
    store.commit(put(1, 4)).unwrap();
}

#[test]
fn a_torn_commit_writes_the_first_half_of_the_batch() {
    let store = FaultyStore::new(MemoryStore::new());
    let mut batch = WriteBatch::new();
    for id in 1..=4 {
        batch.put_message(testing::header(1, id), testing::body("x"));
    }
    store.fail_commit(1, CommitFault::Torn).unwrap();
    let err = store.commit(batch).unwrap_err();
    assert!(InjectedFault::caused(&err), "{err:?}");
    assert_eq!(ids(store.inner()), vec![1, 2], "only the first half landed");
    store.commit(put(1, 5)).unwrap();
    assert_eq!(ids(&store), vec![1, 2, 5]);
}

#[test]
fn the_nth_read_fails_once() {
    let store = FaultyStore::new(MemoryStore::new());
    store.commit(put(1, 1)).unwrap();
    let before = store.reads();
    store.fail_read(2).unwrap();
    store.fail_read(0).unwrap(); // schedules nothing
    let q = QueueId(1);
    assert!(
        store.get_body(q, MessageId(1)).unwrap().is_some(),
        "the 1st read works"
    );
    let err = store.get_body(q, MessageId(1)).unwrap_err();
    assert!(InjectedFault::caused(&err), "{err:?}");
    assert!(
        store.get_body(q, MessageId(1)).unwrap().is_some(),
        "only once"
    );
    assert_eq!(store.reads(), before + 3, "failed reads count too");
    store.fail_read(1).unwrap();
    store.heal().unwrap();
    assert_eq!(ids(&store), vec![1], "heal clears scheduled read failures");
}
