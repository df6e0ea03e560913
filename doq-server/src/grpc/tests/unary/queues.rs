//! The queue RPCs: `CreateQueue`, `UpdateQueue`, `DeleteQueue`, `GetQueue` and `GetQueues`, their
//! happy paths and each failure's code, DOQ text and reason.
use super::*;

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
