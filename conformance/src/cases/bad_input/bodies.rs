//! Bad request bodies: malformed JSON, wrong types, unknown fields, negative priorities, missing
//! fields, empty bodies, bad query values and non-JSON content types, on every body-taking route.
use serde_json::{json, Value};
use tracing::info;

use super::{reject_all, setup, Bad};
use crate::{
    check::Rejection,
    ops::{message, messages, queue, QUEUES},
    Harness,
};

/// Malformed JSON, wrong types, unknown fields, negative priorities, missing fields, empty bodies,
/// bad query values and non-JSON content types, on every body-taking route.
pub async fn bad_bodies(h: &Harness) {
    let c = h.client();
    let q = "bad-bodies";
    let (ready, leased) = setup(&c, q).await;
    let invalid = Rejection::invalid;
    let invalid_with = Rejection::invalid_with;
    let required = |key: &str| {
        invalid_with(
            "body",
            &format!("expected required property {key} to be present"),
        )
    };
    let unexpected = |at: &str| invalid_with(at, "unexpected property");
    let no_body = || Rejection::bare(400, "request body is required", "body_required");
    let msgs = messages(q);
    let nack = format!("{}/nack", message(q, &leased));
    let set_priority = format!("{}/priority", message(q, &ready));
    let long_group = "g".repeat(1025);
    let long_content = "c".repeat((1 << 20) + 1);
    let too_many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    info!("--- every bad body is rejected and changes nothing");
    let mut table = vec![
        // Create.
        Bad::new("POST", QUEUES, Some(r#"{"name":"#), invalid("body")),
        Bad::new("POST", QUEUES, Some(""), no_body()),
        Bad::new("POST", QUEUES, Some("[]"), invalid("body")),
        Bad::new("POST", QUEUES, Some("null"), invalid("body")),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "type": "delayed" }),
            required("settings"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "type": "delayed", "settings": {} }),
            required("name"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "settings": {} }),
            required("type"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "type": "delayed", "settings": {}, "extra": 1 }),
            unexpected("body.extra"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "type": "Delayed", "settings": {} }),
            invalid_with(
                "body.type",
                r#"expected value to be one of "delayed, fair""#,
            ),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": 5, "type": "delayed", "settings": {} }),
            invalid("body.name"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "type": "delayed", "settings": [] }),
            invalid("body.settings"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "type": "delayed", "settings": { "ack_timeout": 0 } }),
            invalid("body.settings.ack_timeout"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "type": "delayed", "settings": { "ack_timeout": 59 } }),
            invalid("body.settings.ack_timeout"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "type": "delayed", "settings": { "ack_timeout": "60" } }),
            invalid("body.settings.ack_timeout"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "type": "fair", "settings": { "strategy": "ROUND_ROBIN" } }),
            invalid("body.settings.strategy"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "type": "fair", "settings": { "strategy": "round_robin", "max_unacked": -1 } }),
            invalid("body.settings.max_unacked"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "type": "fair", "settings": { "strategy": "round_robin", "max_unacked": 4_294_967_296_u64 } }),
            invalid("body.settings.max_unacked"),
        ),
        Bad::json(
            "POST",
            QUEUES,
            &json!({ "name": "x", "type": "delayed", "settings": { "colour": 1 } }),
            unexpected("body.settings.colour"),
        ),
        // Enqueue.
        Bad::new(
            "POST",
            &msgs,
            Some(r#"{"priority":10,"content":"x""#),
            invalid("body"),
        ),
        Bad::new("POST", &msgs, Some(""), no_body()),
        Bad::new("POST", &msgs, Some("   "), no_body()),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": -1, "content": "x" }),
            invalid_with("body.priority", "expected number >= 0"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": "10", "content": "x" }),
            invalid("body.priority"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 1.5, "content": "x" }),
            invalid("body.priority"),
        ),
        Bad::new(
            "POST",
            &msgs,
            Some(r#"{"priority":9223372036854775808,"content":"x"}"#),
            invalid("body.priority"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "content": "x" }),
            required("priority"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10 }),
            required("content"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10, "content": 7 }),
            invalid("body.content"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10, "content": "x", "id": 5 }),
            invalid("body.id"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10, "content": "x", "id": "abc" }),
            invalid("body.id"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10, "content": "x", "id": "-1" }),
            invalid("body.id"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10, "content": "x", "colour": "red" }),
            unexpected("body.colour"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10, "content": "x", "group": 5 }),
            invalid("body.group"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10, "content": "x", "group": long_group }),
            invalid("body.group"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10, "content": long_content }),
            invalid("body.content"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10, "content": "x", "metadata": [] }),
            invalid("body.metadata"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10, "content": "x", "metadata": { "k": 1 } }),
            invalid("body.metadata.k"),
        ),
        Bad::json(
            "POST",
            &msgs,
            &json!({ "priority": 10, "content": "x", "metadata": too_many }),
            invalid("body.metadata"),
        ),
        // Nack of a leased message, update priority of a ready one.
        Bad::new("POST", &nack, Some(""), no_body()),
        Bad::json("POST", &nack, &json!({}), required("priority")),
        Bad::json(
            "POST",
            &nack,
            &json!({ "priority": -5 }),
            invalid("body.priority"),
        ),
        Bad::json(
            "POST",
            &nack,
            &json!({ "priority": 10, "metadata": { "k": true } }),
            invalid("body.metadata.k"),
        ),
        Bad::json(
            "POST",
            &nack,
            &json!({ "priority": 10, "extra": 1 }),
            unexpected("body.extra"),
        ),
        Bad::json(
            "PUT",
            &set_priority,
            &json!({ "priority": -1 }),
            invalid("body.priority"),
        ),
        Bad::json("PUT", &set_priority, &json!({}), required("priority")),
        Bad::json(
            "PUT",
            &set_priority,
            &json!({ "priority": 10, "x": 1 }),
            unexpected("body.x"),
        ),
        // Update queue.
        Bad::json("PUT", queue(q), &json!({}), required("settings")),
        Bad::json(
            "PUT",
            queue(q),
            &json!({ "settings": { "ack_timeout": 30 } }),
            invalid("body.settings.ack_timeout"),
        ),
        Bad::json(
            "PUT",
            queue(q),
            &json!({ "settings": { "strategy": "round_robin" } }),
            Rejection::problem(
                409,
                "Failed to update a queue",
                &format!("Failed to update a queue: {q}"),
                "invalid_settings",
            ),
        ),
        // Dequeue query values.
        Bad::new(
            "GET",
            format!("{msgs}?ack=maybe"),
            None,
            invalid("query.ack"),
        ),
        Bad::new("GET", format!("{msgs}?ack=yes"), None, invalid("query.ack")),
        Bad::new(
            "GET",
            format!("{msgs}?wait=-1"),
            None,
            invalid("query.wait"),
        ),
        Bad::new(
            "GET",
            format!("{msgs}?wait=21"),
            None,
            invalid("query.wait"),
        ),
        Bad::new(
            "GET",
            format!("{msgs}?wait=soon"),
            None,
            invalid("query.wait"),
        ),
        // Reserve ids.
        Bad::json(
            "POST",
            "/API/v1/ids",
            &json!({ "number": 0 }),
            invalid("body.number"),
        ),
        Bad::json(
            "POST",
            "/API/v1/ids",
            &json!({ "number": 1001 }),
            invalid("body.number"),
        ),
        Bad::json(
            "POST",
            "/API/v1/ids",
            &json!({ "number": "5" }),
            invalid("body.number"),
        ),
    ];
    // Content types other than JSON get 415.
    for (path, body) in [
        (
            QUEUES.to_owned(),
            json!({ "name": "x", "type": "delayed", "settings": {} }),
        ),
        (msgs.clone(), json!({ "priority": 10, "content": "x" })),
    ] {
        let mut bad = Bad::json(
            "POST",
            path,
            &body,
            Rejection::bare(415, "unsupported media type", "unsupported_media_type"),
        );
        bad.content_type = Some("text/plain");
        table.push(bad);
    }
    reject_all(h, q, table).await;
    info!("--- the leased message is still leased and can be acked");
    {
        crate::ops::ack_ok(&c, q, &leased).await;
    }
}
