//! The docs/errors.md §6 table, row by row, for the routes served here: status, `detail`, `errors[0].message`, `code`.
use serde_json::json;

use super::Harness;

const NO_SUCH: &str = "nope";

#[tokio::test]
async fn create_with_invalid_settings_is_409_with_the_sic_text() {
    let h = Harness::new();
    let a = h
        .create(json!({"name": "f", "type": "fair", "settings": {}}))
        .await;
    a.problem(
        409,
        "Failed to enqueue a message",
        Some("Failed to create a queue: f"),
        "invalid_settings",
    );
    let a = h
        .create(json!({"name": "d", "type": "delayed", "settings": {"strategy": "weighted"}}))
        .await;
    a.problem(
        409,
        "Failed to enqueue a message",
        Some("Failed to create a queue: d"),
        "invalid_settings",
    );
    let a = h.create(json!({"name": "d", "type": "delayed", "settings": {"max_deliveries": 3, "dead_letter_queue": "x"}})).await;
    a.problem(
        409,
        "Failed to enqueue a message",
        Some("Failed to create a queue: d"),
        "invalid_settings",
    );
}

#[tokio::test]
async fn create_twice_answers_created_and_changes_nothing() {
    let h = Harness::new();
    h.create_fair("f", "round_robin", 3).await;
    let again = h
        .create(json!({"name": "f", "type": "delayed", "settings": {}}))
        .await;
    assert_eq!(again.ok()["status"], "CREATED");
    let info = h.get("/API/v1/queues/f").await;
    assert_eq!(info.ok()["type"], "fair");
}

#[tokio::test]
async fn update_errors_are_409() {
    let h = Harness::new();
    let a = h
        .call("PUT", "/API/v1/queues/nope", Some(json!({"settings": {}})))
        .await;
    a.problem(
        409,
        "Failed to update a queue",
        Some("Failed to update a queue: nope"),
        "queue_not_found",
    );
    h.create_fair("f", "round_robin", 0).await;
    let a = h
        .call(
            "PUT",
            "/API/v1/queues/f",
            Some(json!({"settings": {"strategy": "weighted"}})),
        )
        .await;
    a.problem(
        409,
        "Failed to update a queue",
        Some("Failed to update a queue: f"),
        "invalid_settings",
    );
    let a = h
        .call("PUT", "/API/v1/queues/f", Some(json!({"settings": {}})))
        .await;
    a.problem(
        409,
        "Failed to update a queue",
        Some("Failed to update a queue: f"),
        "invalid_settings",
    );
}

#[tokio::test]
async fn update_replaces_doq_settings_and_keeps_extension_ones() {
    let h = Harness::new();
    h.create_delayed("dlq").await;
    let settings = json!({"strategy": "round_robin", "max_unacked": 5, "ack_timeout": 600, "max_deliveries": 3, "dead_letter_queue": "dlq"});
    h.create(json!({"name": "f", "type": "fair", "settings": settings}))
        .await
        .ok();
    let a = h
        .call(
            "PUT",
            "/API/v1/queues/f",
            Some(json!({"settings": {"strategy": "round_robin"}})),
        )
        .await;
    assert_eq!(
        a.ok(),
        &json!({"status": "UPDATED", "name": "f", "settings": {"strategy": "ROUND_ROBIN"}})
    );
    let info = h.get("/API/v1/queues/f").await;
    assert_eq!(
        info.ok()["settings"],
        json!({"strategy": "ROUND_ROBIN", "ack_timeout": 1800, "max_deliveries": 3, "dead_letter_queue": "dlq"})
    );
    let clear = json!({"settings": {"strategy": "round_robin", "max_deliveries": 0, "dead_letter_queue": ""}});
    h.call("PUT", "/API/v1/queues/f", Some(clear)).await.ok();
    let info = h.get("/API/v1/queues/f").await;
    assert_eq!(
        info.ok()["settings"],
        json!({"strategy": "ROUND_ROBIN", "ack_timeout": 1800})
    );
}

