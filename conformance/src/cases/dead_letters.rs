//! Dead letters [EXT]: a message delivered `max_deliveries` times moves to the dead-letter queue at
//! its next selection, with `x-doq-*` metadata (docs/semantics.md §4.5, §13 vector 10).
use std::time::Duration;

use serde_json::json;
use tracing::info;

use crate::{
    check::{check, check_delivered, check_empty, check_problem, u64_field},
    ops::{check_counts, create_delayed, dequeue, enqueue, info, queue},
    Harness,
};

/// §13 vector 10: after two expired deliveries the next dequeue moves the message and answers
/// `Queue is empty`; the target delivers it with its metadata plus the `x-doq-*` keys.
pub async fn dead_letters_move(h: &Harness) {
    let c = h.client();
    let (q, dlq) = ("dl-source", "dl-target");
    info!("--- a source queue with max_deliveries 2 and a dead-letter queue");
    let id = {
        create_delayed(&c, dlq, json!({})).await;
        let created = create_delayed(
            &c,
            q,
            json!({ "ack_timeout": 60, "max_deliveries": 2, "dead_letter_queue": dlq }),
        )
        .await;
        assert_eq!(
            created["settings"],
            json!({ "ack_timeout": 60, "max_deliveries": 2, "dead_letter_queue": dlq }),
            "{created}"
        );
        let body = json!({ "priority": 10, "content": "poison", "metadata": { "k": "v" } });
        enqueue(&c, q, body, "default").await
    };
    info!("--- two deliveries expire");
    {
        for deliveries in 1..=2 {
            check_delivered(
                &dequeue(&c, q, false).await,
                &json!({
                    "status": "DEQUEUED", "id": id, "group": "default", "priority": 10, "content": "poison",
                    "metadata": { "k": "v" }, "deliveries": deliveries,
                }),
            );
            h.advance(Duration::from_secs(60));
        }
    }
    info!("--- the third selection moves it; the source is empty");
    let moved_at = {
        let moved_at = h.now_secs();
        check_empty(&dequeue(&c, q, false).await, q);
        check_counts(&c, q, 0, 0).await;
        assert_eq!(u64_field(&info(&c, q).await, "dead_lettered"), 1);
        check_counts(&c, dlq, 1, 0).await;
        moved_at
    };
    info!("--- the dead-letter queue delivers it with the x-doq-* metadata");
    {
        check_delivered(
            &dequeue(&c, dlq, true).await,
            &json!({
                "status": "DEQUEUED", "id": id, "group": "default", "priority": 10, "content": "poison",
                "metadata": {
                    "k": "v",
                    "x-doq-original-queue": q,
                    "x-doq-original-id": id,
                    "x-doq-original-group": "default",
                    "x-doq-delivery-count": "2",
                    "x-doq-dead-lettered-at": moved_at.to_string(),
                },
                "deliveries": 1,
            }),
        );
    }
    info!("--- a queue in use as a dead-letter queue cannot be deleted");
    {
        check_problem(
            &c.delete(&queue(dlq)).await,
            409,
            "Failed to delete a queue",
            &format!("Queue is used as a dead-letter queue: {dlq}"),
            "queue_in_use",
        );
        check(
            &c.delete(&queue(q)).await,
            200,
            &json!({ "status": "DELETED" }),
        );
        check(
            &c.delete(&queue(dlq)).await,
            200,
            &json!({ "status": "DELETED" }),
        );
    }
}
