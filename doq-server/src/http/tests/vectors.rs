//! docs/conformance.md §13 conformance vectors 1–10 over HTTP.
use std::collections::BTreeMap;

use serde_json::json;

use super::Harness;

/// Dequeues with `ack` until the queue answers 400, returning the contents in order.
async fn drain(h: &Harness, queue: &str, ack: bool) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let a = h.dequeue(queue, ack).await;
        if a.status.as_u16() == 400 {
            a.problem(
                400,
                "Failed to dequeue a message from a queue",
                Some(&format!("Queue is empty: {queue}")),
                "queue_empty",
            );
            return out;
        }
        out.push(a.ok()["content"].as_str().expect("content").to_string());
    }
}

fn indexes(contents: &[String]) -> Vec<usize> {
    contents
        .iter()
        .map(|c| c.trim_start_matches("m").parse().expect("index"))
        .collect()
}

#[tokio::test]
async fn vector_1_delayed_queue_is_fifo_at_equal_priority() {
    let h = Harness::new();
    h.create_delayed("registration").await;
    for i in 0..8 {
        h.enqueue(
            "registration",
            &format!("group-{}", i % 3),
            10,
            &format!("m{i}"),
        )
        .await;
    }
    let first = h.dequeue("registration", true).await;
    let body = first.ok();
    assert_eq!(body["status"], "DEQUEUED");
    assert_eq!(
        body["group"], "default",
        "delayed queues store the default group"
    );
    assert_eq!(body["priority"], 10);
    assert_eq!(body["deliveries"], 1);
    assert!(body["id"].is_string() && body["receipt"].is_string());
    let mut got = vec![body["content"].as_str().expect("content").to_string()];
    got.extend(drain(&h, "registration", true).await);
    assert_eq!(indexes(&got), (0..8).collect::<Vec<_>>());
}

#[tokio::test]
async fn vector_2_delayed_queue_orders_by_priority() {
    let h = Harness::new();
    h.create_delayed("login").await;
    for (i, p) in [123, 523, 35, 7863, 12, 4, 1, 4555].into_iter().enumerate() {
        h.enqueue("login", "default", p, &format!("m{i}")).await;
    }
    assert_eq!(
        indexes(&drain(&h, "login", true).await),
        vec![6, 5, 4, 2, 0, 1, 7, 3]
    );
}

#[tokio::test]
async fn vector_3_future_priorities_come_due_with_the_clock() {
    let h = Harness::new();
    h.create_delayed("later").await;
    let now = h.now_secs();
    h.enqueue("later", "", now + 2, "plus2").await;
    h.enqueue("later", "", now + 1, "plus1").await;
    h.enqueue("later", "", 10, "ten").await;
    assert_eq!(h.dequeue("later", true).await.ok()["content"], "ten");
    assert_eq!(drain(&h, "later", true).await, Vec::<String>::new());
    h.clock.advance_ms(1100);
    assert_eq!(h.dequeue("later", true).await.ok()["content"], "plus1");
    assert_eq!(drain(&h, "later", true).await, Vec::<String>::new());
    h.clock.advance_ms(1100);
    assert_eq!(h.dequeue("later", true).await.ok()["content"], "plus2");
}

#[tokio::test]
async fn vector_4_manual_ack_then_empty() {
    let h = Harness::new();
    let q = "registration-manual-ack";
    h.create_delayed(q).await;
    for i in 0..8 {
        h.enqueue(q, "default", 10, &format!("m{i}")).await;
    }
    for i in 0..8 {
        let d = h.dequeue(q, false).await;
        let body = d.ok().clone();
        assert_eq!(body["content"], format!("m{i}"));
        let id = body["id"].as_str().expect("id");
        let ack = h
            .call(
                "POST",
                &format!("/API/v1/queues/{q}/messages/{id}/ack"),
                None,
            )
            .await;
        assert_eq!(ack.ok(), &json!({"status": "ACKNOWLEDGED", "id": id}));
    }
    for _ in 0..8 {
        let a = h.dequeue(q, true).await;
        assert_eq!(a.status.as_u16(), 400);
        assert_eq!(
            a.body["errors"],
            json!([{"message": "Queue is empty: registration-manual-ack"}])
        );
    }
}