#[tokio::test]
async fn delete_queue_errors() {
    let h = Harness::new();
    let a = h.call("DELETE", "/API/v1/queues/nope", None).await;
    a.problem(
        400,
        "Failed to dequeue a message from a queue",
        Some("Failed to delete a queue: nope"),
        "queue_not_found",
    );
    h.create_delayed("dlq").await;
    let settings = json!({"max_deliveries": 1, "dead_letter_queue": "dlq"});
    h.create(json!({"name": "src", "type": "delayed", "settings": settings}))
        .await
        .ok();
    let a = h.call("DELETE", "/API/v1/queues/dlq", None).await;
    a.problem(
        409,
        "Failed to delete a queue",
        Some("Queue is used as a dead-letter queue: dlq"),
        "queue_in_use",
    );
    assert_eq!(
        h.call("DELETE", "/API/v1/queues/src", None).await.ok(),
        &json!({"status": "DELETED"})
    );
    assert_eq!(
        h.call("DELETE", "/API/v1/queues/dlq", None).await.ok(),
        &json!({"status": "DELETED"})
    );
    assert_eq!(h.get("/API/v1/queues").await.ok(), &json!({"queues": []}));
}

#[tokio::test]
async fn info_of_unknown_queue() {
    let h = Harness::new();
    let a = h.get("/API/v1/queues/nope").await;
    a.problem(
        400,
        "Failed to get stats for a queue",
        Some("queue not found"),
        "queue_not_found",
    );
}

#[tokio::test]
async fn enqueue_and_dequeue_of_unknown_queue() {
    let h = Harness::new();
    let a = h
        .post(
            "/API/v1/queues/nope/messages",
            json!({"priority": 1, "content": "x"}),
        )
        .await;
    a.problem(
        409,
        "Failed to enqueue a message",
        Some("Failed to get a queue: nope"),
        "queue_not_found",
    );
    let a = h.dequeue(NO_SUCH, true).await;
    a.problem(
        400,
        "Failed to dequeue a message from a queue",
        Some("Failed to get a queue: nope"),
        "queue_not_found",
    );
    let a = h.get("/API/v1/queues/nope/messages?wait=5").await;
    a.problem(
        400,
        "Failed to dequeue a message from a queue",
        Some("Failed to get a queue: nope"),
        "queue_not_found",
    );
}

#[tokio::test]
async fn get_and_delete_message_errors() {
    let h = Harness::new();
    let a = h.get("/API/v1/queues/nope/messages/1").await;
    a.problem(
        400,
        "Failed to get a message from a queue",
        Some("Failed to get a queue: nope"),
        "queue_not_found",
    );
    h.create_delayed("q").await;
    let a = h.get("/API/v1/queues/q/messages/1").await;
    a.problem(
        400,
        "Failed to get a message from a queue",
        Some("Failed to get a message from a queue: q"),
        "message_not_found",
    );
    let a = h
        .call("DELETE", "/API/v1/queues/nope/messages/1", None)
        .await;
    a.problem(
        400,
        "Failed to delete a message from a queue",
        Some("Failed to get a queue: nope"),
        "queue_not_found",
    );
    let a = h.call("DELETE", "/API/v1/queues/q/messages/1", None).await;
    a.problem(
        400,
        "Failed to delete a message from a queue",
        Some("Failed to delete a message from a queue: q"),
        "message_not_found",
    );
    let id = h.enqueue("q", "", 10, "x").await;
    let a = h
        .call("DELETE", &format!("/API/v1/queues/q/messages/{id}"), None)
        .await;
    assert_eq!(a.status.as_u16(), 204);
    assert!(a.body.is_null(), "204 has no body");
}

#[tokio::test]
async fn ack_nack_touch_without_a_lease() {
    let h = Harness::new();
    h.create_delayed("q").await;
    let id = h.enqueue("q", "", 10, "x").await;
    for (op, verb) in [("ack", "ack"), ("touch", "touch")] {
        let a = h
            .call(
                "POST",
                &format!("/API/v1/queues/q/messages/{id}/{op}"),
                None,
            )
            .await;
        a.problem(
            400,
            &format!("Failed to {verb} a message from a queue"),
            Some("Message not found: q"),
            "lease_not_held",
        );
        let a = h
            .call("POST", &format!("/API/v1/queues/q/messages/999/{op}"), None)
            .await;
        assert_eq!(a.status.as_u16(), 400);
        assert_eq!(a.body["errors"][0]["message"], "Message not found: q");
        let a = h
            .call(
                "POST",
                &format!("/API/v1/queues/nope/messages/1/{op}"),
                None,
            )
            .await;
        a.problem(
            400,
            &format!("Failed to {verb} a message from a queue"),
            Some("Failed to get a queue: nope"),
            "queue_not_found",
        );
    }
    let nack = json!({"priority": 0});
    let a = h
        .post(
            &format!("/API/v1/queues/q/messages/{id}/nack"),
            nack.clone(),
        )
        .await;
    a.problem(
        400,
        "Failed to nack a message from a queue",
        Some("Message not found: q"),
        "lease_not_held",
    );
    let a = h.post("/API/v1/queues/nope/messages/1/nack", nack).await;
    a.problem(
        400,
        "Failed to nack a message from a queue",
        Some("Failed to get a queue: nope"),
        "queue_not_found",
    );
}

