//! Bad input never changes anything (docs/semantics.md §1.6): each request of a table gets its exact 4xx of
//! §2 and §6, and afterwards the queue's info and the engine digest are what they were.
//! This file holds the table runner (`Bad`, `reject_all`) and the shared set-up; the cases are
//! grouped by what is bad: `bodies`, `names_and_ids` and `unknown` (queues, ids, routes, methods).
mod bodies;
mod names_and_ids;
mod unknown;

use serde_json::{json, Value};
use tracing::info;

use crate::{
    check::{check_delivered, fail, Rejection},
    ops::{create_delayed, dequeue, enqueue_simple, info},
    Client, Harness,
};
pub use bodies::bad_bodies;
pub use names_and_ids::bad_names_and_ids;
pub use unknown::unknown_queue_and_message;

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
