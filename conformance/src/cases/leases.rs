//! Leases: `ack=false` leases a message until `now + ack_timeout`; an expired lease is ready again
//! without any background write (docs/semantics.md §1.5, §4.4; §13 vector 4).
use std::time::Duration;

use serde_json::json;
use tracing::info;

use crate::{
    check::{check, check_delivered, check_empty, check_problem},
    ops::{ack, ack_ok, check_counts, create_delayed, dequeue, enqueue_simple},
    Harness,
};

/// The expected dequeue body of a default-group message.
fn delivered(id: &str, priority: u64, content: &str, deliveries: u64) -> serde_json::Value {
    json!({
        "status": "DEQUEUED", "id": id, "group": "default", "priority": priority, "content": content,
        "deliveries": deliveries,
    })
}

/// The 400 of an ack without a live lease.
fn check_not_leased(got: &crate::Reply, q: &str) {
    check_problem(
        got,
        400,
        "Failed to ack a message from a queue",
        &format!("Message not found: {q}"),
        "lease_not_held",
    );
}

/// A lease expires exactly at `ack_timeout`; the message is then redelivered with `deliveries = 2`,
/// and only a live lease can be acked.
pub async fn lease_expiry_redelivers(h: &Harness) {
    let c = h.client();
    let q = "lease-expiry";
    info!("--- a delayed queue with ack_timeout 60 and one leased message");
    let id = {
        let created = create_delayed(&c, q, json!({ "ack_timeout": 60 })).await;
        assert_eq!(
            created["settings"],
            json!({ "ack_timeout": 60 }),
            "{created}"
        );
        let id = enqueue_simple(&c, q, 10, "m").await;
        check_delivered(&dequeue(&c, q, false).await, &delivered(&id, 10, "m", 1));
        check_empty(&dequeue(&c, q, false).await, q);
        check_counts(&c, q, 0, 1).await;
        id
    };
    info!("--- 1 ms before the deadline the lease still holds");
    {
        h.advance(Duration::from_millis(59_999));
        check_empty(&dequeue(&c, q, false).await, q);
        check_counts(&c, q, 0, 1).await;
    }
    info!("--- at the deadline the message is ready again and redelivered");
    {
        h.advance(Duration::from_millis(1));
        check_counts(&c, q, 1, 0).await;
        check_delivered(&dequeue(&c, q, false).await, &delivered(&id, 10, "m", 2));
    }
    info!("--- the new lease can be acked, once");
    {
        ack_ok(&c, q, &id).await;
        check_not_leased(&ack(&c, q, &id).await, q);
        check_counts(&c, q, 0, 0).await;
    }
    info!("--- an expired lease cannot be acked, and the message stays");
    {
        let id = enqueue_simple(&c, q, 10, "n").await;
        check_delivered(&dequeue(&c, q, false).await, &delivered(&id, 10, "n", 1));
        h.advance(Duration::from_secs(60));
        check_not_leased(&ack(&c, q, &id).await, q);
        check_counts(&c, q, 1, 0).await;
        check_delivered(&dequeue(&c, q, false).await, &delivered(&id, 10, "n", 2));
        ack_ok(&c, q, &id).await;
        check_counts(&c, q, 0, 0).await;
    }
}

/// §13 vector 4: eight rounds of dequeue (`ack=false`) and ack, then eight `ack=true` dequeues that
/// each get exactly `errors == [{"message":"Queue is empty: registration-manual-ack"}]`.
pub async fn manual_ack(h: &Harness) {
    let c = h.client();
    let q = "registration-manual-ack";
    let ids = {
        create_delayed(&c, q, json!({})).await;
        let mut ids = Vec::new();
        for i in 0..8 {
            ids.push(enqueue_simple(&c, q, 10, &format!("{q}-{i}")).await);
        }
        ids
    };
    info!("--- 8 rounds of dequeue with ack=false, then ack");
    {
        for (i, id) in ids.iter().enumerate() {
            check_delivered(
                &dequeue(&c, q, false).await,
                &delivered(id, 10, &format!("{q}-{i}"), 1),
            );
            check(
                &ack(&c, q, id).await,
                200,
                &json!({ "status": "ACKNOWLEDGED", "id": id }),
            );
        }
    }
    info!("--- 8 dequeues with ack=true find the queue empty");
    {
        for _ in 0..8 {
            let got = dequeue(&c, q, true).await;
            assert_eq!(
                got.1["errors"],
                json!([{ "message": "Queue is empty: registration-manual-ack" }]),
                "{got:?}"
            );
            check_empty(&got, q);
        }
        check_counts(&c, q, 0, 0).await;
    }
}

/// `ack` is parsed like Go's `ParseBool` (docs/http.md §3.3): `1 t T TRUE true True` delete at once,
/// `0 f F FALSE false False` and an absent `ack` lease.
pub async fn ack_flag_parsing(h: &Harness) {
    let c = h.client();
    let q = "ack-flag";
    create_delayed(&c, q, json!({})).await;
    info!("--- true spellings delete, false spellings and no flag lease");
    {
        let trues = ["1", "t", "T", "TRUE", "true", "True"];
        let falses = ["0", "f", "F", "FALSE", "false", "False"];
        for (i, flag) in trues.iter().chain(falses.iter()).enumerate() {
            let id = enqueue_simple(&c, q, 10, &format!("{q}-{i}")).await;
            let got = c
                .get(&format!("{}?ack={flag}", crate::ops::messages(q)))
                .await;
            check_delivered(&got, &delivered(&id, 10, &format!("{q}-{i}"), 1));
        }
        let id = enqueue_simple(&c, q, 10, "no-flag").await;
        check_delivered(
            &c.get(&crate::ops::messages(q)).await,
            &delivered(&id, 10, "no-flag", 1),
        );
        check_counts(&c, q, 0, 7).await;
    }
}
