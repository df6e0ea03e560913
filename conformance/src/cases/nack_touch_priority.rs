//! Nack, touch and update-priority (docs/http.md §3.3, §4.4; §13 vector 5).
use std::time::Duration;

use serde_json::{json, Value};
use tracing::info;

use crate::{
    check::{check, check_delivered, check_empty, check_problem},
    ops::{ack_ok, check_counts, create_delayed, dequeue, enqueue, enqueue_simple, message},
    Client, Harness,
};

fn delivered(id: &str, priority: u64, content: &str, deliveries: u64) -> Value {
    json!({
        "status": "DEQUEUED", "id": id, "group": "default", "priority": priority, "content": content,
        "deliveries": deliveries,
    })
}

/// `POST …/nack` with `body`.
async fn nack(c: &Client, q: &str, id: &str, body: &Value) -> crate::Reply {
    c.post(&format!("{}/nack", message(q, id)), body).await
}

/// §13 vector 5: three leased messages nacked with priority 10 and `{"retry":"1"}` come back FIFO
/// with that priority and metadata.
pub async fn manual_nack(h: &Harness) {
    let c = h.client();
    let q = "registration-manual-nack";
    let ids = {
        create_delayed(&c, q, json!({})).await;
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(enqueue_simple(&c, q, 10, &format!("{q}-{i}")).await);
        }
        ids
    };
    info!("--- 3 dequeues with ack=false, then a nack of each");
    {
        for (i, id) in ids.iter().enumerate() {
            check_delivered(
                &dequeue(&c, q, false).await,
                &delivered(id, 10, &format!("{q}-{i}"), 1),
            );
        }
        check_empty(&dequeue(&c, q, false).await, q);
        for id in &ids {
            check(
                &nack(
                    &c,
                    q,
                    id,
                    &json!({ "priority": 10, "metadata": { "retry": "1" } }),
                )
                .await,
                200,
                &json!({ "status": "UNACKNOWLEDGED", "id": id, "priority": 10, "metadata": { "retry": "1" } }),
            );
        }
        check_counts(&c, q, 3, 0).await;
    }
    info!("--- 3 dequeues with ack=true return them FIFO with the new metadata");
    {
        for (i, id) in ids.iter().enumerate() {
            let mut want = delivered(id, 10, &format!("{q}-{i}"), 2);
            want["metadata"] = json!({ "retry": "1" });
            check_delivered(&dequeue(&c, q, true).await, &want);
        }
        check_empty(&dequeue(&c, q, true).await, q);
    }
}

/// docs/semantics.md §4.4: nacking ids 1–4 with priorities 30, 20, 30, 40 brings them back as 2, 1, 3, 4; a
/// nack with priority 0 keeps the stored priority, absent metadata is kept and `{}` clears it.
pub async fn nack_reorders(h: &Harness) {
    let c = h.client();
    let q = "nack-reorder";
    info!("--- four leased messages nacked with priorities 30, 20, 30, 40");
    {
        create_delayed(&c, q, json!({})).await;
        let mut ids = Vec::new();
        for i in 0..4 {
            let id = enqueue_simple(&c, q, 10, &format!("{q}-{i}")).await;
            check_delivered(
                &dequeue(&c, q, false).await,
                &delivered(&id, 10, &format!("{q}-{i}"), 1),
            );
            ids.push(id);
        }
        for (id, p) in ids.iter().zip([30, 20, 30, 40]) {
            check(
                &nack(&c, q, id, &json!({ "priority": p })).await,
                200,
                &json!({ "status": "UNACKNOWLEDGED", "id": id, "priority": p }),
            );
        }
        for (i, p) in [(1, 20), (0, 30), (2, 30), (3, 40)] {
            check_delivered(
                &dequeue(&c, q, true).await,
                &delivered(&ids[i], p, &format!("{q}-{i}"), 2),
            );
        }
        check_empty(&dequeue(&c, q, true).await, q);
    }
    info!("--- priority 0 keeps the stored priority; absent metadata is kept, {{}} clears it");
    let keep = {
        let body = json!({ "priority": 7, "content": "keep", "metadata": { "a": "1" } });
        let id = enqueue(&c, q, body, "default").await;
        let mut want = delivered(&id, 7, "keep", 1);
        want["metadata"] = json!({ "a": "1" });
        check_delivered(&dequeue(&c, q, false).await, &want);
        check(
            &nack(&c, q, &id, &json!({ "priority": 0 })).await,
            200,
            &json!({ "status": "UNACKNOWLEDGED", "id": id, "priority": 7 }),
        );
        let got = json!({ "status": "GOT", "id": id, "group": "default", "priority": 7, "content": "keep" });
        let mut with_metadata = got.clone();
        with_metadata["metadata"] = json!({ "a": "1" });
        check(&c.get(&message(q, &id)).await, 200, &with_metadata);

        want["deliveries"] = json!(2);
        check_delivered(&dequeue(&c, q, false).await, &want);
        check(
            &nack(&c, q, &id, &json!({ "priority": 0, "metadata": {} })).await,
            200,
            &json!({ "status": "UNACKNOWLEDGED", "id": id, "priority": 7 }),
        );
        check(&c.get(&message(q, &id)).await, 200, &got);
        id
    };
    info!("--- a nack with a future Unix time on a delayed queue means retry later");
    {
        check_delivered(&dequeue(&c, q, true).await, &delivered(&keep, 7, "keep", 3));
        let later = enqueue_simple(&c, q, 10, "later").await;
        check_delivered(
            &dequeue(&c, q, false).await,
            &delivered(&later, 10, "later", 1),
        );
        let retry_at = h.now_secs() + 60;
        check(
            &nack(&c, q, &later, &json!({ "priority": retry_at })).await,
            200,
            &json!({ "status": "UNACKNOWLEDGED", "id": later, "priority": retry_at }),
        );
        check_empty(&dequeue(&c, q, false).await, q);
        check_counts(&c, q, 1, 0).await;
        h.advance(Duration::from_secs(60));
        check_delivered(
            &dequeue(&c, q, true).await,
            &delivered(&later, retry_at, "later", 2),
        );
    }
}

