//! The [`QueueStore`] contract cases ([`super::CASES`]): each gets an empty store and panics on a broken
//! promise.
#![allow(clippy::panic, clippy::expect_used)]
use std::fmt::Debug;

use doq_api::{
    Body, Counters, IndexSource, MessageHeader, MessageId, Mutations, Priority, QueueId, Timestamp,
};

use super::{body, group, header, queue};
use crate::{Applied, QueueStore, Result, Source, Staged, WriteBatch};

#[allow(clippy::needless_pass_by_value)] // by value, so call sites read `check(s, "x", got, want)`
fn check<T: PartialEq + Debug>(store: &dyn QueueStore, what: &str, got: T, want: T) {
    assert_eq!(got, want, "{}: {what}", store.backend());
}

/// `Put`, `DeleteRange` and `PutMeta` land in their keyspaces; `scan` is inclusive, ordered and limited.
pub fn keyspaces_put_scan_and_range_delete(store: &dyn QueueStore) -> Result<()> {
    use crate::{MetaKey, Op, Space};
    let mut b = WriteBatch::new();
    for k in [3u8, 1, 2, 9] {
        b.push(Op::Put {
            space: Space::Staging,
            key: vec![k, k],
            value: vec![k],
        });
    }
    b.push(Op::Put {
        space: Space::Tombstones,
        key: vec![1, 1],
        value: vec![42],
    });
    b.push(Op::PutMeta {
        key: MetaKey::ClusterId,
        value: b"c-1".to_vec(),
    });
    store.commit(b)?;
    let pairs = |v: &[u8]| {
        v.iter()
            .map(|k| (vec![*k, *k], vec![*k]))
            .collect::<Vec<_>>()
    };
    check(
        store,
        "inclusive ordered scan",
        store.scan(Space::Staging, &[1, 1], &[3, 3], 10)?,
        pairs(&[1, 2, 3]),
    );
    check(
        store,
        "limit",
        store.scan(Space::Staging, &[0], &[255], 2)?,
        pairs(&[1, 2]),
    );
    check(
        store,
        "keyspaces are separate",
        store.scan(Space::Tombstones, &[0], &[255], 10)?,
        vec![(vec![1, 1], vec![42])],
    );
    check(
        store,
        "meta",
        store.meta(MetaKey::ClusterId)?,
        Some(b"c-1".to_vec()),
    );
    let mut b = WriteBatch::new();
    b.push(Op::DeleteRange {
        space: Space::Staging,
        lo: vec![2],
        hi: vec![3, 3],
    });
    b.push(Op::Put {
        space: Space::Staging,
        key: vec![2, 5],
        value: vec![2],
    });
    store.commit(b)?;
    check(
        store,
        "range delete covers only earlier writes",
        store.scan(Space::Staging, &[0], &[255], 10)?,
        vec![
            (vec![1, 1], vec![1]),
            (vec![2, 5], vec![2]),
            (vec![9, 9], vec![9]),
        ],
    );
    Ok(())
}

/// A snapshot reads what was committed before it opened, whatever is committed while it is open (when
/// the backend lets commits run meanwhile).
pub fn snapshot_is_point_in_time(store: &dyn QueueStore) -> Result<()> {
    let mut b = WriteBatch::new();
    b.put_queue(queue(1, "a"));
    b.put_message(header(1, 1), body("one"));
    b.set_applied(Applied {
        index: 5,
        data: Vec::new(),
    });
    store.commit(b)?;
    let concurrent = !store.snapshot_blocks_commits();
    store.with_snapshot(&mut |snap| {
        if concurrent {
            let mut b = WriteBatch::new();
            b.put_queue(queue(2, "b"));
            b.delete_message(QueueId(1), MessageId(1));
            b.set_applied(Applied {
                index: 6,
                data: Vec::new(),
            });
            store.commit(b)?;
        }
        check(
            store,
            "snapshot applied",
            snap.applied()?.map(|a| a.index),
            Some(5),
        );
        check(
            store,
            "snapshot queues",
            snap.queues()?,
            vec![queue(1, "a")],
        );
        check(
            store,
            "snapshot headers",
            snap.scan_headers(QueueId(1), None, 10)?,
            vec![header(1, 1)],
        );
        check(
            store,
            "snapshot body",
            snap.get_body(QueueId(1), MessageId(1))?,
            Some(body("one")),
        );
        Ok(())
    })?;
    if concurrent {
        check(store, "after", store.applied()?.map(|a| a.index), Some(6));
    }
    Ok(())
}

