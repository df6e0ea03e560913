//! The delayed queue's ready index: min `(priority, id)` first, gated by time.
use std::collections::BTreeSet;

use crate::{
    message::{MessageId, Priority},
    time::Timestamp,
};

/// Ready messages of a delayed queue. A sorted set rather than a heap because nack, delete and
/// update-priority remove arbitrary entries.
#[derive(Clone, Debug, Default)]
pub(crate) struct Delayed {
    ready: BTreeSet<(Priority, MessageId)>,
}

/// Whether a priority is due at `now`: priorities double as Unix seconds (docs/semantics.md §4.1).
pub(crate) fn is_due(priority: Priority, now: Timestamp) -> bool {
    i128::from(priority.0) <= i128::from(now.as_secs())
}

impl Delayed {
    pub(crate) fn insert(&mut self, key: (Priority, MessageId)) {
        self.ready.insert(key);
    }

    /// Moves every key of `more` in: one bulk build, where inserting one by one in ascending order
    /// leaves B-tree nodes half full (rebuild adds a whole queue's ready messages this way).
    pub(crate) fn append(&mut self, more: &mut BTreeSet<(Priority, MessageId)>) {
        self.ready.append(more);
    }

    pub(crate) fn remove(&mut self, key: (Priority, MessageId)) {
        self.ready.remove(&key);
    }

    /// The head, if it is due; when the head is not due nothing is (DOQ's rule).
    pub(crate) fn peek_due(&self, now: Timestamp) -> Option<(Priority, MessageId)> {
        self.ready.first().copied().filter(|(p, _)| is_due(*p, now))
    }

    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<(Priority, MessageId)> {
        let head = self.peek_due(now)?;
        self.ready.remove(&head);
        Some(head)
    }

    /// When the head comes due, if it is not due at `now` (the head is the earliest to come due).
    pub(crate) fn next_due(&self, now: Timestamp) -> Option<Timestamp> {
        let (p, _) = self.ready.first().copied()?;
        if is_due(p, now) {
            return None;
        }
        // Not due, so `p` is above `now`'s seconds and positive.
        Some(Timestamp(u64::try_from(p.0).ok()?.saturating_mul(1000)))
    }

    /// Ready messages whose priority is still in the future.
    pub(crate) fn not_due(&self, now: Timestamp) -> u64 {
        let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        match secs.checked_add(1) {
            Some(next) => self.ready.range((Priority(next), MessageId(0))..).count() as u64,
            None => 0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.ready.clear();
    }
}
