//! Routes and the everyday operations cases build on. Each operation asserts its own success with
//! the exact response shape of docs/http.md §3, so a case only spells out what it is about.
use serde_json::{json, Value};

use crate::{
    check::{check, check_status, id_field, u64_field},
    client::{Client, Reply},
};

/// `/API/v1/queues`.
pub const QUEUES: &str = "/API/v1/queues";

/// `/API/v1/queues/{q}`.
pub fn queue(q: &str) -> String {
    format!("{QUEUES}/{q}")
}

/// `/API/v1/queues/{q}/messages`.
pub fn messages(q: &str) -> String {
    format!("{QUEUES}/{q}/messages")
}

/// `/API/v1/queues/{q}/messages/{id}`.
pub fn message(q: &str, id: &str) -> String {
    format!("{QUEUES}/{q}/messages/{id}")
}

/// Creates `name`; asserts 200 `CREATED` echoing the name and type, and returns the body.
pub async fn create(c: &Client, name: &str, kind: &str, settings: Value) -> Value {
    let got = c
        .post(
            QUEUES,
            &json!({ "name": name, "type": kind, "settings": settings }),
        )
        .await;
    let body = check_status(&got, 200);
    assert_eq!(
        (&body["status"], &body["name"], &body["type"]),
        (&json!("CREATED"), &json!(name), &json!(kind)),
        "create {name}: {body}"
    );
    body
}

/// Creates a delayed queue with `settings`.
pub async fn create_delayed(c: &Client, name: &str, settings: Value) -> Value {
    create(c, name, "delayed", settings).await
}

/// Enqueues `body`; asserts 200 with exactly `{"status":"ENQUEUED","id","group","priority","content",
/// "metadata"?}` where `group` is `stored_group` (docs/http.md §3.3), and returns the id.
pub async fn enqueue(c: &Client, q: &str, body: Value, stored_group: &str) -> String {
    let got = c.post(&messages(q), &body).await;
    let answer = check_status(&got, 200);
    let id = id_field(&answer, "id");
    let mut want = json!({
        "status": "ENQUEUED", "id": id, "group": stored_group,
        "priority": body["priority"], "content": body["content"],
    });
    if body["metadata"].as_object().is_some_and(|m| !m.is_empty()) {
        want["metadata"] = body["metadata"].clone();
    }
    check(&got, 200, &want);
    id
}

/// Enqueues `content` at `priority` in the default group of a delayed queue; returns the id.
pub async fn enqueue_simple(c: &Client, q: &str, priority: u64, content: &str) -> String {
    enqueue(
        c,
        q,
        json!({ "priority": priority, "content": content }),
        "default",
    )
    .await
}

/// `GET …/messages?ack=…`, unchecked.
pub async fn dequeue(c: &Client, q: &str, ack: bool) -> Reply {
    c.get(&format!("{}?ack={ack}", messages(q))).await
}

/// `POST …/messages/{id}/ack`, unchecked.
pub async fn ack(c: &Client, q: &str, id: &str) -> Reply {
    c.post_empty(&format!("{}/ack", message(q, id))).await
}

/// Acks `id`; asserts 200 `{"status":"ACKNOWLEDGED","id"}`.
pub async fn ack_ok(c: &Client, q: &str, id: &str) {
    check(
        &ack(c, q, id).await,
        200,
        &json!({ "status": "ACKNOWLEDGED", "id": id }),
    );
}

/// Queue info (`GET /API/v1/queues/{q}`); asserts 200.
pub async fn info(c: &Client, q: &str) -> Value {
    check_status(&c.get(&queue(q)).await, 200)
}

/// Asserts the queue's `ready`, `unacked` and `total` counts.
pub async fn check_counts(c: &Client, q: &str, ready: u64, unacked: u64) {
    let body = info(c, q).await;
    let got = (
        u64_field(&body, "ready"),
        u64_field(&body, "unacked"),
        u64_field(&body, "total"),
    );
    assert_eq!(
        got,
        (ready, unacked, ready + unacked),
        "(ready, unacked, total) of {q}: {body}"
    );
}

/// The node's queues without the fields a restore does not carry (rates, dead-letter counters).
pub async fn restorable_queues(c: &Client) -> Value {
    let body = check_status(&c.get("/API/v1/queues").await, 200);
    let mut list = body["queues"].as_array().cloned().unwrap_or_default();
    for q in &mut list {
        if let Some(o) = q.as_object_mut() {
            o.retain(|k, _| !k.ends_with("_rps") && k != "dead_lettered");
        }
    }
    Value::Array(list)
}

/// Everything observable: the queues, then each queue's messages in dequeue order (drained with
/// `ack=true`, so call it last).
pub async fn drain(c: &Client) -> Value {
    let list = restorable_queues(c).await;
    let mut out = vec![list.clone()];
    for q in list.as_array().into_iter().flatten() {
        let name = q["name"].as_str().unwrap_or_default().to_string();
        let mut got = Vec::new();
        for _ in 0..1000 {
            let (status, mut body) = dequeue(c, &name, true).await;
            if status != 200 {
                break;
            }
            if let Some(o) = body.as_object_mut() {
                o.remove("receipt");
            }
            got.push(body);
        }
        out.push(json!({ "queue": name, "messages": got }));
    }
    Value::Array(out)
}