/// A committed batch reads back exactly: queues, headers, bodies, groups.
pub fn commit_then_read_back(store: &dyn QueueStore) -> Result<()> {
    let mut b = WriteBatch::new();
    b.put_queue(queue(2, "b"));
    b.put_queue(queue(1, "a"));
    b.put_message(header(1, 7), body("seven"));
    b.put_message(header(1, 3), body("three"));
    b.put_group(group(1, 1));
    b.put_group(group(1, 0));
    check(store, "batch length", b.len(), 6);
    store.commit(b)?;
    store.commit(WriteBatch::new())?;
    check(
        store,
        "queues in id order",
        store.queues()?,
        vec![queue(1, "a"), queue(2, "b")],
    );
    check(
        store,
        "headers in id order",
        store.scan_headers(QueueId(1), None, 10)?,
        vec![header(1, 3), header(1, 7)],
    );
    check(
        store,
        "message",
        store.get_message(QueueId(1), MessageId(7))?,
        Some((header(1, 7), body("seven"))),
    );
    check(
        store,
        "body",
        store.get_body(QueueId(1), MessageId(3))?,
        Some(body("three")),
    );
    check(
        store,
        "groups in node order",
        store.groups(QueueId(1))?,
        vec![group(1, 0), group(1, 1)],
    );
    check(
        store,
        "missing body",
        store.get_body(QueueId(2), MessageId(7))?,
        None,
    );
    check(store, "no counters yet", store.counters()?, None);
    check(store, "no applied marker yet", store.applied()?, None);
    store.flush()
}

/// Ops apply in batch order: a purge then an enqueue leaves the new message; later puts win.
pub fn ops_apply_in_batch_order(store: &dyn QueueStore) -> Result<()> {
    let mut b = WriteBatch::new();
    b.put_queue(queue(1, "a"));
    b.put_message(header(1, 1), body("old"));
    b.put_message(header(1, 2), body("purged"));
    b.put_group(group(1, 0));
    store.commit(b)?;

    let mut b = WriteBatch::new();
    b.delete_messages(QueueId(1));
    b.put_message(header(1, 1), body("new"));
    b.put_group(group(1, 3));
    b.put_message(header(1, 5), body("gone"));
    b.delete_message(QueueId(1), MessageId(5));
    b.put_header(MessageHeader {
        priority: Priority(99),
        ..header(1, 1)
    });
    b.delete_group(QueueId(1), 3);
    b.put_group(group(1, 4));
    store.commit(b)?;
    let h1 = MessageHeader {
        priority: Priority(99),
        ..header(1, 1)
    };
    check(
        store,
        "headers after purge+put",
        store.scan_headers(QueueId(1), None, 10)?,
        vec![h1.clone()],
    );
    check(
        store,
        "put_header keeps the body",
        store.get_message(QueueId(1), MessageId(1))?,
        Some((h1, body("new"))),
    );
    check(
        store,
        "purged body",
        store.get_body(QueueId(1), MessageId(2))?,
        None,
    );
    check(
        store,
        "put then deleted",
        store.get_body(QueueId(1), MessageId(5))?,
        None,
    );
    check(
        store,
        "groups after purge+put",
        store.groups(QueueId(1))?,
        vec![group(1, 4)],
    );

    let mut b = WriteBatch::new();
    b.delete_queue(QueueId(1));
    b.put_queue(queue(1, "reborn"));
    b.put_message(header(1, 9), body("nine"));
    store.commit(b)?;
    check(
        store,
        "queue recreated",
        store.queues()?,
        vec![queue(1, "reborn")],
    );
    check(
        store,
        "only the new message",
        store.scan_headers(QueueId(1), None, 10)?,
        vec![header(1, 9)],
    );
    check(store, "no old groups", store.groups(QueueId(1))?, vec![]);
    Ok(())
}

pub(super) fn fill(b: &mut WriteBatch, q: u32) {
    b.put_queue(queue(q, &format!("q{q}")));
    for id in [0, 1, u64::MAX] {
        b.put_message(header(q, id), body(&format!("{q}/{id}")));
    }
    b.put_group(group(q, 0));
    b.put_group(group(q, u32::MAX));
}

pub(super) fn check_filled(store: &dyn QueueStore, q: u32) -> Result<()> {
    let ids = [0, 1, u64::MAX];
    let headers: Vec<_> = ids.iter().map(|&id| header(q, id)).collect();
    check(
        store,
        "neighbour's headers",
        store.scan_headers(QueueId(q), None, 10)?,
        headers,
    );
    for id in ids {
        check(
            store,
            "neighbour's bodies",
            store.get_body(QueueId(q), MessageId(id))?,
            Some(body(&format!("{q}/{id}"))),
        );
    }
    check(
        store,
        "neighbour's groups",
        store.groups(QueueId(q))?,
        vec![group(q, 0), group(q, u32::MAX)],
    );
    Ok(())
}

