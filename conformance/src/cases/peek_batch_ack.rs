//! Peek and batch ack [EXT] (docs/http.md §3.5). Peek lists a queue's messages by id with their state,
//! pages with `after`/`next_after`, filters by `state` and changes nothing. Batch ack judges each item
//! on its own and answers in request order; a bad item or receipt rejects the whole request before
//! anything is acked. An unknown queue gets 404 on both.
use std::time::Duration;

use serde_json::{json, Value};
use tracing::info;

use crate::{
    check::{check, check_delivered, check_invalid, check_problem, check_status, str_field},
    ops::{create_delayed, dequeue, enqueue, enqueue_simple, queue},
    Harness,
};

/// A peek item: `{"id","group","priority","content","metadata"?,"state","deliveries","lease_deadline_ms"?}`.
fn peeked(id: &str, priority: u64, content: &str, state: &str, deliveries: u64) -> Value {
    json!({
        "id": id, "group": "default", "priority": priority, "content": content, "state": state,
        "deliveries": deliveries,
    })
}

/// Peek shows every message with its state in id order, filters by state, pages with `after` and
/// `next_after`, changes nothing, and rejects bad `limit`, `after` and `state` with 422.
pub async fn peek_browses(h: &Harness) {
    let c = h.client();
    let q = "peek";
    let peek = |query: &str| format!("{}/peek{query}", queue(q));
    let later = h.now_secs() + 3600;
    info!("--- a leased, a ready, a delayed and a ready message");
    let (a, b, d, e, deadline) = {
        create_delayed(&c, q, json!({ "ack_timeout": 60 })).await;
        let a = enqueue(
            &c,
            q,
            json!({ "priority": 10, "content": "a", "metadata": { "k": "v" } }),
            "default",
        )
        .await;
        let b = enqueue_simple(&c, q, 10, "b").await;
        let d = enqueue_simple(&c, q, later, "d").await;
        let e = enqueue_simple(&c, q, 20, "e").await;
        let leased_at = h.now().0;
        check_delivered(
            &dequeue(&c, q, false).await,
            &json!({
                "status": "DEQUEUED", "id": a, "group": "default", "priority": 10, "content": "a",
                "metadata": { "k": "v" }, "deliveries": 1,
            }),
        );
        (a, b, d, e, leased_at + 60_000)
    };
    let item_a = {
        let mut v = peeked(&a, 10, "a", "leased", 1);
        v["metadata"] = json!({ "k": "v" });
        v["lease_deadline_ms"] = json!(deadline);
        v
    };
    let item_b = peeked(&b, 10, "b", "ready", 0);
    let item_d = peeked(&d, later, "d", "delayed", 0);
    let item_e = peeked(&e, 20, "e", "ready", 0);
    info!("--- every state, by id, and the state filter");
    {
        let all = json!({ "messages": [item_a, item_b, item_d, item_e], "next_after": null });
        check(&c.get(&peek("")).await, 200, &all);
        check(&c.get(&peek("?state=all&limit=10")).await, 200, &all);
        check(
            &c.get(&peek("?state=ready")).await,
            200,
            &json!({ "messages": [item_b, item_e], "next_after": null }),
        );
        check(
            &c.get(&peek("?state=delayed")).await,
            200,
            &json!({ "messages": [item_d], "next_after": null }),
        );
        check(
            &c.get(&peek("?state=leased")).await,
            200,
            &json!({ "messages": [item_a], "next_after": null }),
        );
    }
    info!("--- pages: limit, after (exclusive) and next_after");
    {
        check(
            &c.get(&peek("?limit=2")).await,
            200,
            &json!({ "messages": [item_a, item_b], "next_after": b }),
        );
        check(
            &c.get(&peek(&format!("?limit=2&after={b}"))).await,
            200,
            &json!({ "messages": [item_d, item_e], "next_after": null }),
        );
        check(
            &c.get(&peek(&format!("?limit=1&after={a}&state=ready")))
                .await,
            200,
            &json!({ "messages": [item_b], "next_after": b }),
        );
        check(
            &c.get(&peek(&format!("?after={e}"))).await,
            200,
            &json!({ "messages": [], "next_after": null }),
        );
    }
    info!("--- peek changes nothing: the state digest and the next dequeue are as before");
    {
        let before = h.digest().await;
        check_status(&c.get(&peek("")).await, 200);
        check_status(&c.get(&peek("?state=leased")).await, 200);
        assert_eq!(h.digest().await, before, "peek changed the state");
        check_delivered(
            &dequeue(&c, q, false).await,
            &json!({ "status": "DEQUEUED", "id": b, "group": "default", "priority": 10, "content": "b", "deliveries": 1 }),
        );
    }
    info!("--- bad limit, after and state get 422 at query.*");
    {
        for bad in ["0", "1001", "-1", "abc", "1.5"] {
            check_invalid(
                &c.get(&peek(&format!("?limit={bad}"))).await,
                "query.limit",
                None,
            );
        }
        for bad in ["-1", "abc", "18446744073709551616"] {
            check_invalid(
                &c.get(&peek(&format!("?after={bad}"))).await,
                "query.after",
                None,
            );
        }
        check_invalid(&c.get(&peek("?state=READY")).await, "query.state", None);
        check_invalid(&c.get(&peek("?state=gone")).await, "query.state", None);
    }
    info!("--- an unknown queue gets 404");
    check_problem(
        &c.get(&format!("{}/peek", queue("no-such-peek"))).await,
        404,
        "Queue not found",
        "Failed to get a queue: no-such-peek",
        "queue_not_found",
    );
}

