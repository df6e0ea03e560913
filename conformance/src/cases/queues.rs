//! Queue create, update, info and delete (docs/http.md §3.2, §6; §13 vector 7).
use serde_json::{json, Value};
use tracing::info;

use crate::{
    check::{check, check_delivered, check_empty, check_invalid, check_problem, check_status},
    ops::{
        check_counts, create_delayed, dequeue, enqueue_simple, info, message, messages, queue,
        QUEUES,
    },
    Client, Harness,
};

/// Asserts `info(q)`'s identity and settings; the counters are checked by `check_counts`.
async fn check_info(c: &Client, q: &str, kind: &str, settings: &Value) {
    let body = info(c, q).await;
    assert_eq!(
        (&body["name"], &body["type"], &body["settings"]),
        (&json!(q), &json!(kind), settings),
        "info of {q}: {body}"
    );
    for key in ["enqueue_rps", "dequeue_rps", "ack_rps", "nack_rps"] {
        assert!(body[key].is_number(), "{key} must be a number: {body}");
    }
    for key in ["delayed", "dead_lettered"] {
        assert!(body[key].is_u64(), "{key} must be a count: {body}");
    }
}

/// The 409 of an invalid settings combination on create.
fn check_invalid_settings(got: &crate::Reply, name: &str) {
    check_problem(
        got,
        409,
        "Failed to enqueue a message",
        &format!("Failed to create a queue: {name}"),
        "invalid_settings",
    );
}

/// §13 vector 7: the exact create answer, idempotent create, 422 without `settings`, and 422 at
/// `body.priority` for a negative priority.
pub async fn create_vector(h: &Harness) {
    let c = h.client();
    let q = "q";
    let create = json!({ "name": q, "type": "delayed", "settings": {} });
    let created = json!({ "status": "CREATED", "name": q, "type": "delayed", "settings": {} });
    info!("--- create answers 200 CREATED with the settings echoed, twice");
    {
        check(&c.post(QUEUES, &create).await, 200, &created);
        check(&c.post(QUEUES, &create).await, 200, &created);
        check_info(
            &c,
            q,
            "delayed",
            &json!({ "strategy": "STRATEGY_UNSPECIFIED", "ack_timeout": 1800 }),
        )
        .await;
        check_counts(&c, q, 0, 0).await;
        let list = check_status(&c.get(QUEUES).await, 200);
        let names: Vec<&Value> = list["queues"]
            .as_array()
            .map(|a| a.iter().map(|q| &q["name"]).collect())
            .unwrap_or_default();
        assert_eq!(names, [&json!(q)], "{list}");
    }
    info!("--- no settings: 422");
    {
        let got = c
            .post(
                QUEUES,
                &json!({ "name": "q-without-settings", "type": "delayed" }),
            )
            .await;
        check_invalid(
            &got,
            "body",
            Some("expected required property settings to be present"),
        );
        check_problem(
            &c.get(&queue("q-without-settings")).await,
            400,
            "Failed to get stats for a queue",
            "queue not found",
            "queue_not_found",
        );
    }
    info!("--- priority -1: 422 at body.priority");
    {
        let got = c
            .post(&messages(q), &json!({ "priority": -1, "content": "x" }))
            .await;
        check_invalid(&got, "body.priority", Some("expected number >= 0"));
        check_counts(&c, q, 0, 0).await;
    }
}

