//! [`Reopening`]: a [`QueueStore`] that closes and reopens its backend after a failed commit, so a node
//! recovers from a full or failing disk without a restart.
//!
//! Backends latch some I/O errors: after ENOSPC, redb refuses every later write transaction ("Previous
//! I/O error occurred. Please close and re-open the database") and RocksDB keeps its background error,
//! even once space is back. A failed commit changed nothing (commits are atomic), so reopening the
//! database from disk gives exactly the state the caller rebuilds its engine from. Measured on a
//! 16 MiB tmpfs (see the README's "Security" section): without this wrapper neither backend accepted a
//! write again before a restart.
use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, RwLock, RwLockReadGuard,
    },
};

use doq_api::{Body, Counters, GroupRecord, MessageHeader, MessageId, QueueId, QueueRecord};

use crate::{Applied, Error, MetaKey, QueueStore, Result, Snapshot, Space, WriteBatch};

/// How to open the backend again (the same directory and options as the first time).
pub type Opener = Box<dyn Fn() -> Result<Arc<dyn QueueStore>> + Send + Sync>;

/// Passes every call to the backend; after a failed commit or flush, the next call first closes the
/// backend (waiting for calls in flight, so the database is really closed and its lock released) and
/// opens it again. While that fails (the disk is still full), calls fail and the next one tries again.
pub struct Reopening {
    backend: &'static str,
    inner: RwLock<Option<Arc<dyn QueueStore>>>,
    open: Opener,
    /// Set by a failed commit or flush: reopen before the next call.
    failed: AtomicBool,
}

