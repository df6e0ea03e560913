//! docs/http.md §2 conventions and the remaining routes: paths, headers, body rules, 404/405/413/415/422, ids,
//! batch, purge, cluster, health and long-poll `wait`.
use std::time::Duration;

use axum::{body::Body, http::Request};
use serde_json::{json, Value};

use super::{Harness, RequestLimits};

#[tokio::test]
async fn literal_segments_are_case_insensitive_and_one_trailing_slash_is_ignored() {
    let h = Harness::new();
    let a = h
        .post(
            "/api/V1/QUEUES/",
            json!({"name": "MyQ", "type": "delayed", "settings": {}}),
        )
        .await;
    assert_eq!(a.ok()["name"], "MyQ");
    let id = h.enqueue("MyQ", "", 10, "x").await;
    let got = h.get(&format!("/Api/v1/Queues/MyQ/MESSAGES/{id}/")).await;
    assert_eq!(got.ok()["content"], "x");
    // Path parameters keep their case.
    let other = h.get("/api/v1/queues/myq").await;
    other.problem(
        400,
        "Failed to get stats for a queue",
        Some("queue not found"),
        "queue_not_found",
    );
    // Only one trailing slash.
    h.get("/API/v1/queues//")
        .await
        .problem(404, "Not Found", None, "route_not_found");
    assert_eq!(h.get("/LIVEZ/").await.ok(), &json!("OK"));
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let h = Harness::new();
    let req = Request::get("/livez")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .expect("request");
    let a = h.send(req).await;
    assert_eq!(a.headers["x-request-id"], "abc-123");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "SAMEORIGIN"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        assert_eq!(a.headers[name], value, "{name}");
    }
    let missing = h.get("/API/v1/nothing").await;
    let generated = missing.headers["x-request-id"].to_str().expect("ascii");
    assert_eq!(
        uuid::Uuid::parse_str(generated).map(|u| u.get_version_num()),
        Ok(4)
    );
    assert_eq!(missing.headers["x-frame-options"], "SAMEORIGIN");
}

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let h = Harness::new();
    for uri in [
        "/API/v1/nothing",
        "/db/nothing",
        "/API",
        "/nothing/at/all",
        "/API/v1/queues/q/messages/1/2/3",
    ] {
        let a = h.get(uri).await;
        a.problem(404, "Not Found", None, "route_not_found");
        assert_eq!(a.body["title"], "Not Found");
    }
}

#[tokio::test]
async fn wrong_methods_are_405_problems_with_allow() {
    let h = Harness::new();
    let a = h.call("POST", "/API/v1/queues/q", Some(json!({}))).await;
    a.problem(405, "Method Not Allowed", None, "method_not_allowed");
    let allow = a.headers["allow"].to_str().expect("ascii").to_string();
    for m in ["GET", "PUT", "DELETE"] {
        assert!(allow.contains(m), "{allow}");
    }
    let a = h.call("PATCH", "/api/v1/queues/", None).await;
    a.problem(405, "Method Not Allowed", None, "method_not_allowed");
    assert!(a.headers["allow"].to_str().expect("ascii").contains("POST"));
}

