//! Fair queues: weighted delivery within `max_unacked`, round-robin groups blocked at
//! `max_unacked` until an ack, and the round-robin rotation surviving a rebuild.
use super::*;

#[test]
fn weighted_respects_max_unacked() {
    let mut r = Rig::new();
    r.create("w", QueueKind::Fair, settings(Some(Strategy::Weighted), 8));
    for (g, n) in [("a", 10), ("b", 8), ("c", 3), ("d", 1)] {
        for _ in 0..n {
            r.enqueue("w", msg(g, 10, "m"));
        }
    }
    let got = std::iter::from_fn(|| r.dequeue("w", false)).collect::<Vec<_>>();
    let mut per_group: BTreeMap<String, usize> = BTreeMap::new();
    for d in &got {
        *per_group.entry(d.group.as_str().to_string()).or_default() += 1;
    }
    assert_eq!(
        per_group,
        BTreeMap::from([
            ("a".into(), 8),
            ("b".into(), 8),
            ("c".into(), 3),
            ("d".into(), 1)
        ])
    );
    r.assert_rebuild_agrees();
}

#[test]
fn round_robin_max_unacked_blocks_a_group_until_ack() {
    let mut r = Rig::new();
    r.create(
        "f",
        QueueKind::Fair,
        settings(Some(Strategy::RoundRobin), 1),
    );
    let a1 = r.enqueue("f", msg("a", 1, "m"));
    let a2 = r.enqueue("f", msg("a", 1, "m"));
    let b1 = r.enqueue("f", msg("b", 1, "m"));
    assert_eq!(r.dequeue("f", false).map(|d| d.id), Some(a1));
    assert_eq!(r.dequeue("f", false).map(|d| d.id), Some(b1));
    assert!(r.dequeue("f", false).is_none(), "a is at max_unacked");
    r.assert_rebuild_agrees();
    assert_eq!(
        r.run(Command::Ack {
            queue: name("f"),
            id: a1,
            receipt: None
        }),
        Ok(Reply::Acked)
    );
    assert_eq!(r.dequeue("f", false).map(|d| d.id), Some(a2));
}

#[test]
fn round_robin_rotation_survives_rebuild() {
    let mut r = Rig::new();
    r.create(
        "f",
        QueueKind::Fair,
        settings(Some(Strategy::RoundRobin), 0),
    );
    for g in ["x", "y", "x", "z", "y.k", "y"] {
        r.enqueue("f", msg(g, 1, "m"));
    }
    r.dequeue("f", true).unwrap();
    r.dequeue("f", true).unwrap();
    let mut twin = Rig {
        engine: Engine::rebuild(&r.store).unwrap(),
        store: TestStore::default(),
        now: r.now,
        index: r.index,
    };
    twin.store = std::mem::take(&mut r.store);
    r.store = TestStore::default();
    // Both continue from the same state; `r` keeps its live engine but needs a store for bodies.
    let mut live = Rig {
        engine: r.engine.clone(),
        store: TestStore::default(),
        now: r.now,
        index: r.index,
    };
    live.store.bodies.clone_from(&twin.store.bodies);
    live.store.headers.clone_from(&twin.store.headers);
    assert_eq!(live.drain("f", true), twin.drain("f", true));
}
