//! The RPCs on a delivered or ready message: `Ack`, `Nack` and `Touch` (a live lease, receipts),
//! a lease lapsing at its deadline, and `UpdatePriority`.
use super::*;

#[tokio::test]
async fn ack_nack_and_touch_need_a_live_lease_and_honour_receipts() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.delayed("q").await;
    let id = h.enqueue("q", 10, "a").await.id;
    let receipt_of = |r: &tonic::Response<_>| -> String {
        r.metadata()
            .get("doq-receipt")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    let first = c.dequeue(dequeue_req("q", false)).await.unwrap();
    let first_receipt = receipt_of(&first);

    let touch = TouchRequest {
        queue_name: "q".into(),
        id,
    };
    let ok = c
        .touch(with_metadata(touch.clone(), "doq-receipt", &first_receipt))
        .await
        .unwrap();
    assert!(ok.into_inner().success);
    let nack = NackRequest {
        queue_name: "q".into(),
        id,
        priority: 3,
        metadata: HashMap::from([("retry".to_string(), "1".to_string())]),
    };
    assert!(c.nack(nack.clone()).await.unwrap().into_inner().success);
    let got = c
        .get(GetRequest {
            queue_name: "q".into(),
            id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        got.priority, 3,
        "a non-zero nack priority replaces the stored one"
    );
    assert_eq!(got.metadata.get("retry").map(String::as_str), Some("1"));

    let second = c.dequeue(dequeue_req("q", false)).await.unwrap();
    assert_eq!(
        second
            .metadata()
            .get("doq-deliveries")
            .unwrap()
            .to_str()
            .unwrap(),
        "2"
    );
    let second_receipt = receipt_of(&second);
    let s = failure(
        c.ack(with_metadata(
            ack_req("q", id),
            "doq-receipt",
            &first_receipt,
        ))
        .await,
    );
    check(
        &s,
        Code::FailedPrecondition,
        "failed to ack a message",
        "stale_receipt",
    );
    let s = failure(
        c.ack(with_metadata(ack_req("q", id), "doq-receipt", "garbage"))
            .await,
    );
    check(
        &s,
        Code::InvalidArgument,
        "failed to ack a message",
        "validation_failed",
    );
    let other = doq_api::Receipt {
        id: doq_api::MessageId(id + 1),
        lease: 1,
    }
    .encode();
    let s = failure(
        c.ack(with_metadata(ack_req("q", id), "doq-receipt", &other))
            .await,
    );
    check(
        &s,
        Code::InvalidArgument,
        "failed to ack a message",
        "validation_failed",
    );
    let ok = c
        .ack(with_metadata(
            ack_req("q", id),
            "doq-receipt",
            &second_receipt,
        ))
        .await
        .unwrap();
    assert!(ok.into_inner().success);

    let s = failure(c.ack(ack_req("q", id)).await);
    check(
        &s,
        Code::NotFound,
        "failed to ack a message",
        "lease_not_held",
    );
    let s = failure(c.nack(nack).await);
    check(
        &s,
        Code::NotFound,
        "failed to ack a message",
        "lease_not_held",
    );
    let s = failure(c.touch(touch).await);
    check(
        &s,
        Code::NotFound,
        "failed to touch a message",
        "lease_not_held",
    );
    let s = failure(c.ack(ack_req("nope", id)).await);
    check(
        &s,
        Code::NotFound,
        "failed to ack a message",
        "queue_not_found",
    );
}

#[tokio::test]
async fn a_lease_lapses_at_its_deadline() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.delayed("q").await;
    let id = h.enqueue("q", 1, "a").await.id;
    c.dequeue(dequeue_req("q", false)).await.unwrap();
    h.clock.advance_ms(10_000);
    let s = failure(c.ack(ack_req("q", id)).await);
    check(
        &s,
        Code::NotFound,
        "failed to ack a message",
        "lease_not_held",
    );
    let again = c
        .dequeue(dequeue_req("q", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.id, id);
}

#[tokio::test]
async fn update_priority_reorders_ready_messages() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.delayed("q").await;
    let mut ids = Vec::new();
    for p in [10, 5, 10] {
        ids.push(h.enqueue("q", p, "m").await.id);
    }
    let update = |id, priority| UpdatePriorityRequest {
        queue_name: "q".into(),
        id,
        priority,
    };
    assert!(
        c.update_priority(update(ids[0], 20))
            .await
            .unwrap()
            .into_inner()
            .success
    );
    assert!(
        c.update_priority(update(ids[2], 2))
            .await
            .unwrap()
            .into_inner()
            .success
    );
    let mut order = Vec::new();
    for _ in 0..3 {
        order.push(
            c.dequeue(dequeue_req("q", true))
                .await
                .unwrap()
                .into_inner()
                .id,
        );
    }
    assert_eq!(order, [ids[2], ids[1], ids[0]]);
    let text = "failed to update prioprity of a message";
    let s = failure(c.update_priority(update(ids[0], 1)).await);
    check(&s, Code::NotFound, text, "message_not_found");
    let s = failure(
        c.update_priority(UpdatePriorityRequest {
            queue_name: "nope".into(),
            id: 1,
            priority: 1,
        })
        .await,
    );
    check(&s, Code::NotFound, text, "queue_not_found");
}