/// `delete_queue` removes everything keyed by the queue and nothing keyed by its neighbours.
pub fn delete_queue_removes_only_that_queue(store: &dyn QueueStore) -> Result<()> {
    let mut b = WriteBatch::new();
    for q in [0, 1, 2, u32::MAX] {
        fill(&mut b, q);
    }
    store.commit(b)?;
    let mut b = WriteBatch::new();
    b.delete_queue(QueueId(1));
    b.delete_queue(QueueId(u32::MAX));
    store.commit(b)?;
    check(
        store,
        "queues left",
        store.queues()?,
        vec![queue(0, "q0"), queue(2, "q2")],
    );
    for q in [1, u32::MAX] {
        check(
            store,
            "deleted headers",
            store.scan_headers(QueueId(q), None, 10)?,
            vec![],
        );
        check(store, "deleted groups", store.groups(QueueId(q))?, vec![]);
        for id in [0, 1, u64::MAX] {
            check(
                store,
                "deleted body",
                store.get_body(QueueId(q), MessageId(id))?,
                None,
            );
        }
    }
    check_filled(store, 0)?;
    check_filled(store, 2)
}

/// `delete_messages` empties a queue but keeps its record, and leaves other queues alone.
pub fn delete_messages_keeps_the_record(store: &dyn QueueStore) -> Result<()> {
    let mut b = WriteBatch::new();
    fill(&mut b, 4);
    fill(&mut b, 5);
    store.commit(b)?;
    let mut b = WriteBatch::new();
    b.delete_messages(QueueId(4));
    store.commit(b)?;
    check(
        store,
        "records kept",
        store.queues()?,
        vec![queue(4, "q4"), queue(5, "q5")],
    );
    check(
        store,
        "headers gone",
        store.scan_headers(QueueId(4), None, 10)?,
        vec![],
    );
    check(store, "groups gone", store.groups(QueueId(4))?, vec![]);
    check(
        store,
        "body gone",
        store.get_message(QueueId(4), MessageId(1))?,
        None,
    );
    check_filled(store, 5)
}

/// [`Staged::body`] sees bodies put, deleted and wiped earlier in the same batch, else the store's.
pub fn staged_body_sees_earlier_writes(store: &dyn QueueStore) -> Result<()> {
    let mut b = WriteBatch::new();
    fill(&mut b, 1);
    fill(&mut b, 2);
    store.commit(b)?;

    let mut batch = WriteBatch::new();
    let mut m = Staged::new(&mut batch, store);
    let body_of = |m: &mut Staged<'_>, q: u32, id: u64| {
        m.body(QueueId(q), MessageId(id)).expect("staged body")
    };
    check(
        store,
        "unstaged reads the store",
        body_of(&mut m, 1, 1),
        Some(body("1/1")),
    );
    m.put_message(&header(1, 1), &body("restaged"));
    check(
        store,
        "staged put",
        body_of(&mut m, 1, 1),
        Some(body("restaged")),
    );
    m.put_header(&header(1, 1));
    check(
        store,
        "put_header keeps the staged body",
        body_of(&mut m, 1, 1),
        Some(body("restaged")),
    );
    m.delete_message(QueueId(1), MessageId(0));
    check(store, "staged delete", body_of(&mut m, 1, 0), None);
    m.put_message(&header(3, 1), &body("new"));
    check(
        store,
        "staged new",
        body_of(&mut m, 3, 1),
        Some(body("new")),
    );
    m.delete_messages(QueueId(2));
    check(store, "staged purge", body_of(&mut m, 2, 1), None);
    m.put_message(&header(2, 1), &body("after purge"));
    check(
        store,
        "put after purge",
        body_of(&mut m, 2, 1),
        Some(body("after purge")),
    );
    check(store, "other purged", body_of(&mut m, 2, 0), None);
    m.delete_queue(QueueId(3));
    check(store, "staged queue delete", body_of(&mut m, 3, 1), None);
    check(
        store,
        "untouched queue",
        body_of(&mut m, 1, u64::MAX),
        Some(body(&format!("1/{}", u64::MAX))),
    );
    m.put_counters(&Counters {
        last_now: Timestamp(1),
        last_id: 2,
        next_queue: 4,
    });
    m.put_queue(&queue(3, "c"));
    m.put_group(&group(3, 0));
    m.delete_group(QueueId(1), 0);

    let staged: Vec<_> = [(1, 0), (1, 1), (2, 0), (2, 1), (3, 1)]
        .into_iter()
        .map(|(q, id)| {
            batch
                .staged_body(QueueId(q), MessageId(id))
                .map(Option::<&Body>::cloned)
        })
        .collect();
    store.commit(batch)?;
    for ((q, id), staged) in [(1, 0), (1, 1), (2, 0), (2, 1), (3, 1)]
        .into_iter()
        .zip(staged)
    {
        check(
            store,
            "staged view is the committed one",
            staged,
            Some(store.get_body(QueueId(q), MessageId(id))?),
        );
    }
    check(
        store,
        "groups after staging",
        store.groups(QueueId(1))?,
        vec![group(1, u32::MAX)],
    );
    Ok(())
}

