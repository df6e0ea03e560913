//! Dead letters: a message out of deliveries moves to its queue's dead-letter queue, with its
//! origin in the metadata, and a queue used as a dead-letter queue cannot be deleted.
use super::*;

#[test]
fn exhausted_messages_move_to_the_dead_letter_queue() {
    let mut r = Rig::new();
    r.create("dlq", QueueKind::Delayed, settings(None, 0));
    let mut s = settings(None, 0);
    s.max_deliveries = 2;
    s.dead_letter = Some(name("dlq"));
    r.create("src", QueueKind::Delayed, s);
    let id = r.enqueue("src", msg("", 5, "payload"));
    for _ in 0..2 {
        assert_eq!(r.dequeue("src", false).map(|d| d.id), Some(id));
        r.now += 60_000;
    }
    assert!(
        r.dequeue("src", false).is_none(),
        "the third delivery moves it instead"
    );
    let moved = r.dequeue("dlq", true).unwrap();
    assert_eq!(
        (moved.id, moved.body.content.as_str(), moved.deliveries),
        (id, "payload", 1)
    );
    let meta = &moved.body.metadata;
    assert_eq!(
        meta.get("x-doq-original-queue").map(String::as_str),
        Some("src")
    );
    assert_eq!(
        meta.get("x-doq-delivery-count").map(String::as_str),
        Some("2")
    );
    assert_eq!(
        r.engine
            .stats(&name("src"), Timestamp(r.now), 10)
            .unwrap()
            .dead_lettered,
        1
    );
    r.assert_rebuild_agrees();
    assert!(matches!(
        r.run(Command::DeleteQueue { name: name("dlq") }),
        Err(Error::QueueInUse(_))
    ));
}
