//! Delayed queues order by `(priority, id)` (docs/semantics.md §4.1; §13 vectors 1 and 2).
use serde_json::json;
use tracing::info;

use crate::{
    check::{check_delivered, check_empty},
    ops::{create_delayed, dequeue, enqueue, enqueue_simple},
    Client, Harness,
};

/// Enqueues one message per priority (content `"<q>-<index>"`) and returns the ids by index.
async fn enqueue_all(c: &Client, q: &str, priorities: &[u64]) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, p) in priorities.iter().enumerate() {
        ids.push(enqueue_simple(c, q, *p, &format!("{q}-{i}")).await);
    }
    ids
}

/// Dequeues with `ack=true` and asserts the indexes come out in `order`, then that the queue is empty.
async fn expect_order(c: &Client, q: &str, ids: &[String], priorities: &[u64], order: &[usize]) {
    for &i in order {
        check_delivered(
            &dequeue(c, q, true).await,
            &json!({
                "status": "DEQUEUED", "id": ids[i], "group": "default", "priority": priorities[i],
                "content": format!("{q}-{i}"), "deliveries": 1,
            }),
        );
    }
    check_empty(&dequeue(c, q, true).await, q);
}

/// §13 vector 1: eight messages at priority 10 in mixed groups come out FIFO, and a delayed queue
/// reports the stored group `default` (docs/http.md §3.3, FIX).
pub async fn priority_fifo(h: &Harness) {
    let c = h.client();
    let q = "registration";
    info!("--- a delayed queue with 8 messages at priority 10 in mixed groups");
    let ids = {
        create_delayed(&c, q, json!({})).await;
        let mut ids = Vec::new();
        for i in 0..8 {
            let group = ["user-1", "user-2", "user-3"][i % 3];
            let body = json!({ "group": group, "priority": 10, "content": format!("{q}-{i}") });
            ids.push(enqueue(&c, q, body, "default").await);
        }
        ids
    };
    info!("--- dequeue with ack=true is FIFO");
    {
        expect_order(&c, q, &ids, &[10; 8], &[0, 1, 2, 3, 4, 5, 6, 7]).await;
    }
}

/// §13 vector 2: lower priority first.
pub async fn priority_order(h: &Harness) {
    let c = h.client();
    let q = "login";
    let priorities = [123, 523, 35, 7863, 12, 4, 1, 4555];
    info!("--- enqueue {priorities:?}");
    let ids = {
        create_delayed(&c, q, json!({})).await;
        enqueue_all(&c, q, &priorities).await
    };
    info!("--- they dequeue as indexes [6,5,4,2,0,1,7,3]");
    {
        expect_order(&c, q, &ids, &priorities, &[6, 5, 4, 2, 0, 1, 7, 3]).await;
    }
}

/// docs/semantics.md §4.1 example: priorities `[10,50,20,70,100,7,4,2,5]` on ids 1–9 dequeue as ids
/// `[8,7,9,6,1,3,2,4,5]`.
pub async fn priority_example(h: &Harness) {
    let c = h.client();
    let q = "priority-example";
    let priorities = [10, 50, 20, 70, 100, 7, 4, 2, 5];
    let ids = {
        create_delayed(&c, q, json!({})).await;
        enqueue_all(&c, q, &priorities).await
    };
    info!("--- dequeue order (1-based) [8,7,9,6,1,3,2,4,5]");
    {
        let order: Vec<usize> = [8, 7, 9, 6, 1, 3, 2, 4, 5].iter().map(|i| i - 1).collect();
        expect_order(&c, q, &ids, &priorities, &order).await;
    }
}