/// Settings are echoed with the strategy upper-cased and zeros left out; invalid combinations get
/// 409; an update replaces `max_unacked` and `ack_timeout` and cannot change the strategy.
pub async fn create_settings(h: &Harness) {
    let c = h.client();
    let q = "transcode";
    info!("--- a fair queue with every DOQ setting");
    {
        let body = json!({
            "name": q, "type": "fair", "settings": { "strategy": "round_robin", "max_unacked": 7, "ack_timeout": 600 },
        });
        let settings = json!({ "strategy": "ROUND_ROBIN", "max_unacked": 7, "ack_timeout": 600 });
        check(
            &c.post(QUEUES, &body).await,
            200,
            &json!({ "status": "CREATED", "name": q, "type": "fair", "settings": settings }),
        );
        check_info(&c, q, "fair", &settings).await;
    }
    info!("--- creating an existing name changes nothing");
    {
        let again = json!({ "name": q, "type": "fair", "settings": { "strategy": "weighted" } });
        check(
            &c.post(QUEUES, &again).await,
            200,
            &json!({ "status": "CREATED", "name": q, "type": "fair", "settings": { "strategy": "WEIGHTED" } }),
        );
        check_info(
            &c,
            q,
            "fair",
            &json!({ "strategy": "ROUND_ROBIN", "max_unacked": 7, "ack_timeout": 600 }),
        )
        .await;
    }
    info!("--- invalid combinations get 409 and create nothing");
    {
        for (name, kind, settings) in [
            ("fair-without-strategy", "fair", json!({})),
            (
                "delayed-with-strategy",
                "delayed",
                json!({ "strategy": "round_robin" }),
            ),
            (
                "delayed-with-max-unacked",
                "delayed",
                json!({ "max_unacked": 3 }),
            ),
        ] {
            let got = c
                .post(
                    QUEUES,
                    &json!({ "name": name, "type": kind, "settings": settings }),
                )
                .await;
            check_invalid_settings(&got, name);
            check_status(&c.get(&queue(name)).await, 400);
        }
    }
    info!("--- update replaces max_unacked and ack_timeout");
    {
        let got = c
            .put(
                &queue(q),
                &json!({ "settings": { "strategy": "round_robin", "max_unacked": 3 } }),
            )
            .await;
        check(
            &got,
            200,
            &json!({ "status": "UPDATED", "name": q, "settings": { "strategy": "ROUND_ROBIN", "max_unacked": 3 } }),
        );
        check_info(
            &c,
            q,
            "fair",
            &json!({ "strategy": "ROUND_ROBIN", "max_unacked": 3, "ack_timeout": 1800 }),
        )
        .await;
    }
    info!("--- update cannot change the strategy");
    {
        let got = c
            .put(
                &queue(q),
                &json!({ "settings": { "strategy": "weighted" } }),
            )
            .await;
        check_problem(
            &got,
            409,
            "Failed to update a queue",
            &format!("Failed to update a queue: {q}"),
            "invalid_settings",
        );
        check_info(
            &c,
            q,
            "fair",
            &json!({ "strategy": "ROUND_ROBIN", "max_unacked": 3, "ack_timeout": 1800 }),
        )
        .await;
    }
}

/// Delete removes the configuration, every message and every lease (FIX); a recreated queue of the
/// same name is empty.
pub async fn delete_queue_removes_messages(h: &Harness) {
    let c = h.client();
    let q = "delete-queue";
    info!("--- a queue with three messages, one leased");
    let ids = {
        create_delayed(&c, q, json!({})).await;
        let ids = [
            enqueue_simple(&c, q, 10, "a").await,
            enqueue_simple(&c, q, 10, "b").await,
            enqueue_simple(&c, q, 10, "c").await,
        ];
        check_delivered(
            &dequeue(&c, q, false).await,
            &json!({
                "status": "DEQUEUED", "id": ids[0], "group": "default", "priority": 10, "content": "a",
                "deliveries": 1,
            }),
        );
        check_counts(&c, q, 2, 1).await;
        ids
    };
    info!("--- delete answers DELETED; the queue is gone for every route");
    {
        check(
            &c.delete(&queue(q)).await,
            200,
            &json!({ "status": "DELETED" }),
        );
        check_problem(
            &c.get(&queue(q)).await,
            400,
            "Failed to get stats for a queue",
            "queue not found",
            "queue_not_found",
        );
        let no_queue = format!("Failed to get a queue: {q}");
        check_problem(
            &dequeue(&c, q, false).await,
            400,
            "Failed to dequeue a message from a queue",
            &no_queue,
            "queue_not_found",
        );
        check_problem(
            &c.post(&messages(q), &json!({ "priority": 10, "content": "x" }))
                .await,
            409,
            "Failed to enqueue a message",
            &no_queue,
            "queue_not_found",
        );
        check_problem(
            &c.delete(&queue(q)).await,
            400,
            "Failed to dequeue a message from a queue",
            &format!("Failed to delete a queue: {q}"),
            "queue_not_found",
        );
    }
    info!("--- recreated, the queue is empty and the old ids are unknown");
    {
        create_delayed(&c, q, json!({})).await;
        check_counts(&c, q, 0, 0).await;
        check_empty(&dequeue(&c, q, false).await, q);
        for id in &ids {
            check_problem(
                &c.get(&message(q, id)).await,
                400,
                "Failed to get a message from a queue",
                &format!("Failed to get a message from a queue: {q}"),
                "message_not_found",
            );
        }
    }
}
