//! Long polls [EXT] (`?wait=`): held until a message is deliverable, 400 when the wait runs out, at
//! once for an unknown queue (docs/http.md §3.3). These are the server's own waits; the case never sleeps.
use std::time::{Duration, Instant};

use serde_json::json;
use tracing::info;

use crate::{
    check::{check_delivered, check_empty, check_problem},
    ops::{create_delayed, enqueue_simple, messages},
    Harness,
};

/// A waiting dequeue is answered by a later enqueue; an empty queue answers 400 after the wait, an
/// unknown queue at once.
pub async fn long_poll_wakes_on_enqueue(h: &Harness) {
    let c = h.client();
    let q = "long-poll";
    create_delayed(&c, q, json!({})).await;
    info!("--- a dequeue waiting up to 10 s gets a message enqueued meanwhile");
    {
        let waiter = {
            let c = c.clone();
            tokio::spawn(async move { c.get(&format!("{}?ack=true&wait=10s", messages(q))).await })
        };
        let id = enqueue_simple(&c, q, 10, "awaited").await;
        let got = tokio::time::timeout(Duration::from_secs(15), waiter).await;
        let Ok(Ok(got)) = got else {
            crate::fail(format!("the long poll never returned: {got:?}"))
        };
        check_delivered(
            &got,
            &json!({
                "status": "DEQUEUED", "id": id, "group": "default", "priority": 10, "content": "awaited",
                "deliveries": 1,
            }),
        );
    }
    info!("--- an empty queue answers 400 once the wait runs out");
    {
        let start = Instant::now();
        check_empty(
            &c.get(&format!("{}?ack=true&wait=100ms", messages(q))).await,
            q,
        );
        assert!(
            start.elapsed() >= Duration::from_millis(100),
            "answered before the wait ran out"
        );
        check_empty(&c.get(&format!("{}?ack=true&wait=0", messages(q))).await, q);
    }
    info!("--- an unknown queue answers at once");
    {
        let start = Instant::now();
        check_problem(
            &c.get(&format!("{}?wait=20s", messages("no-such-queue")))
                .await,
            400,
            "Failed to dequeue a message from a queue",
            "Failed to get a queue: no-such-queue",
            "queue_not_found",
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "an unknown queue was held"
        );
    }
}