#[tokio::test]
async fn body_rules_400_413_415() {
    let limits = RequestLimits {
        max_body_bytes: 64,
        ..RequestLimits::default()
    };
    let h = Harness::with_limits(limits);
    let empty = h
        .send(
            Request::post("/API/v1/queues")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    empty.problem(400, "request body is required", None, "body_required");
    assert_eq!(empty.body["title"], "Bad Request");
    let big = json!({"name": "q".repeat(100), "type": "delayed", "settings": {}});
    let a = h.post("/API/v1/queues", big.clone()).await;
    a.problem(413, "request body is too large", None, "body_too_large");
    assert_eq!(a.body["title"], "Request Entity Too Large");
    // Without a content length (a stream), the limit still holds.
    let stream = futures::stream::iter([Ok::<_, std::io::Error>(big.to_string())]);
    let req = Request::post("/API/v1/queues")
        .body(Body::from_stream(stream))
        .expect("request");
    h.send(req)
        .await
        .problem(413, "request body is too large", None, "body_too_large");
    let req = Request::post("/API/v1/queues")
        .header("content-type", "text/plain")
        .body(Body::from(r#"{"name":"q","type":"delayed","settings":{}}"#))
        .expect("request");
    h.send(req).await.problem(
        415,
        "unsupported media type",
        None,
        "unsupported_media_type",
    );
    // A missing content type counts as JSON; a charset parameter is fine.
    let req = Request::post("/API/v1/queues")
        .body(Body::from(r#"{"name":"q","type":"delayed","settings":{}}"#))
        .expect("request");
    assert_eq!(h.send(req).await.ok()["status"], "CREATED");
    let req = Request::post("/API/v1/queues")
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::from(r#"{"name":"r","type":"delayed","settings":{}}"#))
        .expect("request");
    assert_eq!(h.send(req).await.ok()["status"], "CREATED");
}

#[tokio::test]
async fn validation_items_name_location_and_value() {
    let h = Harness::new();
    let a = h
        .create(json!({"name": "q", "type": "Delayed", "settings": {}}))
        .await;
    a.invalid("body.type", "expected value to be one of \"delayed, fair\"");
    assert_eq!(a.body["errors"][0]["value"], "Delayed");
    let a = h
        .create(json!({"name": "q", "type": "fair", "settings": {"strategy": "ROUND_ROBIN"}}))
        .await;
    a.invalid(
        "body.settings.strategy",
        "expected value to be one of \"round_robin, weighted\"",
    );
    let a = h
        .create(json!({"name": "q", "type": "delayed", "settings": {"ack_timeout": 0}}))
        .await;
    a.invalid("body.settings.ack_timeout", "expected number >= 60");
    let a = h
        .create(json!({"name": "q", "type": "delayed", "settings": {"max_unacked": 1.5}}))
        .await;
    a.invalid("body.settings.max_unacked", "expected integer");
    let a = h
        .create(
            json!({"name": "q", "type": "delayed", "settings": {"max_unacked": 4_294_967_296_u64}}),
        )
        .await;
    a.invalid("body.settings.max_unacked", "expected number <= 4294967295");
    let a = h
        .create(json!({"name": "q", "type": "delayed", "settings": {}, "extra": 1}))
        .await;
    a.invalid("body.extra", "unexpected property");
    let a = h
        .create(json!({"name": "x".repeat(1025), "type": "delayed", "settings": {}}))
        .await;
    a.invalid("body.name", "expected length <= 1024");
    let a = h
        .create(json!({"name": "a/b", "type": "delayed", "settings": {}}))
        .await;
    a.invalid("body.name", "expected no '/' characters");
    let a = h.create(json!({"type": "delayed", "settings": {}})).await;
    a.invalid("body", "expected required property name to be present");
    assert_eq!(
        a.body["errors"][0]["value"],
        json!({"type": "delayed", "settings": {}})
    );

    h.create_delayed("q").await;
    let a = h
        .post("/API/v1/queues/q/messages", json!({"priority": 1}))
        .await;
    a.invalid("body", "expected required property content to be present");
    let a = h
        .post(
            "/API/v1/queues/q/messages",
            json!({"id": 5, "priority": 1, "content": "x"}),
        )
        .await;
    a.invalid("body.id", "expected string");
    let a = h
        .post(
            "/API/v1/queues/q/messages",
            json!({"id": "abc", "priority": 1, "content": "x"}),
        )
        .await;
    a.invalid("body.id", "expected a decimal unsigned 64-bit integer");
    let a = h
        .post(
            "/API/v1/queues/q/messages",
            json!({"priority": 1, "content": "x", "group": "g".repeat(1025)}),
        )
        .await;
    a.invalid("body.group", "expected length <= 1024");
    let a = h
        .post(
            "/API/v1/queues/q/messages",
            json!({"priority": 1, "content": "x".repeat(1024 * 1024 + 1)}),
        )
        .await;
    a.invalid("body.content", "expected length <= 1048576");
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let a = h
        .post(
            "/API/v1/queues/q/messages",
            json!({"priority": 1, "content": "x", "metadata": many}),
        )
        .await;
    a.invalid(
        "body.metadata",
        "expected object with at most 64 properties",
    );
    let a = h
        .post(
            "/API/v1/queues/q/messages",
            json!({"priority": 1, "content": "x", "metadata": {"k": "v".repeat(16 * 1024)}}),
        )
        .await;
    a.invalid("body.metadata", "expected metadata of at most 16384 bytes");
    let a = h
        .post(
            "/API/v1/queues/q/messages",
            json!({"priority": 1, "content": "x", "metadata": {"k": 1}}),
        )
        .await;
    a.invalid("body.metadata.k", "expected string");
    let a = h.call("POST", "/API/v1/queues/q/messages", None).await;
    a.problem(400, "request body is required", None, "body_required");

    let a = h.get("/API/v1/queues/q/messages/abc").await;
    a.invalid("path.id", "invalid integer");
    assert_eq!(a.body["errors"][0]["value"], "abc");
    let a = h.get("/API/v1/queues/q/messages?ack=yes").await;
    a.invalid("query.ack", "invalid boolean");
    let a = h.get("/API/v1/queues/q/messages?wait=21").await;
    a.invalid("query.wait", "expected duration <= 20s");
    let a = h
        .call(
            "POST",
            "/API/v1/queues/q/messages/1/ack?receipt=garbage",
            None,
        )
        .await;
    a.invalid("query.receipt", "invalid receipt");
    let a = h.get("/API/v1/queues/a%01b").await;
    a.invalid("path.queue_name", "expected no control characters");
    let a = h.post("/API/v1/ids", json!({"number": 1001})).await;
    a.invalid("body.number", "expected number <= 1000");
    let a = h.post("/API/v1/queues/q/batch/enqueue", json!({"messages": [{"priority": 1, "content": "a"}, {"priority": -3, "content": "b"}]})).await;
    a.invalid("body.messages[1].priority", "expected number >= 0");
    let info = h.get("/API/v1/queues/q").await;
    assert_eq!(
        info.ok()["total"],
        0,
        "nothing of a rejected batch is stored"
    );
}

#[tokio::test]
async fn ack_parses_like_go_and_ids_are_strings() {
    let h = Harness::new();
    h.create_delayed("q").await;
    let body =
        json!({"id": "18446744073709551615", "priority": 3, "content": "big", "metadata": {}});
    let a = h.post("/API/v1/queues/q/messages", body).await;
    assert_eq!(
        a.ok(),
        &json!({"status": "ENQUEUED", "id": "18446744073709551615", "group": "default", "priority": 3, "content": "big"})
    );
    let d = h.get("/API/v1/queues/q/messages?ack=T").await;
    assert_eq!(d.ok()["id"], "18446744073709551615");
    assert_eq!(
        h.get("/API/v1/queues/q").await.ok()["total"],
        0,
        "ack=T deleted it"
    );
    let a = h
        .post(
            "/API/v1/queues/q/messages",
            json!({"id": "0", "priority": 3, "content": "auto"}),
        )
        .await;
    let id = a.ok()["id"].as_str().expect("id");
    assert_ne!(id, "0");
}

#[tokio::test]
async fn reserve_ids_list_info_and_purge() {
    let h = Harness::new();
    let a = h.post("/API/v1/ids", json!({"number": 3})).await;
    let ids = a.ok()["ids"].as_array().expect("ids").clone();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(Value::is_string));
    h.create_fair("b", "round_robin", 0).await;
    h.create_delayed("a").await;
    for i in 0..3 {
        h.enqueue("a", "", 10, &format!("m{i}")).await;
    }
    let list = h.get("/API/v1/queues").await;
    let names: Vec<&str> = list.ok()["queues"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|q| q["name"].as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let fair = h.get("/API/v1/queues?type=fair").await;
    assert_eq!(fair.ok()["queues"].as_array().map(Vec::len), Some(1));
    h.get("/API/v1/queues?type=other").await.invalid(
        "query.type",
        "expected value to be one of \"delayed, fair\"",
    );
    let info = h.get("/API/v1/queues/a").await;
    let body = info.ok();
    assert_eq!(
        body["settings"],
        json!({"strategy": "STRATEGY_UNSPECIFIED", "ack_timeout": 1800})
    );
    for field in [
        "enqueue_rps",
        "dequeue_rps",
        "ack_rps",
        "nack_rps",
        "ready",
        "unacked",
        "total",
        "delayed",
        "dead_lettered",
    ] {
        assert!(body[field].is_number(), "{field} in {body}");
    }
    assert_eq!(
        (body["ready"].clone(), body["total"].clone()),
        (json!(3), json!(3))
    );
    let purged = h.call("POST", "/API/v1/queues/a/purge", None).await;
    assert_eq!(
        purged.ok(),
        &json!({"status": "PURGED", "name": "a", "purged": 3})
    );
}

#[tokio::test]
async fn batch_enqueue_and_dequeue() {
    let h = Harness::new();
    h.create_delayed("q").await;
    let items: Vec<Value> = (0..5)
        .map(|i| json!({"priority": 10, "content": format!("m{i}")}))
        .collect();
    let a = h
        .post("/API/v1/queues/q/batch/enqueue", json!({"messages": items}))
        .await;
    let stored = a.ok()["messages"].as_array().expect("messages").clone();
    assert_eq!(stored.len(), 5);
    assert_eq!(stored[0]["group"], "default");
    let d = h
        .post(
            "/API/v1/queues/q/batch/dequeue",
            json!({"max": 3, "ack": true}),
        )
        .await;
    let body = d.ok();
    assert_eq!(body["status"], "DEQUEUED");
    let got: Vec<&str> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(got, ["m0", "m1", "m2"]);
    assert!(body["messages"][0].get("status").is_none());
    let d = h
        .post(
            "/API/v1/queues/q/batch/dequeue",
            json!({"max": 3, "ack": true}),
        )
        .await;
    assert_eq!(d.ok()["messages"].as_array().map(Vec::len), Some(2));
    let d = h
        .post("/API/v1/queues/q/batch/dequeue", json!({"max": 3}))
        .await;
    assert_eq!(d.ok(), &json!({"status": "DEQUEUED", "messages": []}));
    let a = h
        .post("/API/v1/queues/q/batch/dequeue", json!({"max": 1001}))
        .await;
    a.invalid("body.max", "expected number <= 1000");
    let a = h
        .post("/API/v1/queues/q/batch/enqueue", json!({"messages": []}))
        .await;
    a.invalid("body.messages", "expected array length >= 1");
}

#[tokio::test]
async fn cluster_and_health_routes() {
    let h = Harness::new();
    let servers = h.get("/API/v1/cluster/servers").await;
    assert_eq!(
        servers.ok(),
        &json!({"servers": [{"id": "node-0", "addr": "", "leader_addr": "", "is_leader": true, "suffrage": "Voter"}]})
    );
    let status = h.get("/API/v1/cluster/status").await;
    let body = status.ok();
    assert_eq!(body["state"], "Leader");
    assert_eq!(body["node_id"], "node-0");
    assert_eq!(body["storage_backend"], "memory");
    for uri in ["/livez", "/healthz", "/readyz", "/readyz?leader=true"] {
        let a = h.get(uri).await;
        assert_eq!(a.ok(), &json!("OK"), "{uri}");
    }
    h.get("/readyz?leader=maybe")
        .await
        .invalid("query.leader", "invalid boolean");
}

#[tokio::test]
async fn wait_returns_as_soon_as_a_message_is_enqueued() {
    let h = Harness::new();
    h.create_delayed("q").await;
    let (dequeued, _) = tokio::join!(
        h.get("/API/v1/queues/q/messages?ack=true&wait=10s"),
        async {
            tokio::task::yield_now().await;
            h.enqueue("q", "", 10, "late").await
        }
    );
    assert_eq!(dequeued.ok()["content"], "late");
}

#[tokio::test]
async fn wait_catches_a_delayed_message_coming_due() {
    let h = Harness::new();
    h.create_delayed("q").await;
    let due = h.now_secs() + 1;
    h.enqueue("q", "", due, "soon").await;
    let (dequeued, ()) = tokio::join!(h.get("/API/v1/queues/q/messages?ack=true&wait=10"), async {
        tokio::task::yield_now().await;
        h.clock.advance_ms(1000);
    });
    assert_eq!(dequeued.ok()["content"], "soon");
}

#[tokio::test]
async fn wait_runs_out_with_the_empty_queue_400() {
    let h = Harness::new();
    h.create_delayed("q").await;
    let started = tokio::time::Instant::now();
    let a = h.get("/API/v1/queues/q/messages?wait=300ms").await;
    a.problem(
        400,
        "Failed to dequeue a message from a queue",
        Some("Queue is empty: q"),
        "queue_empty",
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    let d = h
        .post(
            "/API/v1/queues/q/batch/dequeue",
            json!({"max": 2, "wait": 0.2}),
        )
        .await;
    assert_eq!(d.ok(), &json!({"status": "DEQUEUED", "messages": []}));
}
