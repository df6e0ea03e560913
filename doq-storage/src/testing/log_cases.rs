//! The [`LogStore`](crate::LogStore) contract cases ([`super::LOG_CASES`]): each gets both views of an empty
//! store and panics on a broken promise.
#![allow(clippy::panic, clippy::expect_used)]
use std::fmt::Debug;

use doq_api::{Counters, MessageId, QueueId};

use super::{entries, log_snapshot, queue_cases::fill, snapshot, LogSnapshot};
use crate::{Applied, LogMeta, Result, Stores, WriteBatch};

#[allow(clippy::needless_pass_by_value)] // by value, so call sites read `log_check("x", got, want)`
fn log_check<T: PartialEq + Debug>(what: &str, got: T, want: T) {
    assert_eq!(got, want, "log: {what}");
}

/// Appended entries read back by range, in index order; `append` replaces an entry with the same index.
pub fn log_append_then_read(stores: &Stores) -> Result<()> {
    let log = stores.log.as_ref();
    log_check(
        "empty log",
        log_snapshot(log)?,
        LogSnapshot {
            entries: vec![],
            last_index: None,
            last_purged: None,
            meta: vec![None, None, None],
        },
    );
    log.append(&[])?;
    log.append(&entries(1..4))?;
    log.append(&entries(4..6))?;
    log_check("everything", log.read(0..100)?, entries(1..6));
    log_check("a slice", log.read(2..4)?, entries(2..4));
    log_check("below the log", log.read(0..1)?, vec![]);
    log_check("above the log", log.read(6..100)?, vec![]);
    log_check("empty range", log.read(3..3)?, vec![]);
    #[allow(clippy::reversed_empty_ranges)] // reading a reversed range must not panic
    let reversed = log.read(4..2)?;
    log_check("reversed range", reversed, vec![]);
    log_check("last index", log.last_index()?, Some(5));
    log.append(&[
        (3, b"three again".to_vec()),
        (6, vec![]),
        (7, vec![7; 70_000]),
    ])?;
    let mut want = entries(1..6);
    if let Some(e) = want.get_mut(2) {
        e.1 = b"three again".to_vec();
    }
    want.push((6, vec![]));
    want.push((7, vec![7; 70_000]));
    log_check(
        "replaced, empty and large entries",
        log.read(0..u64::MAX)?,
        want,
    );
    log_check("last index after more", log.last_index()?, Some(7));
    log.append(&[(u64::MAX, b"max".to_vec())])?;
    log_check("index u64::MAX", log.last_index()?, Some(u64::MAX));
    log_check(
        "u64::MAX is outside any range",
        log.read(u64::MAX - 1..u64::MAX)?,
        vec![],
    );
    log_check("nothing purged", log.last_purged()?, None);
    Ok(())
}

/// `truncate(from)` drops every entry at or after `from` and nothing before it.
pub fn log_truncate_drops_the_suffix(stores: &Stores) -> Result<()> {
    let log = stores.log.as_ref();
    log.truncate(5)?;
    log_check("truncate an empty log", log.last_index()?, None);
    log.append(&entries(1..10))?;
    log.truncate(20)?;
    log_check("truncate past the end", log.read(0..100)?, entries(1..10));
    log.truncate(6)?;
    log_check("suffix dropped", log.read(0..100)?, entries(1..6));
    log_check("last index after truncate", log.last_index()?, Some(5));
    log.append(&entries(6..8))?;
    log_check("append after truncate", log.read(0..100)?, entries(1..8));
    log.truncate(0)?;
    log_check("truncate everything", log.read(0..100)?, vec![]);
    log_check("empty again", log.last_index()?, None);
    log_check("truncate is not purge", log.last_purged()?, None);
    log.append(&[(u64::MAX, b"max".to_vec())])?;
    log.truncate(u64::MAX)?;
    log_check("truncate at u64::MAX", log.last_index()?, None);
    Ok(())
}