/// Batch ack answers each item in request order (acked, stale receipt, not leased, unknown id); a bad
/// item, id or receipt, an empty or too long list get 422 and ack nothing; an unknown queue gets 404.
pub async fn batch_ack_per_item(h: &Harness) {
    let c = h.client();
    let q = "batch-ack";
    let ack = format!("{}/batch/ack", queue(q));
    let peek_leased = format!("{}/peek?state=leased", queue(q));
    info!("--- m1 delivered twice (r1 stale), m2 and m3 leased, m4 ready");
    let (m1, m2, m3, m4, r1_old, r1, r2) = {
        create_delayed(&c, q, json!({ "ack_timeout": 60 })).await;
        let mut ids = Vec::new();
        for content in ["1", "2", "3", "4"] {
            ids.push(enqueue_simple(&c, q, 10, content).await);
        }
        let item = |id: &str, content: &str, deliveries: u64| json!({ "status": "DEQUEUED", "id": id, "group": "default", "priority": 10, "content": content, "deliveries": deliveries });
        let r1_old = check_delivered(&dequeue(&c, q, false).await, &item(&ids[0], "1", 1));
        h.advance(Duration::from_secs(60));
        let r1 = check_delivered(&dequeue(&c, q, false).await, &item(&ids[0], "1", 2));
        let r2 = check_delivered(&dequeue(&c, q, false).await, &item(&ids[1], "2", 1));
        check_delivered(&dequeue(&c, q, false).await, &item(&ids[2], "3", 1));
        let [m1, m2, m3, m4]: [String; 4] = ids.try_into().unwrap_or_else(|_| unreachable!());
        (m1, m2, m3, m4, r1_old, r1, r2)
    };
    let leased_ids = |v: &Value| -> Vec<String> {
        v["messages"]
            .as_array()
            .map(|a| a.iter().map(|m| str_field(m, "id")).collect())
            .unwrap_or_default()
    };
    info!("--- bad input gets 422 and acks nothing");
    {
        let before = h.digest().await;
        let cases = [
            (json!({}), "body"),
            (json!({ "messages": [] }), "body.messages"),
            (json!({ "messages": {} }), "body.messages"),
            (json!({ "messages": [{ "id": m1 }, 7] }), "body.messages[1]"),
            (
                json!({ "messages": [{ "id": m1 }, {}] }),
                "body.messages[1]",
            ),
            (json!({ "messages": [{ "id": 5 }] }), "body.messages[0].id"),
            (
                json!({ "messages": [{ "id": "x" }] }),
                "body.messages[0].id",
            ),
            (
                json!({ "messages": [{ "id": "-1" }] }),
                "body.messages[0].id",
            ),
            (
                json!({ "messages": [{ "id": m1, "extra": 1 }] }),
                "body.messages[0].extra",
            ),
            (
                json!({ "messages": [{ "id": m1, "receipt": r1 }, { "id": m2, "receipt": "!!!" }] }),
                "body.messages[1].receipt",
            ),
            // A receipt for another message.
            (
                json!({ "messages": [{ "id": m2, "receipt": r2 }, { "id": m3, "receipt": r1 }] }),
                "body.messages[1].receipt",
            ),
        ];
        for (body, location) in cases {
            check_invalid(&c.post(&ack, &body).await, location, None);
        }
        let too_many: Vec<Value> = (0..1001).map(|_| json!({ "id": m2 })).collect();
        check_invalid(
            &c.post(&ack, &json!({ "messages": too_many })).await,
            "body.messages",
            None,
        );
        assert_eq!(
            h.digest().await,
            before,
            "a rejected batch ack changed the state"
        );
        let leased = check_status(&c.get(&peek_leased).await, 200);
        assert_eq!(
            leased_ids(&leased),
            vec![m1.clone(), m2.clone(), m3.clone()]
        );
    }
    info!("--- each item judged on its own within one command, answered in request order");
    {
        let applied = h.applied().await;
        let unknown = "999999999999";
        let not_held = format!("Message not found: {q}");
        let body = json!({ "messages": [
            { "id": m2, "receipt": r2 },
            { "id": m1, "receipt": r1_old },
            { "id": m4 },
            { "id": m3 },
            { "id": unknown },
        ] });
        check(
            &c.post(&ack, &body).await,
            200,
            &json!({ "results": [
                { "id": m2, "status": "ACKNOWLEDGED" },
                { "id": m1, "status": "FAILED", "code": "stale_receipt", "message": format!("Stale receipt: {q}") },
                { "id": m4, "status": "FAILED", "code": "lease_not_held", "message": not_held },
                { "id": m3, "status": "ACKNOWLEDGED" },
                { "id": unknown, "status": "FAILED", "code": "lease_not_held", "message": not_held },
            ] }),
        );
        assert_eq!(
            h.applied().await,
            applied + 1,
            "a batch ack of five items is one command (one log index)"
        );
        let leased = check_status(&c.get(&peek_leased).await, 200);
        assert_eq!(leased_ids(&leased), vec![m1.clone()], "{leased}");
        let all = check_status(&c.get(&format!("{}/peek", queue(q))).await, 200);
        assert_eq!(leased_ids(&all), vec![m1.clone(), m4.clone()], "{all}");
        check(
            &c.post(&ack, &json!({ "messages": [{ "id": m1, "receipt": r1 }] }))
                .await,
            200,
            &json!({ "results": [{ "id": m1, "status": "ACKNOWLEDGED" }] }),
        );
    }
    info!("--- an unknown queue gets 404");
    check_problem(
        &c.post(
            &format!("{}/batch/ack", queue("no-such-ack")),
            &json!({ "messages": [{ "id": "1" }] }),
        )
        .await,
        404,
        "Queue not found",
        "Failed to get a queue: no-such-ack",
        "queue_not_found",
    );
}
