//! Fair queues, `weighted`: a seeded weighted pick that never exceeds `max_unacked` per group
//! (docs/semantics.md §4.3, §13 vector 8).
use std::collections::BTreeMap;

use serde_json::json;
use tracing::info;

use crate::{
    check::{check, check_empty, check_status, id_field, str_field, u64_field},
    ops::{ack_ok, check_counts, dequeue, enqueue, QUEUES},
    Harness,
};

/// §13 vector 8: with `max_unacked` 8 and groups of 10, 8, 3 and 1 messages, dequeues without ack
/// deliver 8, 8, 3 and 1, in FIFO order within each group, and 2 messages remain. Acking one frees
/// one slot of its group.
pub async fn weighted_respects_max_unacked(h: &Harness) {
    let c = h.client();
    let q = "weighted";
    let sizes = [("g-a", 10), ("g-b", 8), ("g-c", 3), ("g-d", 1)];
    info!("--- a weighted queue with max_unacked 8 and groups of 10, 8, 3, 1");
    let ids = {
        let got = c
            .post(
                QUEUES,
                &json!({
                    "name": q, "type": "fair", "settings": { "strategy": "weighted", "max_unacked": 8 },
                }),
            )
            .await;
        check(
            &got,
            200,
            &json!({
                "status": "CREATED", "name": q, "type": "fair",
                "settings": { "strategy": "WEIGHTED", "max_unacked": 8 },
            }),
        );
        let mut ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (group, n) in sizes {
            for i in 0..n {
                let body =
                    json!({ "group": group, "priority": 10, "content": format!("{group}-{i}") });
                ids.entry(group)
                    .or_default()
                    .push(enqueue(&c, q, body, group).await);
            }
        }
        ids
    };
    info!("--- dequeue without ack until nothing is deliverable");
    let delivered = {
        let mut delivered: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut empty = false;
        for _ in 0..30 {
            let got = dequeue(&c, q, false).await;
            if got.0 == 400 {
                check_empty(&got, q);
                empty = true;
                break;
            }
            let body = check_status(&got, 200);
            assert_eq!(u64_field(&body, "deliveries"), 1, "{body}");
            delivered
                .entry(str_field(&body, "group"))
                .or_default()
                .push(id_field(&body, "id"));
        }
        assert!(empty, "30 dequeues never reached an empty queue");
        delivered
    };
    {
        let counts: BTreeMap<&str, usize> = delivered
            .iter()
            .map(|(g, v)| (g.as_str(), v.len()))
            .collect();
        let want: BTreeMap<&str, usize> = [("g-a", 8), ("g-b", 8), ("g-c", 3), ("g-d", 1)].into();
        assert_eq!(counts, want, "deliveries per group");
        for (group, got) in &delivered {
            let stored = &ids[group.as_str()];
            assert_eq!(got, &stored[..got.len()], "FIFO within {group}");
        }
        check_counts(&c, q, 2, 20).await;
    }
    info!("--- acking one g-a message frees one g-a slot");
    {
        ack_ok(&c, q, &ids["g-a"][0]).await;
        let body = check_status(&dequeue(&c, q, false).await, 200);
        assert_eq!(
            (str_field(&body, "group"), id_field(&body, "id")),
            ("g-a".to_owned(), ids["g-a"][8].clone()),
            "{body}"
        );
        check_empty(&dequeue(&c, q, false).await, q);
        check_counts(&c, q, 1, 20).await;
    }
}