/// The applied marker is stored with its batch and read back exactly; the last one wins.
pub fn applied_marker_round_trips(store: &dyn QueueStore) -> Result<()> {
    let mut b = WriteBatch::new();
    b.set_applied(Applied {
        index: 1,
        data: vec![],
    });
    b.set_applied(Applied {
        index: 7,
        data: b"term=3".to_vec(),
    });
    store.commit(b)?;
    check(
        store,
        "applied",
        store.applied()?,
        Some(Applied {
            index: 7,
            data: b"term=3".to_vec(),
        }),
    );
    let mut b = WriteBatch::new();
    b.set_applied(Applied {
        index: u64::MAX,
        data: vec![0; 300],
    });
    store.commit(b)?;
    check(
        store,
        "applied overwritten",
        store.applied()?,
        Some(Applied {
            index: u64::MAX,
            data: vec![0; 300],
        }),
    );
    Ok(())
}

/// Counters are stored and read back exactly, and reach `IndexSource::counters`.
pub fn counters_round_trip(store: &dyn QueueStore) -> Result<()> {
    let c = Counters {
        last_now: Timestamp(u64::MAX),
        last_id: 42,
        next_queue: u32::MAX,
    };
    let mut b = WriteBatch::new();
    b.put_counters(Counters::default());
    b.put_counters(c);
    store.commit(b)?;
    check(store, "counters", store.counters()?, Some(c));
    check(
        store,
        "source counters",
        Source(store).counters().ok(),
        Some(Some(c)),
    );
    Ok(())
}

/// `scan_headers` starts after `after`, stays in its queue and returns at most `limit`.
pub fn scan_headers_pages_in_id_order(store: &dyn QueueStore) -> Result<()> {
    let mut b = WriteBatch::new();
    for id in [5, 1, 300, 256, 2, u64::MAX] {
        b.put_message(header(1, id), body("x"));
    }
    b.put_message(header(0, 3), body("x"));
    b.put_message(header(2, 0), body("x"));
    store.commit(b)?;
    let ids = |after: Option<u64>, limit: usize| -> Result<Vec<u64>> {
        Ok(store
            .scan_headers(QueueId(1), after.map(MessageId), limit)?
            .into_iter()
            .map(|h| h.id.0)
            .collect())
    };
    check(
        store,
        "all",
        ids(None, 100)?,
        vec![1, 2, 5, 256, 300, u64::MAX],
    );
    check(store, "first page", ids(None, 2)?, vec![1, 2]);
    check(store, "next page", ids(Some(2), 2)?, vec![5, 256]);
    check(store, "after a missing id", ids(Some(3), 1)?, vec![5]);
    check(store, "last page", ids(Some(300), 2)?, vec![u64::MAX]);
    check(store, "after the last", ids(Some(u64::MAX), 2)?, vec![]);
    check(store, "limit 0", ids(None, 0)?, vec![]);
    Ok(())
}

/// `Source::headers` pages through a queue longer than one page and visits each header once, in order.
pub fn source_visits_every_header(store: &dyn QueueStore) -> Result<()> {
    let n = u64::try_from(Source::PAGE * 2).unwrap_or(u64::MAX);
    let mut b = WriteBatch::new();
    b.put_queue(queue(1, "big"));
    for id in 0..=n {
        b.put_header(header(1, id * 3));
    }
    b.put_header(header(2, 1));
    store.commit(b)?;
    let mut seen = Vec::new();
    Source(store)
        .headers(QueueId(1), &mut |h| seen.push(h.id.0))
        .expect("source headers");
    check(
        store,
        "every header once, in order",
        seen,
        (0..=n).map(|id| id * 3).collect(),
    );
    let mut count = 0;
    Source(store)
        .headers(QueueId(3), &mut |_| count += 1)
        .expect("source headers");
    check(store, "empty queue", count, 0);
    check(
        store,
        "source queues",
        Source(store).queues().ok(),
        Some(vec![queue(1, "big")]),
    );
    check(
        store,
        "source groups",
        Source(store).groups(QueueId(1)).ok(),
        Some(vec![]),
    );
    Ok(())
}

/// `get_message` needs both halves; `put_header` alone makes a header, not a message.
pub fn message_needs_header_and_body(store: &dyn QueueStore) -> Result<()> {
    let mut b = WriteBatch::new();
    b.put_header(header(1, 1));
    store.commit(b)?;
    check(
        store,
        "header only",
        store.get_message(QueueId(1), MessageId(1))?,
        None,
    );
    check(
        store,
        "header is scanned",
        store.scan_headers(QueueId(1), None, 1)?,
        vec![header(1, 1)],
    );
    Ok(())
}
