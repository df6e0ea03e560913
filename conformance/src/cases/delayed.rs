//! Delayed queues gate on time: the head is deliverable iff `priority <= floor(now/1000)` (docs/semantics.md §4.1,
//! §13 vector 3). Time moves only by `Harness::advance`.
use std::time::Duration;

use serde_json::json;
use tracing::info;

use crate::{
    check::{check_delivered, check_empty, u64_field},
    ops::{check_counts, create_delayed, dequeue, enqueue_simple, info},
    Harness,
};

/// §13 vector 3: priorities `now+2`, `now+1` and `10` come out as they come due.
pub async fn delayed_gating(h: &Harness) {
    let c = h.client();
    let q = "delayed-gating";
    let now = h.now_secs();
    let step = Duration::from_millis(1100);
    info!("--- enqueue now+2, now+1 and 10 (now = {now})");
    let (in2, in1, due) = {
        create_delayed(&c, q, json!({})).await;
        let in2 = enqueue_simple(&c, q, now + 2, "in-2s").await;
        let in1 = enqueue_simple(&c, q, now + 1, "in-1s").await;
        let due = enqueue_simple(&c, q, 10, "due").await;
        (in2, in1, due)
    };
    let delivered = |id: &str, priority: u64, content: &str| {
        json!({
            "status": "DEQUEUED", "id": id, "group": "default", "priority": priority,
            "content": content, "deliveries": 1,
        })
    };
    info!("--- only the priority-10 message is due");
    {
        check_delivered(&dequeue(&c, q, true).await, &delivered(&due, 10, "due"));
        check_empty(&dequeue(&c, q, true).await, q);
        // Not-yet-due messages count as ready and as delayed (docs/http.md §3.2).
        check_counts(&c, q, 2, 0).await;
        assert_eq!(u64_field(&info(&c, q).await, "delayed"), 2);
    }
    info!("--- after 1.1 s, now+1 is due, now+2 is not");
    {
        h.advance(step);
        check_delivered(
            &dequeue(&c, q, true).await,
            &delivered(&in1, now + 1, "in-1s"),
        );
        check_empty(&dequeue(&c, q, true).await, q);
        assert_eq!(u64_field(&info(&c, q).await, "delayed"), 1);
    }
    info!("--- after another 1.1 s, now+2 is due");
    {
        h.advance(step);
        check_delivered(
            &dequeue(&c, q, true).await,
            &delivered(&in2, now + 2, "in-2s"),
        );
        check_empty(&dequeue(&c, q, true).await, q);
        check_counts(&c, q, 0, 0).await;
    }
}
