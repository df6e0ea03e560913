//! The message RPCs: `GenerateIDs`, `Enqueue`, `Dequeue` (with and without `doq-wait`), `Get` and
//! `Delete`, their happy paths and each failure's code, DOQ text and reason.
use super::*;

#[tokio::test]
async fn generate_ids_reserves_fresh_ids_and_checks_the_number() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    let ids = c
        .generate_i_ds(GenerateIDsRequest { number: 3 })
        .await
        .unwrap()
        .into_inner();
    assert!(ids.success);
    assert_eq!(ids.ids.len(), 3);
    assert!(ids.ids.windows(2).all(|w| w[0] < w[1]), "{:?}", ids.ids);
    h.delayed("q").await;
    let assigned = h.enqueue("q", 1, "a").await.id;
    assert!(
        assigned > ids.ids[2],
        "server ids never collide with reserved ones"
    );
    for bad in [0, -1, 1001] {
        let s = failure(c.generate_i_ds(GenerateIDsRequest { number: bad }).await);
        check(
            &s,
            Code::InvalidArgument,
            "number must be between 1 and 1000",
            "validation_failed",
        );
    }
}

#[tokio::test]
async fn enqueue_stores_the_message_and_echoes_it() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.delayed("d").await;
    h.create("w", "fair", PbStrategy::Weighted, 0, 0).await;
    let metadata = HashMap::from([("k".to_string(), "v".to_string())]);
    let req = EnqueueRequest {
        queue_name: "d".into(),
        id: 0,
        group: "g1".into(),
        priority: -5,
        content: "hello".into(),
        metadata: metadata.clone(),
    };
    let r = c.enqueue(req).await.unwrap().into_inner();
    assert!(r.success);
    assert!(r.id > 0, "the server assigns an id");
    assert_eq!(r.queue_name, "", "queueName stays empty [DOQ]");
    assert_eq!(
        (r.group.as_str(), r.priority, r.content.as_str()),
        ("default", -5, "hello")
    );
    assert_eq!(r.metadata, metadata);

    let chosen = EnqueueRequest {
        queue_name: "w".into(),
        id: 42,
        group: "tenant-1".into(),
        priority: 3,
        content: "x".into(),
        ..EnqueueRequest::default()
    };
    let r = c.enqueue(chosen).await.unwrap().into_inner();
    assert_eq!((r.id, r.group.as_str()), (42, "tenant-1"));

    let text = "failed to enqueue a message";
    let base = EnqueueRequest {
        queue_name: "d".into(),
        content: "x".into(),
        ..EnqueueRequest::default()
    };
    let s = failure(
        c.enqueue(EnqueueRequest {
            queue_name: "nope".into(),
            ..base.clone()
        })
        .await,
    );
    check(&s, Code::NotFound, text, "queue_not_found");
    let too_long = "x".repeat(1024 * 1024 + 1);
    let s = failure(
        c.enqueue(EnqueueRequest {
            content: too_long,
            ..base.clone()
        })
        .await,
    );
    check(&s, Code::InvalidArgument, text, "validation_failed");
    let s = failure(
        c.enqueue(EnqueueRequest {
            group: "g".repeat(1025),
            ..base.clone()
        })
        .await,
    );
    check(&s, Code::InvalidArgument, text, "validation_failed");
    let crowded = (0..65).map(|i| (format!("k{i}"), String::new())).collect();
    let s = failure(
        c.enqueue(EnqueueRequest {
            metadata: crowded,
            ..base.clone()
        })
        .await,
    );
    check(&s, Code::InvalidArgument, text, "validation_failed");
    let s = failure(
        c.enqueue(EnqueueRequest {
            queue_name: String::new(),
            ..base
        })
        .await,
    );
    check(&s, Code::InvalidArgument, text, "validation_failed");
    let info = c
        .get_queue(GetQueueRequest { name: "d".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.total, 1, "nothing invalid was stored");
}

