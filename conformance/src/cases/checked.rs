//! Requests that must fail are answered before they are ordered (`doq_consensus::Checked`, ARCHITECTURE.md
//! "Engine::check"): they get their usual 4xx, and the applied index (which counts every command ordered,
//! accepted or not) does not grow. In a three-node row the client talks to a follower, so the rejection is confirmed after a read
//! barrier and a queue the leader just created is never refused.
use serde_json::json;
use tracing::info;

use crate::{
    check::{check_problem, check_status, fail},
    ops::{create_delayed, messages, queue, QUEUES},
    Harness,
};

/// Each rejected request leaves the log where it was; a valid one right after still moves it.
pub async fn rejected_requests_skip_the_log(h: &Harness) {
    let c = h.client();
    create_delayed(&c, "checked", json!({})).await;
    // `applied` waits for every replica, so the baseline includes the create and the leader's own entries.
    let before = h.applied().await;

    info!("--- commands on an unknown queue, and bad settings");
    let no_queue = "Failed to get a queue: ghost";
    let r = c
        .post(
            &messages("ghost"),
            &json!({ "priority": 1, "content": "x" }),
        )
        .await;
    check_problem(
        &r,
        409,
        "Failed to enqueue a message",
        no_queue,
        "queue_not_found",
    );
    let refused = [
        c.delete(&queue("ghost")).await,
        c.post_empty(&format!("{}/purge", queue("ghost"))).await,
        c.put(
            &queue("checked"),
            &json!({ "ack_timeout": 60, "max_deliveries": 3, "dead_letter_queue": "ghost" }),
        )
        .await,
        c.post(
            QUEUES,
            &json!({ "name": "dl", "type": "delayed",
                     "settings": { "ack_timeout": 60, "max_deliveries": 2, "dead_letter_queue": "ghost" } }),
        )
        .await,
    ];
    for r in &refused {
        if !(400..500).contains(&r.0) {
            fail(format!("expected a 4xx, got {} {}", r.0, r.1));
        }
    }
    let after = h.applied().await;
    assert_eq!(after, before, "rejected requests reached the log");

    info!("--- a valid request is still ordered");
    let r = c
        .post(
            &messages("checked"),
            &json!({ "priority": 1, "content": "x" }),
        )
        .await;
    check_status(&r, 200);
    assert!(
        h.applied().await > after,
        "an accepted enqueue did not reach the log"
    );
}
