//! Receipts [EXT]: a delivery's receipt guards ack, nack and touch against acting on a later
//! delivery of the same message (docs/http.md §3.4, §13 vector 9).
use std::time::Duration;

use serde_json::json;
use tracing::info;

use crate::{
    check::{check, check_delivered, check_invalid, check_problem},
    ops::{check_counts, create_delayed, dequeue, enqueue_simple, message},
    Harness,
};

/// §13 vector 9: dequeue (r1), let the lease expire, dequeue again (r2); acking with r1 gets 409 and
/// the message stays leased; touch keeps r2 valid; acking with r2 gets 200.
pub async fn receipts_reject_stale(h: &Harness) {
    let c = h.client();
    let q = "receipts";
    let item = |id: &str, deliveries: u64| {
        json!({
            "status": "DEQUEUED", "id": id, "group": "default", "priority": 10, "content": "r",
            "deliveries": deliveries,
        })
    };
    info!("--- two deliveries of one message, r1 and r2");
    let (id, other, r1, r2) = {
        create_delayed(&c, q, json!({ "ack_timeout": 60 })).await;
        let id = enqueue_simple(&c, q, 10, "r").await;
        let r1 = check_delivered(&dequeue(&c, q, false).await, &item(&id, 1));
        h.advance(Duration::from_secs(60));
        let r2 = check_delivered(&dequeue(&c, q, false).await, &item(&id, 2));
        assert_ne!(r1, r2, "a redelivery must get a new receipt");
        let other = enqueue_simple(&c, q, 10, "other").await;
        (id, other, r1, r2)
    };
    let op = |op: &str, receipt: &str| format!("{}/{op}?receipt={receipt}", message(q, &id));
    info!("--- the stale receipt gets 409 for ack, nack and touch, and changes nothing");
    {
        let stale = format!("Stale receipt: {q}");
        check_problem(
            &c.post_empty(&op("ack", &r1)).await,
            409,
            "Failed to ack a message from a queue",
            &stale,
            "stale_receipt",
        );
        check_problem(
            &c.post_empty(&op("touch", &r1)).await,
            409,
            "Failed to touch a message from a queue",
            &stale,
            "stale_receipt",
        );
        check_problem(
            &c.post(&op("nack", &r1), &json!({ "priority": 1 })).await,
            409,
            "Failed to nack a message from a queue",
            &stale,
            "stale_receipt",
        );
        check_counts(&c, q, 1, 1).await;
    }
    info!("--- a malformed receipt, or one of another message, gets 422 at query.receipt");
    {
        check_invalid(
            &c.post_empty(&op("ack", "not-a-receipt!")).await,
            "query.receipt",
            None,
        );
        let other_receipt = check_delivered(
            &dequeue(&c, q, false).await,
            &json!({
                "status": "DEQUEUED", "id": other, "group": "default", "priority": 10, "content": "other",
                "deliveries": 1,
            }),
        );
        check_invalid(
            &c.post_empty(&op("ack", &other_receipt)).await,
            "query.receipt",
            None,
        );
        check_counts(&c, q, 0, 2).await;
    }
    info!("--- touch keeps r2 valid; ack with r2 succeeds");
    {
        check(
            &c.post_empty(&op("touch", &r2)).await,
            200,
            &json!({ "status": "TOUCHED", "id": id }),
        );
        check(
            &c.post_empty(&op("ack", &r2)).await,
            200,
            &json!({ "status": "ACKNOWLEDGED", "id": id }),
        );
        check_counts(&c, q, 0, 1).await;
    }
}
