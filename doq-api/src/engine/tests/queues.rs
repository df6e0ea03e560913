//! Queue lifecycle and ids: deleting a queue deletes its messages, invalid settings change
//! nothing, and reserved ids are increasing snowflakes.
use super::*;

#[test]
fn deleting_a_queue_deletes_its_messages_and_recreation_starts_empty() {
    let mut r = Rig::new();
    r.create("q", QueueKind::Delayed, settings(None, 0));
    r.enqueue("q", msg("", 1, "a"));
    r.dequeue("q", false);
    r.enqueue("q", msg("", 1, "b"));
    assert_eq!(
        r.run(Command::DeleteQueue { name: name("q") }),
        Ok(Reply::QueueDeleted)
    );
    assert!(r.store.headers.is_empty() && r.store.bodies.is_empty());
    r.create("q", QueueKind::Delayed, settings(None, 0));
    assert!(r.dequeue("q", true).is_none());
    assert!(
        r.engine.next_deadline().is_none(),
        "leases of the deleted queue are gone"
    );
    r.assert_rebuild_agrees();
}

#[test]
fn invalid_settings_are_conflicts_and_change_nothing() {
    let mut r = Rig::new();
    let before = r.engine.digest();
    for (kind, s) in [
        (QueueKind::Fair, settings(None, 0)),
        (QueueKind::Delayed, settings(Some(Strategy::RoundRobin), 0)),
        (QueueKind::Delayed, settings(None, 3)),
    ] {
        let got = r.run(Command::CreateQueue {
            name: name("q"),
            kind,
            settings: s,
        });
        assert!(matches!(got, Err(Error::InvalidSettings { .. })), "{got:?}");
    }
    assert_eq!(r.engine.digest(), before);
    assert!(r.store.queues.is_empty());
}

#[test]
fn ids_are_snowflakes_and_increase() {
    let mut r = Rig::new();
    let Ok(Reply::Ids(ids)) = r.run(Command::ReserveIds { count: 3 }) else {
        panic!()
    };
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert!(ids[0].0 >= (T0 - SNOWFLAKE_EPOCH_MS) << 22);
    r.create("q", QueueKind::Delayed, settings(None, 0));
    assert!(r.enqueue("q", msg("", 1, "a")) > ids[2]);
}