impl fmt::Debug for Reopening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reopening")
            .field("backend", &self.backend)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Reopening {
    /// Wraps `store`, which `open` opens again after a failure. `store` must be the only handle on the
    /// database, or it cannot be closed.
    pub fn new(store: Arc<dyn QueueStore>, open: Opener) -> Self {
        Self {
            backend: store.backend(),
            inner: RwLock::new(Some(store)),
            open,
            failed: AtomicBool::new(false),
        }
    }

    fn closed(&self, op: &'static str) -> Error {
        Error::Backend {
            backend: self.backend,
            op,
            source: "the store is being reopened after an I/O error".into(),
        }
    }

    /// The backend, reopened first if the last commit failed.
    fn store(&self, op: &'static str) -> Result<RwLockReadGuard<'_, Option<Arc<dyn QueueStore>>>> {
        if self.failed.load(Ordering::SeqCst) {
            let mut slot = self.inner.write().map_err(|_| self.closed(op))?;
            if self.failed.load(Ordering::SeqCst) {
                // Close first: the backend holds a lock on its directory, and redb its file.
                *slot = None;
                *slot = Some((self.open)()?);
                self.failed.store(false, Ordering::SeqCst);
            }
        }
        self.inner.read().map_err(|_| self.closed(op))
    }

    fn with<T>(&self, op: &'static str, f: impl FnOnce(&dyn QueueStore) -> Result<T>) -> Result<T> {
        let guard = self.store(op)?;
        let Some(store) = guard.as_ref() else {
            return Err(self.closed(op));
        };
        f(&**store)
    }
}

#[deny(clippy::missing_trait_methods)]
impl QueueStore for Reopening {
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn commit(&self, batch: WriteBatch) -> Result<()> {
        let done = self.with("commit batch", |s| s.commit(batch));
        if done.is_err() {
            self.failed.store(true, Ordering::SeqCst);
        }
        done
    }

    fn commit_ref(&self, batch: &WriteBatch) -> Result<()> {
        let done = self.with("commit batch", |s| s.commit_ref(batch));
        if done.is_err() {
            self.failed.store(true, Ordering::SeqCst);
        }
        done
    }

    fn flush(&self) -> Result<()> {
        let done = self.with("flush", QueueStore::flush);
        if done.is_err() {
            self.failed.store(true, Ordering::SeqCst);
        }
        done
    }

    fn applied(&self) -> Result<Option<Applied>> {
        self.with("read", QueueStore::applied)
    }

    fn counters(&self) -> Result<Option<Counters>> {
        self.with("read", QueueStore::counters)
    }

    fn queues(&self) -> Result<Vec<QueueRecord>> {
        self.with("read", QueueStore::queues)
    }

    fn groups(&self, q: QueueId) -> Result<Vec<GroupRecord>> {
        self.with("read", |s| s.groups(q))
    }

    fn scan_headers(
        &self,
        q: QueueId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageHeader>> {
        self.with("read", |s| s.scan_headers(q, after, limit))
    }

    fn get_message(&self, q: QueueId, id: MessageId) -> Result<Option<(MessageHeader, Body)>> {
        self.with("read", |s| s.get_message(q, id))
    }

    fn get_body(&self, q: QueueId, id: MessageId) -> Result<Option<Body>> {
        self.with("read", |s| s.get_body(q, id))
    }

    fn meta(&self, key: MetaKey) -> Result<Option<Vec<u8>>> {
        self.with("read", |s| s.meta(key))
    }

    fn scan(
        &self,
        space: Space,
        lo: &[u8],
        hi: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.with("read", |s| s.scan(space, lo, hi, limit))
    }

    fn with_snapshot(&self, f: &mut dyn FnMut(&dyn Snapshot) -> Result<()>) -> Result<()> {
        self.with("snapshot", |s| s.with_snapshot(f))
    }

    fn snapshot_blocks_commits(&self) -> bool {
        self.with("read", |s| Ok(s.snapshot_blocks_commits()))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::{CommitFault, FaultyStore, MemoryStore};

    #[test]
    fn a_failed_commit_reopens_the_store_before_the_next_call() {
        let opened = Arc::new(AtomicUsize::new(0));
        let first = Arc::new(FaultyStore::new(MemoryStore::new()));
        first.fail_commit(1, CommitFault::Before).unwrap();
        let again = Arc::new(MemoryStore::new());
        let store = {
            let (opened, again) = (opened.clone(), again.clone());
            Reopening::new(
                first.clone(),
                Box::new(move || {
                    opened.fetch_add(1, Ordering::SeqCst);
                    Ok(again.clone() as Arc<dyn QueueStore>)
                }),
            )
        };
        let mut batch = WriteBatch::new();
        batch.set_cluster_id("c1");
        assert!(store.commit(batch).is_err());
        assert_eq!(opened.load(Ordering::SeqCst), 0, "reopened lazily");
        assert_eq!(crate::cluster_id(&store).unwrap(), None);
        assert_eq!(opened.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&first), 1, "the old store was closed");
        let mut batch = WriteBatch::new();
        batch.set_cluster_id("c2");
        store.commit(batch).unwrap();
        assert_eq!(crate::cluster_id(&*again).unwrap().as_deref(), Some("c2"));
        assert_eq!(
            opened.load(Ordering::SeqCst),
            1,
            "no reopen after a good commit"
        );
    }

    #[test]
    fn a_reopen_that_fails_is_tried_again_on_the_next_call() {
        let tries = Arc::new(AtomicUsize::new(0));
        let first = Arc::new(FaultyStore::new(MemoryStore::new()));
        first.fail_commit(1, CommitFault::Before).unwrap();
        let store = {
            let tries = tries.clone();
            Reopening::new(
                first,
                Box::new(move || {
                    if tries.fetch_add(1, Ordering::SeqCst) == 0 {
                        Err(Error::Backend {
                            backend: "memory",
                            op: "open",
                            source: "disk full".into(),
                        })
                    } else {
                        Ok(Arc::new(MemoryStore::new()) as Arc<dyn QueueStore>)
                    }
                }),
            )
        };
        assert!(store.commit(WriteBatch::new().tap_cluster("x")).is_err());
        assert!(store.queues().is_err(), "the first reopen fails");
        assert!(store.queues().unwrap().is_empty(), "the second works");
        assert_eq!(tries.load(Ordering::SeqCst), 2);
    }

    trait Tap {
        fn tap_cluster(self, id: &str) -> Self;
    }
    impl Tap for WriteBatch {
        fn tap_cluster(mut self, id: &str) -> Self {
            self.set_cluster_id(id);
            self
        }
    }
}
