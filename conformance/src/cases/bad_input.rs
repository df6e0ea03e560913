//! Bad input never changes anything (docs/semantics.md §1.6): each request of a table gets its exact 4xx of
//! §2 and §6, and afterwards the queue's info and the engine digest are what they were.
use serde_json::{json, Value};
use tracing::info;

use crate::{
    check::{check, check_delivered, check_status, fail, Rejection},
    ops::{
        create_delayed, dequeue, enqueue, enqueue_simple, info, message, messages, queue, QUEUES,
    },
    Client, Harness,
};

/// One bad request and what it must get.
struct Bad {
    method: &'static str,
    path: String,
    body: Option<String>,
    content_type: Option<&'static str>,
    want: Rejection,
}

impl Bad {
    fn new(
        method: &'static str,
        path: impl Into<String>,
        body: Option<&str>,
        want: Rejection,
    ) -> Self {
        Self {
            method,
            path: path.into(),
            body: body.map(str::to_owned),
            content_type: None,
            want,
        }
    }

    fn json(method: &'static str, path: impl Into<String>, body: &Value, want: Rejection) -> Self {
        Self::new(method, path, Some(&body.to_string()), want)
    }
}

/// Sends every request; collects each mismatch, and each change of `q`'s info or of the digest, and
/// fails once with all of them.
async fn reject_all(h: &Harness, q: &str, table: Vec<Bad>) {
    let c = h.client();
    let before = snapshot(h, &c, q).await;
    let mut failures = Vec::new();
    for bad in &table {
        info!(method = bad.method, path = %bad.path, body = ?bad.body, "bad request");
        let content_type = bad
            .content_type
            .or(bad.body.as_ref().map(|_| "application/json"));
        let got = c
            .raw(bad.method, &bad.path, bad.body.as_deref(), content_type)
            .await;
        let request = format!(
            "{} {} {}",
            bad.method,
            bad.path,
            bad.body.as_deref().unwrap_or("")
        );
        if let Some(m) = bad.want.mismatch(&got) {
            failures.push(format!("{request}\n    {m}"));
        }
        let after = snapshot(h, &c, q).await;
        if after != before {
            failures.push(format!(
                "{request}
    changed the state: {before:?} -> {after:?}"
            ));
        }
    }
    if !failures.is_empty() {
        fail(format!(
            "{} of {} bad requests misbehaved:\n  {}",
            failures.len(),
            table.len(),
            failures.join("\n  ")
        ));
    }
}

/// What bad input must not change: the queue's info and the engine digest.
async fn snapshot(h: &Harness, c: &Client, q: &str) -> (Value, u64) {
    (info(c, q).await, h.digest().await)
}

/// A delayed queue with one ready and one leased message; returns `(ready_id, leased_id)`.
async fn setup(c: &Client, q: &str) -> (String, String) {
    create_delayed(c, q, json!({})).await;
    let leased = enqueue_simple(c, q, 10, "leased").await;
    let ready = enqueue_simple(c, q, 10, "ready").await;
    check_delivered(
        &dequeue(c, q, false).await,
        &json!({
            "status": "DEQUEUED", "id": leased, "group": "default", "priority": 10, "content": "leased",
            "deliveries": 1,
        }),
    );
    (ready, leased)
}

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

/// Bad queue names in bodies and paths, and non-numeric or out-of-range ids in paths and bodies;
/// then names and ids at the edge of what is allowed.
pub async fn bad_names_and_ids(h: &Harness) {
    let c = h.client();
    let q = "bad-names";
    let (ready, _leased) = setup(&c, q).await;
    let long = "n".repeat(1025);
    let create = |name: &str| json!({ "name": name, "type": "delayed", "settings": {} });
    info!("--- bad names and ids are rejected and change nothing");
    {
        let mut table = Vec::new();
        for name in ["", "a/b", ".", "..", "a\u{1}b", "tab\there", long.as_str()] {
            table.push(Bad::json(
                "POST",
                QUEUES,
                &create(name),
                Rejection::invalid("body.name"),
            ));
        }
        for id in ["abc", "-1", "1.5", "18446744073709551616", "0x10"] {
            let path = message(q, id);
            table.push(Bad::new("GET", &path, None, Rejection::invalid("path.id")));
            table.push(Bad::new(
                "DELETE",
                &path,
                None,
                Rejection::invalid("path.id"),
            ));
            table.push(Bad::new(
                "POST",
                format!("{path}/ack"),
                None,
                Rejection::invalid("path.id"),
            ));
            table.push(Bad::new(
                "POST",
                format!("{path}/touch"),
                None,
                Rejection::invalid("path.id"),
            ));
            table.push(Bad::json(
                "POST",
                format!("{path}/nack"),
                &json!({ "priority": 1 }),
                Rejection::invalid("path.id"),
            ));
            table.push(Bad::json(
                "PUT",
                format!("{path}/priority"),
                &json!({ "priority": 1 }),
                Rejection::invalid("path.id"),
            ));
        }
        for name in ["a%01b", long.as_str()] {
            table.push(Bad::new(
                "GET",
                queue(name),
                None,
                Rejection::invalid("path.queue_name"),
            ));
            table.push(Bad::new(
                "GET",
                messages(name),
                None,
                Rejection::invalid("path.queue_name"),
            ));
            table.push(Bad::json(
                "POST",
                messages(name),
                &json!({ "priority": 10, "content": "x" }),
                Rejection::invalid("path.queue_name"),
            ));
        }
        reject_all(h, q, table).await;
    }
    info!("--- a 1024-byte name and a non-ASCII name are fine");
    {
        for name in ["n".repeat(1024), "очередь-1".to_owned()] {
            check(
                &c.post(QUEUES, &create(&name)).await,
                200,
                &json!({ "status": "CREATED", "name": name, "type": "delayed", "settings": {} }),
            );
            let id = enqueue_simple(&c, &name, 10, "edge").await;
            let got = check_status(&dequeue(&c, &name, true).await, 200);
            assert_eq!(
                (&got["id"], &got["content"]),
                (&json!(id), &json!("edge")),
                "{got}"
            );
        }
    }
    info!("--- client ids: \"\" and \"0\" ask for a server id; a decimal one is used as given");
    {
        for id in ["", "0"] {
            let assigned = enqueue(
                &c,
                q,
                json!({ "id": id, "priority": 10, "content": "auto" }),
                "default",
            )
            .await;
            assert_ne!(assigned, "0");
        }
        let chosen = "12345";
        assert_eq!(
            enqueue(
                &c,
                q,
                json!({ "id": chosen, "priority": 10, "content": "mine" }),
                "default"
            )
            .await,
            chosen
        );
        check(
            &c.get(&message(q, chosen)).await,
            200,
            &json!({ "status": "GOT", "id": chosen, "group": "default", "priority": 10, "content": "mine" }),
        );
        let top = u64::MAX.to_string();
        assert_eq!(
            enqueue(
                &c,
                q,
                json!({ "id": top, "priority": 10, "content": "top" }),
                "default"
            )
            .await,
            top
        );
        check_status(&c.get(&message(q, &top)).await, 200);
        check_status(&c.get(&message(q, &ready)).await, 200);
    }
}

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
