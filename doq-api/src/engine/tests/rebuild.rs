//! The in-memory index: an entry stays small, and a rebuild from the store in bulk chunks agrees
//! with the live engine (digest, peek pages and the order of deliveries).
use super::*;

#[test]
fn an_entry_stays_small() {
    // A million queued messages live in memory: every byte here is a megabyte there.
    assert!(std::mem::size_of::<Entry>() <= 48);
}

#[test]
fn rebuild_in_chunks_agrees_with_the_live_engine() {
    // More messages than one bulk chunk of `Rebuilt`, with leases, acks and not-yet-due priorities
    // spread over them, so chunk boundaries fall between every kind of entry.
    let mut r = Rig::new();
    r.create("big", QueueKind::Delayed, settings(None, 0));
    let due_later = i64::try_from(T0 / 1000).unwrap() + 3600;
    for batch in 0..70 {
        let items = (0..1000)
            .map(|i| {
                msg(
                    "",
                    if (batch + i) % 7 == 0 {
                        due_later
                    } else {
                        i % 5
                    },
                    "x",
                )
            })
            .collect();
        assert!(matches!(
            r.run(Command::Enqueue {
                queue: name("big"),
                items
            }),
            Ok(Reply::Enqueued(_))
        ));
    }
    for n in 0..300 {
        let d = r.dequeue("big", false).expect("due messages");
        if n % 2 == 0 {
            assert_eq!(
                r.run(Command::Ack {
                    queue: name("big"),
                    id: d.id,
                    receipt: Some(d.receipt),
                }),
                Ok(Reply::Acked)
            );
        }
    }
    let mut rebuilt = Engine::rebuild(&r.store).unwrap();
    assert_eq!(rebuilt.digest(), r.engine.digest());
    let page = |e: &Engine, after| {
        e.peek(&name("big"), after, 50, PeekFilter::All, Timestamp(r.now))
            .unwrap()
    };
    let first = page(&r.engine, None);
    assert_eq!(page(&rebuilt, None), first);
    let after = first.messages.last().map(|v| v.header.id);
    assert_eq!(page(&rebuilt, after), page(&r.engine, after));
    // The ready index came back in bulk: both engines deliver the same messages in the same order.
    let mut twin = r.store.clone();
    for _ in 0..200 {
        r.index += 1;
        let e = Stamped {
            now: Timestamp(r.now),
            seed: r.index,
            command: Command::Dequeue {
                queue: name("big"),
                ack: true,
                max: 10,
            },
        };
        assert_eq!(
            rebuilt.apply(r.index, &e, &mut twin),
            r.engine.apply(r.index, &e, &mut r.store)
        );
    }
}
