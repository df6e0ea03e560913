//! Every unary RPC: its happy path and the code, DOQ text and reason of each of its failures (docs/errors.md §6,
//! §7.2, §7.3).
use std::collections::HashMap;

use doq_api::{Command, QueueKind, QueueName, QueueSettings};
use doq_proto::queue::{
    queue_settings::Strategy as PbStrategy, AckRequest, CreateQueueRequest, DeleteQueueRequest,
    DeleteRequest, DequeueRequest, EnqueueRequest, GenerateIDsRequest, GetQueueRequest,
    GetQueuesRequest, GetRequest, NackRequest, QueueSettings as PbSettings, TouchRequest,
    UpdatePriorityRequest, UpdateQueueRequest,
};
use tonic::{Code, Request};

use super::{check, eventually, failure, soon, Harness};

fn settings(strategy: PbStrategy, max_unacked: u32, ack_timeout: u32) -> Option<PbSettings> {
    Some(PbSettings {
        strategy: strategy as i32,
        max_unacked,
        ack_timeout,
    })
}

fn with_metadata<T>(message: T, key: &'static str, value: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(key, value.parse().expect("ascii metadata"));
    request
}

fn dequeue_req(queue: &str, ack: bool) -> DequeueRequest {
    DequeueRequest {
        queue_name: queue.into(),
        ack,
    }
}

fn ack_req(queue: &str, id: u64) -> AckRequest {
    AckRequest {
        queue_name: queue.into(),
        id,
    }
}

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
async fn create_queue_succeeds_once_and_again_and_checks_its_input() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    let create = |name: &str, kind: &str, s: Option<PbSettings>| CreateQueueRequest {
        name: name.into(),
        r#type: kind.into(),
        settings: s,
    };
    let delayed = create("d", "delayed", settings(PbStrategy::Unspecified, 0, 0));
    assert!(
        c.create_queue(delayed.clone())
            .await
            .unwrap()
            .into_inner()
            .success
    );
    assert!(
        c.create_queue(delayed).await.unwrap().into_inner().success,
        "an existing name is fine [DOQ]"
    );
    let fair = create("f", "fair", settings(PbStrategy::Weighted, 3, 10));
    assert!(c.create_queue(fair).await.unwrap().into_inner().success);

    let s = failure(c.create_queue(create("x", "delayed", None)).await);
    check(
        &s,
        Code::InvalidArgument,
        "invalid settings provided",
        "validation_failed",
    );
    for (req, reason) in [
        (
            create("x", "lifo", settings(PbStrategy::Unspecified, 0, 0)),
            "validation_failed",
        ),
        (
            create("x", "delayed", settings(PbStrategy::Unspecified, 0, 9)),
            "validation_failed",
        ),
        (
            create("x", "fair", settings(PbStrategy::Unspecified, 0, 0)),
            "invalid_settings",
        ),
        (
            create("x", "delayed", settings(PbStrategy::RoundRobin, 0, 0)),
            "invalid_settings",
        ),
    ] {
        let s = failure(c.create_queue(req).await);
        check(
            &s,
            Code::InvalidArgument,
            "failed to create a queue x",
            reason,
        );
    }
    let s = failure(
        c.create_queue(create(
            "a/b",
            "delayed",
            settings(PbStrategy::Unspecified, 0, 0),
        ))
        .await,
    );
    check(
        &s,
        Code::InvalidArgument,
        "failed to create a queue a/b",
        "validation_failed",
    );
    let mut unknown_strategy = create("x", "fair", settings(PbStrategy::Unspecified, 0, 0));
    if let Some(s) = unknown_strategy.settings.as_mut() {
        s.strategy = 7;
    }
    let s = failure(c.create_queue(unknown_strategy).await);
    check(
        &s,
        Code::InvalidArgument,
        "failed to create a queue x",
        "validation_failed",
    );
    let all = c
        .get_queues(GetQueuesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.queues.len(), 2, "nothing failed was created");
}

#[tokio::test]
async fn update_queue_replaces_settings_and_keeps_the_strategy() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.create("f", "fair", PbStrategy::RoundRobin, 2, 60).await;
    let update = |name: &str, s: Option<PbSettings>| UpdateQueueRequest {
        name: name.into(),
        settings: s,
    };
    let ok = c
        .update_queue(update("f", settings(PbStrategy::RoundRobin, 5, 0)))
        .await
        .unwrap();
    assert!(ok.into_inner().success);
    let info = c
        .get_queue(GetQueueRequest { name: "f".into() })
        .await
        .unwrap()
        .into_inner();
    let stored = info.settings.unwrap();
    assert_eq!(
        (stored.max_unacked, stored.ack_timeout),
        (5, 1800),
        "replaced; 0 is the default"
    );

    let s = failure(c.update_queue(update("f", None)).await);
    check(
        &s,
        Code::InvalidArgument,
        "queue settings are required",
        "validation_failed",
    );
    let s = failure(
        c.update_queue(update("nope", settings(PbStrategy::Unspecified, 0, 0)))
            .await,
    );
    check(
        &s,
        Code::NotFound,
        "failed to update a queue nope",
        "queue_not_found",
    );
    let s = failure(
        c.update_queue(update("f", settings(PbStrategy::Weighted, 0, 0)))
            .await,
    );
    check(
        &s,
        Code::FailedPrecondition,
        "failed to update a queue f",
        "invalid_settings",
    );
    let s = failure(
        c.update_queue(update("f", settings(PbStrategy::RoundRobin, 0, 3)))
            .await,
    );
    check(
        &s,
        Code::InvalidArgument,
        "failed to update a queue f",
        "validation_failed",
    );
}

