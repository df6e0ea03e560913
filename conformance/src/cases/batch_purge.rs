//! Batch enqueue and dequeue, and purge [EXT] (docs/http.md §3.5): one atomic command each; a bad item
//! rejects the whole batch; an unknown queue gets 404 on these routes; purge frees leases.
use serde_json::{json, Value};
use tracing::info;

use crate::{
    check::{
        check, check_delivered, check_empty, check_invalid, check_problem, check_status, id_field,
    },
    ops::{check_counts, create, create_delayed, dequeue, enqueue, queue},
    Harness,
};

/// Batch enqueue keeps request order and assigns increasing ids; a bad item stores nothing; batch
/// dequeue answers `[]` when empty; purge deletes messages and leases and frees `max_unacked` slots.
pub async fn batch_and_purge(h: &Harness) {
    let c = h.client();
    let q = "batch";
    let batch_enqueue = format!("{}/batch/enqueue", queue(q));
    let batch_dequeue = format!("{}/batch/dequeue", queue(q));
    info!("--- batch enqueue answers the items in request order");
    let ids = {
        create_delayed(&c, q, json!({})).await;
        let body = json!({ "messages": [
            { "content": "b", "priority": 2 }, { "content": "a", "priority": 1 }, { "content": "c", "priority": 3 },
        ] });
        let got = check_status(&c.post(&batch_enqueue, &body).await, 200);
        let items = got["messages"].as_array().cloned().unwrap_or_default();
        let ids: Vec<String> = items.iter().map(|m| id_field(m, "id")).collect();
        let want: Vec<Value> = ids
            .iter()
            .zip([2, 1, 3])
            .map(|(id, p)| json!({ "id": id, "group": "default", "priority": p }))
            .collect();
        assert_eq!(got, json!({ "status": "ENQUEUED", "messages": want }));
        let numeric: Vec<u64> = ids.iter().map(|i| i.parse().unwrap_or(0)).collect();
        assert!(
            numeric.windows(2).all(|w| w[0] < w[1]),
            "ids in array order: {numeric:?}"
        );
        check_counts(&c, q, 3, 0).await;
        ids
    };
    info!("--- one bad item rejects the whole batch");
    {
        let body = json!({ "messages": [{ "content": "x", "priority": 1 }, { "content": "y", "priority": -1 }] });
        check_invalid(
            &c.post(&batch_enqueue, &body).await,
            "body.messages[1].priority",
            None,
        );
        check_counts(&c, q, 3, 0).await;
    }
    info!("--- batch dequeue selects in dequeue order, then answers []");
    {
        let got = check_status(
            &c.post(&batch_dequeue, &json!({ "max": 2, "ack": true }))
                .await,
            200,
        );
        let got_ids: Vec<String> = got["messages"]
            .as_array()
            .map(|a| a.iter().map(|m| id_field(m, "id")).collect())
            .unwrap_or_default();
        assert_eq!(
            (&got["status"], got_ids),
            (&json!("DEQUEUED"), vec![ids[1].clone(), ids[0].clone()]),
            "{got}"
        );
        check_status(
            &c.post(&batch_dequeue, &json!({ "max": 5, "ack": true }))
                .await,
            200,
        );
        check(
            &c.post(&batch_dequeue, &json!({ "max": 5 })).await,
            200,
            &json!({ "status": "DEQUEUED", "messages": [] }),
        );
    }
    info!("--- an unknown queue gets 404 on the extension routes");
    {
        let nope = "no-such-batch";
        let no_queue = format!("Failed to get a queue: {nope}");
        let path = |route: &str| format!("{}/{route}", queue(nope));
        let batch = json!({ "messages": [{ "content": "x", "priority": 1 }] });
        for got in [
            c.post(&path("batch/enqueue"), &batch).await,
            c.post(&path("batch/dequeue"), &json!({ "max": 1 })).await,
            c.post_empty(&path("purge")).await,
        ] {
            check_problem(&got, 404, "Queue not found", &no_queue, "queue_not_found");
        }
    }
    info!("--- purge deletes messages and leases and frees max_unacked slots");
    {
        let fair = "purge-fair";
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
        enqueue(
            &c,
            fair,
            json!({ "group": "g", "priority": 10, "content": "2" }),
            "g",
        )
        .await;
        check_delivered(
            &dequeue(&c, fair, false).await,
            &json!({ "status": "DEQUEUED", "id": first, "group": "g", "priority": 10, "content": "1", "deliveries": 1 }),
        );
        check(
            &c.post_empty(&format!("{}/purge", queue(fair))).await,
            200,
            &json!({ "status": "PURGED", "name": fair, "purged": 2 }),
        );
        check_counts(&c, fair, 0, 0).await;
        check_empty(&dequeue(&c, fair, false).await, fair);
        let third = enqueue(
            &c,
            fair,
            json!({ "group": "g", "priority": 10, "content": "3" }),
            "g",
        )
        .await;
        check_delivered(
            &dequeue(&c, fair, false).await,
            &json!({ "status": "DEQUEUED", "id": third, "group": "g", "priority": 10, "content": "3", "deliveries": 1 }),
        );
    }
}