#[tokio::test]
async fn vector_5_nack_returns_messages_with_new_metadata() {
    let h = Harness::new();
    let q = "registration-manual-nack";
    h.create_delayed(q).await;
    for i in 0..3 {
        h.enqueue(q, "default", 10, &format!("m{i}")).await;
    }
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            h.dequeue(q, false).await.ok()["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    for id in &ids {
        let body = json!({"priority": 10, "metadata": {"retry": "1"}});
        let a = h
            .post(&format!("/API/v1/queues/{q}/messages/{id}/nack"), body)
            .await;
        assert_eq!(
            a.ok(),
            &json!({"status": "UNACKNOWLEDGED", "id": id, "priority": 10, "metadata": {"retry": "1"}})
        );
    }
    for i in 0..3 {
        let a = h.dequeue(q, true).await;
        let body = a.ok();
        assert_eq!(body["content"], format!("m{i}"));
        assert_eq!(body["priority"], 10);
        assert_eq!(body["metadata"], json!({"retry": "1"}));
        assert_eq!(body["deliveries"], 2);
    }
}

/// Enqueues `(group, index)` pairs at priority 10 into a fresh round-robin queue, checking each with a get.
async fn round_robin(h: &Harness, q: &str, items: &[(&str, usize)]) -> Vec<usize> {
    h.create_fair(q, "round_robin", 0).await;
    for (group, i) in items {
        let body = json!({"group": group, "priority": 10, "content": format!("m{i}"), "metadata": {"i": i.to_string()}});
        let e = h.post(&format!("/API/v1/queues/{q}/messages"), body).await;
        let enqueued = e.ok();
        assert_eq!(enqueued["status"], "ENQUEUED");
        assert_eq!(enqueued["group"], *group);
        let id = enqueued["id"].as_str().expect("id");
        let got = h.get(&format!("/API/v1/queues/{q}/messages/{id}")).await;
        assert_eq!(
            got.ok(),
            &json!({"status": "GOT", "id": id, "group": group, "priority": 10, "content": format!("m{i}"), "metadata": {"i": i.to_string()}})
        );
    }
    indexes(&drain(h, q, true).await)
}

#[tokio::test]
async fn vector_6_round_robin_flat_and_hierarchical() {
    let h = Harness::new();
    let flat = [
        ("customer-1", 0),
        ("customer-1", 1),
        ("customer-1", 2),
        ("customer-1", 3),
        ("customer-2", 4),
        ("customer-2", 5),
        ("customer-3", 6),
        ("customer-4", 7),
    ];
    assert_eq!(
        round_robin(&h, "flat", &flat).await,
        vec![0, 4, 6, 7, 1, 5, 2, 3]
    );
    let tree = [
        ("c1.p1.u1", 1),
        ("c1.p1.u1", 2),
        ("c1.p1.u2", 3),
        ("c1.p2.u1", 4),
        ("c1.p2.u1", 5),
        ("c1.p2.u2", 6),
        ("c1.p3.u1", 7),
        ("c1.p3.u2", 8),
        ("c2", 9),
        ("c3.p1", 10),
        ("c3.p1", 11),
        ("c3.p2", 12),
        ("c4.p1.u1", 13),
        ("c4.p1.u2", 14),
        ("c4.p2.u2", 15),
    ];
    assert_eq!(
        round_robin(&h, "tree", &tree).await,
        vec![1, 9, 10, 13, 4, 12, 15, 7, 11, 14, 3, 6, 8, 2, 5]
    );
}

#[tokio::test]
async fn vector_7_create_echo_and_validation() {
    let h = Harness::new();
    let a = h
        .create(json!({"name": "q", "type": "delayed", "settings": {}}))
        .await;
    assert_eq!(
        a.ok(),
        &json!({"status": "CREATED", "name": "q", "type": "delayed", "settings": {}})
    );
    let missing = h.create(json!({"name": "q2", "type": "delayed"})).await;
    missing.invalid("body", "expected required property settings to be present");
    let negative = h
        .post(
            "/API/v1/queues/q/messages",
            json!({"priority": -1, "content": "x"}),
        )
        .await;
    negative.invalid("body.priority", "expected number >= 0");
    assert_eq!(negative.body["errors"][0]["value"], json!(-1));
}