/// `purge(upto)` drops every entry at or before `upto`, remembers the highest `upto`, and keeps the rest.
pub fn log_purge_drops_the_prefix(stores: &Stores) -> Result<()> {
    let log = stores.log.as_ref();
    log.append(&entries(1..10))?;
    log.purge(4)?;
    log_check("prefix dropped", log.read(0..100)?, entries(5..10));
    log_check("nothing below the purge point", log.read(0..5)?, vec![]);
    log_check("last purged", log.last_purged()?, Some(4));
    log_check("last index kept", log.last_index()?, Some(9));
    log.purge(2)?;
    log_check("last purged never goes down", log.last_purged()?, Some(4));
    log_check(
        "lower purge changes nothing",
        log.read(0..100)?,
        entries(5..10),
    );
    log.purge(20)?;
    log_check("purge past the end", log.read(0..100)?, vec![]);
    log_check("no entry left", log.last_index()?, None);
    log_check("purged up to 20", log.last_purged()?, Some(20));
    log.append(&entries(21..23))?;
    log_check("append after purge", log.read(0..100)?, entries(21..23));
    log.truncate(22)?;
    log_check(
        "truncate keeps the purge point",
        log.last_purged()?,
        Some(20),
    );
    log.purge(u64::MAX)?;
    log_check("purge everything", log.read(0..u64::MAX)?, vec![]);
    log_check("purged up to u64::MAX", log.last_purged()?, Some(u64::MAX));
    Ok(())
}

/// Each metadata slot keeps the last value saved in it, independently of the others and of the log.
pub fn log_meta_round_trips(stores: &Stores) -> Result<()> {
    let log = stores.log.as_ref();
    for key in LogMeta::ALL {
        log_check("unsaved slot", log.load(key)?, None);
    }
    log.save(LogMeta::Vote, b"term=1,for=2")?;
    log.save(LogMeta::Committed, &[])?;
    log.save(LogMeta::Vote, b"term=2,for=3")?;
    log.save(LogMeta::LastPurged, &[0xff; 300])?;
    log.append(&entries(1..4))?;
    log.truncate(2)?;
    log.purge(1)?;
    log_check(
        "vote overwritten",
        log.load(LogMeta::Vote)?,
        Some(b"term=2,for=3".to_vec()),
    );
    log_check("empty value", log.load(LogMeta::Committed)?, Some(vec![]));
    log_check(
        "last purged record",
        log.load(LogMeta::LastPurged)?,
        Some(vec![0xff; 300]),
    );
    Ok(())
}

/// Queue commits leave the log alone, and log writes leave the queue keyspaces alone.
pub fn log_and_queues_are_independent(stores: &Stores) -> Result<()> {
    let (queues, log) = (stores.queues.as_ref(), stores.log.as_ref());
    let qs = [QueueId(0), QueueId(1), QueueId(u32::MAX)];
    let ids = [MessageId(0), MessageId(1), MessageId(u64::MAX)];
    let mut b = WriteBatch::new();
    fill(&mut b, 0);
    fill(&mut b, u32::MAX);
    b.set_applied(Applied {
        index: 3,
        data: b"log id".to_vec(),
    });
    queues.commit(b)?;
    let before = snapshot(queues, &qs, &ids)?;
    log.append(&entries(0..5))?;
    log.append(&[(u64::MAX, b"max".to_vec())])?;
    log.save(LogMeta::Vote, b"vote")?;
    log.purge(1)?;
    log.truncate(4)?;
    log_check(
        "log writes leave the queues alone",
        snapshot(queues, &qs, &ids)?,
        before,
    );
    let log_before = log_snapshot(log)?;
    let mut b = WriteBatch::new();
    b.delete_queue(QueueId(0));
    b.delete_messages(QueueId(u32::MAX));
    b.put_counters(Counters::default());
    queues.commit(b)?;
    queues.flush()?;
    log_check(
        "queue commits leave the log alone",
        log_snapshot(log)?,
        log_before,
    );
    Ok(())
}
