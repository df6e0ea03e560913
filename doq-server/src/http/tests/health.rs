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
    // Its own code: the write was handed to the store and may have committed (not "unavailable").
    assert_eq!(got.body["code"], "outcome_unknown");
    store.heal().unwrap();
}

#[tokio::test]
async fn a_full_disk_answers_503_loses_nothing_and_recovers_when_freed() {
    let (h, store) = faulty(SingleOptions::default());
    h.create_delayed("q").await;
    h.enqueue("q", "default", 1, "acked before").await;
    store.fill_disk(true);
    for _ in 0..2 {
        let refused = write(&h, "refused").await;
        assert_eq!(refused.status.as_u16(), 503, "body: {}", refused.body);
        assert_eq!(refused.headers["retry-after"], "1");
        assert_eq!(refused.body["code"], "storage_error");
        let why = refused.body["errors"][0]["message"].as_str().unwrap();
        assert!(why.contains("No space left on device"), "{why}");
        unready(&h.get("/readyz").await, "No space left on device");
    }
    // Space is back: no restart, the next write goes through and the node is ready again.
    store.fill_disk(false);
    assert_eq!(write(&h, "after").await.status.as_u16(), 200);
    assert_eq!(h.get("/readyz").await.status.as_u16(), 200);
    assert_eq!(h.dequeue("q", true).await.ok()["content"], "acked before");
    assert_eq!(h.dequeue("q", true).await.ok()["content"], "after");
    assert_eq!(
        h.dequeue("q", true).await.status.as_u16(),
        400,
        "nothing refused was kept"
    );
}

#[tokio::test]
async fn a_torn_commit_loses_nothing_acknowledged() {
    let (h, store) = faulty(SingleOptions::default());
    h.create_delayed("q").await;
    h.enqueue("q", "default", 1, "a").await;
    store.fail_commit(1, CommitFault::Torn).unwrap();
    let torn = write(&h, "b").await;
    assert_eq!(torn.status.as_u16(), 503, "body: {}", torn.body);
    assert_eq!(torn.body["code"], "storage_error");
    unready(&h.get("/readyz").await, "storage commit failed");
    assert_eq!(write(&h, "c").await.status.as_u16(), 200);
    assert_eq!(h.get("/readyz").await.status.as_u16(), 200);
    // "b" may or may not be there (its outcome is unknown); the acknowledged ones are, once each.
    let mut got = Vec::new();
    loop {
        let d = h.dequeue("q", true).await;
        if d.status.as_u16() != 200 {
            assert_eq!(d.status.as_u16(), 400, "body: {}", d.body);
            break;
        }
        got.push(d.ok()["content"].as_str().unwrap().to_string());
    }
    got.retain(|c| c != "b");
    assert_eq!(got, ["a", "c"]);
}

#[tokio::test]
async fn a_failed_read_answers_503_and_the_next_one_works() {
    let (h, store) = faulty(SingleOptions::default());
    h.create_delayed("q").await;
    let id = h.enqueue("q", "default", 1, "kept").await;
    let path = format!("/API/v1/queues/q/messages/{id}");
    assert_eq!(h.get(&path).await.status.as_u16(), 200);
    store.fail_read(1).unwrap();
    let failed = h.get(&path).await;
    assert_eq!(failed.status.as_u16(), 503, "body: {}", failed.body);
    assert_eq!(failed.headers["retry-after"], "1");
    assert_eq!(failed.body["code"], "storage_error");
    let got = h.get(&path).await;
    assert_eq!(got.ok()["content"], "kept");
    assert_eq!(h.dequeue("q", true).await.ok()["content"], "kept");
}
