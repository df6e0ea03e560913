//! SIGTERM and SIGINT shut a node down gracefully: exit status 0, and the data is there after a
//! restart (docs/cluster.md §5, "Shutdown").
use doq_conformance::{
    check::{check, check_delivered, check_empty},
    ops::{check_counts, create_delayed, dequeue, enqueue_simple, message, messages},
};
use serde_json::json;
use tracing::info;

use crate::Doq;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_and_keeps_data() {
    crate::init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let q = "graceful";
    info!("--- five messages, one leased, then SIGTERM");
    let ids = {
        let mut doq = Doq::start(&data, tmp.path(), &[]).await;
        let c = doq.client();
        create_delayed(&c, q, json!({})).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(enqueue_simple(&c, q, 10, &format!("g-{i}")).await);
        }
        check_delivered(
            &dequeue(&c, q, false).await,
            &json!({ "status": "DEQUEUED", "id": ids[0], "group": "default", "priority": 10, "content": "g-0", "deliveries": 1 }),
        );
        doq.signal("TERM");
        let status = doq.wait_exit().await;
        assert_eq!(
            status.code(),
            Some(0),
            "exit status after SIGTERM:\n{}",
            doq.log()
        );
        ids
    };
    info!("--- after a restart everything is back, the lease too; SIGINT also exits 0");
    {
        let mut doq = Doq::start(&data, tmp.path(), &[]).await;
        let c = doq.client();
        check_counts(&c, q, 4, 1).await;
        for (i, id) in ids.iter().enumerate() {
            check(
                &c.get(&message(q, id)).await,
                200,
                &json!({ "status": "GOT", "id": id, "group": "default", "priority": 10, "content": format!("g-{i}") }),
            );
        }
        doq.signal("INT");
        let status = doq.wait_exit().await;
        assert_eq!(
            status.code(),
            Some(0),
            "exit status after SIGINT:\n{}",
            doq.log()
        );
    }
}

/// docs/cluster.md §5: on SIGTERM a node answers pending long-polls with the empty-queue 400, finishes, and
/// exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_pending_long_poll() {
    crate::init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let mut doq = Doq::start(&tmp.path().join("data"), tmp.path(), &[]).await;
    let c = doq.client();
    let q = "pending-poll";
    create_delayed(&c, q, json!({})).await;
    info!("--- a dequeue waits on an empty queue");
    let waiter = {
        let c = c.clone();
        tokio::spawn(async move { c.get(&format!("{}?wait=15s", messages(q))).await })
    };
    // Give the request a moment to reach the server (bounded; the wait itself is the server's).
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        !waiter.is_finished(),
        "the long poll returned early: {:?}",
        waiter.await
    );
    info!("--- SIGTERM");
    doq.signal("TERM");
    let status = doq.wait_exit().await;
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM:\n{}",
        doq.log()
    );
    let got = waiter.await.unwrap();
    // docs/cluster.md §5: a node shutting down answers pending polls with the empty-queue 400 at once.
    check_empty(&got, q);
}
