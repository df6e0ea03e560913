//! Delayed queues: lowest priority first then FIFO, priorities in the future wait until due,
//! `next_ready_at`, the stored group, priority updates and re-enqueue of an existing id.
use super::*;

#[test]
fn delayed_queue_dequeues_lowest_priority_first_then_fifo() {
    let mut r = Rig::new();
    r.create("login", QueueKind::Delayed, settings(None, 0));
    let prios = [123, 523, 35, 7863, 12, 4, 1, 4555];
    let ids: Vec<MessageId> = prios
        .iter()
        .map(|p| r.enqueue("login", msg("", *p, "x")))
        .collect();
    let want: Vec<MessageId> = [6, 5, 4, 2, 0, 1, 7, 3].iter().map(|i| ids[*i]).collect();
    assert_eq!(r.drain("login", true), want);
    r.assert_rebuild_agrees();
}

#[test]
fn future_priorities_wait_until_due() {
    let mut r = Rig::new();
    r.create("d", QueueKind::Delayed, settings(None, 0));
    let secs = i64::try_from(T0 / 1000).unwrap();
    let late = r.enqueue("d", msg("", secs + 2, "late"));
    let soon = r.enqueue("d", msg("", secs + 1, "soon"));
    let now = r.enqueue("d", msg("", 10, "now"));
    assert_eq!(r.drain("d", true), vec![now]);
    r.now += 1100;
    assert_eq!(r.drain("d", true), vec![soon]);
    r.now += 1100;
    assert_eq!(r.drain("d", true), vec![late]);
}

#[test]
fn next_ready_at_names_the_earliest_lease_deadline_or_due_head() {
    let mut r = Rig::new();
    r.create("d", QueueKind::Delayed, settings(None, 0));
    let at = |r: &Rig| {
        r.engine
            .next_ready_at(&name("d"), Timestamp(r.now))
            .unwrap()
    };
    assert_eq!(at(&r), None, "an empty queue changes only on a write");
    let secs = i64::try_from(T0 / 1000).unwrap();
    r.enqueue("d", msg("", secs + 5, "later"));
    assert_eq!(at(&r), Some(Timestamp(T0 + 5000)), "the head comes due");
    r.enqueue("d", msg("", 1, "now"));
    assert_eq!(at(&r), None, "a due head is deliverable already");
    assert!(r.dequeue("d", false).is_some());
    assert_eq!(
        at(&r),
        Some(Timestamp(T0 + 5000)),
        "the due time beats the lease"
    );
    r.now += 5000;
    assert!(r.dequeue("d", false).is_some());
    assert_eq!(
        at(&r),
        Some(Timestamp(T0 + 60_000)),
        "the first lease lapses"
    );
    assert!(r
        .engine
        .next_ready_at(&name("nope"), Timestamp(r.now))
        .is_err());
}

#[test]
fn stored_group_of_delayed_queue_is_default() {
    let mut r = Rig::new();
    r.create("d", QueueKind::Delayed, settings(None, 0));
    match r.run(Command::Enqueue {
        queue: name("d"),
        items: vec![msg("g1", 1, "a")],
    }) {
        Ok(Reply::Enqueued(v)) => assert_eq!(v[0].group.as_str(), "default"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn update_priority_reorders_ready_messages() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let ids: Vec<MessageId> = [10, 5, 10]
        .iter()
        .map(|p| r.enqueue("q", msg("", *p, "m")))
        .collect();
    for (i, p) in [(0, 20), (2, 2)] {
        let c = Command::UpdatePriority {
            queue: name("q"),
            id: ids[i],
            priority: Priority(p),
        };
        assert_eq!(r.run(c), Ok(Reply::PriorityUpdated));
    }
    assert_eq!(r.drain("q", true), vec![ids[2], ids[1], ids[0]]);
}

#[test]
fn reenqueue_of_an_existing_id_is_last_write_wins() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    let mut m = msg("", 50, "old");
    m.id = Some(MessageId(77));
    r.enqueue("q", m.clone());
    let other = r.enqueue("q", msg("", 20, "other"));
    m.priority = Priority(10);
    m.body.content = "new".into();
    r.enqueue("q", m);
    let first = r.dequeue("q", true).unwrap();
    assert_eq!(
        (first.id, first.body.content.as_str()),
        (MessageId(77), "new")
    );
    assert_eq!(r.drain("q", true), vec![other]);
}
