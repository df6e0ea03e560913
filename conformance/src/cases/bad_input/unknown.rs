//! Requests for what does not exist: unknown queues and ids, acks without a lease, unknown routes
//! and wrong methods, each with its exact problem of docs/errors.md §6.
use serde_json::json;
use tracing::info;

use super::{reject_all, setup, Bad};
use crate::{
    check::{check_status, Rejection},
    ops::{message, messages, queue, QUEUES},
    Harness,
};

/// Unknown queues and ids, requests without a lease, unknown routes and wrong methods get the exact
/// problems of docs/errors.md §6.
pub async fn unknown_queue_and_message(h: &Harness) {
    let c = h.client();
    let q = "known";
    let (ready, _leased) = setup(&c, q).await;
    let nope = "nope";
    let no_queue = format!("Failed to get a queue: {nope}");
    let not_leased = format!("Message not found: {q}");
    let p = Rejection::problem;
    let enqueue_body = json!({ "priority": 10, "content": "x" });
    info!("--- unknown queues, unknown ids and missing leases");
    let table = vec![
        Bad::new(
            "GET",
            queue(nope),
            None,
            p(
                400,
                "Failed to get stats for a queue",
                "queue not found",
                "queue_not_found",
            ),
        ),
        Bad::new(
            "GET",
            format!("{}?ack=true", messages(nope)),
            None,
            p(
                400,
                "Failed to dequeue a message from a queue",
                &no_queue,
                "queue_not_found",
            ),
        ),
        Bad::json(
            "POST",
            messages(nope),
            &enqueue_body,
            p(
                409,
                "Failed to enqueue a message",
                &no_queue,
                "queue_not_found",
            ),
        ),
        Bad::new(
            "GET",
            message(nope, "1"),
            None,
            p(
                400,
                "Failed to get a message from a queue",
                &no_queue,
                "queue_not_found",
            ),
        ),
        Bad::new(
            "GET",
            message(q, "1"),
            None,
            p(
                400,
                "Failed to get a message from a queue",
                &format!("Failed to get a message from a queue: {q}"),
                "message_not_found",
            ),
        ),
        Bad::new(
            "DELETE",
            message(nope, "1"),
            None,
            p(
                400,
                "Failed to delete a message from a queue",
                &no_queue,
                "queue_not_found",
            ),
        ),
        Bad::new(
            "DELETE",
            message(q, "1"),
            None,
            p(
                400,
                "Failed to delete a message from a queue",
                &format!("Failed to delete a message from a queue: {q}"),
                "message_not_found",
            ),
        ),
        Bad::new(
            "POST",
            format!("{}/ack", message(q, "1")),
            None,
            p(
                400,
                "Failed to ack a message from a queue",
                &not_leased,
                "lease_not_held",
            ),
        ),
        Bad::new(
            "POST",
            format!("{}/ack", message(q, &ready)),
            None,
            p(
                400,
                "Failed to ack a message from a queue",
                &not_leased,
                "lease_not_held",
            ),
        ),
        Bad::json(
            "POST",
            format!("{}/nack", message(q, &ready)),
            &json!({ "priority": 1 }),
            p(
                400,
                "Failed to nack a message from a queue",
                &not_leased,
                "lease_not_held",
            ),
        ),
        Bad::new(
            "POST",
            format!("{}/touch", message(q, &ready)),
            None,
            p(
                400,
                "Failed to touch a message from a queue",
                &not_leased,
                "lease_not_held",
            ),
        ),
        Bad::new(
            "POST",
            format!("{}/ack", message(nope, "1")),
            None,
            p(
                400,
                "Failed to ack a message from a queue",
                &no_queue,
                "queue_not_found",
            ),
        ),
        Bad::json(
            "POST",
            format!("{}/nack", message(nope, "1")),
            &json!({ "priority": 1 }),
            p(
                400,
                "Failed to nack a message from a queue",
                &no_queue,
                "queue_not_found",
            ),
        ),
        Bad::new(
            "POST",
            format!("{}/touch", message(nope, "1")),
            None,
            p(
                400,
                "Failed to touch a message from a queue",
                &no_queue,
                "queue_not_found",
            ),
        ),
        Bad::json(
            "PUT",
            format!("{}/priority", message(nope, "1")),
            &json!({ "priority": 1 }),
            p(
                409,
                "Failed to update priority a message",
                &format!("Failed to dequeue a message from a queue: {nope}"),
                "queue_not_found",
            ),
        ),
        Bad::json(
            "PUT",
            format!("{}/priority", message(q, "1")),
            &json!({ "priority": 1 }),
            p(
                409,
                "Failed to update priority a message",
                &format!("Failed to dequeue a message from a queue: {q}"),
                "message_not_found",
            ),
        ),
        Bad::json(
            "PUT",
            queue(nope),
            &json!({ "settings": {} }),
            p(
                409,
                "Failed to update a queue",
                &format!("Failed to update a queue: {nope}"),
                "queue_not_found",
            ),
        ),
        Bad::new(
            "DELETE",
            queue(nope),
            None,
            p(
                400,
                "Failed to dequeue a message from a queue",
                &format!("Failed to delete a queue: {nope}"),
                "queue_not_found",
            ),
        ),
        // Unknown routes and wrong methods.
        Bad::new(
            "GET",
            "/API/v1/nothing",
            None,
            Rejection::bare(404, "Not Found", "route_not_found"),
        ),
        Bad::new(
            "GET",
            "/db/nothing",
            None,
            Rejection::bare(404, "Not Found", "route_not_found"),
        ),
        Bad::new(
            "PATCH",
            QUEUES,
            None,
            Rejection::bare(405, "Method Not Allowed", "method_not_allowed"),
        ),
        Bad::new(
            "DELETE",
            QUEUES,
            None,
            Rejection::bare(405, "Method Not Allowed", "method_not_allowed"),
        ),
        Bad::new(
            "PUT",
            format!("{}/ack", message(q, &ready)),
            None,
            Rejection::bare(405, "Method Not Allowed", "method_not_allowed"),
        ),
    ];
    reject_all(h, q, table).await;
    info!("--- literal segments match case-insensitively and one trailing slash is ignored");
    {
        let body = check_status(&c.get(&format!("/api/V1/QUEUES/{q}/")).await, 200);
        assert_eq!(body["name"], json!(q), "{body}");
    }
}
