//! Leases and receipts: ack timeouts redeliver and make old receipts stale, nack, touch, batch
//! acks judged item by item, redelivery counts, and leases that lapse under a slower clock.
use super::*;
use crate::receipt::Receipt;

#[test]
fn ack_timeout_redelivers_and_receipts_go_stale() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let id = r.enqueue("q", msg("", 1, "a"));
    let first = r.dequeue("q", false).unwrap();
    assert_eq!(first.deliveries, 1);
    assert!(
        r.dequeue("q", false).is_none(),
        "leased messages are invisible"
    );
    r.now += 60_000;
    let second = r.dequeue("q", false).unwrap();
    assert_eq!((second.id, second.deliveries), (id, 2));
    let stale = r.run(Command::Ack {
        queue: name("q"),
        id,
        receipt: Some(first.receipt),
    });
    assert!(matches!(stale, Err(Error::StaleReceipt { .. })));
    r.assert_rebuild_agrees();
    assert_eq!(
        r.run(Command::Ack {
            queue: name("q"),
            id,
            receipt: Some(second.receipt)
        }),
        Ok(Reply::Acked)
    );
    assert!(matches!(
        r.run(Command::Ack {
            queue: name("q"),
            id,
            receipt: None
        }),
        Err(Error::LeaseNotHeld { .. })
    ));
}

#[test]
fn nack_returns_message_with_new_priority_and_metadata() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let ids: Vec<MessageId> = (0..4).map(|_| r.enqueue("q", msg("", 10, "m"))).collect();
    for id in &ids {
        assert_eq!(r.dequeue("q", false).unwrap().id, *id);
    }
    for (id, p) in ids.iter().zip([30, 20, 30, 40]) {
        let meta = Metadata::from([("retry".to_string(), "1".to_string())]);
        let reply = r.run(Command::Nack {
            queue: name("q"),
            id: *id,
            priority: Priority(p),
            metadata: Some(meta),
            receipt: None,
        });
        assert_eq!(
            reply,
            Ok(Reply::Nacked {
                priority: Priority(p)
            })
        );
    }
    let got = std::iter::from_fn(|| r.dequeue("q", true)).collect::<Vec<_>>();
    assert_eq!(
        got.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![ids[1], ids[0], ids[2], ids[3]]
    );
    assert_eq!(
        got[0].body.metadata.get("retry").map(String::as_str),
        Some("1")
    );
}

#[test]
fn nack_with_zero_priority_keeps_the_old_one() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let id = r.enqueue("q", msg("", 7, "m"));
    r.dequeue("q", false).unwrap();
    let reply = r.run(Command::Nack {
        queue: name("q"),
        id,
        priority: Priority(0),
        metadata: None,
        receipt: None,
    });
    assert_eq!(
        reply,
        Ok(Reply::Nacked {
            priority: Priority(7)
        })
    );
}

#[test]
fn touch_resets_the_deadline() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let id = r.enqueue("q", msg("", 1, "a"));
    r.dequeue("q", false).unwrap();
    r.now += 50_000;
    assert_eq!(
        r.run(Command::Touch {
            queue: name("q"),
            id,
            receipt: None
        }),
        Ok(Reply::Touched)
    );
    r.now += 50_000;
    assert!(
        r.dequeue("q", false).is_none(),
        "touched lease is still live"
    );
    r.now += 10_001;
    assert_eq!(r.dequeue("q", false).map(|d| d.id), Some(id));
}

#[test]
fn time_never_runs_backwards() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    r.enqueue("q", msg("", 1, "a"));
    r.dequeue("q", false).unwrap();
    r.now += 61_000;
    r.run(Command::ReserveIds { count: 1 }).unwrap();
    r.now = T0; // a new leader with a slow clock
    assert!(
        r.dequeue("q", false).is_some(),
        "the lease lapsed at the later time already seen"
    );
}

#[test]
fn ack_batch_judges_each_item_in_one_command_and_totals_count_it() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let a = r.enqueue("q", msg("", 1, "a"));
    let b = r.enqueue("q", msg("", 2, "b"));
    let c = r.enqueue("q", msg("", 3, "c"));
    let da = r.dequeue("q", false).unwrap();
    let db = r.dequeue("q", false).unwrap();
    assert_eq!((da.id, db.id), (a, b));
    let stale = Receipt { id: b, lease: 1 };
    let reply = r.run(Command::AckBatch {
        queue: name("q"),
        items: vec![
            (a, Some(da.receipt)),
            (b, Some(stale)),
            (c, None),
            (b, None),
        ],
    });
    let lease_not_held = Error::LeaseNotHeld { queue: "q".into() };
    assert_eq!(
        reply,
        Ok(Reply::AckedEach(vec![
            (a, Ok(())),
            (b, Err(Error::StaleReceipt { queue: "q".into() })),
            (c, Err(lease_not_held)),
            (b, Ok(())),
        ]))
    );
    let stats = r.engine.stats(&name("q"), Timestamp(r.now), 10).unwrap();
    assert_eq!(stats.total, 1, "only c is left");
    assert_eq!(stats.totals.enqueued, 3);
    assert_eq!(stats.totals.dequeued, 2);
    assert_eq!(stats.totals.acked, 2, "failed items are not counted");
    r.assert_rebuild_agrees();
    assert_eq!(
        r.run(Command::AckBatch {
            queue: name("nope"),
            items: vec![(a, None)],
        }),
        Err(Error::QueueNotFound("nope".into())),
        "an unknown queue fails the whole command"
    );
}

#[test]
fn redeliveries_are_counted_per_queue() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let id = r.enqueue("q", msg("", 1, "a"));
    let first = r.dequeue("q", false).unwrap();
    assert_eq!(first.id, id);
    // The lease lapses: the next dequeue delivers it again.
    r.now += 61_000;
    let again = r.dequeue("q", false).unwrap();
    assert_eq!((again.id, again.deliveries), (id, 2));
    let stats = r.engine.stats(&name("q"), Timestamp(r.now), 10).unwrap();
    assert_eq!(stats.totals.redelivered, 1);
    assert_eq!(stats.totals.dequeued, 2);
    assert_eq!(stats.totals.dead_letter_failures, 0);
}