#[tokio::test]
async fn vector_8_weighted_respects_max_unacked() {
    let h = Harness::new();
    h.create_fair("w", "weighted", 8).await;
    for (group, n) in [("a", 10), ("b", 8), ("c", 3), ("d", 1)] {
        for i in 0..n {
            h.enqueue("w", group, 10, &format!("{group}{i}")).await;
        }
    }
    let mut per_group = BTreeMap::new();
    loop {
        let a = h.dequeue("w", false).await;
        if a.status.as_u16() == 400 {
            break;
        }
        *per_group
            .entry(a.ok()["group"].as_str().expect("group").to_string())
            .or_insert(0) += 1;
    }
    let expected: BTreeMap<String, i32> = [("a", 8), ("b", 8), ("c", 3), ("d", 1)]
        .into_iter()
        .map(|(g, n)| (g.to_string(), n))
        .collect();
    assert_eq!(per_group, expected);
    let info = h.get("/API/v1/queues/w").await;
    let body = info.ok();
    assert_eq!(
        (
            body["ready"].clone(),
            body["unacked"].clone(),
            body["total"].clone()
        ),
        (json!(2), json!(20), json!(22))
    );
    assert_eq!(
        body["settings"],
        json!({"strategy": "WEIGHTED", "max_unacked": 8, "ack_timeout": 1800})
    );
}

#[tokio::test]
async fn vector_9_stale_receipts_get_409() {
    let h = Harness::new();
    h.create(json!({"name": "r", "type": "delayed", "settings": {"ack_timeout": 60}}))
        .await
        .ok();
    let id = h.enqueue("r", "", 10, "m").await;
    let r1 = h.dequeue("r", false).await.ok()["receipt"]
        .as_str()
        .expect("receipt")
        .to_string();
    h.clock.advance_ms(61_000);
    let second = h.dequeue("r", false).await;
    assert_eq!(second.ok()["deliveries"], 2);
    let r2 = second.body["receipt"]
        .as_str()
        .expect("receipt")
        .to_string();
    assert_ne!(r1, r2);
    let stale = h
        .call(
            "POST",
            &format!("/API/v1/queues/r/messages/{id}/ack?receipt={r1}"),
            None,
        )
        .await;
    stale.problem(
        409,
        "Failed to ack a message from a queue",
        Some("Stale receipt: r"),
        "stale_receipt",
    );
    h.dequeue("r", true).await.problem(
        400,
        "Failed to dequeue a message from a queue",
        Some("Queue is empty: r"),
        "queue_empty",
    );
    let fresh = h
        .call(
            "POST",
            &format!("/API/v1/queues/r/messages/{id}/ack?receipt={r2}"),
            None,
        )
        .await;
    assert_eq!(fresh.ok()["status"], "ACKNOWLEDGED");
}

#[tokio::test]
async fn vector_10_dead_letters_move_after_max_deliveries() {
    let h = Harness::new();
    h.create_delayed("dlq").await;
    let settings = json!({"ack_timeout": 60, "max_deliveries": 2, "dead_letter_queue": "dlq"});
    let created = h
        .create(json!({"name": "src", "type": "delayed", "settings": settings}))
        .await;
    assert_eq!(created.ok()["settings"], settings);
    let id = h.enqueue("src", "", 10, "poison").await;
    for _ in 0..2 {
        h.dequeue("src", false).await.ok();
        h.clock.advance_ms(61_000);
    }
    h.dequeue("src", true).await.problem(
        400,
        "Failed to dequeue a message from a queue",
        Some("Queue is empty: src"),
        "queue_empty",
    );
    let moved = h.dequeue("dlq", true).await;
    let body = moved.ok();
    assert_eq!(body["content"], "poison");
    assert_eq!(body["metadata"]["x-doq-original-queue"], "src");
    assert_eq!(body["metadata"]["x-doq-original-id"], id.as_str());
    assert_eq!(body["metadata"]["x-doq-delivery-count"], "2");
    let info = h.get("/API/v1/queues/src").await;
    assert_eq!(info.ok()["dead_lettered"], 1);
}