#[tokio::test]
async fn delete_queue_removes_it_unless_unknown_or_in_use() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.delayed("q").await;
    h.enqueue("q", 1, "a").await;
    let ok = c
        .delete_queue(DeleteQueueRequest { name: "q".into() })
        .await
        .unwrap();
    assert!(ok.into_inner().success);
    let s = failure(c.get_queue(GetQueueRequest { name: "q".into() }).await);
    check(
        &s,
        Code::NotFound,
        "failed to get a queue q",
        "queue_not_found",
    );
    let s = failure(
        c.delete_queue(DeleteQueueRequest { name: "q".into() })
            .await,
    );
    check(
        &s,
        Code::NotFound,
        "failed to delete a queue q",
        "queue_not_found",
    );

    // Dead-letter settings are HTTP-only (EXT): set them up through consensus.
    h.delayed("dlq").await;
    let settings = QueueSettings {
        strategy: None,
        max_unacked: 0,
        ack_timeout: 60,
        max_deliveries: 3,
        dead_letter: Some(QueueName::new("dlq").unwrap()),
    };
    let name = QueueName::new("src").unwrap();
    h.consensus
        .propose(Command::CreateQueue {
            name,
            kind: QueueKind::Delayed,
            settings,
        })
        .await
        .unwrap();
    let s = failure(
        c.delete_queue(DeleteQueueRequest { name: "dlq".into() })
            .await,
    );
    check(
        &s,
        Code::FailedPrecondition,
        "failed to delete a queue dlq",
        "queue_in_use",
    );
}

#[tokio::test]
async fn get_queue_reports_settings_rates_and_counts() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.create("f", "fair", PbStrategy::RoundRobin, 7, 0).await;
    for n in 0..3 {
        h.enqueue("f", 10, &format!("m{n}")).await;
    }
    c.dequeue(dequeue_req("f", false)).await.unwrap();
    // Rates cover whole seconds before now.
    h.clock.advance_ms(1000);
    let info = c
        .get_queue(GetQueueRequest { name: "f".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((info.name.as_str(), info.r#type.as_str()), ("f", "fair"));
    let s = info.settings.unwrap();
    assert_eq!(s.strategy, PbStrategy::RoundRobin as i32);
    assert_eq!((s.max_unacked, s.ack_timeout), (7, 1800));
    assert_eq!((info.ready, info.unacked, info.total), (2, 1, 3));
    let stats = info.stats.unwrap();
    assert!(
        stats.enqueue_rps > 0.0 && stats.dequeue_rps > 0.0,
        "{stats:?}"
    );
    assert!(stats.enqueue_rps > stats.dequeue_rps, "{stats:?}");
    let s = failure(
        c.get_queue(GetQueueRequest {
            name: "nope".into(),
        })
        .await,
    );
    check(
        &s,
        Code::NotFound,
        "failed to get a queue nope",
        "queue_not_found",
    );
}

#[tokio::test]
async fn get_queues_lists_by_name_and_filters_by_type() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.delayed("b").await;
    h.create("a", "fair", PbStrategy::Weighted, 0, 0).await;
    h.delayed("c").await;
    let names = |r: doq_proto::queue::GetQueuesResponse| -> Vec<String> {
        r.queues.into_iter().map(|q| q.name).collect()
    };
    let list = |kind: &str| GetQueuesRequest {
        r#type: kind.into(),
    };
    assert_eq!(
        names(c.get_queues(list("")).await.unwrap().into_inner()),
        ["a", "b", "c"]
    );
    assert_eq!(
        names(c.get_queues(list("delayed")).await.unwrap().into_inner()),
        ["b", "c"]
    );
    assert_eq!(
        names(c.get_queues(list("fair")).await.unwrap().into_inner()),
        ["a"]
    );
    assert!(names(c.get_queues(list("lifo")).await.unwrap().into_inner()).is_empty());
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

#[tokio::test]
async fn a_stopped_node_answers_unavailable() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    h.delayed("q").await;
    h.consensus.shutdown().await.unwrap();
    let s = failure(
        c.enqueue(EnqueueRequest {
            queue_name: "q".into(),
            ..EnqueueRequest::default()
        })
        .await,
    );
    check(
        &s,
        Code::Unavailable,
        "failed to enqueue a message",
        "unavailable",
    );
}

#[test]
fn not_sent_and_outcome_unknown_get_different_codes() {
    use crate::errors::{grpc_status, GrpcOp};
    let text = "failed to enqueue a message";
    let s = grpc_status(
        GrpcOp::Enqueue,
        &doq_api::Error::Unavailable("no leader available: x".into()),
    );
    check(&s, Code::Unavailable, text, "unavailable");
    // gRPC's code for "may have completed".
    let s = grpc_status(
        GrpcOp::Enqueue,
        &doq_api::Error::OutcomeUnknown("commit not confirmed".into()),
    );
    check(&s, Code::DeadlineExceeded, text, "outcome_unknown");
}
