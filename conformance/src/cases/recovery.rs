//! Restart recovery: every acknowledged write is back after a graceful restart, leases included, and
//! leases that expired while the node was down are redeliverable (docs/semantics.md §1.3, §1.5).
use std::time::Duration;

use serde_json::json;
use tracing::info;

use crate::{
    check::{check, check_delivered, check_empty, check_problem},
    ops::{
        ack_ok, check_counts, create_delayed, dequeue, enqueue_simple, message, messages, queue,
    },
    Client, Harness,
};

fn delivered(id: &str, content: &str, deliveries: u64) -> serde_json::Value {
    json!({
        "status": "DEQUEUED", "id": id, "group": "default", "priority": 10, "content": content,
        "deliveries": deliveries,
    })
}

async fn check_got(c: &Client, q: &str, id: &str, content: &str) {
    check(
        &c.get(&message(q, id)).await,
        200,
        &json!({ "status": "GOT", "id": id, "group": "default", "priority": 10, "content": content }),
    );
}

/// Enqueue 10, lease 3, ack 1, restart: a durable row gets everything back with an equal digest,
/// including the two live leases; a non-durable row (capability `durable = false`) starts empty.
pub async fn restart_recovery(h: &Harness) {
    let c = h.client();
    let q = "recovery";
    info!("--- enqueue 10 (ack_timeout 60), lease 3, ack 1");
    let (ids, digest) = {
        create_delayed(&c, q, json!({ "ack_timeout": 60 })).await;
        let mut ids = Vec::new();
        for i in 0..10 {
            ids.push(enqueue_simple(&c, q, 10, &format!("r-{i}")).await);
        }
        for (i, id) in ids.iter().enumerate().take(3) {
            check_delivered(
                &dequeue(&c, q, false).await,
                &delivered(id, &format!("r-{i}"), 1),
            );
        }
        ack_ok(&c, q, &ids[0]).await;
        check_counts(&c, q, 7, 2).await;
        (ids, h.digest().await)
    };
    info!("--- graceful restart");
    {
        h.restart().await;
    }
    if h.caps().durable {
        recovered(h, &c, q, &ids, digest).await;
    } else {
        info!("--- not durable: the node starts empty");
        check_problem(
            &c.get(&queue(q)).await,
            400,
            "Failed to get stats for a queue",
            "queue not found",
            "queue_not_found",
        );
        check_problem(
            &c.post(&messages(q), &json!({ "priority": 10, "content": "x" }))
                .await,
            409,
            "Failed to enqueue a message",
            &format!("Failed to get a queue: {q}"),
            "queue_not_found",
        );
    }
}

/// The durable half of [`restart_recovery`]: `ids[0]` acked, `ids[1..3]` leased, the rest ready.
async fn recovered(h: &Harness, c: &Client, q: &str, ids: &[String], digest: u64) {
    info!("--- durable: same digest, every acknowledged message back, leases kept");
    {
        assert_eq!(
            h.digest().await,
            digest,
            "the digest changed across a restart"
        );
        check_counts(c, q, 7, 2).await;
        for (i, id) in ids.iter().enumerate().skip(1) {
            check_got(c, q, id, &format!("r-{i}")).await;
        }
        check_problem(
            &c.get(&message(q, &ids[0])).await,
            400,
            "Failed to get a message from a queue",
            &format!("Failed to get a message from a queue: {q}"),
            "message_not_found",
        );
    }
    info!("--- ids keep increasing after a restart");
    let after = {
        let after = enqueue_simple(c, q, 10, "r-after").await;
        let last: u64 = ids[9].parse().unwrap_or(u64::MAX);
        let new: u64 = after.parse().unwrap_or(0);
        assert!(new > last, "id {new} after the restart is not above {last}");
        after
    };
    info!("--- the ready ones dequeue in order; the two leased ones stay leased");
    {
        for (i, id) in ids.iter().enumerate().skip(3) {
            check_delivered(
                &dequeue(c, q, false).await,
                &delivered(id, &format!("r-{i}"), 1),
            );
        }
        check_delivered(
            &dequeue(c, q, false).await,
            &delivered(&after, "r-after", 1),
        );
        check_empty(&dequeue(c, q, false).await, q);
        check_counts(c, q, 0, 10).await;
    }
    info!("--- leases that expire while the node is down are redeliverable after the restart");
    {
        h.advance(Duration::from_secs(60));
        h.restart().await;
        check_counts(c, q, 10, 0).await;
        let contents = (1..10)
            .map(|i| format!("r-{i}"))
            .chain(["r-after".to_owned()]);
        let expect: Vec<(String, String)> = ids[1..]
            .iter()
            .cloned()
            .chain([after])
            .zip(contents)
            .collect();
        for (id, content) in &expect {
            check_delivered(&dequeue(c, q, false).await, &delivered(id, content, 2));
        }
        check_empty(&dequeue(c, q, false).await, q);
        for (id, _) in &expect {
            ack_ok(c, q, id).await;
        }
        check_counts(c, q, 0, 0).await;
    }
    info!("--- the acks are durable too");
    {
        let digest = h.digest().await;
        h.restart().await;
        assert_eq!(
            h.digest().await,
            digest,
            "the digest changed across a restart"
        );
        check_counts(c, q, 0, 0).await;
        check_empty(&dequeue(c, q, false).await, q);
    }
}