#[tokio::test]
async fn dequeue_answers_with_receipt_headers_and_not_found_when_empty() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.delayed("q").await;
    let id = h.enqueue("q", 1, "a").await.id;
    let r = c.dequeue(dequeue_req("q", false)).await.unwrap();
    let receipt = r
        .metadata()
        .get("doq-receipt")
        .expect("receipt header")
        .to_str()
        .unwrap();
    assert_eq!(doq_api::Receipt::decode(receipt).map(|r| r.id.0), Some(id));
    assert_eq!(
        r.metadata()
            .get("doq-deliveries")
            .unwrap()
            .to_str()
            .unwrap(),
        "1"
    );
    let m = r.into_inner();
    assert_eq!(
        (m.success, m.id, m.content.as_str(), m.group.as_str()),
        (true, id, "a", "default")
    );

    let text = "failed to dequeue a message";
    let s = failure(c.dequeue(dequeue_req("q", false)).await);
    check(&s, Code::NotFound, text, "queue_empty");
    let s = failure(c.dequeue(dequeue_req("nope", false)).await);
    check(&s, Code::NotFound, text, "queue_not_found");
    let s = failure(
        c.dequeue(with_metadata(dequeue_req("q", true), "doq-wait", "21s"))
            .await,
    );
    check(&s, Code::InvalidArgument, text, "validation_failed");
    let s = failure(
        c.dequeue(with_metadata(dequeue_req("q", true), "doq-wait", "soon"))
            .await,
    );
    check(&s, Code::InvalidArgument, text, "validation_failed");
}

#[tokio::test]
async fn dequeue_with_doq_wait_returns_once_a_message_is_enqueued() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let mut c = h.client.clone();
    let waiting = tokio::spawn(async move {
        c.dequeue(with_metadata(dequeue_req("q", true), "doq-wait", "10s"))
            .await
    });
    eventually("the long poll is parked", || {
        h.service.parked_waiters() == 1
    })
    .await;
    let id = h.enqueue("q", 1, "late").await.id;
    let got = soon("the long poll", waiting)
        .await
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!((got.id, got.content.as_str()), (id, "late"));
}

#[tokio::test]
async fn dequeue_with_doq_wait_answers_empty_when_the_wait_runs_out() {
    let h = Harness::start().await;
    h.delayed("q").await;
    let mut c = h.client.clone();
    let started = tokio::time::Instant::now();
    let s = failure(
        c.dequeue(with_metadata(dequeue_req("q", true), "doq-wait", "50ms"))
            .await,
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(50));
    check(
        &s,
        Code::NotFound,
        "failed to dequeue a message",
        "queue_empty",
    );
    let s = failure(
        c.dequeue(with_metadata(dequeue_req("nope", true), "doq-wait", "5s"))
            .await,
    );
    check(
        &s,
        Code::NotFound,
        "failed to dequeue a message",
        "queue_not_found",
    );
}

#[tokio::test]
async fn get_and_delete_find_messages_in_any_state() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.delayed("q").await;
    let req = EnqueueRequest {
        queue_name: "q".into(),
        priority: 7,
        content: "body".into(),
        metadata: HashMap::from([("a".to_string(), "b".to_string())]),
        ..EnqueueRequest::default()
    };
    let id = c.enqueue(req).await.unwrap().into_inner().id;
    c.dequeue(dequeue_req("q", false)).await.unwrap();
    let get = |id| GetRequest {
        queue_name: "q".into(),
        id,
    };
    let got = c.get(get(id)).await.unwrap().into_inner();
    assert_eq!(
        (got.success, got.id, got.priority, got.content.as_str()),
        (true, id, 7, "body")
    );
    assert_eq!(got.metadata.get("a").map(String::as_str), Some("b"));
    let del = |id| DeleteRequest {
        queue_name: "q".into(),
        id,
    };
    assert!(
        c.delete(del(id)).await.unwrap().into_inner().success,
        "a leased message too"
    );
    let s = failure(c.get(get(id)).await);
    check(
        &s,
        Code::NotFound,
        "failed to get a message",
        "message_not_found",
    );
    let s = failure(c.delete(del(id)).await);
    check(
        &s,
        Code::NotFound,
        "failed to delete a message",
        "message_not_found",
    );
    let s = failure(
        c.get(GetRequest {
            queue_name: "nope".into(),
            id,
        })
        .await,
    );
    check(
        &s,
        Code::NotFound,
        "failed to get a message",
        "queue_not_found",
    );
}