/// Touch resets the deadline to `now + ack_timeout`; it needs a live lease.
pub async fn touch_extends_lease(h: &Harness) {
    let c = h.client();
    let q = "touch";
    let touch = |id: String| {
        let c = c.clone();
        async move { c.post_empty(&format!("{}/touch", message(q, &id))).await }
    };
    info!("--- lease with ack_timeout 60, touch after 50 s");
    let id = {
        create_delayed(&c, q, json!({ "ack_timeout": 60 })).await;
        let id = enqueue_simple(&c, q, 10, "t").await;
        check_delivered(&dequeue(&c, q, false).await, &delivered(&id, 10, "t", 1));
        h.advance(Duration::from_secs(50));
        check(
            &touch(id.clone()).await,
            200,
            &json!({ "status": "TOUCHED", "id": id }),
        );
        id
    };
    info!("--- the lease now ends 60 s after the touch, not after the dequeue");
    {
        h.advance(Duration::from_secs(50));
        check_empty(&dequeue(&c, q, false).await, q);
        check_counts(&c, q, 0, 1).await;
        h.advance(Duration::from_millis(9_999));
        check_empty(&dequeue(&c, q, false).await, q);
        h.advance(Duration::from_millis(1));
        check_delivered(&dequeue(&c, q, false).await, &delivered(&id, 10, "t", 2));
    }
    info!("--- touch needs a live lease");
    {
        ack_ok(&c, q, &id).await;
        check_problem(
            &touch(id.clone()).await,
            400,
            "Failed to touch a message from a queue",
            &format!("Message not found: {q}"),
            "lease_not_held",
        );
        let ready = enqueue_simple(&c, q, 10, "ready").await;
        check_problem(
            &touch(ready).await,
            400,
            "Failed to touch a message from a queue",
            &format!("Message not found: {q}"),
            "lease_not_held",
        );
    }
}

/// docs/semantics.md §4.4: with priorities 10, 5, 10 on ids 1–3, setting id 1 to 20 and id 3 to 2 dequeues
/// 3, 2, 1. For a leased message only the stored value changes (FIX).
pub async fn update_priority_reorders(h: &Harness) {
    let c = h.client();
    let q = "update-priority";
    let set = |id: String, p: u64| {
        let c = c.clone();
        async move {
            c.put(
                &format!("{}/priority", message(q, &id)),
                &json!({ "priority": p }),
            )
            .await
        }
    };
    info!("--- priorities 10, 5, 10; then id1 -> 20 and id3 -> 2");
    {
        create_delayed(&c, q, json!({})).await;
        let ids = [
            enqueue_simple(&c, q, 10, "1").await,
            enqueue_simple(&c, q, 5, "2").await,
            enqueue_simple(&c, q, 10, "3").await,
        ];
        check(
            &set(ids[0].clone(), 20).await,
            200,
            &json!({ "status": "UPDATED", "id": ids[0], "priority": 20 }),
        );
        check(
            &set(ids[2].clone(), 2).await,
            200,
            &json!({ "status": "UPDATED", "id": ids[2], "priority": 2 }),
        );
        for (i, p) in [(2, 2), (1, 5), (0, 20)] {
            check_delivered(
                &dequeue(&c, q, true).await,
                &delivered(&ids[i], p, &(i + 1).to_string(), 1),
            );
        }
        check_empty(&dequeue(&c, q, true).await, q);
    }
    info!("--- a leased message keeps its lease; only the stored priority changes");
    {
        let id = enqueue_simple(&c, q, 10, "leased").await;
        check_delivered(
            &dequeue(&c, q, false).await,
            &delivered(&id, 10, "leased", 1),
        );
        check(
            &set(id.clone(), 1).await,
            200,
            &json!({ "status": "UPDATED", "id": id, "priority": 1 }),
        );
        check_empty(&dequeue(&c, q, false).await, q);
        check_counts(&c, q, 0, 1).await;
        check(
            &c.get(&message(q, &id)).await,
            200,
            &json!({ "status": "GOT", "id": id, "group": "default", "priority": 1, "content": "leased" }),
        );
        ack_ok(&c, q, &id).await;
        check_counts(&c, q, 0, 0).await;
    }
}
