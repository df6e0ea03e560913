//! [`FaultyLog`]: a [`LogStore`] wrapper that makes the Raft log's writes slow, the log half of a slow
//! disk (the queue half is [`FaultyStore::delay_commits`](super::FaultyStore::delay_commits)). A Raft
//! node's stores come back from `open_stores` as two trait objects over one database, so the log needs a
//! wrapper of its own; [`FaultyStore`](super::FaultyStore)'s `LogStore` impl only fits a store that is
//! both.
use std::{
    fmt,
    ops::Range,
    sync::atomic::{AtomicU64, Ordering},
    thread,
    time::Duration,
};

use crate::{LogMeta, LogStore, Result};

/// A [`LogStore`] that passes everything to `L`, after sleeping [`delay_writes`](Self::delay_writes)
/// before every write (`append`, `truncate`, `purge`, `save`). Reads are never delayed: a slow disk
/// hurts the fsyncs on the commit path, which is what a test of one wants to see.
pub struct FaultyLog<L> {
    inner: L,
    /// The delay before every write, in microseconds; 0 for none.
    delay_us: AtomicU64,
}

impl<L: fmt::Debug> fmt::Debug for FaultyLog<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyLog")
            .field("inner", &self.inner)
            .field("delay_us", &self.delay_us)
            .finish()
    }
}

impl<L: LogStore> FaultyLog<L> {
    /// Wraps `inner`, delaying nothing until told to.
    pub fn new(inner: L) -> Self {
        Self {
            inner,
            delay_us: AtomicU64::new(0),
        }
    }

    /// The wrapped log.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// Sleeps `by` before every write from now on (`Duration::ZERO`: no delay).
    pub fn delay_writes(&self, by: Duration) {
        let us = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.delay_us.store(us, Ordering::SeqCst);
    }

    /// The current delay before every write.
    pub fn write_delay(&self) -> Duration {
        Duration::from_micros(self.delay_us.load(Ordering::SeqCst))
    }

    fn slow(&self) {
        let d = self.write_delay();
        if !d.is_zero() {
            thread::sleep(d);
        }
    }
}

#[deny(clippy::missing_trait_methods)]
impl<L: LogStore> LogStore for FaultyLog<L> {
    fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<()> {
        self.slow();
        self.inner.append(entries)
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>> {
        self.inner.read(range)
    }

    fn truncate(&self, from: u64) -> Result<()> {
        self.slow();
        self.inner.truncate(from)
    }

    fn purge(&self, upto: u64) -> Result<()> {
        self.slow();
        self.inner.purge(upto)
    }

    fn last_purged(&self) -> Result<Option<u64>> {
        self.inner.last_purged()
    }

    fn last_index(&self) -> Result<Option<u64>> {
        self.inner.last_index()
    }

    fn save(&self, key: LogMeta, value: &[u8]) -> Result<()> {
        self.slow();
        self.inner.save(key, value)
    }

    fn load(&self, key: LogMeta) -> Result<Option<Vec<u8>>> {
        self.inner.load(key)
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Instant};

    use super::*;
    use crate::{testing, MemoryStore, Stores};

    #[test]
    fn a_slow_log_keeps_the_log_contract() {
        for (name, case) in testing::LOG_CASES {
            let store = Arc::new(MemoryStore::new());
            let log = Arc::new(FaultyLog::new(store.clone()));
            log.delay_writes(Duration::from_micros(10));
            let stores = Stores { queues: store, log };
            case(&stores).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn writes_wait_for_the_delay_and_reads_do_not() {
        let log = FaultyLog::new(MemoryStore::new());
        log.append(&[(1, b"a".to_vec())]).unwrap();
        log.delay_writes(Duration::from_millis(60));
        let t = Instant::now();
        log.append(&[(2, b"b".to_vec())]).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(60));
        let t = Instant::now();
        assert_eq!(log.read(1..3).unwrap().len(), 2);
        assert!(t.elapsed() < Duration::from_millis(60));
        log.delay_writes(Duration::ZERO);
        let t = Instant::now();
        log.append(&[(3, b"c".to_vec())]).unwrap();
        assert!(t.elapsed() < Duration::from_millis(60));
    }
}
