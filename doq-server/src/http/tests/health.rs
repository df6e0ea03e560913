//! `/readyz` and storage faults (docs/cluster.md §5, §6), with the faults made to happen on a `FaultyStore`: a
//! failed commit, an engine that cannot be rebuilt, a hung commit. Each answers 503 with its reason, and
//! the node recovers without a restart once the store works again.
use std::{sync::Arc, time::Duration};

use doq_consensus::SingleOptions;
use doq_storage::{CommitFault, FaultyStore, MemoryStore};
use serde_json::json;

use super::{Answer, Harness};
use crate::limits::RequestLimits;

fn faulty(options: SingleOptions) -> (Harness, Arc<FaultyStore<MemoryStore>>) {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let h = Harness::with_store(RequestLimits::default(), store.clone(), options);
    (h, store)
}

/// Asserts `/readyz` answers 503 with a reason containing `needle`.
#[track_caller]
fn unready(got: &Answer, needle: &str) {
    assert_eq!(got.status.as_u16(), 503, "body: {}", got.body);
    let why = got.body.as_str().unwrap_or_default();
    assert!(why.contains(needle), "expected {needle:?} in {why:?}");
}

async fn write(h: &Harness, content: &str) -> Answer {
    h.post(
        "/API/v1/queues/q/messages",
        json!({"priority": 1, "content": content}),
    )
    .await
}

#[tokio::test]
async fn a_failed_commit_makes_the_node_unready_until_a_good_one() {
    let (h, store) = faulty(SingleOptions::default());
    h.create_delayed("q").await;
    assert_eq!(h.get("/readyz").await.status.as_u16(), 200);
    store.fail_commit(1, CommitFault::Before).unwrap();
    let failed = write(&h, "lost").await;
    assert_eq!(failed.status.as_u16(), 503, "body: {}", failed.body);
    assert_eq!(failed.headers["retry-after"], "1");
    assert_eq!(failed.body["code"], "storage_error");
    unready(&h.get("/readyz").await, "storage commit failed");
    // The store works again: the next write succeeds and the node is ready, without a restart.
    assert_eq!(write(&h, "kept").await.status.as_u16(), 200);
    assert_eq!(h.get("/readyz").await.status.as_u16(), 200);
    let got = h.dequeue("q", true).await;
    assert_eq!(got.ok()["content"], "kept", "nothing of the failed write");
}

#[tokio::test]
async fn an_engine_that_cannot_be_rebuilt_recovers_when_the_store_does() {
    let (h, store) = faulty(SingleOptions::default());
    h.create_delayed("q").await;
    h.enqueue("q", "default", 1, "acked before").await;
    // The commit fails and so does every read the rebuild needs: the applier stops.
    store.fail_commit(1, CommitFault::Before).unwrap();
    store.fail_reads(true);
    assert_eq!(write(&h, "lost").await.status.as_u16(), 503);
    unready(&h.get("/readyz").await, "applier stopped");
    assert_eq!(write(&h, "refused").await.status.as_u16(), 503);
    unready(&h.get("/readyz").await, "applier stopped");
    // The disk is back: the next write rebuilds the engine from the store and goes through.
    store.heal().unwrap();
    assert_eq!(write(&h, "after").await.status.as_u16(), 200);
    assert_eq!(h.get("/readyz").await.status.as_u16(), 200);
    assert_eq!(h.dequeue("q", true).await.ok()["content"], "acked before");
    assert_eq!(h.dequeue("q", true).await.ok()["content"], "after");
    assert_eq!(h.dequeue("q", true).await.status.as_u16(), 400);
}

#[tokio::test]
async fn a_hung_commit_answers_503_within_apply_timeout() {
    let (h, store) = faulty(SingleOptions {
        apply_timeout: Duration::from_millis(200),
        ..SingleOptions::default()
    });
    h.create_delayed("q").await;
    store.delay_commits(Duration::from_secs(3)).unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), write(&h, "slow"))
        .await
        .expect("the write answers before the disk does");
    assert_eq!(got.status.as_u16(), 503, "body: {}", got.body);
    assert_eq!(got.headers["retry-after"], "1");
    assert_eq!(
        got.body["errors"][0]["message"],
        "commit not confirmed within timeout; the write may have been applied"
    );
    store.heal().unwrap();
}
