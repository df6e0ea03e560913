//! Runs the contract suite over every backend, checks `open`'s directory rules, and (in `model`) compares redb
//! with `MemoryStore` on random op sequences.
#[cfg(feature = "redb")]
mod model;

#[cfg(feature = "redb")]
use std::sync::Arc;

#[cfg(feature = "redb")]
use doq_api::{Counters, MessageId, QueueId, Timestamp};
use tempfile::TempDir;

use crate::{open, testing, Error, MemoryStore, StoreOptions, MARKER_FILE};
#[cfg(feature = "redb")]
use crate::{Applied, QueueStore, WriteBatch};

fn opts(sync: bool) -> StoreOptions {
    StoreOptions {
        sync,
        cache_bytes: 1 << 20,
    }
}

#[cfg(feature = "redb")]
fn redb_store() -> (TempDir, Arc<dyn QueueStore>) {
    let dir = TempDir::new().unwrap();
    let store = open("redb", dir.path(), &opts(true)).unwrap();
    (dir, store)
}

macro_rules! contract_tests {
    ($($case:ident),* $(,)?) => {
        const LISTED: &[&str] = &[$(stringify!($case)),*];
        mod memory {
            use super::*;
            $(#[test] fn $case() { testing::$case(&MemoryStore::new()).unwrap(); })*
        }
        #[cfg(feature = "redb")]
        mod redb {
            use super::*;
            $(#[test] fn $case() { let (_dir, store) = redb_store(); testing::$case(store.as_ref()).unwrap(); })*
        }
    };
}

contract_tests!(
    commit_then_read_back,
    ops_apply_in_batch_order,
    delete_queue_removes_only_that_queue,
    delete_messages_keeps_the_record,
    staged_body_sees_earlier_writes,
    applied_marker_round_trips,
    counters_round_trip,
    scan_headers_pages_in_id_order,
    source_visits_every_header,
    message_needs_header_and_body,
);

#[test]
fn every_contract_case_runs_on_every_backend() {
    let cases: Vec<&str> = testing::CASES.iter().map(|(name, _)| *name).collect();
    assert_eq!(cases, LISTED);
    testing::run_all(&mut || Box::new(MemoryStore::new())).unwrap();
}

#[cfg(feature = "redb")]
#[test]
fn redb_keeps_data_across_reopen() {
    let dir = TempDir::new().unwrap();
    let qs = [QueueId(1), QueueId(2)];
    let ids = [MessageId(1), MessageId(2)];
    for sync in [true, false] {
        let store = open("redb", dir.path(), &opts(sync)).unwrap();
        let mut b = WriteBatch::new();
        b.put_queue(testing::queue(1, "a"));
        b.put_message(
            testing::header(1, 1),
            testing::body(&format!("sync={sync}")),
        );
        b.put_group(testing::group(1, 0));
        b.put_counters(Counters {
            last_now: Timestamp(9),
            last_id: 1,
            next_queue: 2,
        });
        b.set_applied(Applied {
            index: 3,
            data: vec![sync.into()],
        });
        store.commit(b).unwrap();
        let before = testing::snapshot(store.as_ref(), &qs, &ids).unwrap();
        drop(store);
        let store = open("redb", dir.path(), &opts(true)).unwrap();
        assert_eq!(
            testing::snapshot(store.as_ref(), &qs, &ids).unwrap(),
            before
        );
        assert_eq!(
            store.applied().unwrap(),
            Some(Applied {
                index: 3,
                data: vec![sync.into()]
            })
        );
    }
}

#[test]
fn a_locked_data_dir_refuses_a_second_open() {
    for backend in crate::BACKENDS {
        let dir = TempDir::new().unwrap();
        let first = open(backend, dir.path(), &opts(true)).unwrap();
        let second = open(backend, dir.path(), &opts(true));
        assert!(
            matches!(second, Err(Error::Locked { .. })),
            "{backend}: {second:?}"
        );
        assert_eq!(
            second.map(|_| ()).unwrap_err().to_string(),
            format!(
                "data directory is in use by another process: {}",
                dir.path().display()
            )
        );
        drop(first);
        open(backend, dir.path(), &opts(true)).unwrap();
    }
}

#[cfg(feature = "redb")]
#[test]
fn a_data_dir_refuses_another_backend() {
    let dir = TempDir::new().unwrap();
    drop(open("redb", dir.path(), &opts(true)).unwrap());
    assert_eq!(
        std::fs::read_to_string(dir.path().join(MARKER_FILE)).unwrap(),
        "redb\n"
    );
    let err = open("memory", dir.path(), &opts(true)).unwrap_err();
    assert!(
        matches!(&err, Error::WrongBackend { found, wanted: "memory" } if found == "redb"),
        "{err:?}"
    );
    let api: doq_api::Error = err.into();
    assert_eq!(api.kind(), doq_api::ErrorKind::Storage);
}

#[test]
fn open_refuses_unknown_backends_and_creates_the_dir() {
    let dir = TempDir::new().unwrap();
    let err = open("oracle", dir.path(), &opts(true)).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownBackend { name, .. } if name == "oracle"),
        "{err:?}"
    );
    assert!(matches!(
        open("rocksdb", dir.path(), &opts(true)),
        Err(Error::NotCompiled { backend: "rocksdb" })
    ));
    let nested = dir.path().join("a/b");
    open("memory", &nested, &opts(true)).unwrap();
    assert!(nested.join(MARKER_FILE).exists());
    #[cfg(not(feature = "redb"))]
    assert!(matches!(
        open("redb", dir.path(), &opts(true)),
        Err(Error::NotCompiled { backend: "redb" })
    ));
}