#[tokio::test]
async fn touch_and_nack_with_a_lease() {
    let h = Harness::new();
    h.create_delayed("q").await;
    let id = h.enqueue("q", "", 10, "x").await;
    let receipt = h.dequeue("q", false).await.ok()["receipt"]
        .as_str()
        .expect("receipt")
        .to_string();
    let a = h
        .call(
            "POST",
            &format!("/API/v1/queues/q/messages/{id}/touch?receipt={receipt}"),
            None,
        )
        .await;
    assert_eq!(a.ok(), &json!({"status": "TOUCHED", "id": id}));
    let a = h
        .post(
            &format!("/API/v1/queues/q/messages/{id}/nack"),
            json!({"priority": 0}),
        )
        .await;
    assert_eq!(
        a.ok(),
        &json!({"status": "UNACKNOWLEDGED", "id": id, "priority": 10}),
        "0 keeps the priority"
    );
}

#[tokio::test]
async fn update_priority_errors_and_success() {
    let h = Harness::new();
    let body = json!({"priority": 5});
    let a = h
        .call(
            "PUT",
            "/API/v1/queues/nope/messages/1/priority",
            Some(body.clone()),
        )
        .await;
    a.problem(
        409,
        "Failed to update priority a message",
        Some("Failed to dequeue a message from a queue: nope"),
        "queue_not_found",
    );
    h.create_delayed("q").await;
    let a = h
        .call(
            "PUT",
            "/API/v1/queues/q/messages/1/priority",
            Some(body.clone()),
        )
        .await;
    a.problem(
        409,
        "Failed to update priority a message",
        Some("Failed to dequeue a message from a queue: q"),
        "message_not_found",
    );
    let id = h.enqueue("q", "", 10, "x").await;
    let a = h
        .call(
            "PUT",
            &format!("/API/v1/queues/q/messages/{id}/priority"),
            Some(body),
        )
        .await;
    assert_eq!(
        a.ok(),
        &json!({"status": "UPDATED", "id": id, "priority": 5})
    );
}

#[tokio::test]
async fn extension_routes_answer_404_for_unknown_queues() {
    let h = Harness::new();
    let checks = [
        h.call("POST", "/API/v1/queues/nope/purge", None).await,
        h.post(
            "/API/v1/queues/nope/batch/enqueue",
            json!({"messages": [{"priority": 1, "content": "x"}]}),
        )
        .await,
        h.post("/API/v1/queues/nope/batch/dequeue", json!({"max": 2}))
            .await,
    ];
    for a in checks {
        a.problem(
            404,
            "Queue not found",
            Some("Failed to get a queue: nope"),
            "queue_not_found",
        );
    }
}

#[tokio::test]
async fn membership_changes_are_refused_in_single_mode() {
    let h = Harness::new();
    let a = h
        .post(
            "/API/v1/cluster/join",
            json!({"id": "node-1", "addr": "10.0.0.2:9000"}),
        )
        .await;
    a.problem(
        409,
        "Membership change refused",
        Some("this node runs with consensus = single"),
        "membership_refused",
    );
    let a = h
        .post("/API/v1/cluster/leave", json!({"id": "node-1"}))
        .await;
    a.problem(
        409,
        "Membership change refused",
        Some("this node runs with consensus = single"),
        "membership_refused",
    );
    h.post("/API/v1/cluster/join", json!({"id": "node-1"}))
        .await
        .invalid("body", "expected required property addr to be present");
}
