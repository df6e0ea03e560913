//! Message delete: 204 with no body, from any state; it frees a `max_unacked` slot. Enqueue of an
//! existing id is last-write-wins (docs/http.md §3.3, §4.4, §6).
use serde_json::{json, Value};
use tracing::info;

use crate::{
    check::{check, check_delivered, check_empty, check_problem},
    ops::{check_counts, create, create_delayed, dequeue, enqueue, enqueue_simple, message},
    Harness,
};

/// Delete answers 204 without a body; afterwards get and delete answer the 400s of §6.
pub async fn delete_message(h: &Harness) {
    let c = h.client();
    let q = "delete-message";
    info!("--- delete a ready message");
    let (a, b) = {
        create_delayed(&c, q, json!({})).await;
        let a = enqueue_simple(&c, q, 10, "a").await;
        let b = enqueue_simple(&c, q, 10, "b").await;
        check(&c.delete(&message(q, &a)).await, 204, &Value::Null);
        check_counts(&c, q, 1, 0).await;
        (a, b)
    };
    info!("--- the deleted id is gone for get and delete");
    {
        check_problem(
            &c.get(&message(q, &a)).await,
            400,
            "Failed to get a message from a queue",
            &format!("Failed to get a message from a queue: {q}"),
            "message_not_found",
        );
        check_problem(
            &c.delete(&message(q, &a)).await,
            400,
            "Failed to delete a message from a queue",
            &format!("Failed to delete a message from a queue: {q}"),
            "message_not_found",
        );
    }
    info!("--- a leased message can be deleted too");
    {
        let got = dequeue(&c, q, false).await;
        check_delivered(
            &got,
            &json!({
                "status": "DEQUEUED", "id": b, "group": "default", "priority": 10, "content": "b",
                "deliveries": 1,
            }),
        );
        check(&c.delete(&message(q, &b)).await, 204, &Value::Null);
        check_counts(&c, q, 0, 0).await;
        check_empty(&dequeue(&c, q, false).await, q);
    }
    info!("--- deleting a leased message frees its max_unacked slot");
    {
        let fair = "delete-message-fair";
        create(
            &c,
            fair,
            "fair",
            json!({ "strategy": "round_robin", "max_unacked": 1 }),
        )
        .await;
        let first = enqueue(
            &c,
            fair,
            json!({ "group": "g", "priority": 10, "content": "1" }),
            "g",
        )
        .await;
        let second = enqueue(
            &c,
            fair,
            json!({ "group": "g", "priority": 10, "content": "2" }),
            "g",
        )
        .await;
        let item = |id: &str, content: &str| {
            json!({
                "status": "DEQUEUED", "id": id, "group": "g", "priority": 10, "content": content,
                "deliveries": 1,
            })
        };
        check_delivered(&dequeue(&c, fair, false).await, &item(&first, "1"));
        check_empty(&dequeue(&c, fair, false).await, fair);
        check(&c.delete(&message(fair, &first)).await, 204, &Value::Null);
        check_delivered(&dequeue(&c, fair, false).await, &item(&second, "2"));
        check_counts(&c, fair, 0, 1).await;
    }
}

/// docs/semantics.md §4.4 (FIX): enqueueing an existing id replaces content and priority; a ready message is
/// re-ordered, a leased one stays leased and is not delivered twice; after an ack the id is new again.
pub async fn enqueue_existing_id(h: &Harness) {
    let c = h.client();
    let q = "existing-id";
    let id = "777";
    let body = |priority: u64, content: &str| json!({ "id": id, "priority": priority, "content": content });
    let got = |priority: u64, content: &str| json!({ "status": "GOT", "id": id, "group": "default", "priority": priority, "content": content });
    info!("--- a ready message is replaced and re-ordered");
    {
        create_delayed(&c, q, json!({})).await;
        assert_eq!(enqueue(&c, q, body(10, "a"), "default").await, id);
        let other = enqueue_simple(&c, q, 7, "other").await;
        assert_eq!(enqueue(&c, q, body(5, "b"), "default").await, id);
        check(&c.get(&message(q, id)).await, 200, &got(5, "b"));
        check_counts(&c, q, 2, 0).await;
        check_delivered(
            &dequeue(&c, q, true).await,
            &json!({ "status": "DEQUEUED", "id": id, "group": "default", "priority": 5, "content": "b", "deliveries": 1 }),
        );
        check_delivered(
            &dequeue(&c, q, true).await,
            &json!({ "status": "DEQUEUED", "id": other, "group": "default", "priority": 7, "content": "other", "deliveries": 1 }),
        );
    }
    info!("--- a leased message stays leased and is not delivered twice");
    {
        assert_eq!(enqueue(&c, q, body(10, "c"), "default").await, id);
        check_delivered(
            &dequeue(&c, q, false).await,
            &json!({ "status": "DEQUEUED", "id": id, "group": "default", "priority": 10, "content": "c", "deliveries": 1 }),
        );
        assert_eq!(enqueue(&c, q, body(3, "d"), "default").await, id);
        check_empty(&dequeue(&c, q, false).await, q);
        check_counts(&c, q, 0, 1).await;
        check(&c.get(&message(q, id)).await, 200, &got(3, "d"));
        crate::ops::ack_ok(&c, q, id).await;
    }
    info!("--- after the ack the id can be used again");
    {
        assert_eq!(enqueue(&c, q, body(10, "e"), "default").await, id);
        check_counts(&c, q, 1, 0).await;
        check(&c.get(&message(q, id)).await, 200, &got(10, "e"));
    }
}
