//! Long-poll waiters per queue: HTTP `wait` dequeues and gRPC long polls and streams register here while
//! they are parked, so `/metrics` can export `doq_long_poll_waiters{queue_name}` and tests can see a parked
//! consumer. Only parked callers touch the map (once per wait, not per wake), never a plain request.
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use doq_api::QueueName;

/// Parked dequeuers of one node, by queue. Cheap to clone; clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct Waiters(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    total: AtomicUsize,
    by_queue: Mutex<HashMap<QueueName, usize>>,
}

impl Waiters {
    /// Counts one waiter on `queue` until the returned guard drops (however the wait ends).
    pub fn enter(&self, queue: &QueueName) -> Waiting<'_> {
        self.0.total.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.0.by_queue.lock() {
            *map.entry(queue.clone()).or_insert(0) += 1;
        }
        Waiting {
            waiters: self,
            queue: queue.clone(),
        }
    }

    /// Waiters parked now, on every queue.
    pub fn total(&self) -> usize {
        self.0.total.load(Ordering::SeqCst)
    }

    /// Waiters parked now on each queue that has any.
    pub fn by_queue(&self) -> HashMap<QueueName, usize> {
        self.0
            .by_queue
            .lock()
            .map(|map| map.clone())
            .unwrap_or_default()
    }
}

/// One parked waiter; dropping it uncounts it.
#[derive(Debug)]
pub struct Waiting<'a> {
    waiters: &'a Waiters,
    queue: QueueName,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let inner = &self.waiters.0;
        inner.total.fetch_sub(1, Ordering::SeqCst);
        if let Ok(mut map) = inner.by_queue.lock() {
            if let Some(n) = map.get_mut(&self.queue) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&self.queue);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_are_counted_per_queue_until_their_guard_drops() {
        let w = Waiters::default();
        let a = QueueName::new("a").expect("name");
        let b = QueueName::new("b").expect("name");
        let g1 = w.enter(&a);
        let g2 = w.enter(&a);
        let g3 = w.enter(&b);
        assert_eq!(w.total(), 3);
        assert_eq!(w.by_queue().get(&a), Some(&2));
        drop(g1);
        drop(g3);
        assert_eq!(w.total(), 1);
        assert_eq!(w.by_queue().get(&a), Some(&1));
        assert_eq!(w.by_queue().get(&b), None, "an empty queue leaves the map");
        drop(g2);
        assert!(w.by_queue().is_empty());
    }
}
